//! The types execution and the state store share.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_trie::KECCAK_EMPTY;

/// An account as execution sees it (the storage root is the store's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountInfo {
    /// Nonce.
    pub nonce: u64,
    /// Balance (wei).
    pub balance: U256,
    /// keccak256 of the code; [`KECCAK_EMPTY`] for an account without code.
    pub code_hash: B256,
}

impl Default for AccountInfo {
    fn default() -> Self {
        Self {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
        }
    }
}

/// One storage slot's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotChange {
    /// The value before the block (zero when unset).
    pub before: U256,
    /// The value after the block (zero deletes the slot).
    pub after: U256,
}

/// One account's change in a block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountChange {
    /// The account before the block; `None` when it did not exist.
    pub before: Option<AccountInfo>,
    /// The account after the block; `None` when the block deleted it (SELFDESTRUCT, EIP-158
    /// clearing of a touched empty account).
    pub after: Option<AccountInfo>,
    /// The account's storage was wiped during the block (SELFDESTRUCT, or re-created after
    /// one): every slot not listed in `storage` is zero afterwards. The store, not execution,
    /// records the wiped slots' old values for reverts.
    pub wiped: bool,
    /// Slots written, with their values before and after (`before` is the value before the
    /// block, even when `wiped`).
    pub storage: BTreeMap<U256, SlotChange>,
}

/// What one block changed: every account touched, and the code it created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSet {
    /// Accounts whose info or storage changed.
    pub accounts: BTreeMap<Address, AccountChange>,
    /// Code deployed in the block, by its keccak256 (code is never deleted from the store).
    pub codes: BTreeMap<B256, Bytes>,
}

/// Reading the state fails only when the store does.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database failed.
    #[error("state store: {operation}")]
    Store {
        /// What was being done.
        operation: &'static str,
        /// The database error.
        #[source]
        source: Box<redb::Error>,
    },
    /// The store contradicts itself (a trie node or code referenced but absent, a value that
    /// does not decode).
    #[error("state store is corrupt: {what}")]
    Corrupt {
        /// What is wrong.
        what: String,
    },
}

/// The state after one block, as execution reads it.
pub trait StateView {
    /// The account at `address`, `None` when absent.
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError>;

    /// The value of `slot` in `address`'s storage (zero when unset).
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError>;

    /// Code by its keccak256, `None` when unknown.
    ///
    /// # Errors
    /// [`StateError`] when the store fails.
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError>;
}
