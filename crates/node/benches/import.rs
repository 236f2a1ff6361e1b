//! Clique import throughput: a 10,000-block single-signer chain verified header by header with
//! the clique snapshot (seal recovery, signer, recents, difficulty, checkpoints) next to a raw
//! secp256k1 public-key recovery of the same seal hashes in the same run; then `Chain::import`
//! (verification + durable store) on the first 1,000 blocks. Run:
//! `cargo bench -p cachet-node --bench import`.

use std::time::Instant;

use alloy_primitives::{Address, B256, Bytes, U256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::block::{EMPTY_BODY_RLP, empty_child, next_base_fee};
use cachet_node::chain::{Chain, decode_header};
use cachet_node::store::ChainStore;
use cachet_seal::Header;
use cachet_seal::clique::{self, Snapshot};

const BLOCKS: u64 = 10_000;
const STORED: usize = 1_000;

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
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let key = keys.sealing_key();
    let g = Genesis::from_json(&genesis(key.address()), RaftMarker::FromGenesis).expect("genesis");
    let genesis_header = g.header();
    // Build the chain (signing is not measured).
    let mut headers: Vec<Header> = Vec::with_capacity(BLOCKS as usize);
    let mut parent = genesis_header.clone();
    for n in 1..=BLOCKS {
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

    // Chain::import: verification + one durable redb transaction per block.
    let dir = tempfile::tempdir().expect("tmp");
    let store = ChainStore::open(&dir.path().join("chain.redb")).expect("store");
    let chain = Chain::open(store, g).expect("chain");
    let t = Instant::now();
    for rlp in encoded.iter().take(STORED) {
        chain.import(rlp, &EMPTY_BODY_RLP).expect("import");
    }
    let stored = t.elapsed();

    let rate = |n: f64, d: std::time::Duration| n / d.as_secs_f64();
    let raw_rate = rate(BLOCKS as f64, raw);
    let verify_rate = rate(BLOCKS as f64, verify);
    let store_rate = rate(STORED as f64, stored);
    println!("| what | blocks | headers/s | vs raw recover |");
    println!("|---|---:|---:|---:|");
    println!("| raw secp256k1 recover (baseline) | {BLOCKS} | {raw_rate:.0} | 1.00 |");
    println!(
        "| clique verify (decode + snapshot apply) | {BLOCKS} | {verify_rate:.0} | {:.2} |",
        verify_rate / raw_rate
    );
    println!(
        "| Chain::import (verify + durable store) | {STORED} | {store_rate:.0} | {:.2} |",
        store_rate / raw_rate
    );
}
