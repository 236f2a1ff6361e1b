//! The Cachet node: chain store, verified chain, sealers for every engine, eth/68 sync,
//! JSON-RPC and startup.
//!
//! - [`store::ChainStore`]: headers and bodies (raw RLP by hash), the canonical number → hash
//!   index, total difficulty and the head pointer, on `redb`; one durable transaction per block.
//! - [`chain::Chain`]: every block (sealed here or received) is verified against its parent and
//!   the engine (clique: the snapshot) before it is stored; heaviest chain wins.
//! - [`consensus::Consensus`]: the engine the genesis selects (clique, IBFT, IBFT 2.0, QBFT with
//!   a fixed validator set, Quorum Raft), its block hash and its BFT/raft verification rules.
//! - [`clique::CliqueSealer`]: in-turn/out-of-turn difficulty and wiggle, recently-signed rule,
//!   epoch checkpoints, `clique_propose` votes; every seal goes through the seal journal.
//! - [`bft::BftSealer`]: single-validator IBFT/IBFT 2.0/QBFT, proposer and committed seals by the
//!   node key every block period, through the seal journal.
//! - [`raft::RaftMinter`]: single-node Quorum Raft minter (PR 395 signature by the node key,
//!   nanosecond timestamps), minting on a timer until Cachet executes transactions.
//! - [`sync`]: serves and downloads headers/bodies over eth/68, imports announced blocks, drops
//!   peers sending invalid ones, announces new heads.
//! - [`discovery`]: discv4 (and optionally discv5) on UDP; found nodes are dialled.
//! - [`import`]: blocks from RLP files (`cachet import`), verified like a peer's.
//! - [`sync_status::SyncStatus`]: download progress for `eth_syncing`.
//! - [`rpc`]: geth-compatible JSON-RPC over HTTP (jsonrpsee).
//! - [`devnet`]: `cachet devnet` (master key, bundles, genesis per engine, child processes).
//! - [`exit`]: every crate's error → the documented exit codes (one place).
//! - [`run::run`], [`run::run_p2p`]: one startup path for `cachet node` and `cachet p2p`
//!   (hardening and unlock before anything listens), revocation and shutdown.
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]

pub mod bft;
pub mod block;
pub mod chain;
pub mod clique;
mod config;
pub mod consensus;
pub mod devnet;
pub mod discovery;
mod error;
pub mod exit;
pub mod import;
mod pending;
pub mod raft;
pub mod rpc;
pub mod run;
pub mod store;
pub mod sync;
pub mod sync_status;

pub use config::{NodeConfig, RaftConfig, Started};
pub use error::{Error, Result};
pub use run::{Controls, KeyStatus, hardening_json, run, run_p2p};
