//! The world state of a Cachet node: accounts, contract code and storage.
//!
//! - [`StateView`]: what execution reads (an account, a storage slot, code by hash), at one
//!   block's post-state.
//! - [`ChangeSet`]: what executing one block changed, with the value before and after each
//!   change, so the state can move forward (import) and back (reorg).
//!
//! The store itself (tables in the node's redb database, the flat state for reads, the
//! Merkle-Patricia trie whose root is computed incrementally, the stored change sets) lives in
//! its `db` and `trie` modules.

mod types;

pub use types::{AccountChange, AccountInfo, ChangeSet, SlotChange, StateError, StateView};
