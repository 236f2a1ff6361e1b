//! The genesis crate's error type.

use std::path::PathBuf;

/// Result alias for genesis operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong reading a genesis file or checking a fork id.
///
/// Display names the file or field and what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The genesis file could not be read.
    #[error("cannot read genesis file {path}: check the path and its permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error(
        "genesis is not valid JSON (line {line}, column {column}): check the file is a geth-format genesis.json"
    )]
    Json {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent.
    #[error("genesis field {field} is missing: add it")]
    MissingField {
        /// Dotted path of the field, e.g. `config.chainId`.
        field: String,
    },
    /// A field is present but its value cannot be used.
    #[error("genesis field {field} is invalid: {reason}")]
    InvalidField {
        /// Dotted path of the field, e.g. `alloc.0x…​.balance`.
        field: String,
        /// What is wrong, as a lowercase fragment.
        reason: &'static str,
    },
    /// No consensus section selects an engine.
    #[error(
        "genesis config names no consensus engine: add config.clique, config.istanbul, config.qbft, config.ibft2 or \"raft\": true to config (or pass --raft)"
    )]
    NoEngine,
    /// More than one consensus section is present.
    #[error(
        "genesis config names two consensus engines, config.{first} and config.{second}: keep one"
    )]
    ConflictingEngines {
        /// The first section found.
        first: &'static str,
        /// The second section found.
        second: &'static str,
    },
    /// EIP-2124: the remote peer is on our chain but has not upgraded past a fork we passed.
    #[error(
        "peer fork id {remote} is stale: it has not scheduled the fork at {local_next} that this chain passed; the peer needs a software or genesis update"
    )]
    RemoteStale {
        /// The remote fork id.
        remote: crate::ForkId,
        /// Our next fork after the remote's fork hash.
        local_next: u64,
    },
    /// EIP-2124: the remote peer is on another chain, or we lack a fork it passed.
    #[error(
        "peer fork id {remote} is incompatible with this chain (local {local}): check the peer's genesis and fork schedule"
    )]
    LocalIncompatibleOrStale {
        /// The remote fork id.
        remote: crate::ForkId,
        /// Our fork id at the head.
        local: crate::ForkId,
    },
}
