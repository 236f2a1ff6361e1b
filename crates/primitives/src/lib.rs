//! Cachet's ground floor: the types every other crate shares, with no key material and no I/O
//! beyond the one atomic-write helper.
//!
//! The moving parts (filled in by the foundations work, issue 11):
//! - [`Engine`]: the one name of a consensus engine (clique, IBFT, IBFT 2.0, QBFT, raft, ethash),
//! - the block header and block/body RLP,
//! - one bounded RLP reader for untrusted bytes,
//! - the EIP-2124 fork id,
//! - node id / enode,
//! - the small capability traits (ECDH, node signer),
//! - the one atomic file write ([`fs`]),
//! - printing an error with its causes ([`error::Chain`]).
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]

mod engine;

pub use engine::{Engine, UnknownEngine};
pub mod error;
pub mod fs;
