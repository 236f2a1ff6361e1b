//! The world state of a Cachet node: accounts, contract code and storage on redb.
//!
//! - [`WorldState`]: functions over the node's redb transactions: the state tables, the genesis
//!   `alloc`, the flat state of the canonical head ([`WorldState::latest`]), any stored
//!   block's state through the trie ([`WorldState::at_root`]), the incremental
//!   Merkle-Patricia state root ([`WorldState::commit_trie`]) and per-block change sets that
//!   move the flat state forward and back ([`WorldState::apply_flat`],
//!   [`WorldState::revert_flat`]).
//! - [`StateView`]: what execution reads (an account, a storage slot, code by hash), at one
//!   block's post-state.
//! - [`ChangeSet`]: what executing one block changed, with the value before and after each
//!   change.
//!
//! `docs/dev/state.md` describes the tables, the trie, history and costs.
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]

mod changes;
mod tables;
mod trie;
mod types;
mod world;

pub use types::{AccountChange, AccountInfo, ChangeSet, SlotChange, StateError, StateView};
pub use world::WorldState;
