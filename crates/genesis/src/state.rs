//! The genesis state root: a Merkle-Patricia trie over `alloc`.
//!
//! Account trie: key keccak256(address), value RLP `[nonce, balance, storageRoot, codeHash]`.
//! Storage trie: key keccak256(slot), value RLP of the value with leading zeros trimmed; zero
//! values are not stored (geth `core/genesis.go` `hashAlloc`, the Yellow Paper's σ).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount, root};

use crate::genesis::GenesisAccount;

/// The state root of `alloc`.
pub fn state_root(alloc: &BTreeMap<Address, GenesisAccount>) -> B256 {
    root::state_root_unhashed(
        alloc
            .iter()
            .map(|(address, account)| (*address, trie_account(account))),
    )
}

fn trie_account(account: &GenesisAccount) -> TrieAccount {
    let storage_root = root::storage_root_unhashed(
        account
            .storage
            .iter()
            .map(|(slot, value)| (*slot, U256::from_be_bytes(value.0)))
            .filter(|(_, value)| !value.is_zero()),
    );
    let code_hash = if account.code.is_empty() {
        KECCAK_EMPTY
    } else {
        keccak256(&account.code)
    };
    TrieAccount::new(account.nonce, account.balance, storage_root, code_hash)
}

#[cfg(test)]
mod tests {
    use alloy_trie::EMPTY_ROOT_HASH;

    use super::*;

    #[test]
    fn accepts_empty_alloc_as_empty_root() {
        assert_eq!(state_root(&BTreeMap::new()), EMPTY_ROOT_HASH);
    }

    #[test]
    fn zero_storage_values_do_not_change_the_root() {
        let mut with_zero = GenesisAccount {
            balance: U256::from(1),
            ..Default::default()
        };
        with_zero
            .storage
            .insert(B256::with_last_byte(1), B256::ZERO);
        let without = GenesisAccount {
            balance: U256::from(1),
            ..Default::default()
        };
        let a = Address::with_last_byte(9);
        assert_eq!(
            state_root(&BTreeMap::from([(a, with_zero)])),
            state_root(&BTreeMap::from([(a, without)]))
        );
    }
}
