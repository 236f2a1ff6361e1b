//! Node discovery on the node key: discv4 (our codec and service) and discv5 (sigp's `discv5`
//! crate).
//!
//! - [`v4`]: the discv4 packet codec ([`v4::decode_packet`], [`v4::encode_packet`]), the
//!   Kademlia table and the UDP service ([`Discv4`]).
//! - [`Discv5Service`]: sigp's discv5 with the same node key and an ENR carrying ip, tcp, udp and
//!   the `eth` fork id.
//! - [`local_enr`]: our EIP-778 record, encoded here and signed through the
//!   [`cachet_primitives::NodeSigner`] capability.
//! - [`NodeRecord`]: a node id ([`NodeId`]) and its discv4 [`Endpoint`], converted to and from
//!   the one [`Enode`] type; enode URLs parse only through [`Enode`]'s parser.
//!
//! RLP is read through the one bounded reader, [`cachet_primitives::rlp::Reader`].
//!
//! ## Feature flags
//! None.
//!
//! Bad bytes from a peer are a [`DecodeError`]; our own failures are an [`Error`].
//! Specs: <https://github.com/ethereum/devp2p/blob/master/discv4.md>, EIP-8, EIP-778, EIP-868,
//! EIP-2124. Operator notes: `docs/discovery.md`.
#![forbid(unsafe_code)]
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod enr;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod node;
pub mod v4;
mod v5;

pub use enr::{EnrFields, ForkId, LocalEnr, local_enr};
pub use error::{DecodeError, Error, Result};
pub use node::{Endpoint, Enode, NodeId, NodeRecord};
pub use v4::{Discv4, Discv4Config, Discv4Event, Discv4Handle};
pub use v5::{Discv5Config, Discv5Service};
