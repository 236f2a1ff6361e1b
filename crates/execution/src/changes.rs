//! revm's bundle state after a block, as the state store's [`ChangeSet`].

use alloy_trie::KECCAK_EMPTY;
use cachet_state::{AccountChange, AccountInfo, ChangeSet, SlotChange, StateView};
use revm::database::BundleState;

use crate::error::BlockError;

/// Converts the block's bundle (built with `with_bundle_update`, transitions merged) into the
/// store's change set. Accounts whose info and storage end as they began are left out. For an
/// account whose storage was wiped (SELFDESTRUCT, or re-created after one), each listed slot's
/// `before` is read from the parent state, so it is the value before the block as the
/// [`ChangeSet`] contract requires.
pub(crate) fn change_set(
    bundle: &BundleState,
    parent: &dyn StateView,
) -> Result<ChangeSet, BlockError> {
    let mut changes = ChangeSet::default();
    for (address, account) in &bundle.state {
        let before = account.original_info.as_ref().map(info);
        let after = account.info.as_ref().map(info);
        let wiped = account.status.was_destroyed();
        let mut storage = std::collections::BTreeMap::new();
        for (slot, value) in &account.storage {
            let before_value = if wiped {
                parent
                    .storage(address, slot)
                    .map_err(|source| BlockError::State { source })?
            } else {
                value.previous_or_original_value
            };
            if wiped || before_value != value.present_value {
                storage.insert(
                    *slot,
                    SlotChange {
                        before: before_value,
                        after: value.present_value,
                    },
                );
            }
        }
        if before == after && !wiped && storage.is_empty() {
            continue;
        }
        changes.accounts.insert(
            *address,
            AccountChange {
                before,
                after,
                wiped,
                storage,
            },
        );
    }
    for (hash, code) in &bundle.contracts {
        if *hash != KECCAK_EMPTY {
            changes.codes.insert(*hash, code.original_bytes());
        }
    }
    Ok(changes)
}

fn info(account: &revm::state::AccountInfo) -> AccountInfo {
    AccountInfo {
        nonce: account.nonce,
        balance: account.balance,
        code_hash: account.code_hash,
    }
}
