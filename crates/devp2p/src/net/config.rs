//! What the service needs to know: where to listen, whom to dial, which chain, and limits.

use std::net::SocketAddr;
use std::time::Duration;

use alloy_primitives::{B256, U256};

use crate::eth::{EthVersion, ForkSchedule};
use crate::net::{Enode, RedialBackoff};

/// The chain a node is on, for Status and peer validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// The network id announced in Status (geth: `--networkid`, default the chain id).
    pub network_id: u64,
    /// The genesis block hash.
    pub genesis: B256,
    /// The fork schedule for the EIP-2124 fork id.
    pub forks: ForkSchedule,
}

/// The node's current head, announced in Status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Total difficulty.
    pub total_difficulty: U256,
    /// Block timestamp (for timestamp forks).
    pub timestamp: u64,
}

/// Service configuration. [`NetworkConfig::new`] fills the limits with defaults.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Where to listen for RLPx (TCP). Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Our client id in Hello.
    pub client_id: String,
    /// Most established peers (inbound + outbound). Further peers get Disconnect "too many
    /// peers" right after the RLPx handshake.
    pub max_peers: usize,
    /// Most handshakes in progress at once; further TCP connections are closed unanswered.
    /// Bounds the memory unauthenticated peers can hold (each handshake buffers ≤ 4 KiB).
    pub max_pending: usize,
    /// Nodes to dial and keep dialling while not connected.
    pub bootnodes: Vec<Enode>,
    /// The chain.
    pub chain: ChainConfig,
    /// The head at start (update with [`crate::net::Network::update_head`]).
    pub head: ChainHead,
    /// Limit for TCP connect + RLPx handshake + Hello + Status.
    pub handshake_timeout: Duration,
    /// How often we ping an idle peer.
    pub ping_interval: Duration,
    /// A peer silent for this long (no message, no pong) is disconnected with "ping timeout".
    pub idle_timeout: Duration,
    /// How often bootnodes that are not connected (and not waiting out their backoff) are
    /// dialled again.
    pub redial_interval: Duration,
    /// How long to wait before dialling again a peer whose last connection failed or ended
    /// early (bootnodes, discovered nodes and `admin_addPeer` alike).
    pub redial_backoff: RedialBackoff,
    /// Largest frame accepted (≤ 16 MiB); bounds per-peer buffer memory.
    pub max_frame: usize,
    /// The eth versions advertised in Hello (default: all of [`EthVersion::ALL`]); the highest
    /// one both sides list is used.
    pub eth_versions: Vec<EthVersion>,
    /// Whether to offer GoQuorum's consensus sub-protocol `istanbul/100` beside eth (IBFT and
    /// QBFT chains; off for clique, raft and ethash). Its frames arrive as
    /// [`crate::net::NetworkEvent::Consensus`]. Default off.
    pub istanbul: bool,
    /// Whether to offer Cachet's raft transport `raft/1` beside eth (Quorum Raft clusters).
    /// Its frames arrive as [`crate::net::NetworkEvent::Raft`]. Default off.
    pub raft: bool,
}

impl NetworkConfig {
    /// A configuration with geth-like defaults: 25 peers, 5 s handshake timeout (geth's
    /// `handshakeTimeout`), ping every 15 s and a 30 s idle limit (geth's `pingInterval` and
    /// `frameReadTimeout`), redial every 10 s with a per-peer backoff of 1 s doubling to 2 min
    /// ([`RedialBackoff::default`]), 16 MiB frames, eth/66, eth/67 and eth/68.
    pub fn new(listen: SocketAddr, chain: ChainConfig, head: ChainHead) -> Self {
        Self {
            listen,
            client_id: format!("cachet/v{}", env!("CARGO_PKG_VERSION")),
            max_peers: 25,
            max_pending: 50,
            bootnodes: Vec::new(),
            chain,
            head,
            handshake_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(30),
            redial_interval: Duration::from_secs(10),
            redial_backoff: RedialBackoff::default(),
            max_frame: crate::rlpx::MAX_FRAME_SIZE,
            eth_versions: EthVersion::ALL.to_vec(),
            istanbul: false,
            raft: false,
        }
    }
}
