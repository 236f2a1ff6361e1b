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
    /// Unlocking the keys failed (exit code by the key provider's class).
    #[error("unlocking the node's keys failed: {0}")]
    Unlock(#[from] cachet_keyprovider::Error),
    /// The genesis file is unusable.
    #[error("genesis: {0}")]
    Genesis(#[from] cachet_genesis::Error),
    /// A block or header failed its seal or header rules.
    #[error("block {number}: {source}")]
    Seal {
        /// The block number.
        number: u64,
        /// The seal crate's error.
        #[source]
        source: cachet_seal::Error,
    },
    /// A header or block could not be decoded.
    #[error("undecodable {what}: {reason}")]
    Decode {
        /// What was decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A block breaks a chain rule (parent, timestamp, gas limit, roots).
    #[error("block {number} rejected: {rule}")]
    InvalidBlock {
        /// The block number.
        number: u64,
        /// The rule that failed.
        rule: String,
    },
    /// The seal journal could not be opened or written.
    #[error("seal journal: {0}; check <datadir>/seal-journal and the disk")]
    Journal(cachet_seal::Error),
    /// The devp2p service failed to start.
    #[error("devp2p: {0}; check --port and --addr")]
    Network(#[from] cachet_devp2p::Error),
    /// A discovery socket could not be bound (check `--discovery.port`/`--discv5.port`) or
    /// the node record could not be signed.
    #[error("discovery: {0}; check --discovery.port and --discv5.port")]
    Discovery(String),
    /// The JSON-RPC server could not bind.
    #[error("JSON-RPC server on {addr}: {source}; check --http.addr and --http.port")]
    Rpc {
        /// The address.
        addr: std::net::SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The engine in the genesis is not one this node can seal or follow yet.
    #[error(
        "engine {0} is not supported by this node yet: use a clique, istanbul (IBFT), ibft2, qbft or raft genesis"
    )]
    UnsupportedEngine(&'static str),
    /// The master key was revoked while running: sealing stopped and the keys were wiped.
    #[error(
        "master key revoked while running ({0}): sealing stopped and keys wiped; restore KMS access and restart"
    )]
    KeysRevoked(String),
    /// Node state (the datadir, a devnet file, `sealing.rlp`) could not be written: a local
    /// failure (exit 1), not a usage error.
    #[error("cannot write {path}: check the disk, its free space and the directory's permissions")]
    StateWrite {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A local master key for a devnet could not be created.
    #[error(transparent)]
    MasterKey(#[from] cachet_kms::Error),
    /// `--devnet-parent`: the devnet that started this node has exited, or the parent-death
    /// signal could not be set.
    #[error(
        "the devnet (pid {parent}) that started this node is gone or cannot be followed: start the devnet again"
    )]
    ParentGone {
        /// The devnet's pid.
        parent: u32,
        /// The `prctl` failure, if that was the cause.
        #[source]
        source: Option<std::io::Error>,
    },
    /// Invalid configuration.
    #[error("configuration: {0}")]
    Config(String),
}
