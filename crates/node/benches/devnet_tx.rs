//! Transactions through a running sealing node, in one run. Each node is a one-node devnet
//! (`devnet::prepare`: local master key, bundle, genesis with a 30,000,000 gas limit) run
//! in-process by `cachet_node::run` with JSON-RPC on 127.0.0.1; the bench talks to it over
//! keep-alive HTTP like any client. Every transaction is a `transfer` of the bench token
//! (`shared/token.rs`: the hand-assembled ERC-20-like contract of the execute bench, two
//! SSTOREs and a LOG3), placed in the genesis with a balance for every sender key.
//!
//! 1. **Latency**: `eth_sendRawTransaction` → included in a sealed block → receipt available
//!    (`eth_getTransactionReceipt` polled every 1/100 of the period), on clique with period
//!    1 s and on Quorum Raft with `--raftblocktime` 50 ms. Several keys send concurrently,
//!    each after a random pause within one period (so arrivals fall anywhere in the slot).
//!    Baselines from the same run: the period itself (latency is given as a ratio to it) and
//!    the round trip of `eth_blockNumber` on the same node.
//! 2. **Throughput**: a clique node (period 1 s) kept saturated with token transfers from many
//!    keys (at most `INFLIGHT` sent and not yet included); tx/s and Mgas/s over the blocks
//!    sealed in the measuring window, next to raw revm executing the same transactions of the
//!    same blocks on its in-memory database (`shared/token.rs`; the execute bench's baseline)
//!    and next to the ceiling the chain allows (gas limit / period).
//!
//! Sizes (env): `CACHET_BENCH_LAT_TXS` transactions per engine (default 12),
//! `CACHET_BENCH_LAT_SENDERS` keys sending at once (default 4), `CACHET_BENCH_TPUT_SECS`
//! seconds measured (default 3, after 2 warm-up blocks), `CACHET_BENCH_TPUT_SENDERS` keys
//! (default 256). Run: `cargo bench -p cachet-node --bench devnet_tx`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::{Address, B256, TxKind, U256};
use cachet_node::devnet::{DevnetConfig, prepare};
use cachet_node::{Controls, RaftConfig};
use cachet_seal::Engine;
use http_client::Client;
use measure::{
    Refusals, add_token, env_u64, hex_u64, key, ms, pct, round_trips, sealing_node_config,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use revm::context::{BlockEnv, TxEnv};
use secp256k1::SecretKey;
use serde_json::json;
use token::{ETHER, GWEI, TOKEN, TRANSFER_GAS};

#[path = "shared/http_client.rs"]
mod http_client;
#[path = "shared/measure.rs"]
mod measure;
#[path = "shared/token.rs"]
mod token;

/// Recipients are drawn from this many addresses (as in the execute bench).
const RECIPIENTS: u64 = 20_000;
/// Legacy gas price of every clique transaction: far above any base fee the runs reach (full
/// blocks raise it 12.5 % a block from 1 gwei). Raft transactions pay 0 (GoQuorum refuses a
/// gas price on a chain without `gasPriceEnabled`).
const GAS_PRICE: u128 = 5_000 * GWEI;
/// Transactions sent and not yet included, at most (the pool holds 5,120 pending).
const INFLIGHT: u64 = 3_000;
/// `eth_blockNumber` calls timed for the round-trip baseline (after 50 unmeasured).
const RTT_CALLS: usize = 500;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A sealing node running in-process.
struct Node {
    rt: tokio::runtime::Runtime,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<cachet_node::Result<()>>,
    rpc: SocketAddr,
    signer: Address,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A one-node devnet of `engine` (clique: period `block_time_ms / 1000`; raft:
    /// `--raftblocktime block_time_ms`), `funded` holding ETH and tokens.
    fn start(engine: Engine, block_time_ms: u64, funded: &[Address]) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let net = dir.path().join("net");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let http_port = free_port();
        let nodes = rt
            .block_on(prepare(&DevnetConfig {
                dir: net.clone(),
                engine,
                period: (block_time_ms / 1000).max(1),
                nodes: 1,
                chain_id: token::CHAIN_ID,
                p2p_port: free_port(),
                http_port,
                ws_port: 0,
                london: true,
                prefund: funded
                    .iter()
                    .map(|a| (*a, U256::from(1_000_000 * ETHER)))
                    .collect(),
            }))
            .expect("devnet");
        let node = nodes.first().expect("one node").clone();
        add_token(&net.join("genesis.json"), funded);
        let rpc: SocketAddr = format!("127.0.0.1:{http_port}").parse().expect("addr");
        let config = sealing_node_config(
            &node,
            &net.join("genesis.json"),
            rpc,
            RaftConfig {
                raft_id: (engine == Engine::Raft).then_some(1),
                block_time_ms,
                ..RaftConfig::default()
            },
            &["eth", "net", "web3", "txpool"],
        );
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let task = rt.spawn(cachet_node::run(
            config,
            Controls {
                shutdown: stop_rx,
                key_status: None,
            },
            move |s| {
                let _ = started_tx.send(s.signer);
            },
        ));
        let signer = rt.block_on(started_rx).expect("node started");
        Self {
            rt,
            stop,
            task,
            rpc,
            signer,
            _dir: dir,
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.rpc, None)
    }

    fn shutdown(self) {
        self.stop.send_replace(true);
        let result = self.rt.block_on(self.task).expect("node task");
        result.expect("node stopped cleanly");
    }
}

/// A token transfer from `key` at `nonce` to a random recipient: the raw bytes to send and
/// its hash.
fn transfer(
    key: &SecretKey,
    nonce: u64,
    gas_price: u128,
    rng: &mut StdRng,
) -> (alloy_consensus::TxEnvelope, String) {
    let to = token::recipient(rng.gen_range(0..RECIPIENTS));
    let amount = U256::from(rng.gen_range(1..1_000u64));
    let tx = token::sign(
        key,
        nonce,
        None,
        gas_price,
        TxKind::Call(TOKEN),
        U256::ZERO,
        token::transfer_calldata(to, amount),
        TRANSFER_GAS,
    );
    let raw = format!("0x{}", hex::encode(tx.encoded_2718()));
    (tx, raw)
}

struct Latency {
    /// Sorted send → receipt times.
    samples: Vec<Duration>,
    rtt: Vec<Duration>,
    poll: Duration,
}

/// Send → receipt latency of `txs` transfers from `senders` keys at once, each sent after a
/// random pause below one period (`idle`: between one and two periods, so that a raft minter
/// has been idle for a whole block time and mints at once: the node's own path alone).
fn latency(engine: Engine, period: Duration, txs: u64, senders: u64, idle: bool) -> Latency {
    let keys: Vec<SecretKey> = (0..senders).map(|i| key("latency", i)).collect();
    let funded: Vec<Address> = keys.iter().map(token::address_of).collect();
    let node = Node::start(
        engine,
        u64::try_from(period.as_millis()).expect("ms"),
        &funded,
    );
    let rtt = round_trips(node.client(), RTT_CALLS);
    let poll = (period / 100).max(Duration::from_millis(1));
    let gas_price = if engine == Engine::Raft { 0 } else { GAS_PRICE };
    let mut samples: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let node = &node;
                let count = txs / senders + u64::from((i as u64) < txs % senders);
                s.spawn(move || {
                    let mut c = node.client();
                    let mut rng = StdRng::seed_from_u64(i as u64);
                    let mut out = Vec::new();
                    for nonce in 0..count {
                        let pause = rng.gen_range(0.0..1.0) + if idle { 1.0 } else { 0.0 };
                        std::thread::sleep(period.mul_f64(pause));
                        let (_, raw) = transfer(key, nonce, gas_price, &mut rng);
                        let t = Instant::now();
                        let hash = c.result("eth_sendRawTransaction", json!([raw]));
                        let receipt = loop {
                            let r = c.result("eth_getTransactionReceipt", json!([hash]));
                            if !r.is_null() {
                                break r;
                            }
                            std::thread::sleep(poll);
                        };
                        out.push(t.elapsed());
                        assert_eq!(receipt["status"], "0x1", "transfer failed: {receipt}");
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("sender"))
            .collect()
    });
    node.shutdown();
    samples.sort();
    Latency { samples, rtt, poll }
}

/// One sealed block as the monitor saw it.
struct Seen {
    at: Instant,
    number: u64,
    timestamp: u64,
    gas_used: u64,
    gas_limit: u64,
    base_fee: u64,
    txs: Vec<B256>,
}

struct Throughput {
    blocks: Vec<Seen>,
    /// The measured window: indexes into `blocks` (exclusive start, inclusive end).
    window: (usize, usize),
    sent: u64,
    refused: u64,
    first_refusal: Option<String>,
    raw: (Duration, Duration),
    senders: usize,
    /// The most pending and queued transactions the pool held at a new block while measuring.
    pool_max: (u64, u64),
}

/// A saturated clique node (period 1 s) for `secs` seconds after `warm_up` blocks.
fn throughput(secs: f64, senders: u64, workers: usize) -> Throughput {
    const WARM_UP: usize = 2;
    let keys: Vec<SecretKey> = (0..senders).map(|i| key("throughput", i)).collect();
    let funded: Vec<Address> = keys.iter().map(token::address_of).collect();
    let node = Node::start(Engine::Clique, 1000, &funded);
    let sent = AtomicU64::new(0);
    let refused = Refusals::default();
    let included = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let mut blocks: Vec<Seen> = Vec::new();
    let mut window = (0, 0);
    let mut pool_max = (0u64, 0u64);
    let envs: HashMap<B256, TxEnv> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (node, sent, refused, included, stop) =
                    (&node, &sent, &refused, &included, &stop);
                let mine: Vec<(&SecretKey, Address)> = keys
                    .iter()
                    .zip(&funded)
                    .skip(w)
                    .step_by(workers)
                    .map(|(k, a)| (k, *a))
                    .collect();
                s.spawn(move || {
                    let mut c = node.client();
                    let mut rng = StdRng::seed_from_u64(1000 + w as u64);
                    let mut nonces = vec![0u64; mine.len()];
                    let mut out = Vec::new();
                    let mut next = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let pending = sent
                            .load(Ordering::Relaxed)
                            .saturating_sub(included.load(Ordering::Relaxed));
                        if pending >= INFLIGHT {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                        let i = next % mine.len();
                        next += 1;
                        let (key, address) = mine[i];
                        let (tx, raw) = transfer(key, nonces[i], GAS_PRICE, &mut rng);
                        if !refused.send(&mut c, &raw) {
                            continue;
                        }
                        nonces[i] += 1;
                        sent.fetch_add(1, Ordering::Relaxed);
                        out.push((*tx.tx_hash(), token::tx_env(&tx, address)));
                    }
                    out
                })
            })
            .collect();
        // The monitor: every sealed block, as soon as it is seen.
        let mut c = node.client();
        let mut measuring: Option<Instant> = None;
        loop {
            let head = hex_u64(&c.result("eth_blockNumber", json!([])));
            let seen = blocks.last().map_or(0, |b| b.number);
            for number in seen + 1..=head {
                let b = c.result(
                    "eth_getBlockByNumber",
                    json!([format!("{number:#x}"), false]),
                );
                let txs: Vec<B256> = b["transactions"]
                    .as_array()
                    .expect("transactions")
                    .iter()
                    .map(|h| h.as_str().expect("hash").parse().expect("hash"))
                    .collect();
                included.fetch_add(txs.len() as u64, Ordering::Relaxed);
                blocks.push(Seen {
                    at: Instant::now(),
                    number,
                    timestamp: hex_u64(&b["timestamp"]),
                    gas_used: hex_u64(&b["gasUsed"]),
                    gas_limit: hex_u64(&b["gasLimit"]),
                    base_fee: hex_u64(&b["baseFeePerGas"]),
                    txs,
                });
            }
            if head > seen && measuring.is_some() {
                let status = c.result("txpool_status", json!([]));
                pool_max.0 = pool_max.0.max(hex_u64(&status["pending"]));
                pool_max.1 = pool_max.1.max(hex_u64(&status["queued"]));
            }
            match measuring {
                None if blocks.iter().filter(|b| !b.txs.is_empty()).count() >= WARM_UP => {
                    measuring = Some(Instant::now());
                    window.0 = blocks.len() - 1;
                }
                Some(t) if t.elapsed().as_secs_f64() >= secs => {
                    window.1 = blocks.len() - 1;
                    break;
                }
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("sender"))
            .collect()
    });
    let signer = node.signer;
    node.shutdown();

    // Raw revm: the transactions of every block up to the window's end, in their blocks.
    let replay: Vec<(BlockEnv, Vec<TxEnv>)> = blocks[..=window.1]
        .iter()
        .map(|b| {
            let block = BlockEnv {
                number: U256::from(b.number),
                beneficiary: signer,
                timestamp: U256::from(b.timestamp),
                gas_limit: b.gas_limit,
                basefee: b.base_fee,
                difficulty: U256::from(2),
                ..BlockEnv::default()
            };
            let txs = b
                .txs
                .iter()
                .map(|h| envs.get(h).expect("a transaction the bench sent").clone())
                .collect();
            (block, txs)
        })
        .collect();
    let genesis = token::genesis_db(&funded, U256::from(1_000_000 * ETHER));
    let chain_gas: u64 = blocks[..=window.1].iter().map(|b| b.gas_used).sum();
    let mut raw = [Duration::ZERO; 2];
    for r in &mut raw {
        let (time, gas) = token::raw_revm(&genesis, &replay);
        assert_eq!(gas, chain_gas, "raw revm used different gas than the node");
        *r = time;
    }
    let (refused, first_refusal) = refused.into_parts();
    Throughput {
        blocks,
        window,
        sent: sent.into_inner(),
        refused,
        first_refusal,
        raw: (raw[0], raw[1]),
        senders: funded.len(),
        pool_max,
    }
}

fn main() {
    token::check_constants();
    let lat_txs = env_u64("CACHET_BENCH_LAT_TXS", 12).max(1);
    let lat_senders = env_u64("CACHET_BENCH_LAT_SENDERS", 4).max(1);
    let secs = env_u64("CACHET_BENCH_TPUT_SECS", 3) as f64;
    let tput_senders = env_u64("CACHET_BENCH_TPUT_SENDERS", 256).max(2);

    println!(
        "## eth_sendRawTransaction → sealed → receipt ({lat_txs} token transfers per row, {lat_senders} keys at once unless said)"
    );
    println!();
    println!(
        "| node | p50 ms | p90 ms | p99 ms | max ms | p50 / period | p99 / period | receipt poll ms | eth_blockNumber RTT p50 µs (p99) | p50 / RTT |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let raft = Duration::from_millis(50);
    for (engine, period, senders, idle, what) in [
        (
            Engine::Clique,
            Duration::from_secs(1),
            lat_senders,
            false,
            "clique, period 1 s",
        ),
        (
            Engine::Raft,
            raft,
            lat_senders,
            false,
            "raft, --raftblocktime 50 ms",
        ),
        (
            Engine::Raft,
            raft,
            1,
            true,
            "raft, 50 ms, one key, each send ≥ 1 block time after the last block (no wait for the minter)",
        ),
    ] {
        let l = latency(engine, period, lat_txs, senders, idle);
        let s = &l.samples;
        let rtt50 = pct(&l.rtt, 50);
        println!(
            "| {what} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.0} ({:.0}) | {:.0} |",
            ms(pct(s, 50)),
            ms(pct(s, 90)),
            ms(pct(s, 99)),
            ms(pct(s, 100)),
            pct(s, 50).as_secs_f64() / period.as_secs_f64(),
            pct(s, 99).as_secs_f64() / period.as_secs_f64(),
            ms(l.poll),
            rtt50.as_secs_f64() * 1e6,
            pct(&l.rtt, 99).as_secs_f64() * 1e6,
            pct(s, 50).as_secs_f64() / rtt50.as_secs_f64(),
        );
    }

    let t = throughput(secs, tput_senders, 2);
    let (from, to) = t.window;
    let measured = &t.blocks[from + 1..=to];
    let elapsed = t.blocks[to].at - t.blocks[from].at;
    let gas: u64 = measured.iter().map(|b| b.gas_used).sum();
    let txs: usize = measured.iter().map(|b| b.txs.len()).sum();
    let limit: u64 = measured.iter().map(|b| b.gas_limit).sum();
    let all_gas: u64 = t.blocks[..=to].iter().map(|b| b.gas_used).sum();
    let all_txs: usize = t.blocks[..=to].iter().map(|b| b.txs.len()).sum();
    let raw = t.raw.0.min(t.raw.1);
    let node_mgas = gas as f64 / 1e6 / elapsed.as_secs_f64();
    let raw_mgas = all_gas as f64 / 1e6 / raw.as_secs_f64();
    let ceiling = t.blocks[to].gas_limit as f64 / 1e6;
    println!();
    println!(
        "## Sustained token transfers, clique period 1 s, gas limit {} ({} keys, at most {INFLIGHT} in flight)",
        t.blocks[to].gas_limit, t.senders
    );
    println!();
    println!(
        "blocks {}..={} measured over {:.2} s: {txs} transactions, {:.1} Mgas, blocks {:.0} % full on average; pool at new blocks at most {} pending, {} queued; load generator sent {} (refused {}{}); base fee at the end {} gwei",
        measured.first().map_or(0, |b| b.number),
        t.blocks[to].number,
        elapsed.as_secs_f64(),
        gas as f64 / 1e6,
        100.0 * gas as f64 / limit.max(1) as f64,
        t.pool_max.0,
        t.pool_max.1,
        t.sent,
        t.refused,
        t.first_refusal
            .as_deref()
            .map_or(String::new(), |e| format!("; first: {e}")),
        t.blocks[to].base_fee / 1_000_000_000,
    );
    println!();
    println!("| what | tx/s | Mgas/s | vs raw revm | vs ceiling |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| raw revm, same transactions in the same blocks ({all_txs} txs of blocks 1..={}; baseline; runs {:.4} / {:.4} s) | {:.0} | {:.0} | 1.00 | — |",
        t.blocks[to].number,
        t.raw.0.as_secs_f64(),
        t.raw.1.as_secs_f64(),
        all_txs as f64 / raw.as_secs_f64(),
        raw_mgas,
    );
    println!(
        "| ceiling: gas limit / period | — | {ceiling:.0} | {:.4} | 1.00 |",
        ceiling / raw_mgas
    );
    println!(
        "| one-node clique devnet, sealed blocks | {:.0} | {:.1} | {:.4} | {:.2} |",
        txs as f64 / elapsed.as_secs_f64(),
        node_mgas,
        node_mgas / raw_mgas,
        node_mgas / ceiling,
    );
}
