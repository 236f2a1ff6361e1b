//! Cachet's devp2p stack on the KMS-unlocked node key.
//!
//! - [`rlpx`]: ECIES and the EIP-8 (and pre-EIP-8) auth/ack handshake, then an encrypted,
//!   authenticated frame stream ([`rlpx::FrameCodec`], a tokio codec).
//! - [`p2p`]: the base protocol: Hello (v5), snappy compression, capability negotiation,
//!   Disconnect, Ping/Pong.
//! - [`eth`]: eth/66, eth/67 and eth/68 messages (one codec; [`eth::EthVersion`] holds every
//!   difference) and Status with the EIP-2124 fork id.
//! - [`istanbul`]: GoQuorum's consensus sub-protocol `istanbul/100` beside eth (IBFT/QBFT
//!   chains, [`net::NetworkConfig::istanbul`]): frames carried, never decoded.
//! - [`raft`]: Cachet's raft transport `raft/1` beside eth (Quorum Raft clusters,
//!   [`net::NetworkConfig::raft`]): one raft message per frame, carried, never decoded.
//! - [`net`]: the async service the node builds on: listen, dial, per-peer tasks, events. Of
//!   two crossing connections to one node, both sides keep the one dialled by the node with the
//!   smaller node id.
//!
//! Discovery (discv4, the ENR, discv5) is the `cachet-discovery` crate. Node ids, enode URLs,
//! the fork id and the one bounded RLP reader are `cachet_primitives`'.
//!
//! The node key is used only through the [`cachet_primitives::Ecdh`] capability (RLPx); this
//! crate never sees key bytes or the key provider. One-time handshake keys and nonces are
//! generated here and erased after use.
//!
//! ## Feature flags
//! None.
//!
//! Specs: devp2p `rlpx.md`, `caps/eth.md`; EIP-8, EIP-706, EIP-2124. Operator notes:
//! `docs/networking.md`.
#![forbid(unsafe_code)]
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod cursor;
mod error;
pub mod eth;
#[doc(hidden)]
pub mod fuzzing;
pub mod istanbul;
pub mod net;
pub mod p2p;
pub mod raft;
pub mod rlpx;

pub use error::{ChainMismatch, DecodeError, Error, PeerLabel, Result};
