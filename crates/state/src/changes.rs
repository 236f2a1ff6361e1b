//! The stored, reversible form of a block's change set.
//!
//! Next to the [`ChangeSet`](crate::ChangeSet) execution produced, it holds what only the store knows: each
//! account's storage root before and after the block (when its storage changed, it was created
//! or it was deleted) and, for an account whose storage was wiped or which was deleted, every
//! slot it had before the block, so that a revert restores them.
//!
//! Layout (integers big-endian): version (1) ‖ account count (4) ‖ accounts, each:
//! address (20) ‖ flags (1: before, after, wiped, roots, cleared) ‖ [before account (72)] ‖
//! [after account (72)] ‖ [old storage root (32) ‖ new storage root (32)] ‖ slot count (4) ‖
//! slots (slot ‖ before ‖ after, 32 each) ‖ [old slot count (4) ‖ old slots (slot ‖ value)].
//! An account is nonce (8) ‖ balance (32) ‖ code hash (32).

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};

use crate::{AccountChange, AccountInfo, SlotChange, StateError, tables::corrupt};

/// The encoding's version byte.
const VERSION: u8 = 1;

const BEFORE: u8 = 1;
const AFTER: u8 = 2;
const WIPED: u8 = 4;
const ROOTS: u8 = 8;
const CLEARED: u8 = 16;

/// One account's stored change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StoredAccount {
    /// What execution reported.
    pub(crate) change: AccountChange,
    /// Storage roots before and after the block, when the storage changed, or the account was
    /// created or deleted; otherwise the root did not change.
    pub(crate) roots: Option<(B256, B256)>,
    /// Every slot the account had before the block, when its storage was cleared (wiped, or
    /// the account deleted); `None` otherwise.
    pub(crate) cleared: Option<Vec<(U256, U256)>>,
}

/// A block's stored change set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct StoredChanges {
    /// By address.
    pub(crate) accounts: BTreeMap<Address, StoredAccount>,
}

impl StoredChanges {
    /// Encodes the change set.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        put_len(&mut out, self.accounts.len());
        for (address, stored) in &self.accounts {
            let change = &stored.change;
            out.extend_from_slice(address.as_slice());
            let mut flags = 0;
            if change.before.is_some() {
                flags |= BEFORE;
            }
            if change.after.is_some() {
                flags |= AFTER;
            }
            if change.wiped {
                flags |= WIPED;
            }
            if stored.roots.is_some() {
                flags |= ROOTS;
            }
            if stored.cleared.is_some() {
                flags |= CLEARED;
            }
            out.push(flags);
            for info in [&change.before, &change.after].into_iter().flatten() {
                out.extend_from_slice(&info.nonce.to_be_bytes());
                out.extend_from_slice(&info.balance.to_be_bytes::<32>());
                out.extend_from_slice(info.code_hash.as_slice());
            }
            if let Some((old, new)) = &stored.roots {
                out.extend_from_slice(old.as_slice());
                out.extend_from_slice(new.as_slice());
            }
            put_len(&mut out, change.storage.len());
            for (slot, SlotChange { before, after }) in &change.storage {
                out.extend_from_slice(&slot.to_be_bytes::<32>());
                out.extend_from_slice(&before.to_be_bytes::<32>());
                out.extend_from_slice(&after.to_be_bytes::<32>());
            }
            if let Some(cleared) = &stored.cleared {
                put_len(&mut out, cleared.len());
                for (slot, value) in cleared {
                    out.extend_from_slice(&slot.to_be_bytes::<32>());
                    out.extend_from_slice(&value.to_be_bytes::<32>());
                }
            }
        }
        out
    }

    /// Decodes what [`StoredChanges::encode`] wrote.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] naming `block` when the bytes do not decode.
    pub(crate) fn decode(block: &B256, bytes: &[u8]) -> Result<Self, StateError> {
        let bad = |what: &str| corrupt(format!("change set of block {block}: {what}"));
        let mut r = Reader(bytes);
        if r.byte().ok_or_else(|| bad("empty"))? != VERSION {
            return Err(bad("unknown version"));
        }
        let truncated = || bad("truncated");
        let count = r.len().ok_or_else(truncated)?;
        let mut accounts = BTreeMap::new();
        for _ in 0..count {
            let address = Address::from_slice(r.take(20).ok_or_else(truncated)?);
            let flags = r.byte().ok_or_else(truncated)?;
            let mut change = AccountChange {
                wiped: flags & WIPED != 0,
                ..AccountChange::default()
            };
            if flags & BEFORE != 0 {
                change.before = Some(r.info().ok_or_else(truncated)?);
            }
            if flags & AFTER != 0 {
                change.after = Some(r.info().ok_or_else(truncated)?);
            }
            let roots = if flags & ROOTS != 0 {
                Some((
                    r.b256().ok_or_else(truncated)?,
                    r.b256().ok_or_else(truncated)?,
                ))
            } else {
                None
            };
            let slots = r.len().ok_or_else(truncated)?;
            for _ in 0..slots {
                let slot = r.u256().ok_or_else(truncated)?;
                let before = r.u256().ok_or_else(truncated)?;
                let after = r.u256().ok_or_else(truncated)?;
                change.storage.insert(slot, SlotChange { before, after });
            }
            let cleared = if flags & CLEARED != 0 {
                let n = r.len().ok_or_else(truncated)?;
                let mut cleared = Vec::new();
                for _ in 0..n {
                    cleared.push((
                        r.u256().ok_or_else(truncated)?,
                        r.u256().ok_or_else(truncated)?,
                    ));
                }
                Some(cleared)
            } else {
                None
            };
            accounts.insert(
                address,
                StoredAccount {
                    change,
                    roots,
                    cleared,
                },
            );
        }
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(Self { accounts })
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // A block cannot change 2^32 accounts or slots (gas bounds it far lower).
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

/// A bounded cursor over the encoding.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn len(&mut self) -> Option<u32> {
        let mut raw = [0u8; 4];
        raw.copy_from_slice(self.take(4)?);
        Some(u32::from_be_bytes(raw))
    }

    fn b256(&mut self) -> Option<B256> {
        Some(B256::from_slice(self.take(32)?))
    }

    fn u256(&mut self) -> Option<U256> {
        Some(U256::from_be_slice(self.take(32)?))
    }

    fn info(&mut self) -> Option<AccountInfo> {
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(self.take(8)?);
        Some(AccountInfo {
            nonce: u64::from_be_bytes(nonce),
            balance: self.u256()?,
            code_hash: self.b256()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredChanges {
        let info = |n: u64| AccountInfo {
            nonce: n,
            balance: U256::from(n * 1000),
            code_hash: B256::repeat_byte(n as u8),
        };
        let mut accounts = BTreeMap::new();
        let mut storage = BTreeMap::new();
        storage.insert(
            U256::from(1),
            SlotChange {
                before: U256::ZERO,
                after: U256::from(7),
            },
        );
        accounts.insert(
            Address::repeat_byte(1),
            StoredAccount {
                change: AccountChange {
                    before: Some(info(1)),
                    after: Some(info(2)),
                    wiped: true,
                    storage,
                },
                roots: Some((B256::repeat_byte(9), B256::repeat_byte(8))),
                cleared: Some(vec![(U256::from(3), U256::from(4))]),
            },
        );
        accounts.insert(
            Address::repeat_byte(2),
            StoredAccount {
                change: AccountChange {
                    before: None,
                    after: Some(info(5)),
                    ..AccountChange::default()
                },
                ..StoredAccount::default()
            },
        );
        StoredChanges { accounts }
    }

    #[test]
    fn round_trips_change_sets() {
        let changes = sample();
        let decoded = StoredChanges::decode(&B256::ZERO, &changes.encode());
        assert_eq!(decoded.ok(), Some(changes));
    }

    #[test]
    fn rejects_every_truncation() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            let decoded = StoredChanges::decode(&B256::ZERO, &bytes[..cut]);
            assert!(
                matches!(decoded, Err(StateError::Corrupt { .. })),
                "prefix of {cut} bytes"
            );
        }
    }

    #[test]
    fn rejects_trailing_bytes() {
        let mut bytes = sample().encode();
        bytes.push(0);
        assert!(matches!(
            StoredChanges::decode(&B256::ZERO, &bytes),
            Err(StateError::Corrupt { .. })
        ));
    }
}
