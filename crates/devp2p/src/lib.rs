//! Cachet's devp2p stack on the KMS-unlocked node key.
//!
//! - [`rlpx`]: ECIES and the EIP-8 (and pre-EIP-8) auth/ack handshake, then an encrypted,
//!   authenticated frame stream ([`rlpx::FrameCodec`], a tokio codec).
//! - [`p2p`]: the base protocol: Hello (v5), snappy compression, capability negotiation,
//!   Disconnect, Ping/Pong.
//! - [`eth`]: eth/68 messages and Status with the EIP-2124 fork id.
//! - [`net`]: the async service the node builds on: listen, dial, per-peer tasks, events.
//! - [`discovery`]: discv4 (our own codec, bonding, Kademlia table) and discv5 (sigp `discv5`),
//!   both on the node key, with an ENR carrying the eth fork id.
//!
//! The node key is used only through [`cachet_keyprovider::Ecdh`] (RLPx); one-time handshake
//! keys and nonces are generated here and erased after use.
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
pub mod discovery;
mod error;
pub mod eth;
#[doc(hidden)]
pub mod fuzzing;
pub mod net;
pub mod p2p;
pub mod rlpx;

pub use error::{DecodeError, Error, PeerLabel, Result};
