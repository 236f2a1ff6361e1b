//! `cachet p2p`: the devp2p stack alone on the node's unlocked key, for connectivity checks.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use cachet_devp2p::net::{Direction, Enode, NetworkEvent};
use cachet_node::NodeConfig;
use cachet_node::discovery::DiscoveryConfig;
use clap::Args;
use serde_json::json;

use crate::cmd::emit;
use crate::cmd::keys::KmsArgs;
use crate::exit::Failure;

/// `cachet p2p`.
#[derive(Debug, Args)]
pub(crate) struct P2pArgs {
    /// The node's data directory (holds `keys.cachet`).
    #[arg(long)]
    datadir: PathBuf,
    /// geth-format `genesis.json`: gives the genesis hash, the chain id (default network id)
    /// and the EIP-2124 fork schedule.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// The genesis is a Quorum Raft network without `"raft": true` (GoQuorum's `--raft`).
    #[arg(long)]
    raft: bool,
    /// Network id announced in eth Status (default: the genesis chain id).
    #[arg(long)]
    network_id: Option<u64>,
    /// TCP port for RLPx (0 picks a free one; the printed enode shows it).
    #[arg(long, default_value_t = 30303)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    addr: IpAddr,
    /// Enode URLs to dial and keep dialling, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "ENODE,…")]
    bootnodes: Vec<String>,
    /// Most peers.
    #[arg(long, default_value_t = 25)]
    max_peers: usize,
    /// UDP port for discv4 (default: the RLPx port, as geth does).
    #[arg(long, value_name = "PORT")]
    discovery_port: Option<u16>,
    /// Do not run discovery (geth's `--nodiscover`).
    #[arg(long)]
    nodiscover: bool,
    /// Also run discv5 on this UDP port (it cannot share discv4's socket).
    #[arg(long, value_name = "PORT")]
    discv5_port: Option<u16>,
    #[command(flatten)]
    kms: KmsArgs,
}

/// Runs the node's startup in p2p mode (`cachet_node::run_p2p`: unlock, then listen, dial
/// bootnodes, discovery), prints the enode and every peer's Hello and Status (JSON lines) until
/// interrupted.
pub(crate) async fn run(args: P2pArgs) -> Result<(), Failure> {
    let bootnodes: Vec<Enode> = super::parse_items(&args.bootnodes)?;
    let config = NodeConfig {
        skip_pow: false,
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
        http: None,
        ws: None,
        rpc_access: Default::default(),
        mine: false,
        doppelganger_periods: 0,
        extra_data: Vec::new(),
        miner_gas_limit: None,
        txpool: cachet_node::PoolConfig::default(),
        rpc_gas_cap: cachet_node::rpc::DEFAULT_GAS_CAP,
        rpc_evm_timeout: cachet_node::rpc::DEFAULT_EVM_TIMEOUT,
        metrics: None,
        kms: args.kms.config(),
        lease: None,
        raft: cachet_node::RaftConfig {
            flag: args.raft,
            ..Default::default()
        },
    };
    let controls = super::node::stop_controls();
    cachet_node::run_p2p(
        config,
        controls,
        |s| {
            if let Some(enr) = &s.enr {
                emit(&json!({"event": "discv5", "enr": enr}).to_string());
            }
            emit(&s.enode);
        },
        log_event,
    )
    .await?;
    Ok(())
}

/// Prints one JSON line per peer event on stdout (after the enode line) and logs it.
fn log_event(ev: &NetworkEvent) {
    match ev {
        NetworkEvent::PeerConnected(p) => {
            let caps: Vec<String> = p
                .hello
                .capabilities
                .iter()
                .map(ToString::to_string)
                .collect();
            let direction = match p.direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            };
            emit(
                &json!({
                    "event": "hello",
                    "peer": p.id.to_string(),
                    "addr": p.addr.to_string(),
                    "direction": direction,
                    "client_id": p.hello.client_id,
                    "p2p_version": p.hello.protocol_version,
                    "capabilities": caps,
                })
                .to_string(),
            );
            emit(
                &json!({
                    "event": "status",
                    "peer": p.id.to_string(),
                    "eth_version": p.status.version,
                    "network_id": p.status.network_id,
                    "total_difficulty": p.status.total_difficulty.to_string(),
                    "head": p.status.head.to_string(),
                    "genesis": p.status.genesis.to_string(),
                    "fork_hash": p.status.fork_id.hash.to_string(),
                    "fork_next": p.status.fork_id.next,
                })
                .to_string(),
            );
            tracing::info!(target: "cachet::p2p", peer = %p.id, addr = %p.addr, client = %p.hello.client_id, "peer connected");
        }
        NetworkEvent::Message { peer, message } => {
            tracing::debug!(target: "cachet::p2p", %peer, id = message.id(), "eth message");
        }
        NetworkEvent::PeerDisconnected {
            peer,
            reason,
            cause,
        } => {
            emit(
                &json!({
                    "event": "disconnected",
                    "peer": peer.to_string(),
                    "reason": reason.to_string(),
                    "cause": cause,
                })
                .to_string(),
            );
            tracing::info!(target: "cachet::p2p", %peer, %reason, %cause, "peer disconnected");
        }
        _ => {}
    }
}
