//! Cachet's chain spec: a geth-format `genesis.json`, the consensus engine it selects, the
//! genesis block (state root from `alloc`, header, hash) and the EIP-2124 fork identifier.
//!
//! The moving parts:
//! - [`Genesis`] parses the file as geth does (hex or decimal quantities, case-insensitive
//!   keys, unknown keys ignored) and names the field in every [`Error`].
//! - [`ChainConfig`] holds the chain id, the block- and time-based forks ([`Fork`]) and the
//!   consensus section ([`ConsensusConfig`]): the [`Engine`] (the workspace's one engine type,
//!   from `cachet-primitives`) and its parameters ([`CliqueConfig`], [`BftConfig`]).
//! - [`Genesis::state_root`], [`Genesis::header`] and [`Genesis::hash`] compute the genesis
//!   block exactly as geth's `ToBlock` does, as `cachet_primitives::Header` (one header type).
//! - [`ForkSchedule`] computes [`ForkId`]s and validates a remote peer's fork id
//!   ([EIP-2124](https://eips.ethereum.org/EIPS/eip-2124)).
//!
//! `docs/genesis.md` lists the fields read, how the engine is chosen and the Raft marker.
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod config;
mod engine;
mod error;
mod fork;
mod forkid;
mod genesis;
mod header;
mod json;
mod state;

pub use config::{ChainConfig, ExecutionParams};
pub use engine::{BftConfig, CliqueConfig, ConsensusConfig, DEFAULT_EPOCH, Engine, RaftMarker};
pub use error::{Error, Result};
pub use fork::{Fork, ForkCondition};
pub use forkid::{ForkHash, ForkId, ForkSchedule};
pub use genesis::{Genesis, GenesisAccount};
pub use header::{EMPTY_OMMERS_HASH, EMPTY_REQUESTS_HASH, INITIAL_BASE_FEE, genesis_body_rlp};
pub use state::state_root;
