//! The Cachet node: chain store, verified chain, clique sealer, eth/68 sync, JSON-RPC and
//! startup.
//!
//! - [`store::ChainStore`]: headers and bodies (raw RLP by hash), the canonical number → hash
//!   index, total difficulty and the head pointer, on `redb`; one durable transaction per block.
//! - [`chain::Chain`]: every block (sealed here or received) is verified against its parent and
//!   the clique snapshot before it is stored; heaviest chain wins.
//! - [`clique::CliqueSealer`]: in-turn/out-of-turn difficulty and wiggle, recently-signed rule,
//!   epoch checkpoints, `clique_propose` votes; every seal goes through the seal journal.
//! - [`sync`]: serves and downloads headers/bodies over eth/68, imports announced blocks, drops
//!   peers sending invalid ones, announces new heads.
//! - [`sync_status::SyncStatus`]: download progress for `eth_syncing`.
//! - [`rpc`]: geth-compatible JSON-RPC over HTTP (jsonrpsee).
//! - [`devnet`]: `cachet devnet` (master key, bundles, genesis, child processes).
//! - [`run::run`]: startup order (unlock before anything listens) and shutdown.
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]

pub mod block;
pub mod chain;
pub mod clique;
mod config;
pub mod devnet;
mod error;
pub mod rpc;
pub mod run;
pub mod store;
pub mod sync;
pub mod sync_status;

pub use config::{NodeConfig, Started};
pub use error::{Error, Result};
pub use run::{Controls, KeyStatus, run};
