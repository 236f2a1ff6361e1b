//! The world state of a Cachet node: accounts, contract code and storage on redb.
//!
//! - [`WorldState`]: functions over the node's redb transactions: the state tables, the genesis
//!   `alloc`, the flat state of the canonical head ([`WorldState::latest`]), another stored
//!   block's state from the flat state and the change sets ([`WorldState::at_route`]), the
//!   incremental Merkle-Patricia state root over a path-keyed trie of the head's state
//!   ([`WorldState::commit_trie`], [`WorldState::move_trie`]) and per-block change sets that
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
