//! `cachet node` and `cachet devnet`: parse flags, call `cachet_node`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use cachet_devp2p::net::Enode;
use cachet_node::discovery::DiscoveryConfig;
use cachet_node::rpc::access::{AccessConfig, Limits, TlsFiles};
use cachet_node::{Controls, NodeConfig};
use clap::Args;
use tokio::sync::watch;

use crate::cmd::emit;
use crate::cmd::keys::KmsArgs;
use crate::cmd::signals::StopSignals;
use crate::exit::Failure;

/// `cachet node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// The node's data directory (holds `keys.cachet`; the chain and seal journal go here).
    #[arg(long)]
    datadir: PathBuf,
    /// geth-format `genesis.json`.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// Network id announced in eth Status (default: the genesis chain id).
    #[arg(long = "networkid")]
    network_id: Option<u64>,
    /// RLPx TCP port (0 picks a free one).
    #[arg(long, default_value_t = 30303)]
    port: u16,
    /// RLPx listen address.
    #[arg(long, default_value = "0.0.0.0")]
    addr: IpAddr,
    /// Enode URLs to dial and keep dialling, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ENODE,…")]
    bootnodes: Vec<String>,
    /// Most peers.
    #[arg(long = "maxpeers", default_value_t = 25)]
    max_peers: usize,
    /// Do not run discovery; peers come only from --bootnodes and `admin_addPeer`.
    #[arg(long)]
    nodiscover: bool,
    /// UDP port for discv4 (default: the RLPx port, as geth does).
    #[arg(long = "discovery.port", value_name = "PORT")]
    discovery_port: Option<u16>,
    /// Also run discv5 on this UDP port (it cannot share discv4's socket).
    #[arg(long = "discv5.port", value_name = "PORT")]
    discv5_port: Option<u16>,
    /// JSON-RPC HTTP listen address.
    #[arg(long = "http.addr", default_value = "127.0.0.1")]
    http_addr: IpAddr,
    /// JSON-RPC HTTP port (0 picks a free one).
    #[arg(long = "http.port", default_value_t = 8545)]
    http_port: u16,
    /// Disable JSON-RPC.
    #[arg(long = "nohttp")]
    no_http: bool,
    /// Serve JSON-RPC over WebSocket too (with `eth_subscribe`), on --ws.addr:--ws.port.
    #[arg(long)]
    ws: bool,
    /// JSON-RPC WebSocket listen address.
    #[arg(long = "ws.addr", value_name = "IP", default_value = "127.0.0.1")]
    ws_addr: IpAddr,
    /// JSON-RPC WebSocket port (0 picks a free one).
    #[arg(long = "ws.port", value_name = "PORT", default_value_t = 8546)]
    ws_port: u16,
    #[command(flatten)]
    rpc: RpcAccessArgs,
    /// Seal blocks: clique with the sealing key when it is an authorised signer; QBFT and
    /// GoQuorum IBFT with the node key as one of the validators; IBFT 2.0 with the node key
    /// when its address is the only validator; raft: mint as `--raft-id`.
    #[arg(long)]
    mine: bool,
    /// With --mine: block periods to listen before the first seal (raft: periods of the
    /// raft block time, at least 1 s each) for blocks peers send that carry our key's seal;
    /// one this node did not seal (not in its seal journal), then or later, means another node
    /// seals with the same key: sealing stops and the node exits 15. 0 turns the check off
    /// (unsafe: two copies of one key equivocate unnoticed).
    #[arg(long = "doppelganger-periods", value_name = "N", default_value_t = cachet_node::doppelganger::DEFAULT_PERIODS)]
    doppelganger_periods: u32,
    /// Clique vanity for sealed blocks: the text's bytes, at most 32 (geth's flag; zero-padded).
    #[arg(long = "miner.extradata", value_name = "TEXT", default_value = "")]
    miner_extradata: String,
    /// Lowest gas tip (wei) a transaction must offer to enter the pool (geth's
    /// `--miner.gasprice`/`--txpool.pricelimit`); 0 suits permissioned networks with free gas.
    #[arg(
        long = "miner.gasprice",
        alias = "txpool.pricelimit",
        value_name = "WEI",
        default_value_t = 0
    )]
    miner_gasprice: u128,
    /// Gas cap of `eth_call` and `eth_estimateGas` (geth's flag and default; 0: no cap).
    #[arg(long = "rpc.gascap", value_name = "GAS", default_value_t = cachet_node::rpc::DEFAULT_GAS_CAP)]
    rpc_gascap: u64,
    /// Wall-clock limit of one `eth_call` / `eth_estimateGas`: seconds ("5") or with a unit
    /// ("5s", "200ms", "1m"); 0 = none (geth's flag and default).
    #[arg(long = "rpc.evmtimeout", value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    rpc_evmtimeout: Duration,
    /// Serve Prometheus metrics at http://<metrics.addr>:<metrics.port>/metrics.
    #[arg(long)]
    metrics: bool,
    /// Metrics listen address.
    #[arg(long = "metrics.addr", value_name = "IP", default_value = "127.0.0.1")]
    metrics_addr: IpAddr,
    /// Metrics listen port.
    #[arg(long = "metrics.port", value_name = "PORT", default_value_t = 6060)]
    metrics_port: u16,
    /// Gas limit sealed blocks move toward, by at most parent/1024 - 1 per block (geth's
    /// flag and rule); without it each block keeps its parent's gas limit.
    #[arg(long = "miner.gaslimit", value_name = "GAS", value_parser = clap::value_parser!(u64).range(5000..=0x7fff_ffff_ffff_ffff))]
    miner_gaslimit: Option<u64>,
    /// The genesis is a Quorum Raft network without `"raft": true` (GoQuorum's `--raft`).
    #[arg(long)]
    raft: bool,
    /// This node's raft id (1..=65535); with `--mine` it mints as this id.
    #[arg(long = "raft-id", value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    raft_id: Option<u16>,
    /// At most one raft block per this many milliseconds; raft mints only while
    /// transactions are pending (GoQuorum's flag and default).
    #[arg(long = "raftblocktime", value_name = "MS", default_value_t = cachet_node::raft::DEFAULT_RAFT_BLOCK_TIME_MS,
        value_parser = clap::value_parser!(u64).range(1..))]
    raft_block_time: u64,
    /// Raft members whose blocks are accepted: `raft_cluster` JSON (raftId, nodeId) or
    /// {"<raft id>": "<enode>"} (this node is added under --raft-id).
    #[arg(long = "raft-members", value_name = "FILE")]
    raft_members: Option<PathBuf>,
    /// Join a running raft cluster as this raft id: the id `raft_addPeer` (or
    /// `raft_addLearner`) returned for this node's enode on the leader. <datadir>/static-nodes.json
    /// lists members to dial; keep the flag on restarts (GoQuorum's `--raftjoinexisting`).
    #[arg(long = "raft-join-existing", value_name = "ID", value_parser = clap::value_parser!(u16).range(1..))]
    raft_join_existing: Option<u16>,
    /// Accept ethash blocks without checking their proof of work (test chains only: hive's
    /// `HIVE_SKIP_POW`); refused for any other engine.
    #[arg(long)]
    skip_pow: bool,
    #[command(flatten)]
    kms: KmsArgs,
    #[command(flatten)]
    lease: crate::cmd::watch::LeaseArgs,
    /// Set by `cachet devnet`: exit when this process (the devnet) dies, even by SIGKILL.
    #[arg(long = "devnet-parent", value_name = "PID", hide = true)]
    devnet_parent: Option<u32>,
}

/// Who may call what on JSON-RPC (docs/rpc-security.md; geth's flag names where geth has one).
#[derive(Debug, Args)]
pub(crate) struct RpcAccessArgs {
    /// JSON-RPC namespaces served, comma-separated: eth net web3 txpool admin debug clique
    /// istanbul qbft raft personal [default: eth,net,web3 plus the engine's read-only methods]
    #[arg(long = "http.api", value_delimiter = ',', value_name = "NS,…")]
    http_api: Option<Vec<String>>,
    /// JSON-RPC namespaces served over WebSocket (as --http.api) [default: eth,net,web3 plus the
    /// engine's read-only methods]
    #[arg(long = "ws.api", value_delimiter = ',', value_name = "NS,…")]
    ws_api: Option<Vec<String>>,
    /// Origins browsers may open WebSocket connections from, comma-separated (`*` = any);
    /// handshakes without an Origin header always pass [default: `http://localhost`]
    #[arg(long = "ws.origins", value_delimiter = ',', value_name = "ORIGIN,…")]
    ws_origins: Vec<String>,
    /// Answer the wallet's signing methods (`eth_sign`, `personal_sign`, `eth_signTransaction`,
    /// `eth_sendTransaction`) and list the wallet in `eth_accounts`; each signature is audited.
    #[arg(long = "wallet.rpc")]
    wallet_rpc: bool,
    /// Also answer them on a listener that is not loopback (needs --http.jwtsecret or
    /// --http.tls-client-ca).
    #[arg(long = "wallet.rpc.allow-remote", requires = "wallet_rpc")]
    wallet_allow_remote: bool,
    /// Require a JWT (HS256, `iat` within 60 s) signed with the hex secret in FILE, created
    /// with mode 0600 if absent (geth's --authrpc.jwtsecret format).
    #[arg(long = "http.jwtsecret", value_name = "FILE")]
    jwt_secret: Option<PathBuf>,
    /// Serve JSON-RPC over TLS with this PEM certificate chain.
    #[arg(long = "http.tls-cert", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --http.tls-cert.
    #[arg(long = "http.tls-key", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require TLS client certificates issued by these PEM CA certificates.
    #[arg(
        long = "http.tls-client-ca",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_client_ca: Option<PathBuf>,
    /// Host names accepted in the Host header, comma-separated (`*` = any); others get 403.
    #[arg(
        long = "http.vhosts",
        value_delimiter = ',',
        default_value = "localhost",
        value_name = "HOST,…"
    )]
    vhosts: Vec<String>,
    /// Origins browsers may send cross-origin requests from, comma-separated (`*` = any).
    #[arg(
        long = "http.corsdomain",
        value_delimiter = ',',
        value_name = "ORIGIN,…"
    )]
    cors: Vec<String>,
    /// Largest request body, bytes.
    #[arg(long = "http.maxbody", value_name = "BYTES", default_value_t = Limits::default().max_body_bytes)]
    max_body: u32,
    /// Most calls in one batch request.
    #[arg(long = "http.batch-limit", value_name = "N", default_value_t = Limits::default().max_batch)]
    max_batch: u32,
    /// Most open connections.
    #[arg(long = "http.maxconns", value_name = "N", default_value_t = Limits::default().max_connections,
        value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Requests per second per client IP address, loopback callers excepted (0 = no limit).
    #[arg(long = "http.ratelimit", value_name = "N", default_value_t = Limits::default().rate_per_second)]
    rate: u32,
    /// Requests a client may send at once above --http.ratelimit.
    #[arg(long = "http.ratelimit.burst", value_name = "N", default_value_t = Limits::default().rate_burst)]
    burst: u32,
}

impl RpcAccessArgs {
    fn config(self) -> AccessConfig {
        AccessConfig {
            apis: self.http_api,
            ws_apis: self.ws_api,
            ws_origins: self.ws_origins,
            wallet_rpc: self.wallet_rpc,
            wallet_allow_remote: self.wallet_allow_remote,
            jwt_secret: self.jwt_secret,
            tls: self.tls_cert.zip(self.tls_key).map(|(cert, key)| TlsFiles {
                cert,
                key,
                client_ca: self.tls_client_ca,
            }),
            vhosts: self.vhosts,
            cors: self.cors,
            limits: Limits {
                max_body_bytes: self.max_body,
                max_batch: self.max_batch,
                max_connections: self.max_connections,
                rate_per_second: self.rate,
                rate_burst: self.burst,
                ..Limits::default()
            },
            audit_dir: None,
        }
    }
}

/// Runs the node until SIGINT/SIGTERM; prints one JSON line when it listens.
pub(crate) async fn run(args: NodeArgs) -> Result<(), Failure> {
    if let Some(parent) = args.devnet_parent {
        cachet_node::devnet::exit_with_parent(parent)?;
    }
    let bootnodes: Vec<Enode> = super::parse_items(&args.bootnodes)?;
    if args.miner_extradata.len() > 32 {
        return Err(Failure::usage(format!(
            "--miner.extradata is {} bytes; clique's vanity holds 32",
            args.miner_extradata.len()
        )));
    }
    let config = NodeConfig {
        datadir: args.datadir,
        genesis: args.genesis,
        network_id: args.network_id,
        p2p_listen: SocketAddr::new(args.addr, args.port),
        bootnodes,
        max_peers: args.max_peers,
        discovery: (!args.nodiscover).then_some(DiscoveryConfig {
            v4_port: args.discovery_port,
            v5_port: args.discv5_port,
        }),
        http: (!args.no_http).then_some(SocketAddr::new(args.http_addr, args.http_port)),
        ws: args
            .ws
            .then_some(SocketAddr::new(args.ws_addr, args.ws_port)),
        rpc_access: args.rpc.config(),
        mine: args.mine,
        doppelganger_periods: args.doppelganger_periods,
        extra_data: args.miner_extradata.into_bytes(),
        miner_gas_limit: args.miner_gaslimit,
        txpool: cachet_node::PoolConfig {
            min_gas_price: args.miner_gasprice,
            ..cachet_node::PoolConfig::default()
        },
        rpc_gas_cap: args.rpc_gascap,
        rpc_evm_timeout: args.rpc_evmtimeout,
        metrics: args
            .metrics
            .then(|| SocketAddr::new(args.metrics_addr, args.metrics_port)),
        kms: args.kms.config(),
        lease: Some(args.lease.config()),
        raft: cachet_node::RaftConfig {
            flag: args.raft,
            raft_id: args.raft_id,
            block_time_ms: args.raft_block_time,
            members: args.raft_members,
            join_existing: args.raft_join_existing,
        },
        skip_pow: args.skip_pow,
    };
    let controls = stop_controls();
    cachet_node::run(config, controls, |s| {
        emit(
            &serde_json::json!({
                "enode": s.enode,
                "rpc": s.rpc_url,
                "ws": s.ws_url,
                "signer": s.signer,
                "genesis": s.genesis_hash,
                "enr": s.enr,
                "hardening": s.hardening,
            })
            .to_string(),
        );
    })
    .await?;
    Ok(())
}

/// Controls whose shutdown turns true on SIGINT, SIGTERM or SIGHUP (handlers installed now,
/// before the keys are unlocked); the key status comes from the lease.
/// A duration flag: plain seconds, or humantime's units (geth takes Go's "5s").
fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(s).map_err(|e| e.to_string()),
    }
}

pub(crate) fn stop_controls() -> Controls {
    let mut signals = StopSignals::install();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let name = signals.recv().await;
        tracing::info!(target: "cachet::node", signal = name, "stopping");
        tx.send_replace(true);
    });
    Controls {
        shutdown: rx,
        key_status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evm_timeout_takes_seconds_or_units() {
        assert_eq!(parse_timeout("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_timeout("soon").is_err());
        assert!(parse_timeout("-1").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn evm_timeout_defaults_to_five_seconds() {
        use clap::Parser as _;
        let base = ["cachet", "--datadir", "d", "--genesis", "g.json"];
        let cli = Cli::try_parse_from(base).unwrap();
        assert_eq!(cli.node.rpc_evmtimeout, Duration::from_secs(5));
        let cli = Cli::try_parse_from(base.into_iter().chain(["--rpc.evmtimeout", "0"])).unwrap();
        assert_eq!(cli.node.rpc_evmtimeout, Duration::ZERO);
    }
}
