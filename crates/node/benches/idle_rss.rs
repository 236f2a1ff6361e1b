//! Resident memory of an idle sealing node: a one-node clique devnet (`devnet::prepare`:
//! local master key, bundle, genesis with a one-hour period, so the sealer waits) run
//! in-process by `cachet_node::run` with JSON-RPC, RLPx and the master-key lease, no peers.
//! `VmRSS` and `VmHWM` are read from `/proc/self/status` before the node starts (the bench
//! process alone: the baseline in the same run) and after a warm-up, then sampled.
//! When a `cachet` binary is found (`CACHET_BIN`, else `target/release/cachet`), the same is
//! measured for `cachet node` as a child process (the whole binary, AWS SDK included).
//! Run: `cargo bench -p cachet-node --bench idle_rss` (Linux).

use std::time::Duration;

use cachet_node::devnet::{DevnetConfig, prepare};
use cachet_node::{Controls, NodeConfig};
use tokio::sync::watch;

const WARM_UP: Duration = Duration::from_secs(5);
const SAMPLES: u32 = 10;

/// `(VmRSS, VmHWM)` in KiB of `/proc/<pid>/status`.
fn rss_of(pid: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn rss() -> (u64, u64) {
    rss_of("self")
}

fn cachet_bin() -> Option<std::path::PathBuf> {
    let p = std::env::var_os("CACHET_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/cachet")
        });
    p.exists().then_some(p)
}

async fn devnet_config(dir: &std::path::Path) -> (NodeConfig, cachet_node::devnet::DevnetNode) {
    let nodes = prepare(&DevnetConfig {
        dir: dir.to_owned(),
        engine: cachet_seal::Engine::Clique,
        period: 3600,
        nodes: 1,
        chain_id: 1337,
        p2p_port: free_port(),
        http_port: free_port(),
        ws_port: 0,
        london: true,
        prefund: Vec::new(),
    })
    .await
    .expect("devnet");
    let node = nodes.first().expect("one node").clone();
    let config = NodeConfig {
        skip_pow: false,
        datadir: node.datadir.clone(),
        genesis: dir.join("genesis.json"),
        network_id: None,
        p2p_listen: format!("127.0.0.1:{}", node.p2p_port)
            .parse()
            .expect("addr"),
        bootnodes: Vec::new(),
        max_peers: 25,
        discovery: Some(cachet_node::discovery::DiscoveryConfig::default()),
        raft: Default::default(),
        extra_data: Vec::new(),
        miner_gas_limit: None,
        txpool: cachet_node::PoolConfig::default(),
        rpc_gas_cap: cachet_node::rpc::DEFAULT_GAS_CAP,
        rpc_evm_timeout: cachet_node::rpc::DEFAULT_EVM_TIMEOUT,
        metrics: None,
        http: Some(
            format!("127.0.0.1:{}", node.http_port)
                .parse()
                .expect("addr"),
        ),
        ws: None,
        rpc_access: Default::default(),
        mine: true,
        doppelganger_periods: cachet_node::doppelganger::DEFAULT_PERIODS,
        kms: Default::default(),
        lease: Some(cachet_keyprovider::LeaseConfig::default()),
    };
    (config, node)
}

/// `cachet node` as a child: `(VmRSS min, VmRSS max, VmHWM)` in KiB after the warm-up, or
/// `None` when the binary did not start a node (e.g. a stale build without `node`).
async fn child(bin: &std::path::Path, dir: &std::path::Path) -> Option<(u64, u64, u64)> {
    use tokio::io::AsyncBufReadExt as _;
    let (config, node) = devnet_config(dir).await;
    let mut child = tokio::process::Command::new(bin)
        .arg("node")
        .arg("--datadir")
        .arg(&config.datadir)
        .arg("--genesis")
        .arg(&config.genesis)
        .args(["--addr", "127.0.0.1", "--port", &node.p2p_port.to_string()])
        .args(["--http.port", &node.http_port.to_string(), "--mine"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn cachet node");
    let out = child.stdout.take().expect("stdout");
    let started = tokio::io::BufReader::new(out).lines().next_line().await;
    if !matches!(started, Ok(Some(_))) {
        return None;
    }
    tokio::time::sleep(WARM_UP).await;
    let pid = child.id().expect("pid").to_string();
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        samples.push(rss_of(&pid).0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (_, hwm) = rss_of(&pid);
    let _ = child.kill().await;
    Some((
        samples.iter().copied().min().unwrap_or(0),
        samples.iter().copied().max().unwrap_or(0),
        hwm,
    ))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(bench());
}

async fn bench() {
    let dir = tempfile::tempdir().expect("tmp");
    let (config, _) = devnet_config(&dir.path().join("net")).await;
    let (baseline_rss, baseline_hwm) = rss();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(cachet_node::run(
        config,
        Controls {
            shutdown: stop_rx,
            key_status: None,
        },
        move |s| {
            let _ = started_tx.send(s.enode.clone());
        },
    ));
    started_rx.await.expect("node started");
    tokio::time::sleep(WARM_UP).await;
    let mut samples = Vec::new();
    for _ in 0..SAMPLES {
        samples.push(rss().0);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (_, hwm) = rss();
    let min = samples.iter().copied().min().unwrap_or(0);
    let max = samples.iter().copied().max().unwrap_or(0);
    let last = samples.last().copied().unwrap_or(0);
    let mib = |k: u64| k as f64 / 1024.0;
    println!("| what | VmRSS MiB | VmHWM MiB |");
    println!("|---|---:|---:|");
    println!(
        "| bench process before the node (baseline) | {:.1} | {:.1} |",
        mib(baseline_rss),
        mib(baseline_hwm)
    );
    println!(
        "| idle sealing node after {}s warm-up ({SAMPLES} samples, min–max) | {:.1}–{:.1} | {:.1} |",
        WARM_UP.as_secs(),
        mib(min),
        mib(max),
        mib(hwm)
    );
    println!(
        "| node − baseline (last sample) | {:.1} | {:.1} |",
        mib(last.saturating_sub(baseline_rss)),
        mib(hwm.saturating_sub(baseline_hwm))
    );
    stop_tx.send_replace(true);
    let _ = task.await;
    if let Some(bin) = cachet_bin() {
        match child(&bin, &dir.path().join("child")).await {
            Some((min, max, hwm)) => println!(
                "| `cachet node` child process ({}), min–max | {:.1}–{:.1} | {:.1} |",
                bin.display(),
                mib(min),
                mib(max),
                mib(hwm)
            ),
            None => println!(
                "| `cachet node` child process: {} did not start a node (stale build? set CACHET_BIN) | | |",
                bin.display()
            ),
        }
    }
}
