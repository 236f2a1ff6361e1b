//! Block building next to import, in one run: a clique producer builds blocks of ETH transfers
//! from a `VecTxSource` (`Chain::build_child`: candidates executed one by one, roots filled in),
//! seals them, and `Chain::import` (sender recovery, execution, roots, durable store) imports
//! them; a follower chain imports the same blocks. The table gives build time / import time
//! (the producer's extra cost per block over what every node pays) and each side's Mgas/s.
//!
//! Sizes (env): `CACHET_BENCH_BUILD_BLOCKS` blocks (default 5), `CACHET_BENCH_BUILD_TXS`
//! transfers per block (default 1000, from as many senders).
//! Run: `cargo bench -p cachet-node --bench build`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, TxLegacy};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256, keccak256};
use cachet_execution::Candidate;
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::store::ChainStore;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn address_of(key: &SecretKey) -> Address {
    let public = PublicKey::from_secret_key(SECP256K1, key).serialize_uncompressed();
    Address::from_slice(&keccak256(&public[1..])[12..])
}

fn transfer(key: &SecretKey, nonce: u64, to: Address) -> Candidate {
    let tx = TxLegacy {
        chain_id: Some(1337),
        nonce,
        gas_price: 2_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        input: Bytes::new(),
    };
    let message = Message::from_digest(tx.signature_hash().0);
    let (recid, compact) = SECP256K1
        .sign_ecdsa_recoverable(&message, key)
        .serialize_compact();
    let signature = Signature::new(
        U256::from_be_slice(&compact[..32]),
        U256::from_be_slice(&compact[32..]),
        i32::from(recid) == 1,
    );
    Candidate {
        tx: tx.into_signed(signature).into(),
        sender: address_of(key),
    }
}

fn main() {
    let blocks = env("CACHET_BENCH_BUILD_BLOCKS", 5);
    let per_block = env("CACHET_BENCH_BUILD_TXS", 1000);
    let keys: Vec<SecretKey> = (0..per_block)
        .map(|i| {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            b[31] = 1;
            SecretKey::from_byte_array(&b).expect("key")
        })
        .collect();
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let signer = k.sealing_key().address();
    let mut alloc = serde_json::Map::new();
    for key in &keys {
        alloc.insert(
            format!("{:x}", address_of(key)),
            serde_json::json!({"balance": "0xde0b6b3a7640000"}),
        );
    }
    let extra = format!(
        "0x{}{}{}",
        "00".repeat(32),
        hex::encode(signer),
        "00".repeat(65)
    );
    let genesis = serde_json::json!({
        "config": {"chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
            "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": {"period": 1, "epoch": 30000}},
        "timestamp": "0x6553f100", "extraData": extra, "gasLimit": "0x3938700",
        "difficulty": "0x1", "alloc": alloc,
    });
    let genesis = Genesis::from_json(genesis.to_string().as_bytes(), RaftMarker::FromGenesis)
        .expect("genesis");
    let dir = tempfile::tempdir().expect("tempdir");
    let open = |name: &str| {
        let store = ChainStore::open(&dir.path().join(name)).expect("store");
        Arc::new(Chain::open(store, genesis.clone()).expect("chain"))
    };
    let chain = open("producer.redb");
    let follower = open("follower.redb");
    let sealer_dir = dir.path().join("sealer");
    std::fs::create_dir_all(&sealer_dir).expect("dir");
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        &sealer_dir,
        k.sealing_key(),
        Proposals::default(),
    )
    .expect("sealer");

    let (mut build_time, mut import_time, mut follow_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut gas = 0u64;
    for n in 0..blocks {
        let candidates: Vec<Candidate> = keys
            .iter()
            .map(|key| transfer(key, n as u64, Address::repeat_byte(0x22)))
            .collect();
        let head = chain.head();
        let snap = chain.snapshot(&head.hash).expect("snapshot");
        let unsealed = sealer
            .build(&head, &snap, 1_700_000_001 + n as u64)
            .expect("in turn");
        let start = Instant::now();
        let (header, body) = chain
            .build_child(unsealed, signer, &candidates)
            .expect("build");
        build_time += start.elapsed();
        assert_eq!(header.gas_used, 21_000 * per_block as u64, "all included");
        gas += header.gas_used;
        let (sealed, body) = sealer.seal(&header, &body).expect("seal");
        let start = Instant::now();
        chain.import(&sealed.encode(), &body).expect("import");
        import_time += start.elapsed();
        let start = Instant::now();
        follower
            .import(&sealed.encode(), &body)
            .expect("follower import");
        follow_time += start.elapsed();
    }
    let mgas = |t: Duration| gas as f64 / 1e6 / t.as_secs_f64();
    println!("| {blocks} blocks × {per_block} transfers | ms/block | Mgas/s | × import |");
    println!("|---|---:|---:|---:|");
    for (name, t) in [
        ("build_child (execute + roots)", build_time),
        ("import (producer)", import_time),
        ("import (follower)", follow_time),
    ] {
        println!(
            "| {name} | {:.1} | {:.0} | {:.2} |",
            t.as_secs_f64() * 1000.0 / blocks as f64,
            mgas(t),
            t.as_secs_f64() / import_time.as_secs_f64()
        );
    }
}
