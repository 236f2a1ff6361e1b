//! The one place that maps failures to exit codes (documented in `docs/operations.md`): every
//! crate's error becomes a [`Failure`] with a [`Code`]; the binary prints it and exits with it.
//! The message is the error followed by its causes ([`Chain`]): each crate's Display leaves the
//! cause to its `source()`.

use cachet_kms::ErrorClass;
use cachet_primitives::error::Chain;

/// Exit codes; a contract with operators and scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Anything not listed below.
    Failure = 1,
    /// Bad command line or input the operator can fix.
    Usage = 2,
    /// Master key access denied or revoked.
    Denied = 10,
    /// Master key unreachable: transient errors did not clear in time.
    Unreachable = 11,
    /// Bundle corrupt, tampered with, or bound to another context.
    Corrupt = 12,
    /// A key file or the bundle is readable by group or others.
    Permissions = 13,
    /// The datadir is not initialised, or already is.
    DatadirState = 14,
}

impl From<ErrorClass> for Code {
    /// The master key's and the key provider's one classification.
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Denied => Self::Denied,
            ErrorClass::Unreachable => Self::Unreachable,
            ErrorClass::Corrupt => Self::Corrupt,
            ErrorClass::Permissions => Self::Permissions,
            ErrorClass::DatadirState => Self::DatadirState,
            ErrorClass::Usage => Self::Usage,
            ErrorClass::Local => Self::Failure,
        }
    }
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// How to exit.
    pub code: Code,
    /// What to print (after `error: `).
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Exit 2: something the operator can fix on the command line or in a file.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    /// Exit 1.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Failure, message)
    }

    /// A failure with this code whose message is `error` followed by its causes.
    pub fn of(code: Code, error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(code, Chain(error).to_string())
    }
}

impl From<cachet_kms::Error> for Failure {
    fn from(e: cachet_kms::Error) -> Self {
        Self::of(e.class().into(), &e)
    }
}

impl From<cachet_keyprovider::Error> for Failure {
    fn from(e: cachet_keyprovider::Error) -> Self {
        Self::of(e.class().into(), &e)
    }
}

impl From<cachet_genesis::Error> for Failure {
    /// Every genesis error is the operator's to fix: the file, its path or a field.
    fn from(e: cachet_genesis::Error) -> Self {
        Self::of(Code::Usage, &e)
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        match e {
            E::Unlock(k) => k.into(),
            E::Genesis(g) => g.into(),
            E::KeysRevoked(_) => Self::of(Code::Denied, &e),
            E::Config(_)
            | E::UnsupportedEngine(_)
            | E::Rpc { .. }
            | E::Network(_)
            | E::Discovery { .. }
            | E::ReadFile { .. }
            | E::RaftMembers { .. } => Self::of(Code::Usage, &e),
            // Includes StateWrite: writing node state is local I/O, never the operator's flags.
            _ => Self::of(Code::Failure, &e),
        }
    }
}
