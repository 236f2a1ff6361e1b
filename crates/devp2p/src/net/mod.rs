//! The async service the node builds on: a listener, bootnode dialling, one task per peer,
//! and a stream of [`NetworkEvent`]s.

mod config;
mod enode;
mod network;
mod peer;

use std::net::SocketAddr;

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
