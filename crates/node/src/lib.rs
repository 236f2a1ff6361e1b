//! The Cachet node. For now only its chain store; the sealer, sync, JSON-RPC and startup
//! follow.
//!
//! - [`store::ChainStore`]: headers and bodies (raw RLP by hash), the canonical number → hash
//!   index, total difficulty and the head pointer, on `redb`. Each block is written in one
//!   durable transaction, so the head and the block commit atomically.
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]

mod error;
pub mod store;

pub use error::{Error, Result};
