//! A three-member Quorum Raft cluster on loopback, in one run (issue 15, "Speed"). The network
//! is `devnet::prepare` with engine raft and 3 nodes (bundles under one local master key, a
//! genesis with a 30,000,000 gas limit and no London, `static-nodes.json` naming the three
//! founders, raft id = position); the bench token of `shared/token.rs` is put in the genesis
//! with a balance for every sender key. Each member is `cachet_node::run` in its own thread
//! with its own multi-thread tokio runtime (`--mine`, `--raftblocktime` 50 ms, JSON-RPC on
//! 127.0.0.1, no discovery: the founders dial each other from `static-nodes.json`), so that
//! killing a member is `Runtime::shutdown_background()`: every task is dropped, its sockets
//! close, no leadership is handed over (what SIGKILL does to a process, minus the exit). The
//! bench talks to the members over keep-alive HTTP like any client; every transaction is a raw
//! token `transfer` (signed by the bench, gas price 0 as GoQuorum wants), never a wallet call.
//!
//! 1. **Latency**: `eth_sendRawTransaction` to the leader → the transaction's receipt on all
//!    three members (`eth_getTransactionReceipt` polled on each member every 2 ms from a thread
//!    of its own; the same block hash on all). One key sends one transaction at a time, after
//!    a random pause below one block time from the moment the previous one was on all three
//!    (arrivals anywhere in the minter's slot); a second row pauses between one and two block
//!    times (the minter is idle and mints at once: the cluster's own path). Baselines from the
//!    same run: the block time (50 ms) and the round trip of `eth_blockNumber` on the leader.
//! 2. **Sustained load**: the leader kept saturated with token transfers from many keys (at
//!    most `INFLIGHT` sent and not yet committed), blocks/s and tx/s over the blocks a
//!    follower imports in the measuring window, next to the ceiling of one block per block
//!    time (20 blocks/s). Per block also: its timestamp (the minter's clock in ns when it
//!    began the block) → the moment the leader, and the follower, have it; the leader having
//!    block n → block n+1's timestamp; and the leader's pending transactions at each new
//!    block (whether the load generator kept it saturated).
//! 3. **Leader failover**: a fresh cluster each time (no member restarted: every repetition
//!    starts from three freshly founded members with nothing in their logs but one block),
//!    the leader killed; kill → a survivor reports `raft_role` "minter", and kill → a
//!    transaction sent to a survivor right after the kill has its receipt on both survivors.
//!    Baseline: the election timeout (`cachet_raft::Config::new`'s `election_tick` ×
//!    `raft_cluster::TICK`; raft-rs draws each follower's timeout from
//!    `[min_election_tick, max_election_tick)` ticks).
//!
//! Sizes (env): `CACHET_BENCH_RAFT_TXS` transactions per latency row (default 40),
//! `CACHET_BENCH_RAFT_SECS` seconds of sustained load measured (default 3, after 2 warm-up
//! blocks), `CACHET_BENCH_RAFT_SENDERS` keys under load (default 256),
//! `CACHET_BENCH_RAFT_FAILOVERS` failovers (default 3). Every wait fails after 60 s with what it
//! waited for, and the whole run after `CACHET_BENCH_RAFT_DEADLINE_SECS` (default 600).
//! Ports: blocks of free ones from 47,100 up. Run: `cargo bench -p cachet-node --bench
//! raft_cluster`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::{Address, TxKind, U256};
use http_client::Client;
use measure::{Refusals, env_u64, hex_u64, key, ms, pct, round_trips};
use members::{Cluster, wait_for_quiet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secp256k1::SecretKey;
use serde_json::json;
use token::{TOKEN, TRANSFER_GAS};

#[path = "shared/http_client.rs"]
mod http_client;
#[path = "shared/measure.rs"]
mod measure;
#[path = "raft_cluster/members.rs"]
mod members;
#[path = "shared/token.rs"]
mod token;

/// Members of the cluster.
const MEMBERS: usize = 3;
/// `--raftblocktime`.
const BLOCK_TIME: Duration = Duration::from_millis(50);
/// How often each member is polled while the bench waits on it.
const POLL: Duration = Duration::from_millis(2);
/// The longest any single wait may take before the run fails.
const WAIT: Duration = Duration::from_secs(60);
/// Recipients are drawn from this many addresses (as in the execute bench).
const RECIPIENTS: u64 = 20_000;
/// Transactions sent and not yet committed, at most (the pool holds 5,120 pending).
const INFLIGHT: u64 = 3_000;
/// Transfers signed ahead per second of sustained load (more than the cluster commits here).
const PRESIGN_PER_SEC: u64 = 5_000;
/// `eth_blockNumber` calls timed for the round-trip baseline (after 50 unmeasured).
const RTT_CALLS: usize = 500;
/// First port tried for the members' RLPx and JSON-RPC ports.
const PORT_BASE: u16 = 47_100;

/// What the run is doing, for the watchdog's message.
static PHASE: Mutex<String> = Mutex::new(String::new());

fn phase(what: impl Into<String>) {
    *PHASE.lock().unwrap_or_else(|e| e.into_inner()) = what.into();
}

/// A token transfer from `key` at `nonce` to a random recipient (gas price 0: GoQuorum's raft
/// chains take none), as the raw hex to send.
fn transfer(key: &SecretKey, nonce: u64, rng: &mut StdRng) -> String {
    let to = token::recipient(rng.gen_range(0..RECIPIENTS));
    let amount = U256::from(rng.gen_range(1..1_000u64));
    let tx = token::sign(
        key,
        nonce,
        None,
        0,
        TxKind::Call(TOKEN),
        U256::ZERO,
        token::transfer_calldata(to, amount),
        TRANSFER_GAS,
    );
    format!("0x{}", hex::encode(tx.encoded_2718()))
}

/// The mean and the largest of `v` (zero when empty).
fn mean_max(v: impl Iterator<Item = Duration>) -> (Duration, Duration) {
    let (mut sum, mut max, mut n) = (Duration::ZERO, Duration::ZERO, 0u32);
    for d in v {
        sum += d;
        max = max.max(d);
        n += 1;
    }
    (sum / n.max(1), max)
}

/// Send-to-leader → receipt, sorted: (on all members, on the leader).
struct Latency {
    all: Vec<Duration>,
    leader: Vec<Duration>,
}

/// `txs` transfers from `key`, one at a time, each after a pause of `idle + U[0, 1)` block
/// times from the moment the previous one was on every member.
fn latency(
    cluster: &Cluster,
    leader: usize,
    key: &SecretKey,
    first_nonce: u64,
    txs: u64,
    idle: f64,
) -> Latency {
    let on: Vec<usize> = (0..MEMBERS).collect();
    let mut rng = StdRng::seed_from_u64(first_nonce);
    let (mut all, mut lead) = (Vec::new(), Vec::new());
    for nonce in first_nonce..first_nonce + txs {
        std::thread::sleep(BLOCK_TIME.mul_f64(idle + rng.gen_range(0.0..1.0)));
        let raw = transfer(key, nonce, &mut rng);
        let t = cluster.send_and_wait(leader, &on, &raw, "latency");
        all.push(t.iter().copied().max().expect("members"));
        lead.push(t[leader]);
    }
    all.sort();
    lead.sort();
    Latency { all, leader: lead }
}

/// One block as the load monitor saw it.
struct Seen {
    at: Instant,
    /// Its timestamp: the minter's clock when it began the block (ns on raft).
    minted: SystemTime,
    /// When the monitor first saw it on the leader, and on the follower.
    on_leader: SystemTime,
    on_follower: SystemTime,
    number: u64,
    txs: u64,
    gas_used: u64,
    gas_limit: u64,
}

struct Throughput {
    /// Every block the follower imported.
    blocks: Vec<Seen>,
    /// Indexes into `blocks`: exclusive start, inclusive end.
    window: (usize, usize),
    sent: u64,
    refused: u64,
    first_refusal: Option<String>,
    /// The leader's pending transactions each time the follower saw a new block while
    /// measuring.
    pool: Vec<u64>,
    /// Each member's head when the window closed.
    heads: Vec<u64>,
}

/// The leader saturated from `keys` by two workers (about `presign` transactions signed
/// before the first is sent); a follower's blocks over `secs` seconds after two non-empty
/// warm-up blocks.
fn throughput(
    cluster: &Cluster,
    leader: usize,
    keys: &[SecretKey],
    secs: f64,
    presign: u64,
) -> Throughput {
    const WARM_UP: usize = 2;
    const WORKERS: usize = 2;
    let follower = (leader + 1) % MEMBERS;
    let sent = AtomicU64::new(0);
    let refused = Refusals::default();
    let included = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut blocks: Vec<Seen> = Vec::new();
    let mut window = (0, 0);
    let mut pool_pending = Vec::new();
    let mut heads = Vec::new();
    let start_head = hex_u64(
        &cluster.members[follower]
            .client()
            .result("eth_blockNumber", json!([])),
    );
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (sent, refused, included, stop) = (&sent, &refused, &included, &stop);
            let mine: Vec<&SecretKey> = keys.iter().skip(w).step_by(WORKERS).collect();
            let member = &cluster.members[leader];
            s.spawn(move || {
                let mut c = member.client();
                let mut rng = StdRng::seed_from_u64(1000 + w as u64);
                // Signed before sending, so that signing takes no CPU from the cluster
                // while it is measured (the machine's cores are shared); more are signed as
                // they are sent if these run out.
                let per_key = presign.div_ceil(mine.len() as u64 * WORKERS as u64);
                let mut signed: Vec<Vec<String>> = mine
                    .iter()
                    .map(|k| (0..per_key).map(|n| transfer(k, n, &mut rng)).collect())
                    .collect();
                let mut nonces = vec![0u64; mine.len()];
                let mut next = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let pending = sent
                        .load(Ordering::Relaxed)
                        .saturating_sub(included.load(Ordering::Relaxed));
                    if pending >= INFLIGHT {
                        std::thread::sleep(POLL);
                        continue;
                    }
                    let i = next % mine.len();
                    next += 1;
                    let raw = match signed[i].get_mut(nonces[i] as usize) {
                        Some(raw) if !raw.is_empty() => std::mem::take(raw),
                        _ => transfer(mine[i], nonces[i], &mut rng),
                    };
                    if !refused.send(&mut c, &raw) {
                        continue;
                    }
                    nonces[i] += 1;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The monitor: every block the follower imports, as soon as it is seen.
        let mut c = cluster.members[follower].client();
        let mut pool = cluster.members[leader].client();
        let mut on_leader: HashMap<u64, SystemTime> = HashMap::new();
        let mut leader_head = start_head;
        let mut measuring: Option<Instant> = None;
        let mut last_new = Instant::now();
        loop {
            let lhead = hex_u64(&pool.result("eth_blockNumber", json!([])));
            for number in leader_head + 1..=lhead {
                on_leader.insert(number, SystemTime::now());
            }
            leader_head = leader_head.max(lhead);
            let head = hex_u64(&c.result("eth_blockNumber", json!([])));
            let seen = blocks.last().map_or(start_head, |b| b.number);
            for number in seen + 1..=head {
                let b = c.result(
                    "eth_getBlockByNumber",
                    json!([format!("{number:#x}"), false]),
                );
                let txs = b["transactions"].as_array().expect("transactions").len() as u64;
                included.fetch_add(txs, Ordering::Relaxed);
                let now = SystemTime::now();
                blocks.push(Seen {
                    at: Instant::now(),
                    minted: UNIX_EPOCH + Duration::from_nanos(hex_u64(&b["timestamp"])),
                    on_leader: on_leader.get(&number).copied().unwrap_or(now),
                    on_follower: now,
                    number,
                    txs,
                    gas_used: hex_u64(&b["gasUsed"]),
                    gas_limit: hex_u64(&b["gasLimit"]),
                });
            }
            if head > seen {
                last_new = Instant::now();
                if measuring.is_some() {
                    let status = pool.result("txpool_status", json!([]));
                    pool_pending.push(hex_u64(&status["pending"]));
                }
            }
            if last_new.elapsed() >= WAIT {
                stop.store(true, Ordering::Relaxed);
                panic!(
                    "raft_cluster bench stalled: under load, member {} imported no block for {} s (sent {}, refused {}): {}",
                    follower + 1,
                    WAIT.as_secs(),
                    sent.load(Ordering::Relaxed),
                    refused.count(),
                    cluster.states()
                );
            }
            match measuring {
                None if blocks.iter().filter(|b| b.txs > 0).count() >= WARM_UP => {
                    measuring = Some(Instant::now());
                    window.0 = blocks.len() - 1;
                }
                Some(t) if t.elapsed().as_secs_f64() >= secs => {
                    window.1 = blocks.len() - 1;
                    heads = cluster
                        .members
                        .iter()
                        .map(|m| hex_u64(&m.client().result("eth_blockNumber", json!([]))))
                        .collect();
                    break;
                }
                _ => {}
            }
            std::thread::sleep(POLL);
        }
        stop.store(true, Ordering::Relaxed);
    });
    let (refused, first_refusal) = refused.into_parts();
    Throughput {
        blocks,
        window,
        sent: sent.into_inner(),
        refused,
        first_refusal,
        pool: pool_pending,
        heads,
    }
}

/// One failover: which member led, which took over, kill → a survivor is "minter", kill →
/// the transaction sent to a survivor is on both.
struct Failover {
    killed: usize,
    successor: usize,
    elected: Duration,
    committed: Duration,
}

fn failover(run: u64) -> Failover {
    let k = key("failover", run);
    let mut cluster = Cluster::start(&[token::address_of(&k)]);
    let mut rng = StdRng::seed_from_u64(run);
    let leader = cluster.leader("failover: first election");
    // One block on all three: every session is up and the leader has minted.
    let all: Vec<usize> = (0..MEMBERS).collect();
    cluster.send_and_wait(
        leader,
        &all,
        &transfer(&k, 0, &mut rng),
        "failover: first block",
    );
    std::thread::sleep(BLOCK_TIME * 4);
    let survivors: Vec<usize> = all.iter().copied().filter(|i| *i != leader).collect();
    let mut clients: Vec<Client> = survivors
        .iter()
        .map(|i| cluster.members[*i].client())
        .collect();
    let raw = transfer(&k, 1, &mut rng);
    let start = Instant::now();
    cluster.members[leader].kill();
    let hash = clients[0].result("eth_sendRawTransaction", json!([raw]));
    // Each survivor polled from a thread of its own: (when it first said "minter", when the
    // receipt was there).
    let seen: Vec<Option<(Option<Instant>, Instant)>> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .iter_mut()
            .map(|c| {
                let hash = &hash;
                s.spawn(move || {
                    let mut minter = None;
                    let receipt = wait_for_quiet(|| {
                        if minter.is_none() && c.result("raft_role", json!([])) == "minter" {
                            minter = Some(Instant::now());
                        }
                        !c.result("eth_getTransactionReceipt", json!([hash]))
                            .is_null()
                    });
                    receipt.map(|r| (minter, r))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("poller"))
            .collect()
    });
    if seen.iter().any(Option::is_none) {
        panic!(
            "raft_cluster bench stalled: failover {run}: after killing member {}, transaction {hash} not on both survivors within {} s: {}",
            leader + 1,
            WAIT.as_secs(),
            cluster.states()
        );
    }
    let seen: Vec<(Option<Instant>, Instant)> = seen.into_iter().flatten().collect();
    let successor = cluster.leader("failover: after the kill");
    let elected = seen
        .iter()
        .filter_map(|s| s.0)
        .min()
        .map_or(Duration::ZERO, |t| t - start);
    let committed = seen.iter().map(|s| s.1).max().expect("survivors") - start;
    Failover {
        killed: leader,
        successor,
        elected,
        committed,
    }
}

fn main() {
    token::check_constants();
    let txs = env_u64("CACHET_BENCH_RAFT_TXS", 40).max(1);
    let secs = env_u64("CACHET_BENCH_RAFT_SECS", 3).max(1) as f64;
    let senders = env_u64("CACHET_BENCH_RAFT_SENDERS", 256).max(2);
    let failovers = env_u64("CACHET_BENCH_RAFT_FAILOVERS", 3).max(1);
    let deadline = Duration::from_secs(env_u64("CACHET_BENCH_RAFT_DEADLINE_SECS", 600));
    std::thread::spawn(move || {
        std::thread::sleep(deadline);
        let what = PHASE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        eprintln!(
            "raft_cluster bench stalled: not done after {} s (CACHET_BENCH_RAFT_DEADLINE_SECS), while: {what}",
            deadline.as_secs()
        );
        std::process::exit(2);
    });

    let election = cachet_raft::Config::new(1);
    let tick = cachet_node::raft_cluster::TICK;
    let timeout = tick * u32::try_from(election.election_tick).expect("ticks");
    let (timeout_min, timeout_max) = (
        tick * u32::try_from(election.min_election_tick).expect("ticks"),
        tick * u32::try_from(election.max_election_tick).expect("ticks"),
    );

    phase("starting the cluster");
    let lat_key = key("raft latency", 0);
    let load_keys: Vec<SecretKey> = (0..senders).map(|i| key("raft load", i)).collect();
    let funded: Vec<Address> = std::iter::once(&lat_key)
        .chain(&load_keys)
        .map(token::address_of)
        .collect();
    let cluster = Cluster::start(&funded);
    let leader = cluster.leader("first election");
    phase("latency");
    let rtt = round_trips(cluster.members[leader].client(), RTT_CALLS);
    let slot = latency(&cluster, leader, &lat_key, 0, txs, 0.0);
    let idle = latency(&cluster, leader, &lat_key, txs, txs, 1.0);
    phase("sustained load");
    let presign = (secs as u64 + 5) * PRESIGN_PER_SEC;
    let t = throughput(&cluster, leader, &load_keys, secs, presign);
    phase("stopping the cluster");
    drop(cluster);
    let mut runs = Vec::new();
    for run in 0..failovers {
        phase(format!("failover {}", run + 1));
        runs.push(failover(run));
    }

    let rtt50 = pct(&rtt, 50);
    println!(
        "## Raft cluster: {MEMBERS} members on loopback, --raftblocktime {} ms, leader = member {}",
        BLOCK_TIME.as_millis(),
        leader + 1
    );
    println!();
    println!(
        "### eth_sendRawTransaction to the leader → receipt on every member ({txs} token transfers per row, one at a time; each member polled every {} ms)",
        POLL.as_millis()
    );
    println!();
    println!(
        "| what | p50 ms | p90 ms | p99 ms | max ms | p50 / block time | p99 / block time | p50 / RTT |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| baseline: eth_blockNumber round trip on the leader ({RTT_CALLS} calls) | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} | 1 |",
        ms(rtt50),
        ms(pct(&rtt, 90)),
        ms(pct(&rtt, 99)),
        ms(pct(&rtt, 100)),
        rtt50.as_secs_f64() / BLOCK_TIME.as_secs_f64(),
        pct(&rtt, 99).as_secs_f64() / BLOCK_TIME.as_secs_f64(),
    );
    println!(
        "| baseline: block time | {0:.1} | {0:.1} | {0:.1} | {0:.1} | 1.00 | 1.00 | {1:.0} |",
        ms(BLOCK_TIME),
        BLOCK_TIME.as_secs_f64() / rtt50.as_secs_f64()
    );
    for (l, what) in [
        (&slot, "sent anywhere in the slot"),
        (
            &idle,
            "sent ≥ 1 block time after the last block (minter idle)",
        ),
    ] {
        for (s, on) in [(&l.all, "on all 3"), (&l.leader, "on the leader")] {
            println!(
                "| {what}: receipt {on} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} |",
                ms(pct(s, 50)),
                ms(pct(s, 90)),
                ms(pct(s, 99)),
                ms(pct(s, 100)),
                pct(s, 50).as_secs_f64() / BLOCK_TIME.as_secs_f64(),
                pct(s, 99).as_secs_f64() / BLOCK_TIME.as_secs_f64(),
                pct(s, 50).as_secs_f64() / rtt50.as_secs_f64(),
            );
        }
    }

    let (from, to) = t.window;
    let measured = &t.blocks[from + 1..=to];
    let elapsed = t.blocks[to].at - t.blocks[from].at;
    let tx_count: u64 = measured.iter().map(|b| b.txs).sum();
    let gas: u64 = measured.iter().map(|b| b.gas_used).sum();
    let limit: u64 = measured.iter().map(|b| b.gas_limit).sum();
    let since =
        |later: SystemTime, earlier: SystemTime| later.duration_since(earlier).unwrap_or_default();
    let to_leader = mean_max(measured.iter().map(|b| since(b.on_leader, b.minted)));
    let to_follower = mean_max(measured.iter().map(|b| since(b.on_follower, b.minted)));
    let rearm = mean_max(
        t.blocks[from..=to]
            .windows(2)
            .map(|w| since(w[1].minted, w[0].on_leader)),
    );
    let blocks_s = measured.len() as f64 / elapsed.as_secs_f64();
    let ceiling = 1.0 / BLOCK_TIME.as_secs_f64();
    println!();
    println!(
        "### Sustained token transfers to the leader ({} keys, at most {INFLIGHT} in flight), blocks as follower member {} imports them",
        senders,
        (leader + 1) % MEMBERS + 1
    );
    println!();
    println!(
        "blocks {}..={} over {:.2} s: {tx_count} transactions, {:.0} per block, {:.1} Mgas, blocks {:.0} % full on average; leader's pool at new blocks {}–{} pending (mean {:.0}); load generator sent {} (refused {}{}); heads when the window closed: {:?}",
        measured.first().map_or(0, |b| b.number),
        t.blocks[to].number,
        elapsed.as_secs_f64(),
        tx_count as f64 / measured.len().max(1) as f64,
        gas as f64 / 1e6,
        100.0 * gas as f64 / limit.max(1) as f64,
        t.pool.iter().min().copied().unwrap_or(0),
        t.pool.iter().max().copied().unwrap_or(0),
        t.pool.iter().sum::<u64>() as f64 / t.pool.len().max(1) as f64,
        t.sent,
        t.refused,
        t.first_refusal
            .as_deref()
            .map_or(String::new(), |e| format!("; first: {e}")),
        t.heads,
    );
    println!();
    println!(
        "per block, mean (max): its timestamp → on the leader {:.0} ({:.0}) ms, → on the follower {:.0} ({:.0}) ms; block n on the leader → block n+1's timestamp {:.0} ({:.0}) ms (each seen by polling every {} ms)",
        ms(to_leader.0),
        ms(to_leader.1),
        ms(to_follower.0),
        ms(to_follower.1),
        ms(rearm.0),
        ms(rearm.1),
        POLL.as_millis(),
    );
    println!();
    println!("| what | blocks/s | mean block interval ms | tx/s | Mgas/s | blocks/s vs ceiling |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| ceiling: 1 / block time | {ceiling:.1} | {:.0} | — | — | 1.00 |",
        ms(BLOCK_TIME)
    );
    println!(
        "| 3-member cluster under load | {blocks_s:.1} | {:.0} | {:.0} | {:.1} | {:.2} |",
        1e3 / blocks_s,
        tx_count as f64 / elapsed.as_secs_f64(),
        gas as f64 / 1e6 / elapsed.as_secs_f64(),
        blocks_s / ceiling,
    );

    println!();
    println!(
        "### Leader failover (a fresh cluster each run; the leader's runtime shut down, a transfer sent to a survivor at once)"
    );
    println!();
    println!(
        "| run | killed | new leader | kill → a survivor is minter ms | kill → block on both survivors ms | / election timeout |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| baseline: election timeout ({} ticks × {} ms; each follower's drawn from [{}, {}) ms) | — | — | — | {:.0} | 1.00 |",
        election.election_tick,
        tick.as_millis(),
        timeout_min.as_millis(),
        timeout_max.as_millis(),
        ms(timeout)
    );
    for (i, f) in runs.iter().enumerate() {
        println!(
            "| {} | member {} | member {} | {:.0} | {:.0} | {:.2} |",
            i + 1,
            f.killed + 1,
            f.successor + 1,
            ms(f.elected),
            ms(f.committed),
            f.committed.as_secs_f64() / timeout.as_secs_f64(),
        );
    }
    let mut committed: Vec<Duration> = runs.iter().map(|f| f.committed).collect();
    committed.sort();
    println!(
        "| p50 (max) of {} | — | — | — | {:.0} ({:.0}) | {:.2} ({:.2}) |",
        runs.len(),
        ms(pct(&committed, 50)),
        ms(pct(&committed, 100)),
        pct(&committed, 50).as_secs_f64() / timeout.as_secs_f64(),
        pct(&committed, 100).as_secs_f64() / timeout.as_secs_f64(),
    );
}
