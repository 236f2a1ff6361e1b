//! revm's `DatabaseRef` over the node's state view and ancestor hashes.

use alloy_primitives::{Address, B256, U256};
use alloy_trie::KECCAK_EMPTY;
use cachet_state::{StateError, StateView};
use revm::DatabaseRef;
use revm::bytecode::Bytecode;
use revm::database_interface::DBErrorMarker;
use revm::state::AccountInfo;

use crate::executor::BlockHashes;

/// A state read failed, or the store lacks the code an account names.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// The store failed.
    #[error("state read failed")]
    State(#[source] StateError),
    /// An account's code hash has no code in the store.
    #[error("code {0} is missing from the state store")]
    MissingCode(B256),
}

impl DBErrorMarker for DbError {}

/// The parent state as revm reads it.
pub(crate) struct StateDb<'a> {
    pub(crate) state: &'a dyn StateView,
    pub(crate) hashes: &'a dyn BlockHashes,
}

impl std::fmt::Debug for StateDb<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDb").finish_non_exhaustive()
    }
}

impl DatabaseRef for StateDb<'_> {
    type Error = DbError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        let account = self.state.account(&address).map_err(DbError::State)?;
        Ok(account.map(|a| AccountInfo {
            balance: a.balance,
            nonce: a.nonce,
            code_hash: a.code_hash,
            // Loaded on demand through `code_by_hash_ref`.
            code: (a.code_hash == KECCAK_EMPTY).then(Bytecode::default),
            ..AccountInfo::default()
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK_EMPTY {
            return Ok(Bytecode::default());
        }
        let code = self
            .state
            .code(&code_hash)
            .map_err(DbError::State)?
            .ok_or(DbError::MissingCode(code_hash))?;
        // Legacy always: EIP-7702 delegations (0xef0100…) never execute here (Prague is refused).
        Ok(Bytecode::new_legacy(code))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.state.storage(&address, &index).map_err(DbError::State)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self
            .hashes
            .block_hash(number)
            .map_err(DbError::State)?
            .unwrap_or_default())
    }
}
