//! `cachet import` of a chain with transactions and reorgs, killed (`SIGKILL`) at random moments: after
//! every kill the datadir reopens consistent (the store's invariants hold, the head is a block
//! of the chain, it never moves back, and the flat state rehashed from scratch is the head's
//! state root), and the next import continues from there to the same head as an uninterrupted
//! import.
//!
//! The chain is built in the test on a builder node (`Chain::complete_child` executes each
//! block's transfers and fills in its roots): it is the input, not an oracle; what is checked is
//! the consistency of the killed importer's datadir. `CACHET_CRASH_ROUNDS` sets the number of
//! kills (default 25).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_node::block::rlp_list;
use cachet_node::chain::{Chain, Options, decode_header};
use cachet_node::store::ChainStore;
use cachet_seal::Header;
use rand::Rng;
use secp256k1::{Message, SECP256K1, SecretKey};

const CHAIN_ID: u64 = 1337;
/// Files the chain is split into; `cachet import` flushes at the end of each (a segment).
const FILES: usize = 12;
const BLOCKS_PER_FILE: u64 = 40;

fn key(i: u8) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[31] = i + 1;
    SecretKey::from_byte_array(&bytes).unwrap()
}

fn address(key: &SecretKey) -> Address {
    let public = key.public_key(SECP256K1).serialize_uncompressed();
    Address::from_raw_public_key(&public[1..])
}

fn genesis_json(funded: &[Address]) -> String {
    let alloc: Vec<String> = funded
        .iter()
        .map(|a| format!(r#""{a}": {{"balance": "0x3635c9adc5dea00000"}}"#))
        .collect();
    format!(
        r#"{{"config": {{"chainId": {CHAIN_ID}, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
          "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
          "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0, "ethash": {{}}}},
          "difficulty": "0x1", "gasLimit": "0x1c9c380", "timestamp": "0x0", "alloc": {{{}}}}}"#,
        alloc.join(",")
    )
}

fn sign<T: SignableTransaction<Signature>>(tx: T, key: &SecretKey) -> alloy_consensus::Signed<T> {
    let hash = tx.signature_hash();
    let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(hash.0), key);
    let (id, bytes) = sig.serialize_compact();
    let parity = i32::from(id) != 0;
    tx.into_signed(Signature::from_bytes_and_parity(&bytes, parity))
}

/// A body of `n` transfers (legacy and EIP-1559 alternating) from `keys` on `parent`'s state.
fn body(
    chain: &Chain,
    parent: B256,
    base_fee: u128,
    keys: &[SecretKey],
    rng: &mut impl Rng,
) -> Vec<u8> {
    let mut nonces: Vec<u64> = keys
        .iter()
        .map(|k| {
            chain
                .account(parent, &address(k))
                .unwrap()
                .map_or(0, |a| a.nonce)
        })
        .collect();
    let mut txs = Vec::new();
    for i in 0..rng.gen_range(0..6) {
        let from = rng.gen_range(0..keys.len());
        let to = Address::with_last_byte(rng.gen_range(1..=200));
        let nonce = nonces[from];
        nonces[from] += 1;
        let value = U256::from(rng.gen_range(1..1_000_000u64));
        let envelope: TxEnvelope = if i % 2 == 0 {
            let tx = TxLegacy {
                chain_id: Some(CHAIN_ID),
                nonce,
                gas_price: base_fee * 2,
                gas_limit: 21_000,
                to: TxKind::Call(to),
                value,
                input: Bytes::new(),
            };
            sign(tx, &keys[from]).into()
        } else {
            let tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: base_fee * 2,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(to),
                value,
                ..TxEip1559::default()
            };
            sign(tx, &keys[from]).into()
        };
        txs.extend(alloy_rlp::encode(&envelope));
    }
    let mut payload = rlp_list(&txs);
    payload.extend(rlp_list(&[]));
    rlp_list(&payload)
}

/// Builds the chain on a builder node; returns the genesis file and the block files (blocks in
/// import order, side branches included) and the builder's final head.
fn build(dir: &Path) -> (PathBuf, Vec<PathBuf>, B256) {
    let keys: Vec<SecretKey> = (0..6).map(key).collect();
    let funded: Vec<Address> = keys.iter().map(address).collect();
    let genesis_path = dir.join("genesis.json");
    std::fs::write(&genesis_path, genesis_json(&funded)).unwrap();
    let genesis = Genesis::from_file(&genesis_path, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.join("builder.redb")).unwrap();
    let options = Options {
        skip_pow: true,
        ..Options::default()
    };
    let chain = Chain::open_opts(store, genesis, options).unwrap();
    let mut rng = rand::thread_rng();
    let mut files = Vec::new();
    for f in 0..FILES {
        let mut bytes = Vec::new();
        for n in 0..BLOCKS_PER_FILE {
            let head = chain.head();
            // Now and then a heavier branch from two blocks back: the importer reorgs.
            let fork = n % 13 == 7 && head.header.number >= 2;
            let mut parent = head.header.clone();
            let mut parent_hash = head.hash;
            if fork {
                parent_hash = parent.parent_hash;
                parent = decode_header(&chain.header_rlp_by_hash(&parent_hash).unwrap().unwrap())
                    .unwrap();
            }
            for _ in 0..if fork { 2 } else { 1 } {
                let timestamp = parent.timestamp + rng.gen_range(1..20);
                let base_fee = chain.base_fee_after(&parent, timestamp).unwrap();
                let template = Header {
                    parent_hash,
                    beneficiary: template_author(&parent_hash),
                    difficulty: U256::from(if fork { 3 } else { 1 }),
                    number: parent.number + 1,
                    gas_limit: parent.gas_limit,
                    timestamp,
                    base_fee_per_gas: Some(base_fee),
                    ..Header::default()
                };
                let body = body(&chain, parent_hash, base_fee.to::<u128>(), &keys, &mut rng);
                let header = chain
                    .complete_child(template, template_author(&parent_hash), &body)
                    .unwrap();
                let header_rlp = header.encode();
                chain.import(&header_rlp, &body).unwrap();
                bytes.extend(cachet_node::block::block_rlp(&header_rlp, &body).unwrap());
                parent_hash = header.hash_slow();
                parent = header;
            }
        }
        let path = dir.join(format!("chain-{f:02}.rlp"));
        std::fs::write(&path, bytes).unwrap();
        files.push(path);
    }
    (genesis_path, files, chain.head().hash)
}

/// The coinbase of a block built on `parent` (the fee recipient on ethash).
fn template_author(parent: &B256) -> Address {
    Address::from_slice(&parent[..20])
}

fn import(datadir: &Path, genesis: &Path, files: &[PathBuf]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cachet"));
    cmd.args(["--log", "warn", "import", "--skip-pow", "--datadir"])
        .arg(datadir)
        .arg("--genesis")
        .arg(genesis)
        .args(files)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// The datadir's head after a kill, checked: the store's invariants, the flat state's root.
fn check(datadir: &Path) -> (u64, B256) {
    let store = ChainStore::open(&datadir.join("chain.redb")).unwrap();
    let head = store.check().unwrap().expect("a head");
    let header = decode_header(&store.header_by_hash(&head.hash).unwrap().unwrap()).unwrap();
    let read = store.begin_read().unwrap();
    if head.number > 0 {
        let root = cachet_state::WorldState::root_from_flat(&read).unwrap();
        assert_eq!(
            root, header.state_root,
            "flat state of head {} does not hash to its state root",
            head.number
        );
    }
    (head.number, head.hash)
}

#[test]
fn import_reopens_consistent_after_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let (genesis, files, final_head) = build(dir.path());
    let all: std::collections::HashSet<B256> = {
        let mut set = std::collections::HashSet::new();
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            let mut rest = bytes.as_slice();
            while !rest.is_empty() {
                let (item, tail) =
                    cachet_primitives::block::split_first_list(rest, "block").unwrap();
                let (h, _) = cachet_primitives::block::split_block(item).unwrap();
                set.insert(decode_header(&h).unwrap().hash_slow());
                rest = tail;
            }
        }
        set
    };
    // An uninterrupted import: the reference head and how long an import takes.
    let reference = dir.path().join("reference");
    let started = Instant::now();
    let out = import(&reference, &genesis, &files).output().unwrap();
    let full = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check(&reference).1, final_head);

    let rounds: usize = std::env::var("CACHET_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(25);
    let mut rng = rand::thread_rng();
    let (mut killed, mut completed, mut datadirs) = (0, 0, 0);
    let mut datadir = dir.path().join("d0");
    let mut last = 0;
    for _ in 0..rounds {
        let mut child = import(&datadir, &genesis, &files).spawn().unwrap();
        let wait = full.mul_f64(rng.gen_range(0.05..1.3));
        let deadline = Instant::now() + wait;
        let mut finished = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                finished = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished.is_none() {
            child.kill().unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        if !datadir.join("chain.redb").exists() {
            continue; // killed before the store was created
        }
        let (number, hash) = check(&datadir);
        assert!(
            number == 0 || all.contains(&hash),
            "head {hash} is not a block of the chain"
        );
        assert!(
            number >= last,
            "the head went back from {last} to {number} after a kill"
        );
        last = number;
        if let Some(status) = finished {
            assert!(status.success(), "an import that was not killed failed");
            assert_eq!(hash, final_head);
            completed += 1;
            datadirs += 1;
            datadir = dir.path().join(format!("d{datadirs}"));
            last = 0;
        }
    }
    println!("{killed} kills, {completed} completed imports, full import {full:?}");
    assert!(
        killed > 0 && completed > 0,
        "both outcomes must occur: {killed} kills, {completed} completed"
    );
    // The last killed datadir finishes to the reference head.
    let out = import(&datadir, &genesis, &files).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(check(&datadir).1, final_head);
}
