//! Test support: an in-memory world state (`BTreeMap`s) with a from-scratch state root computed
//! by alloy-trie, independent of the `cachet-state` store.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a part of the support"
)]

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{KECCAK_EMPTY, TrieAccount, root};
use cachet_execution::{BlockHashes, IntermediateRoots};
use cachet_state::{AccountInfo, ChangeSet, StateError, StateView};

/// Accounts, storage and code in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemState {
    pub accounts: BTreeMap<Address, AccountInfo>,
    pub storage: BTreeMap<Address, BTreeMap<U256, U256>>,
    pub codes: BTreeMap<B256, Bytes>,
}

impl MemState {
    /// Adds an account with code and storage (zero values are not stored).
    pub fn insert(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code: Bytes,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        let code_hash = if code.is_empty() {
            KECCAK_EMPTY
        } else {
            let hash = keccak256(&code);
            self.codes.insert(hash, code);
            hash
        };
        self.accounts.insert(
            address,
            AccountInfo {
                nonce,
                balance,
                code_hash,
            },
        );
        let slots: BTreeMap<U256, U256> =
            storage.into_iter().filter(|(_, v)| !v.is_zero()).collect();
        if !slots.is_empty() {
            self.storage.insert(address, slots);
        }
    }

    /// Applies a block's change set, checking each `before` against this state (the change
    /// set must describe the state it is applied to).
    pub fn apply(&mut self, changes: &ChangeSet) -> Result<(), String> {
        for (address, change) in &changes.accounts {
            let current = self.accounts.get(address).copied();
            if current != change.before {
                return Err(format!(
                    "{address}: before {:?} but the state has {current:?}",
                    change.before
                ));
            }
            for (slot, slot_change) in &change.storage {
                let now = self.storage_of(address, slot);
                if now != slot_change.before {
                    return Err(format!(
                        "{address} slot {slot}: before {} but the state has {now}",
                        slot_change.before
                    ));
                }
            }
            if change.wiped || change.after.is_none() {
                self.storage.remove(address);
            }
            for (slot, slot_change) in &change.storage {
                let slots = self.storage.entry(*address).or_default();
                if slot_change.after.is_zero() {
                    slots.remove(slot);
                } else {
                    slots.insert(*slot, slot_change.after);
                }
            }
            if self.storage.get(address).is_some_and(BTreeMap::is_empty) {
                self.storage.remove(address);
            }
            match change.after {
                Some(info) => {
                    self.accounts.insert(*address, info);
                }
                None => {
                    self.accounts.remove(address);
                    self.storage.remove(address);
                }
            }
        }
        for (hash, code) in &changes.codes {
            if keccak256(code) != *hash {
                return Err(format!("code under {hash} does not hash to it"));
            }
            self.codes.insert(*hash, code.clone());
        }
        Ok(())
    }

    /// The state root, from scratch with alloy-trie.
    pub fn root(&self) -> B256 {
        root::state_root_unhashed(self.accounts.iter().map(|(address, info)| {
            let storage_root = root::storage_root_unhashed(
                self.storage
                    .get(address)
                    .into_iter()
                    .flatten()
                    .map(|(slot, value)| (B256::from(*slot), *value)),
            );
            (
                *address,
                TrieAccount::new(info.nonce, info.balance, storage_root, info.code_hash),
            )
        }))
    }

    fn storage_of(&self, address: &Address, slot: &U256) -> U256 {
        self.storage
            .get(address)
            .and_then(|s| s.get(slot))
            .copied()
            .unwrap_or_default()
    }
}

impl StateView for MemState {
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.accounts.get(address).copied())
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self.storage_of(address, slot))
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        Ok(self.codes.get(code_hash).cloned())
    }
}

/// Ancestor hashes by number.
#[derive(Debug, Clone, Default)]
pub struct Hashes(pub BTreeMap<u64, B256>);

impl BlockHashes for Hashes {
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        Ok(self.0.get(&number).copied())
    }
}

/// Intermediate roots over a parent state: clone, apply, root from scratch.
#[derive(Debug)]
pub struct RootsOver<'a>(pub &'a MemState);

impl IntermediateRoots for RootsOver<'_> {
    fn root_after(&self, changes: &ChangeSet) -> Result<B256, StateError> {
        let mut state = self.0.clone();
        state
            .apply(changes)
            .map_err(|what| StateError::Corrupt { what })?;
        Ok(state.root())
    }
}
