//! `cachet p2p`: the devp2p stack alone on the node's unlocked key, for connectivity checks.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use cachet_devp2p::net::{
    ChainConfig, ChainHead, Direction, Enode, Network, NetworkConfig, NetworkEvent,
};
use cachet_discovery::{Discv4, Discv4Config, Discv5Config, Discv5Service, NodeRecord};
use cachet_genesis::{Genesis, RaftMarker};
use clap::Args;
use serde_json::json;

use crate::cmd::emit;
use crate::cmd::keys::KmsArgs;
use crate::exit::{Code, Failure};

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

/// Unlocks the keys (one master-key call), then listens, prints the enode, dials bootnodes and
/// prints every peer's Hello and Status (JSON lines) until interrupted.
pub(crate) async fn run(args: P2pArgs) -> Result<(), Failure> {
    let raft = RaftMarker::from_flag(args.raft);
    let genesis =
        Genesis::from_file(&args.genesis, raft).map_err(|e| Failure::usage(e.to_string()))?;
    let bootnodes: Vec<Enode> = super::parse_items(&args.bootnodes)?;
    let discovery_bootnodes: Vec<NodeRecord> = super::parse_items(&args.bootnodes)?;
    let hash = genesis.hash();
    let chain = ChainConfig {
        network_id: args.network_id.unwrap_or(genesis.config.chain_id),
        genesis: hash,
        forks: genesis.fork_schedule(),
    };
    let head = ChainHead {
        number: 0,
        hash,
        total_difficulty: genesis.difficulty,
        timestamp: genesis.timestamp,
    };
    // Nothing listens before the keys are unlocked.
    let unlocked = cachet_keyprovider::unlock(&args.datadir, &args.kms.config()).await?;
    let mut config = NetworkConfig::new(SocketAddr::new(args.addr, args.port), chain, head);
    config.bootnodes = bootnodes;
    config.max_peers = args.max_peers;
    let fork_id = config
        .chain
        .forks
        .fork_id(config.head.number, config.head.timestamp);
    let (net, mut events) = Network::start(unlocked.keys.node_key(), config)
        .await
        .map_err(|e| Failure::new(Code::Failure, e.to_string()))?;
    let mut enode = net.local_enode();
    // Discovery answers on UDP for the same node key; peers find our RLPx port in Ping and ENR.
    let discv4 = if args.nodiscover {
        None
    } else {
        let udp = args.discovery_port.unwrap_or(enode.addr.port());
        let mut d4 = Discv4Config::new(SocketAddr::new(args.addr, udp), enode.addr.port());
        d4.bootnodes = discovery_bootnodes;
        d4.fork_id = Some(fork_id);
        let (handle, _events) = Discv4::spawn(unlocked.keys.node_key(), d4)
            .await
            .map_err(|e| Failure::new(Code::Failure, format!("discv4: {e}")))?;
        let udp = handle.local_record().endpoint.udp;
        enode.discport = (udp != enode.addr.port()).then_some(udp);
        Some(handle)
    };
    let discv5 = match args.discv5_port {
        Some(port) => {
            let d5 = Discv5Config {
                listen: SocketAddr::new(args.addr, port),
                external_ip: None,
                tcp_port: enode.addr.port(),
                fork_id: Some(fork_id),
                enr_seq: 1,
                bootnodes: Vec::new(),
            };
            let service = Discv5Service::spawn(&unlocked.keys.node_key(), d5)
                .await
                .map_err(|e| Failure::new(Code::Failure, format!("discv5: {e}")))?;
            emit(&json!({"event": "discv5", "enr": service.local_enr().to_base64()}).to_string());
            Some(service)
        }
        None => None,
    };
    emit(&enode.to_string());
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => log_event(&ev),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => {
                net.shutdown();
                break;
            }
        }
    }
    if let Some(handle) = discv4 {
        handle.shutdown().await;
    }
    drop(discv5);
    drop(unlocked);
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
