//! Key-provider errors.

use std::path::PathBuf;

/// Result alias for key-provider operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with the key set, the bundle or an import.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The master key failed; its class decides the exit code.
    #[error(transparent)]
    MasterKey(#[from] cachet_kms::Error),
    /// The keys were wiped (master-key access revoked or the node is stopping).
    #[error("the unlocked keys were wiped (master key revoked or node stopping): restart the node once access to the master key is restored")]
    KeysWiped,
    /// A secret did not form a valid key.
    #[error("{role} is not a valid {curve} private key")]
    InvalidKey {
        /// Which key.
        role: &'static str,
        /// Its curve.
        curve: &'static str,
    },
    /// A broken invariant inside cachet.
    #[error("{0} (this is a bug in cachet)")]
    Internal(&'static str),
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
