//! Pool ingest: `Pool::add_raw` (decode, hash, sender recovery, validation, insertion) on
//! signed transactions from many senders, next to raw secp256k1 public-key recovery of the
//! same transactions' signatures (libsecp256k1 through the `secp256k1` crate, signing hashes
//! computed beforehand) in the same run. The goal: ingest ≥ 0.5× raw recovery.
//! Then a flood: `CACHET_BENCH_POOL_FLOOD` transactions (default 20,000) from 1,000 senders
//! (a quarter of them behind a nonce gap, prices varied) into a pool with geth's default
//! limits: what it accepted and refused, its size at the end, and the process's resident
//! memory before and after (Linux `VmRSS`).
//! Sizes (env): `CACHET_BENCH_POOL_TXS` transactions (default 4,096), 16 per sender.
//! Run: `CACHET_BENCH_POOL_TXS=50000 CACHET_BENCH_POOL_FLOOD=100000 cargo bench -p cachet-txpool`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Encodable2718;
use cachet_txpool::PoolConfig;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, SECP256K1};
use support::{Key, MapState, head, key, legacy, pool};

const PER_SENDER: usize = 16;
const ROUNDS: usize = 5;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The signing hash and 65-byte signature of a legacy transaction.
fn recovery_input(tx: &TxEnvelope) -> (Message, RecoverableSignature) {
    let TxEnvelope::Legacy(signed) = tx else {
        unreachable!("the bench signs legacy transactions")
    };
    let sig = signed.signature();
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    compact[32..].copy_from_slice(&sig.s().to_be_bytes::<32>());
    let id = RecoveryId::try_from(i32::from(sig.v())).expect("parity");
    let hash = alloy_consensus::SignableTransaction::signature_hash(signed.tx());
    (
        Message::from_digest(hash.0),
        RecoverableSignature::from_compact(&compact, id).expect("signature"),
    )
}

fn best_of(mut run: impl FnMut() -> Duration) -> Duration {
    (0..ROUNDS).map(|_| run()).min().unwrap_or_default()
}

fn main() {
    let count = env_usize("CACHET_BENCH_POOL_TXS", 4_096).max(PER_SENDER);
    let senders = count.div_ceil(PER_SENDER);
    let keys: Vec<Key> = (0..senders as u32).map(key).collect();
    let txs: Vec<TxEnvelope> = (0..count)
        .map(|i| {
            let k = &keys[i % senders];
            legacy(k, (i / senders) as u64, 1 + (i as u128 % 97))
        })
        .collect();
    let raws: Vec<Vec<u8>> = txs.iter().map(Encodable2718::encoded_2718).collect();
    let inputs: Vec<(Message, RecoverableSignature)> = txs.iter().map(recovery_input).collect();
    let state = MapState::funded(keys.iter().copied());
    let head = head(1, Some(1));
    let config = PoolConfig {
        global_slots: count,
        ..PoolConfig::default()
    };

    let raw = best_of(|| {
        let start = Instant::now();
        for (message, sig) in &inputs {
            black_box(SECP256K1.recover_ecdsa(message, sig).expect("recover"));
        }
        start.elapsed()
    });
    let mut pooled = (0, 0);
    let ingest = best_of(|| {
        let pool = pool(config.clone());
        let start = Instant::now();
        for raw in &raws {
            pool.add_raw(raw, &head, &state).expect("valid transaction");
        }
        let elapsed = start.elapsed();
        pooled = pool.status();
        elapsed
    });
    assert_eq!(pooled, (count, 0), "every transaction pending");

    let per_sec = |d: Duration| count as f64 / d.as_secs_f64();
    println!(
        "pool ingest: {count} signed legacy transactions, {senders} senders, best of {ROUNDS}"
    );
    println!("{:<52} {:>12} {:>10}", "", "tx/s", "µs/tx");
    for (name, d) in [
        ("raw secp256k1 recovery (hashes precomputed)", raw),
        (
            "Pool::add_raw (decode+hash+recover+validate+insert)",
            ingest,
        ),
    ] {
        println!(
            "{name:<52} {:>12.0} {:>10.2}",
            per_sec(d),
            d.as_secs_f64() * 1e6 / count as f64
        );
    }
    println!(
        "ratio ingest / raw recovery: {:.2}x (goal >= 0.5x)",
        per_sec(ingest) / per_sec(raw)
    );
    flood(env_usize("CACHET_BENCH_POOL_FLOOD", 20_000));
}

/// Resident memory of this process in KiB (Linux), 0 where unknown.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn flood(count: usize) {
    const SENDERS: usize = 1_000;
    let keys: Vec<Key> = (0..SENDERS as u32).map(|i| key(100_000 + i)).collect();
    let raws: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let (sender, round) = (i % SENDERS, (i / SENDERS) as u64);
            let nonce = if sender % 4 == 0 { round + 1 } else { round };
            let price = 1 + (sender as u128 * 7 + u128::from(round)) % 50;
            legacy(&keys[sender], nonce, price).encoded_2718()
        })
        .collect();
    let state = MapState::funded(keys.iter().copied());
    let head = head(1, None);
    let config = PoolConfig::default();
    let before = rss_kib();
    let pool = pool(config.clone());
    let (mut accepted, mut refused) = (0usize, 0usize);
    let start = Instant::now();
    for raw in &raws {
        match pool.add_raw(raw, &head, &state) {
            Ok(_) => accepted += 1,
            Err(_) => refused += 1,
        }
    }
    let elapsed = start.elapsed();
    let after = rss_kib();
    let (pending, queued) = pool.status();
    assert!(pending + queued <= config.capacity() && queued <= config.global_queue);
    println!(
        "flood: {count} transactions from {SENDERS} senders in {:.2} s ({:.0} tx/s): \
         accepted {accepted}, refused {refused}; pool {pending} pending + {queued} queued \
         (capacity {}, queue {}); RSS {} -> {} MiB",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        config.capacity(),
        config.global_queue,
        before / 1024,
        after / 1024,
    );
    drop(black_box(pool));
}
