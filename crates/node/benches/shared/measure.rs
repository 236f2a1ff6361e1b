//! Shared by the `devnet_tx` and `raft_cluster` benches: sizes from the environment, seeded
//! keys, JSON quantities, the bench token in a genesis file, percentiles and the
//! `eth_blockNumber` round-trip baseline.
// Each bench uses part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, keccak256};
use cachet_node::devnet::DevnetNode;
use cachet_node::{NodeConfig, RaftConfig};
use secp256k1::SecretKey;
use serde_json::{Value, json};

use crate::http_client::Client;
use crate::token::{self, TOKEN};

/// `name` from the environment (`_` allowed as a digit separator), else `default`.
pub(crate) fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A key derived from `tag` and `i` (the same in every run).
pub(crate) fn key(tag: &str, i: u64) -> SecretKey {
    SecretKey::from_slice(keccak256(format!("{tag} {i}")).as_slice()).expect("key")
}

/// A JSON-RPC hex quantity.
pub(crate) fn hex_u64(v: &Value) -> u64 {
    let s = v.as_str().expect("hex quantity");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex quantity")
}

/// Puts the bench token, with a balance for each of `holders`, into the genesis file.
pub(crate) fn add_token(path: &Path, holders: &[Address]) {
    let mut genesis: Value =
        serde_json::from_slice(&std::fs::read(path).expect("genesis")).expect("genesis json");
    genesis["alloc"][format!("{TOKEN:x}")] = token::token_alloc(holders);
    std::fs::write(path, genesis.to_string()).expect("write genesis");
}

/// `p` in 0..=100: the nearest-rank percentile of sorted `v`.
pub(crate) fn pct(v: &[Duration], p: usize) -> Duration {
    let i = (v.len() * p).div_ceil(100).clamp(1, v.len()) - 1;
    v[i]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `calls` round trips of `eth_blockNumber` on one keep-alive connection (after 50 unmeasured),
/// sorted.
pub(crate) fn round_trips(mut c: Client, calls: usize) -> Vec<Duration> {
    for _ in 0..50 {
        c.result("eth_blockNumber", json!([]));
    }
    let mut out: Vec<Duration> = (0..calls)
        .map(|_| {
            let t = Instant::now();
            c.result("eth_blockNumber", json!([]));
            t.elapsed()
        })
        .collect();
    out.sort();
    out
}

/// Refused `eth_sendRawTransaction` calls of a load generator: how many, and the first answer.
#[derive(Default)]
pub(crate) struct Refusals {
    count: std::sync::atomic::AtomicU64,
    first: std::sync::Mutex<Option<String>>,
}

impl Refusals {
    /// Sends `raw` over `c`; a refusal is counted (the first kept) and followed by a 1 ms pause,
    /// and returns false.
    pub(crate) fn send(&self, c: &mut Client, raw: &str) -> bool {
        let response = c.rpc("eth_sendRawTransaction", json!([raw]));
        if response.get("error").is_none() {
            return true;
        }
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.first
            .lock()
            .expect("lock")
            .get_or_insert_with(|| response.to_string());
        std::thread::sleep(Duration::from_millis(1));
        false
    }

    /// How many so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The count and the first refusal.
    pub(crate) fn into_parts(self) -> (u64, Option<String>) {
        (
            self.count.into_inner(),
            self.first.into_inner().expect("lock"),
        )
    }
}

/// The configuration of a devnet node run in-process by a bench: sealing (`--mine`), JSON-RPC
/// on `rpc` serving `apis`, no discovery, no bootnodes, the doppelganger window off (the
/// bench's own fresh chain: no copy of any key exists, and the window would only delay the
/// first block).
pub(crate) fn sealing_node_config(
    node: &DevnetNode,
    genesis: &Path,
    rpc: SocketAddr,
    raft: RaftConfig,
    apis: &[&str],
) -> NodeConfig {
    NodeConfig {
        skip_pow: false,
        datadir: node.datadir.clone(),
        genesis: genesis.to_path_buf(),
        network_id: None,
        p2p_listen: format!("127.0.0.1:{}", node.p2p_port)
            .parse()
            .expect("addr"),
        bootnodes: Vec::new(),
        max_peers: 25,
        discovery: None,
        raft,
        extra_data: Vec::new(),
        miner_gas_limit: None,
        txpool: cachet_node::PoolConfig::default(),
        rpc_gas_cap: cachet_node::rpc::DEFAULT_GAS_CAP,
        rpc_evm_timeout: cachet_node::rpc::DEFAULT_EVM_TIMEOUT,
        metrics: None,
        http: Some(rpc),
        ws: None,
        rpc_access: cachet_node::rpc::access::AccessConfig {
            apis: Some(apis.iter().map(|a| (*a).to_owned()).collect()),
            ..Default::default()
        },
        mine: true,
        doppelganger_periods: 0,
        kms: Default::default(),
        lease: Some(cachet_keyprovider::LeaseConfig::default()),
    }
}
