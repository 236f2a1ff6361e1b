//! Clique import throughput: a single-signer chain of empty blocks verified header by header
//! with the clique snapshot (seal recovery, signer, recents, difficulty, checkpoints) next to a
//! raw secp256k1 public-key recovery of the same seal hashes in the same run; then the sync
//! path, `Chain::import_segment` (verification, execution of the empty bodies, state, one
//! durable flush per segment of `cachet_node::import::SEGMENT` blocks) on the whole chain into
//! a fresh datadir, and the per-block durable `Chain::import` on the first blocks.
//! Sizes (env): `CACHET_BENCH_SYNC_BLOCKS` (default 1,000; the issue's figure is 10,000),
//! `CACHET_BENCH_SYNC_PER_BLOCK` blocks through `Chain::import` (default 1,000, at most the
//! chain). Run: `CACHET_BENCH_SYNC_BLOCKS=10000 cargo bench -p cachet-node --bench import`.

use std::time::Instant;

use alloy_primitives::{Address, B256, Bytes, U256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::block::{EMPTY_BODY_RLP, empty_child, next_base_fee};
use cachet_node::chain::{Chain, SegmentReport, decode_header};
use cachet_node::import::SEGMENT;
use cachet_node::store::ChainStore;
use cachet_seal::Header;
use cachet_seal::clique::{self, Snapshot};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn genesis(signer: Address) -> Vec<u8> {
    let extra = format!(
        "0x{}{}{}",
        "00".repeat(32),
        hex::encode(signer),
        "00".repeat(65)
    );
    format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,"clique":{{"period":1,"epoch":1000}}}},"timestamp":"0x1","extraData":"{extra}","gasLimit":"0x1c9c380","difficulty":"0x1","alloc":{{}}}}"#
    )
    .into_bytes()
}

fn main() {
    let blocks = env_u64("CACHET_BENCH_SYNC_BLOCKS", 1_000);
    let stored = env_u64("CACHET_BENCH_SYNC_PER_BLOCK", 1_000).min(blocks);
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let key = keys.sealing_key();
    let g = Genesis::from_json(&genesis(key.address()), RaftMarker::FromGenesis).expect("genesis");
    let genesis_header = g.header();
    // Build the chain (signing is not measured).
    let mut headers: Vec<Header> = Vec::with_capacity(blocks as usize);
    let mut parent = genesis_header.clone();
    for n in 1..=blocks {
        let mut extra = vec![0u8; 32];
        if n % 1000 == 0 {
            extra.extend_from_slice(key.address().as_slice());
        }
        extra.extend_from_slice(&[0u8; 65]);
        let h = empty_child(
            &parent,
            parent.hash_slow(),
            parent.timestamp + 1,
            U256::from(2),
            extra,
            next_base_fee(&parent, true, true),
        );
        let sealed = clique::sign_header(&h, &key).expect("seal");
        parent = sealed.clone();
        headers.push(sealed);
    }
    let encoded: Vec<Vec<u8>> = headers.iter().map(Header::encode).collect();

    // Raw baseline: recover the public key of each seal hash (secp256k1 crate, same run).
    let digests: Vec<(B256, [u8; 65])> = headers
        .iter()
        .map(|h| {
            let extra: &Bytes = &h.extra_data;
            let mut seal = [0u8; 65];
            seal.copy_from_slice(&extra[extra.len() - 65..]);
            (clique::seal_hash(h).expect("hash"), seal)
        })
        .collect();
    let t = Instant::now();
    for (d, s) in &digests {
        cachet_seal::recover_public(d, s, "bench").expect("recover");
    }
    let raw = t.elapsed();

    // Full clique verification (decode + snapshot apply, which recovers the seal).
    let t = Instant::now();
    let mut snap = Snapshot::from_checkpoint(&genesis_header, 1000).expect("snapshot");
    for rlp in &encoded {
        let h = decode_header(rlp).expect("decode");
        snap.apply(&h).expect("valid");
    }
    let verify = t.elapsed();

    // Sync: Chain::import_segment, one durable flush per segment (fresh datadir).
    let dir = tempfile::tempdir().expect("tmp");
    let store = ChainStore::open(&dir.path().join("chain.redb")).expect("store");
    let chain = Chain::open(store, g.clone()).expect("chain");
    let t = Instant::now();
    for segment in encoded.chunks(SEGMENT) {
        let mut report = SegmentReport::default();
        chain
            .import_segment(
                segment.iter().map(|h| (h.as_slice(), &EMPTY_BODY_RLP[..])),
                &mut report,
            )
            .expect("import segment");
        assert_eq!(report.imported, segment.len() as u64);
    }
    let segmented = t.elapsed();
    assert_eq!(chain.head().header.number, blocks);
    drop(chain);

    // Chain::import: verification + one durable redb transaction per block (fresh datadir).
    let dir = tempfile::tempdir().expect("tmp");
    let store = ChainStore::open(&dir.path().join("chain.redb")).expect("store");
    let chain = Chain::open(store, g).expect("chain");
    let t = Instant::now();
    for rlp in encoded.iter().take(stored as usize) {
        chain.import(rlp, &EMPTY_BODY_RLP).expect("import");
    }
    let per_block = t.elapsed();

    let rate = |n: u64, d: std::time::Duration| n as f64 / d.as_secs_f64();
    let raw_rate = rate(blocks, raw);
    let verify_rate = rate(blocks, verify);
    let row = |what: &str, n: u64, r: f64| {
        println!(
            "| {what} | {n} | {r:.0} | {:.2} | {:.2} |",
            r / raw_rate,
            r / verify_rate
        );
    };
    println!("| what | blocks | blocks/s | vs raw recover | vs verify only |");
    println!("|---|---:|---:|---:|---:|");
    row("raw secp256k1 recover (baseline)", blocks, raw_rate);
    row(
        "clique verify only (decode + snapshot apply)",
        blocks,
        verify_rate,
    );
    row(
        &format!("`Chain::import_segment` ({SEGMENT}-block segments, one durable flush each)"),
        blocks,
        rate(blocks, segmented),
    );
    row(
        "`Chain::import` (verify, execute, durable store per block)",
        stored,
        rate(stored, per_block),
    );
}
