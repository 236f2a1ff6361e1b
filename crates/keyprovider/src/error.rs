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
    /// The datadir has no key bundle.
    #[error("{} has no key bundle (keys.cachet): run `cachet init --datadir {}` first, or check the path", .datadir.display(), .datadir.display())]
    NotInitialised {
        /// The datadir.
        datadir: PathBuf,
    },
    /// The datadir already has a key bundle.
    #[error("{} already has a key bundle: refusing to replace a node's keys (use `cachet destroy` first if you really mean it)", .datadir.display())]
    AlreadyInitialised {
        /// The datadir.
        datadir: PathBuf,
    },
    /// A bundle or datadir is accessible to group or others.
    #[error("{} has mode {mode:o}, accessible to group or others: run chmod 600 on the bundle (700 on the datadir)", .path.display())]
    InsecurePermissions {
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The bundle file cannot be parsed.
    #[error("key bundle {} is corrupt ({field}): {reason}", .path.display())]
    CorruptBundle {
        /// The bundle file.
        path: PathBuf,
        /// Which part of the file.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The sealed keys do not authenticate under the data key and the header.
    #[error("key bundle {} failed authentication: its header or sealed keys were modified; restore it from a backup", .path.display())]
    TamperedBundle {
        /// The bundle file.
        path: PathBuf,
    },
    /// The decrypted keys do not derive the identities the header states.
    #[error("key bundle {} is inconsistent: the decrypted {which} does not match the header's public identity", .path.display())]
    IdentityMismatch {
        /// The bundle file.
        path: PathBuf,
        /// Which identity differs.
        which: &'static str,
    },
    /// An import source file is malformed.
    #[error("cannot import {}: {reason}", .path.display())]
    Import {
        /// The source file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A keystore or Tessera password is wrong (the MAC did not verify).
    #[error("wrong password for {} (its MAC did not verify)", .path.display())]
    WrongPassword {
        /// The key file.
        path: PathBuf,
    },
    /// The unlocked keys were wiped (master key revoked or the node is stopping).
    #[error(
        "the unlocked keys were wiped (master key revoked or node stopping): restart the node once access to the master key is restored"
    )]
    KeysWiped,
    /// A secret does not form a valid key.
    #[error("{role} is not a valid {curve} private key")]
    InvalidKey {
        /// Which key.
        role: &'static str,
        /// Its curve.
        curve: &'static str,
    },
    /// A file operation failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A broken invariant inside cachet.
    #[error("{0} (this is a bug in cachet)")]
    Internal(&'static str),
}

/// How an error should be treated; the binary maps each class to one exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Master key access denied or revoked (exit 10).
    Denied,
    /// Master key unreachable after retries (exit 11).
    Unreachable,
    /// Bundle corrupt, tampered with, or bound to another context (exit 12).
    Corrupt,
    /// Insecure file permissions (exit 13).
    Permissions,
    /// Datadir not initialised or already initialised (exit 14).
    DatadirState,
    /// Operator input is wrong (exit 2).
    Usage,
    /// Local I/O failure or a bug (exit 1).
    Local,
}

impl Error {
    /// The class of this error.
    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::MasterKey(e) => match e.class() {
                cachet_kms::ErrorClass::Denied => ErrorClass::Denied,
                cachet_kms::ErrorClass::Unreachable => ErrorClass::Unreachable,
                cachet_kms::ErrorClass::Ciphertext => ErrorClass::Corrupt,
                cachet_kms::ErrorClass::Permissions => ErrorClass::Permissions,
                cachet_kms::ErrorClass::Usage => ErrorClass::Usage,
                cachet_kms::ErrorClass::Local => ErrorClass::Local,
            },
            Self::NotInitialised { .. } | Self::AlreadyInitialised { .. } => {
                ErrorClass::DatadirState
            }
            Self::InsecurePermissions { .. } => ErrorClass::Permissions,
            Self::CorruptBundle { .. }
            | Self::TamperedBundle { .. }
            | Self::IdentityMismatch { .. } => ErrorClass::Corrupt,
            Self::Import { .. } | Self::WrongPassword { .. } | Self::InvalidKey { .. } => {
                ErrorClass::Usage
            }
            Self::KeysWiped => ErrorClass::Denied,
            Self::Io { .. } | Self::Internal(_) => ErrorClass::Local,
        }
    }

    /// The class as the audit log writes it.
    pub const fn class_name(&self) -> &'static str {
        match self.class() {
            ErrorClass::Denied => "denied",
            ErrorClass::Unreachable => "unreachable",
            ErrorClass::Corrupt => "corrupt",
            ErrorClass::Permissions => "permissions",
            ErrorClass::DatadirState => "datadir",
            ErrorClass::Usage => "usage",
            ErrorClass::Local => "local",
        }
    }
}
