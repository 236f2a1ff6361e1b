//! The async service the node builds on: a listener, bootnode dialling, one task per peer,
//! and a stream of [`NetworkEvent`]s.

mod backoff;
mod config;
mod enode;
mod network;
mod peer;

use std::net::SocketAddr;

use alloy_primitives::Bytes;

pub use backoff::RedialBackoff;
pub use config::{ChainConfig, ChainHead, NetworkConfig};
/// The peer's node id: the same type as [`NodeId`] under the name the service's API uses.
pub use enode::NodeId as PeerId;
pub use enode::{Enode, NodeId};
pub use network::Network;

use crate::eth::{EthMessage, EthVersion, Status};
use crate::p2p::{DisconnectReason, Hello};

/// Who opened the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The peer dialled us.
    Inbound,
    /// We dialled the peer.
    Outbound,
}

/// An established peer: who it is and what it said in Hello and Status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its node id (proven by the RLPx handshake).
    pub id: PeerId,
    /// Its TCP address.
    pub addr: SocketAddr,
    /// Who dialled.
    pub direction: Direction,
    /// Its Hello.
    pub hello: Hello,
    /// The eth version negotiated with it (its Status carries the same number).
    pub eth: EthVersion,
    /// Its eth Status.
    pub status: Status,
    /// Whether `istanbul/100` was negotiated with it (both sides offered it).
    pub istanbul: bool,
    /// Whether `raft/1` was negotiated with it (both sides offered it).
    pub raft: bool,
}

/// What the service reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkEvent {
    /// A peer completed RLPx, Hello and a valid Status.
    PeerConnected(PeerInfo),
    /// An eth message from a connected peer (Status excluded).
    Message {
        /// The sender.
        peer: PeerId,
        /// The message.
        message: EthMessage,
    },
    /// A message of `istanbul/100` (only with [`NetworkConfig::istanbul`], only after Status):
    /// one of the codes a consensus engine sends (0x11–0x15), payload as on the wire
    /// (decompressed, not decoded; ≤ [`crate::istanbul::MAX_PAYLOAD`]).
    Consensus {
        /// The sender (the RLPx-proven node id, not the message's signer).
        peer: PeerId,
        /// Code relative to the sub-protocol's offset.
        code: u64,
        /// The payload bytes.
        payload: Bytes,
    },
    /// A message of `raft/1` (only with [`NetworkConfig::raft`], only after Status): one raft
    /// message as on the wire (decompressed, not decoded; ≤ [`crate::raft::MAX_PAYLOAD`]).
    Raft {
        /// The sender: the node id the RLPx handshake proved.
        peer: PeerId,
        /// The payload bytes.
        payload: Bytes,
    },
    /// A connected peer is gone.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
        /// The Disconnect reason, sent or received.
        reason: DisconnectReason,
        /// What ended it, for logs (public text).
        cause: String,
    },
}
