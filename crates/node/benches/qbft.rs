//! Four in-process QBFT validators (`qbft::Driver`, each on its own chain in a temporary
//! datadir, real node keys, fsynced seal journals) connected by `qbft::MemoryHub`, period 1 s
//! (a period of 0 runs as 1: decision 422): time from the proposer's PRE-PREPARE to the first
//! and to the last validator's imported commit, p50 and p99, and the frames per height. Next to
//! it, in the same run, the raw libsecp256k1 cost of the signatures one height needs
//! (1 proposal + N PREPAREs + N COMMITs with their seals = 1 + 3N signs, and per validator the
//! recoveries of the proposal, N PREPAREs and a quorum of COMMITs with their seals:
//! N·(1 + N + 2·⌈2N/3⌉)) and each latency's ratio to it.
//! A validator left behind (it missed a height's messages while the other three committed) is
//! brought up by importing the blocks it lacks, as a node's sync would (the hub carries
//! consensus frames only); the heights it synced are counted and reported, not measured as its
//! commits. A stalled run fails after a generous deadline instead of hanging.
//! Run: `cargo bench -p cachet-node --bench qbft` (`CACHET_BENCH_HEIGHTS`, default 30).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::produce::BuildConfig;
use cachet_node::qbft::{Driver, Event, MemoryHub, Qbft};
use cachet_node::store::ChainStore;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST};
use secp256k1::{Message, SECP256K1, SecretKey};
use tokio::sync::{mpsc, watch};

const N: usize = 4;
/// No event for this long: the run has stalled.
const STALL: Duration = Duration::from_secs(120);
const GENESIS_TIME: u64 = 1_700_000_000;

fn genesis(validators: &[Address]) -> Vec<u8> {
    let extra = cachet_seal::qbft::encode_extra(&BftExtra {
        vanity: vec![0; 32],
        validators: validators.to_vec(),
        ..BftExtra::default()
    });
    format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,"qbft":{{"blockperiodseconds":0,"epochlength":30000,"requesttimeoutseconds":10}}}},"timestamp":"{GENESIS_TIME:#x}","extraData":"0x{}","gasLimit":"0x1c9c380","difficulty":"0x1","mixHash":"{ISTANBUL_DIGEST}","alloc":{{}}}}"#,
        hex::encode(extra)
    )
    .into_bytes()
}

/// Imports into `to` the blocks `from` has above `to`'s head (what sync does); the number
/// imported.
fn sync(from: &Chain, to: &Chain) -> u64 {
    let mut imported = 0;
    for n in to.head().header.number + 1..=from.head().header.number {
        let Ok(Some(hash)) = from.store().canonical_hash(n) else {
            break;
        };
        let (Ok(Some(header)), Ok(body)) = (
            from.store().header_by_hash(&hash),
            from.store().body_by_hash(&hash),
        ) else {
            break;
        };
        if to.import(&header, &body.unwrap_or_default()).is_err() {
            break;
        }
        imported += 1;
    }
    imported
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = (sorted.len() * p / 100).min(sorted.len() - 1);
    sorted.get(i).copied().unwrap_or_default()
}

/// The raw cost of one height's signatures: 1 + 3N signs and N·(1 + N + 2·⌈2N/3⌉) recoveries.
fn raw_signature_work() -> Duration {
    let key = SecretKey::from_byte_array(&[0x42; 32]).expect("key");
    let quorum = (2 * N).div_ceil(3);
    let signs = 1 + 3 * N;
    let recovers = N * (1 + N + 2 * quorum);
    let rounds = 200u32;
    let started = Instant::now();
    for r in 0..rounds {
        let mut sig = None;
        for i in 0..signs {
            let digest = alloy_primitives::keccak256([r as u8, i as u8]);
            sig = Some(SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(digest.0), &key));
        }
        let sig = sig.expect("signed");
        let digest = Message::from_digest(B256::repeat_byte(1).0);
        for _ in 0..recovers {
            std::hint::black_box(SECP256K1.recover_ecdsa(&digest, &sig).ok());
        }
    }
    started.elapsed() / rounds
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let heights: u64 = std::env::var("CACHET_BENCH_HEIGHTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let keys: Vec<UnlockedKeys> = (0..N)
        .map(|_| UnlockedKeys::generate_for_tests(SealingKeyMode::Separate))
        .collect();
    let mut validators: Vec<Address> = keys
        .iter()
        .map(|k| k.node_key().signer().address())
        .collect();
    validators.sort();
    let genesis = genesis(&validators);
    let hub = MemoryHub::new();
    let (events_tx, mut events) = mpsc::unbounded_channel::<(usize, Event)>();
    let (allowed_tx, allowed) = watch::channel(true);
    let mut dirs = Vec::new();
    let mut chains = Vec::new();
    let mut tasks = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let g = Genesis::from_json(&genesis, RaftMarker::FromGenesis).expect("genesis");
        let store = ChainStore::open(&dir.path().join("chain.redb")).expect("store");
        let chain = Arc::new(Chain::open(store, g).expect("chain"));
        let (net, inbound) = hub.join(cachet_devp2p::net::PeerId(k.node_key().enode_id()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let forward = events_tx.clone();
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                let _ = forward.send((i, e));
            }
        });
        let driver = Driver::<Qbft>::new(
            chain.clone(),
            k.node_key().signer().clone(),
            dir.path(),
            net,
            allowed.clone(),
            BuildConfig::default(),
        )
        .expect("driver")
        .with_events(tx);
        tasks.push(tokio::spawn(driver.run(inbound)));
        chains.push(chain);
        dirs.push(dir);
    }
    // Height 1 starts while the others join (its proposal may be missed): measure from 3 on.
    let first = 3;
    let last = first + heights;
    let mut proposed: HashMap<u64, Instant> = HashMap::new();
    let mut commits: HashMap<u64, Vec<Instant>> = HashMap::new();
    let mut frames_at_first = None;
    let mut round_changes = 0u64;
    let mut synced = 0u64;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    while chains.iter().any(|c| c.head().header.number < last) {
        let event = tokio::select! {
            e = tokio::time::timeout(STALL, events.recv()) => e,
            _ = tick.tick() => {
                // A validator two heights behind the leader missed a height: sync it.
                let top = chains.iter().max_by_key(|c| c.head().header.number).expect("chains");
                let top_n = top.head().header.number;
                for c in &chains {
                    if c.head().header.number + 2 <= top_n {
                        synced += sync(top, c);
                    }
                }
                continue;
            }
        };
        let Ok(Some((_, event))) = event else {
            let heads: Vec<u64> = chains.iter().map(|c| c.head().header.number).collect();
            panic!("qbft bench stalled: no driver event for {STALL:?}, heads {heads:?}");
        };
        let now = Instant::now();
        match event {
            Event::Proposed { height, .. } => {
                proposed.entry(height).or_insert(now);
            }
            Event::Committed { height, .. } => {
                commits.entry(height).or_default().push(now);
                if height == first - 1 && frames_at_first.is_none() {
                    frames_at_first = Some(hub.broadcasts());
                }
            }
            Event::RoundChanged { height, .. } if height >= first => round_changes += 1,
            _ => {}
        }
    }
    let frames = hub.broadcasts() - frames_at_first.unwrap_or(0);
    allowed_tx.send_replace(false);
    for t in tasks {
        let _ = t.await;
    }
    let mut to_first = Vec::new();
    let mut to_all = Vec::new();
    for h in first..=last {
        let (Some(p), Some(c)) = (proposed.get(&h), commits.get(&h)) else {
            continue;
        };
        if let (Some(a), Some(b)) = (c.iter().min(), c.iter().max()) {
            to_first.push(a.saturating_duration_since(*p));
            to_all.push(b.saturating_duration_since(*p));
        }
    }
    to_first.sort();
    to_all.sort();
    let raw = raw_signature_work();
    let ratio = |d: Duration| d.as_secs_f64() / raw.as_secs_f64();
    println!(
        "qbft, {N} in-process validators, {} heights measured, {round_changes} round changes, {synced} blocks synced to a laggard",
        to_first.len()
    );
    println!("{:<48} {:>12} {:>10}", "row", "value", "x raw sig");
    println!(
        "{:<48} {:>10.3}ms {:>10}",
        "raw secp256k1 work of one height (baseline)",
        raw.as_secs_f64() * 1e3,
        "1.0"
    );
    for (name, v) in [
        (
            "proposal -> first commit imported, p50",
            percentile(&to_first, 50),
        ),
        (
            "proposal -> first commit imported, p99",
            percentile(&to_first, 99),
        ),
        ("proposal -> all 4 imported, p50", percentile(&to_all, 50)),
        ("proposal -> all 4 imported, p99", percentile(&to_all, 99)),
    ] {
        println!(
            "{name:<48} {:>10.3}ms {:>10.1}",
            v.as_secs_f64() * 1e3,
            ratio(v)
        );
    }
    println!(
        "{:<48} {:>12.1}",
        "frames broadcast per height (relays included)",
        frames as f64 / (heights + 1) as f64
    );
    drop(dirs);
}
