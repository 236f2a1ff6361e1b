//! `cachet node` and `cachet devnet`: parse flags, call `cachet_node`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use cachet_devp2p::net::Enode;
use cachet_node::discovery::DiscoveryConfig;
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
    /// Seal blocks: clique with the sealing key when it is an authorised signer; IBFT/QBFT
    /// with the node key when its address is the only validator; raft: mint as `--raft-id`.
    #[arg(long)]
    mine: bool,
    /// Clique vanity for sealed blocks: the text's bytes, at most 32 (geth's flag; zero-padded).
    #[arg(long = "miner.extradata", value_name = "TEXT", default_value = "")]
    miner_extradata: String,
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
        mine: args.mine,
        extra_data: args.miner_extradata.into_bytes(),
        miner_gas_limit: args.miner_gaslimit,
        kms: args.kms.config(),
        lease: Some(args.lease.config()),
        raft: cachet_node::RaftConfig {
            flag: args.raft,
            raft_id: args.raft_id,
            block_time_ms: args.raft_block_time,
            members: args.raft_members,
        },
        skip_pow: args.skip_pow,
    };
    let controls = stop_controls();
    cachet_node::run(config, controls, |s| {
        emit(
            &serde_json::json!({
                "enode": s.enode,
                "rpc": s.rpc_url,
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
