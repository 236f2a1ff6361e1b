//! The node crate's error type.

use std::path::PathBuf;

use alloy_primitives::B256;

/// Result alias for node operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the node.
///
/// Display says what failed, on which file or block, and what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chain database failed (open, read, write or commit).
    #[error(
        "chain database {path}: {operation} failed: check the disk, its free space and that no other cachet process uses this datadir"
    )]
    Store {
        /// The database file.
        path: PathBuf,
        /// What the store was doing.
        operation: &'static str,
        /// The database's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A block's parent is not in the store.
    #[error("block {number} ({hash}) has unknown parent {parent}: import its ancestors first")]
    UnknownParent {
        /// The block number.
        number: u64,
        /// The block hash.
        hash: B256,
        /// The missing parent hash.
        parent: B256,
    },
    /// A block's number is not its parent's number plus one.
    #[error(
        "block {hash} claims number {number} but its parent is block {parent_number}: the block is invalid"
    )]
    NumberMismatch {
        /// The block hash.
        hash: B256,
        /// The number the caller gave.
        number: u64,
        /// The parent's stored number.
        parent_number: u64,
    },
    /// The store holds another genesis block.
    #[error(
        "chain database holds genesis {stored}, not {given}: this datadir belongs to another chain; use a fresh datadir or the right genesis file"
    )]
    GenesisMismatch {
        /// Genesis hash in the store.
        stored: B256,
        /// Genesis hash given.
        given: B256,
    },
    /// The same hash was given with different contents.
    #[error(
        "block {hash} is already stored with a different header, body or number: the caller computed the hash wrongly (this is a bug in cachet)"
    )]
    ConflictingBlock {
        /// The block hash.
        hash: B256,
    },
    /// The store's invariants do not hold (found by [`crate::store::ChainStore::check`]).
    #[error(
        "chain database {path} is inconsistent: {what}; restore the datadir from a backup or resync"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which invariant failed.
        what: String,
    },
}
