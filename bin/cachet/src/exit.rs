//! The one place that maps failures to exit codes (documented in `docs/operations.md`).

use std::process::ExitCode;

use cachet_kms::ErrorClass;

/// Exit codes; a contract with operators and scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Code {
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

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: Code,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Failure, message)
    }
}

impl From<cachet_kms::Error> for Failure {
    fn from(e: cachet_kms::Error) -> Self {
        let code = match e.class() {
            ErrorClass::Denied => Code::Denied,
            ErrorClass::Unreachable => Code::Unreachable,
            ErrorClass::Ciphertext => Code::Corrupt,
            ErrorClass::Permissions => Code::Permissions,
            ErrorClass::Usage => Code::Usage,
            ErrorClass::Local => Code::Failure,
        };
        Self::new(code, e.to_string())
    }
}

impl From<cachet_keyprovider::Error> for Failure {
    fn from(e: cachet_keyprovider::Error) -> Self {
        use cachet_keyprovider::ErrorClass as C;
        let code = match e.class() {
            C::Denied => Code::Denied,
            C::Unreachable => Code::Unreachable,
            C::Corrupt => Code::Corrupt,
            C::Permissions => Code::Permissions,
            C::DatadirState => Code::DatadirState,
            C::Usage => Code::Usage,
            _ => Code::Failure,
        };
        Self::new(code, e.to_string())
    }
}

impl From<cachet_genesis::Error> for Failure {
    /// Every genesis error is the operator's to fix: the file, its path or a field.
    fn from(e: cachet_genesis::Error) -> Self {
        Self::new(Code::Usage, e.to_string())
    }
}

/// Prints the failure on stderr and returns its exit code.
pub(crate) fn report(failure: &Failure) -> ExitCode {
    eprintln!("error: {}", failure.message);
    ExitCode::from(failure.code as u8)
}
