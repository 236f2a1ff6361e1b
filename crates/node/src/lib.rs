//! The Cachet node: chain store, verified chain, sealers for every engine, eth/66–68 sync,
//! JSON-RPC and startup.
//!
//! - [`store::ChainStore`]: headers and bodies (raw RLP by hash), the canonical number → hash
//!   index, total difficulty and the head pointer, on `redb`; one durable transaction per block.
//! - [`chain::Chain`]: every block (sealed here or received) is verified against its parent and
//!   the engine (clique: the snapshot) before it is stored; heaviest chain wins.
//! - [`consensus`]: the engine interface: [`consensus::ChainRules`] (block hash, verification
//!   against the parent, per-block engine state) and [`consensus::BlockProducer`] (next slot,
//!   seal), and the two factories that pick an engine's implementations from the genesis.
//! - One module per engine, owning both: [`clique`] (snapshot rules; in-turn/out-of-turn
//!   difficulty and wiggle, recently-signed rule, epoch checkpoints, `clique_propose` votes),
//!   [`bft`] (IBFT/IBFT 2.0/QBFT; the validator set per block from votes, [`bft_votes`]; the
//!   single-validator sealer signs proposal and committed seal with the node key), [`raft`]
//!   (PR 395 minter signature by the node key, nanosecond timestamps, minting only while
//!   transactions are pending).
//! - [`qbft`]: multi-validator QBFT: the driver that runs `cachet_consensus::qbft` height after
//!   height over the `istanbul/100` network ([`consensus_net`]), and an in-process hub for tests.
//! - [`raft_cluster`]: a Quorum Raft cluster member: `cachet-raft`'s node over `raft/1`
//!   (founders from `static-nodes.json`), minting on the leader only, committed blocks imported.
//! - [`produce`]: the one block-production loop for every engine: blocks built from a
//!   [`consensus::TxSource`] ([`chain::Chain::build_child`]); every seal goes through the seal
//!   journal, and the block being sealed through `sealing.rlp` (crash recovery).
//! - [`doppelganger`]: before its first seal a producer listens `--doppelganger-periods` block
//!   periods; a block from a peer signed by our key that our seal journal did not record (then
//!   or later) stops sealing and the node (exit 15).
//! - [`testing`]: [`testing::VecTxSource`], a transaction source over a list (tests).
//! - [`sync`]: serves and downloads headers/bodies over eth/66–68, imports announced blocks, drops
//!   peers sending invalid ones, announces new heads.
//! - [`istanbul`]: `istanbul/100` beside eth on IBFT/QBFT chains: [`istanbul::IstanbulNet`]
//!   (the [`consensus_net::ConsensusNet`] a BFT driver sends through) and the inbound frames.
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
pub mod bft_votes;
pub mod block;
pub mod chain;
pub mod clique;
mod config;
pub mod consensus;
pub mod consensus_net;
pub mod devnet;
pub mod discovery;
pub mod doppelganger;
mod error;
pub mod exit;
pub mod gossip;
pub mod import;
pub mod istanbul;
pub mod metrics;
mod pending;
pub mod pool;
pub mod produce;
pub mod qbft;
pub mod raft;
pub mod raft_cluster;
pub mod rpc;
pub mod run;
pub mod store;
pub mod sync;
pub mod sync_status;
pub mod testing;

pub use cachet_txpool::PoolConfig;
pub use config::{NodeConfig, RaftConfig, Started};
pub use error::{Error, Result};
pub use run::{Controls, KeyStatus, hardening_json, run, run_p2p};
