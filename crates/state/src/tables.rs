//! The state tables in the node's redb database and their fixed-size encodings.

use alloy_primitives::{Address, B256, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use redb::TableDefinition;

use crate::{AccountInfo, StateError};

/// Flat accounts: address → [`Row`] (the canonical head's post-state).
pub(crate) const ACCOUNTS: TableDefinition<'_, &[u8; 20], &[u8; ROW_LEN]> =
    TableDefinition::new("state_accounts");
/// Flat storage: address ‖ slot (big-endian) → value (big-endian); a zero value is absent.
pub(crate) const STORAGE: TableDefinition<'_, &[u8; 52], &[u8; 32]> =
    TableDefinition::new("state_storage");
/// Code by its keccak256 (never deleted).
pub(crate) const CODE: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("state_code");
/// Trie nodes of the canonical head's state (account trie and every storage trie) by their
/// path (`trie::node_key`); one version of each node (decision 430).
pub(crate) const TRIE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("state_trie_paths");
/// The layout before decision 430: trie nodes by the keccak256 of their RLP, every version
/// kept. A datadir that has it is converted when it is opened.
pub(crate) const KECCAK_TRIE: &str = "state_trie";
/// Storage slot preimages of the layout before decision 430 (deleted with it).
pub(crate) const PREIMAGES: &str = "state_preimages";
/// Per-block change sets: block hash → the encoding of `changes.rs`.
pub(crate) const CHANGES: TableDefinition<'_, &[u8; 32], &[u8]> =
    TableDefinition::new("state_changes");
/// Markers: [`GENESIS`] → the genesis state root.
pub(crate) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state_meta");

/// The key in [`META`] written once the genesis `alloc` is loaded.
pub(crate) const GENESIS: &str = "genesis";
/// The key in [`META`] of the root of the trie stored in [`TRIE`] (absent: the empty root).
pub(crate) const TRIE_ROOT: &str = "trie_root";

/// Length of an encoded [`Row`]: nonce (8) ‖ balance (32) ‖ code hash (32) ‖ storage root (32).
pub(crate) const ROW_LEN: usize = 104;

/// A flat account row: the account and its storage root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    /// The account.
    pub(crate) info: AccountInfo,
    /// The root of its storage trie.
    pub(crate) storage_root: B256,
}

impl Row {
    /// A row for `info` without storage.
    pub(crate) const fn new(info: AccountInfo, storage_root: B256) -> Self {
        Self { info, storage_root }
    }

    /// Encodes the row (all fields big-endian).
    pub(crate) fn encode(&self) -> [u8; ROW_LEN] {
        let mut out = [0u8; ROW_LEN];
        let (nonce, rest) = out.split_at_mut(8);
        let (balance, rest) = rest.split_at_mut(32);
        let (code_hash, storage_root) = rest.split_at_mut(32);
        nonce.copy_from_slice(&self.info.nonce.to_be_bytes());
        balance.copy_from_slice(&self.info.balance.to_be_bytes::<32>());
        code_hash.copy_from_slice(self.info.code_hash.as_slice());
        storage_root.copy_from_slice(self.storage_root.as_slice());
        out
    }

    /// Decodes what [`Row::encode`] wrote (every byte string of the length is a row).
    pub(crate) fn decode(raw: &[u8; ROW_LEN]) -> Self {
        let (nonce, rest) = raw.split_at(8);
        let (balance, rest) = rest.split_at(32);
        let (code_hash, storage_root) = rest.split_at(32);
        let mut n = [0u8; 8];
        n.copy_from_slice(nonce);
        Self {
            info: AccountInfo {
                nonce: u64::from_be_bytes(n),
                balance: U256::from_be_slice(balance),
                code_hash: B256::from_slice(code_hash),
            },
            storage_root: B256::from_slice(storage_root),
        }
    }
}

impl Default for Row {
    fn default() -> Self {
        Self::new(AccountInfo::default(), EMPTY_ROOT_HASH)
    }
}

/// The flat storage key of `slot` in `address`'s storage.
pub(crate) fn slot_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    let (a, s) = key.split_at_mut(20);
    a.copy_from_slice(address.as_slice());
    s.copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

/// The first and last flat storage keys of `address`.
pub(crate) fn slot_range(address: &Address) -> ([u8; 52], [u8; 52]) {
    (
        slot_key(address, &U256::ZERO),
        slot_key(address, &U256::MAX),
    )
}

/// The slot of a flat storage key.
pub(crate) fn slot_of(key: &[u8; 52]) -> U256 {
    let (_, slot) = key.split_at(20);
    U256::from_be_slice(slot)
}

/// A [`StateError::Store`] for `operation`.
pub(crate) fn store_err<E: Into<redb::Error>>(
    operation: &'static str,
) -> impl FnOnce(E) -> StateError {
    move |source| StateError::Store {
        operation,
        source: Box::new(source.into()),
    }
}

/// A [`StateError::Corrupt`] saying `what`.
pub(crate) fn corrupt(what: impl Into<String>) -> StateError {
    StateError::Corrupt { what: what.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_name_the_operation_and_the_fault() {
        let store = store_err::<redb::StorageError>("read trie node")(
            redb::StorageError::Corrupted("page 7".into()),
        );
        assert_eq!(store.to_string(), "state store: read trie node");
        assert_eq!(
            corrupt("trie node 0x01 is missing").to_string(),
            "state store is corrupt: trie node 0x01 is missing"
        );
    }

    #[test]
    fn round_trips_rows() {
        let row = Row::new(
            AccountInfo {
                nonce: u64::MAX - 2,
                balance: U256::MAX - U256::from(9),
                code_hash: B256::repeat_byte(3),
            },
            B256::repeat_byte(4),
        );
        assert_eq!(Row::decode(&row.encode()), row);
    }

    #[test]
    fn orders_slot_keys_by_address_then_slot() {
        let a = Address::repeat_byte(1);
        let (first, last) = slot_range(&a);
        let key = slot_key(&a, &U256::from(5));
        assert!(first <= key && key <= last);
        assert!(last < slot_key(&Address::repeat_byte(2), &U256::ZERO));
        assert_eq!(slot_of(&key), U256::from(5));
    }
}
