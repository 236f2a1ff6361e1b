//! Cachet's ground floor: the types every other crate shares, with no key material and no I/O
//! beyond the one atomic-write helper.
//!
//! The moving parts:
//! - [`rlp`]: the one bounded, canonical-only RLP reader for untrusted bytes ([`rlp::Reader`])
//!   and a small encoder;
//! - [`Header`]: the block header and its strict codec; [`block`]: block and body RLP;
//! - [`ForkId`]: the EIP-2124 fork id and its wire codec;
//! - [`NodeId`] and [`Enode`]: node identity and the one enode URL parser (GoQuorum's
//!   `?discport=…&raftport=…` form included);
//! - [`Ecdh`] and [`NodeSigner`]: the capabilities networking uses the node key through;
//! - [`DecodeError`]: bytes from outside that do not decode;
//! - [`Engine`]: the one name of a consensus engine (clique, IBFT, IBFT 2.0, QBFT, raft, ethash);
//! - [`fs`]: the one atomic file write; [`error::Chain`]: printing an error with its causes.
//!
//! ## Feature flags
//! - `test-utils`: `testing::TestNodeKey`, a node key in plain memory for tests.
//!
//! Specs: Ethereum yellow paper appendix B (RLP), EIP-2124, devp2p `enode` URLs.
#![forbid(unsafe_code)]
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod block;
mod engine;
mod enode;
pub mod error;
mod forkid;
pub mod fs;
mod header;
mod keys;
pub mod rlp;
#[cfg(feature = "test-utils")]
pub mod testing;

pub use engine::{Engine, UnknownEngine};
pub use enode::{Enode, NodeId};
pub use error::{DecodeError, Result};
pub use forkid::{ForkHash, ForkId};
pub use header::{EMPTY_OMMERS_HASH, Header, MAX_HEADER_BYTES};
pub use keys::{Ecdh, KeyError, NodeSigner};
