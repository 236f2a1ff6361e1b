//! `cachet p2p`: the devp2p stack alone on the node's unlocked key, for connectivity checks.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use alloy_primitives::{B256, U256};
use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{
    ChainConfig, ChainHead, Direction, Enode, Network, NetworkConfig, NetworkEvent,
};
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
    /// geth-format `genesis.json`: its `config` gives the chain id and the fork schedule.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// The genesis block hash. Needed until cachet computes it from --genesis.
    #[arg(long, value_name = "HASH")]
    genesis_hash: B256,
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
    #[command(flatten)]
    kms: KmsArgs,
}

/// Unlocks the keys (one master-key call), then listens, prints the enode, dials bootnodes and
/// prints every peer's Hello and Status (JSON lines) until interrupted.
pub(crate) async fn run(args: P2pArgs) -> Result<(), Failure> {
    let (chain_id, forks) = read_genesis(&args.genesis)?;
    let bootnodes = args
        .bootnodes
        .iter()
        .filter(|b| !b.is_empty())
        .map(|b| {
            b.parse::<Enode>()
                .map_err(|e| Failure::usage(e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let chain = ChainConfig {
        network_id: args.network_id.unwrap_or(chain_id),
        genesis: args.genesis_hash,
        forks: ForkSchedule::new(
            args.genesis_hash,
            &forks.blocks,
            &forks.times,
            forks.genesis_time,
        ),
    };
    let head = ChainHead {
        number: 0,
        hash: args.genesis_hash,
        total_difficulty: forks.difficulty,
        timestamp: forks.genesis_time,
    };
    // Nothing listens before the keys are unlocked.
    let unlocked = cachet_keyprovider::unlock(&args.datadir, &args.kms.config()).await?;
    let mut config = NetworkConfig::new(SocketAddr::new(args.addr, args.port), chain, head);
    config.bootnodes = bootnodes;
    config.max_peers = args.max_peers;
    let (net, mut events) = Network::start(unlocked.keys.node_key(), config)
        .await
        .map_err(|e| Failure::new(Code::Failure, e.to_string()))?;
    emit(&net.local_enode().to_string());
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
                    "fork_hash": format!("0x{}", hex::encode(p.status.fork_id.hash)),
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

/// The fork schedule fields of a geth genesis `config`.
struct Forks {
    blocks: Vec<u64>,
    times: Vec<u64>,
    genesis_time: u64,
    difficulty: U256,
}

/// geth's block-number forks, in `ChainConfig` order (all count towards the fork id).
const BLOCK_FORKS: &[&str] = &[
    "homesteadBlock",
    "daoForkBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "muirGlacierBlock",
    "berlinBlock",
    "londonBlock",
    "arrowGlacierBlock",
    "grayGlacierBlock",
    "mergeNetsplitBlock",
];
/// geth's timestamp forks.
const TIME_FORKS: &[&str] = &[
    "shanghaiTime",
    "cancunTime",
    "pragueTime",
    "osakaTime",
    "bpo1Time",
    "bpo2Time",
    "bpo3Time",
    "bpo4Time",
    "bpo5Time",
    "amsterdamTime",
    "verkleTime",
];

/// Reads the chain id and fork schedule from a geth genesis. (The genesis crate replaces this
/// once it lands, with the genesis hash computed too.)
fn read_genesis(path: &Path) -> Result<(u64, Forks), Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read genesis {}: {e}", path.display())))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("genesis {} is not JSON: {e}", path.display())))?;
    let bad = |field: &str| {
        Failure::usage(format!(
            "genesis {}: {field} is not a number",
            path.display()
        ))
    };
    let config = &v["config"];
    let chain_id = number(&config["chainId"]).ok_or_else(|| bad("config.chainId"))?;
    let collect = |names: &[&str]| -> Result<Vec<u64>, Failure> {
        names
            .iter()
            .filter(|n| !config[**n].is_null())
            .map(|n| number(&config[*n]).ok_or_else(|| bad(n)))
            .collect()
    };
    let forks = Forks {
        blocks: collect(BLOCK_FORKS)?,
        times: collect(TIME_FORKS)?,
        genesis_time: if v["timestamp"].is_null() {
            0
        } else {
            number(&v["timestamp"]).ok_or_else(|| bad("timestamp"))?
        },
        difficulty: if v["difficulty"].is_null() {
            U256::from(1u64)
        } else {
            v["difficulty"]
                .as_str()
                .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
                .or_else(|| v["difficulty"].as_u64().map(U256::from))
                .ok_or_else(|| bad("difficulty"))?
        },
    };
    Ok((chain_id, forks))
}

/// A JSON number or a `0x` hex / decimal string.
fn number(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
}
