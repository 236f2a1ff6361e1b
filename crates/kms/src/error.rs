//! Master-key errors, classified once where the backend's answer arrives.

use std::path::PathBuf;

/// Result alias for master-key operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Boxed source error from a backend SDK.
pub type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What went wrong with a master key.
///
/// Display says what failed, on which key, and what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The master key refused this principal (AWS `AccessDenied`, HTTP 401/403).
    #[error(
        "{operation} denied for master key {key}: the node's principal may no longer be allowed kms:{operation} on it; check the IAM policy, key policy and grants"
    )]
    AccessDenied {
        /// The key reference or ARN.
        key: String,
        /// The KMS operation name.
        operation: &'static str,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The master key is disabled.
    #[error(
        "master key {key} is disabled: enable it (aws kms enable-key) or rotate the bundle to another key"
    )]
    KeyDisabled {
        /// The key reference or ARN.
        key: String,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The master key is pending deletion or otherwise unusable (AWS `KMSInvalidState`).
    #[error(
        "master key {key} is not usable in its current state (pending deletion or import): cancel the deletion (aws kms cancel-key-deletion) and enable it"
    )]
    KeyPendingDeletion {
        /// The key reference or ARN.
        key: String,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The master key does not exist.
    #[error("master key {key} was not found: check the key reference, the region and the account")]
    KeyNotFound {
        /// The key reference or ARN.
        key: String,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The data key was wrapped by a different master key.
    #[error(
        "the data key was not wrapped by master key {key}: this bundle belongs to another master key; pass the right one"
    )]
    WrongMasterKey {
        /// The key reference or ARN.
        key: String,
    },
    /// The wrapped data key is damaged or bound to another encryption context.
    #[error(
        "master key {key} could not decrypt the wrapped data key: the bundle is corrupt or its encryption context (node, chain) was changed"
    )]
    InvalidCiphertext {
        /// The key reference or ARN.
        key: String,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// KMS refused the request for a reason cachet does not model (an unexpected 4xx).
    #[error(
        "kms refused {operation} on master key {key}: check that it is a symmetric ENCRYPT_DECRYPT key in the configured account and region"
    )]
    Rejected {
        /// The key reference or ARN.
        key: String,
        /// The KMS operation name.
        operation: &'static str,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The backend asked us to slow down.
    #[error("{operation} on master key {key} was throttled")]
    Throttled {
        /// The key reference or ARN.
        key: String,
        /// The KMS operation name.
        operation: &'static str,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The backend could not be reached or failed on its side (5xx, timeout, connection).
    #[error(
        "{operation} on master key {key} failed in transit: check network access to the KMS endpoint"
    )]
    Unavailable {
        /// The key reference or ARN.
        key: String,
        /// The KMS operation name.
        operation: &'static str,
        /// The backend's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// Transient failures did not clear before the deadline.
    #[error(
        "{operation} on master key {key} did not succeed within {seconds} s ({attempts} attempts): KMS is unreachable; check the endpoint, network and --kms-timeout"
    )]
    DeadlineExceeded {
        /// The key reference or ARN.
        key: String,
        /// The KMS operation name.
        operation: &'static str,
        /// The deadline in seconds.
        seconds: u64,
        /// How many calls were made.
        attempts: u32,
        /// The last transient error.
        #[source]
        source: Option<BoxedSource>,
    },
    /// A local master-key file is readable by group or others.
    #[error(
        "master key file {path} has mode {mode:o}, readable by group or others: run chmod 600 on it"
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A PKCS#11 token refused the user PIN (`CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`, …): the PIN
    /// was changed on the token, which revokes this node's access.
    #[error(
        "the token refused the PIN in {pin_file} for PKCS#11 key {key}: the token's user PIN was changed or locked, or the file holds another PIN"
    )]
    PinRefused {
        /// The key's `pkcs11:` URI.
        key: String,
        /// The PIN file (never the PIN).
        pin_file: PathBuf,
        /// The token's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The PIN file of a PKCS#11 key cannot be read (removed, unreadable, empty, too long).
    #[error(
        "the PIN file {path} of a PKCS#11 key cannot be used ({reason}): restore it (mode 0600, the user PIN on one line)"
    )]
    PinFileUnreadable {
        /// The PIN file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A PIN file is accessible to group or others.
    #[error(
        "PIN file {path} has mode {mode:o}, accessible to group or others: run chmod 600 on it"
    )]
    InsecurePinFile {
        /// The PIN file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// No key object on the token matches the URI: deleting the object revokes the key.
    #[error(
        "PKCS#11 key {key} is not on the token: the key object was deleted (which revokes it) or the URI's object=/id= is wrong"
    )]
    KeyObjectMissing {
        /// The key's `pkcs11:` URI.
        key: String,
    },
    /// The PKCS#11 module, token or device cannot be reached; retrying later may help.
    #[error("PKCS#11 key {key} is unavailable: {missing}")]
    TokenUnavailable {
        /// The key's `pkcs11:` URI.
        key: String,
        /// What is missing (the module file, the token, the device).
        missing: String,
        /// The module's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// The token refused an operation cachet does not model (a key not allowed to encrypt, a
    /// mechanism it lacks).
    #[error(
        "the token refused {operation} with PKCS#11 key {key}: check that the key object is an AES-256 secret key allowed to encrypt and decrypt (or wrap and unwrap), or an EC private key allowed to sign"
    )]
    TokenRefused {
        /// The key's `pkcs11:` URI.
        key: String,
        /// The PKCS#11 function.
        operation: &'static str,
        /// The token's answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// A local master-key file does not hold exactly 32 bytes.
    #[error("master key file {path} is not a cachet local master key: {reason}")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// `master-key new` refuses to replace an existing file.
    #[error(
        "master key file {path} already exists: refusing to overwrite it (a lost master key makes every bundle under it undecryptable)"
    )]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// A master-key reference string is malformed.
    #[error("invalid master key reference {given:?}: {reason}")]
    InvalidReference {
        /// What the operator wrote.
        given: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend named in a reference is not compiled in.
    #[error(
        "master key backend {backend} is not built into this cachet (enable the `{backend}` feature)"
    )]
    BackendUnavailable {
        /// The backend name.
        backend: &'static str,
    },
    /// The operator's configuration contradicts itself.
    #[error("master key configuration for {key}: {reason}")]
    Config {
        /// The key reference.
        key: String,
        /// What conflicts.
        reason: String,
    },
    /// The request could not be made: no credentials, or a client configuration the SDK refused.
    #[error(
        "the {operation} request for master key {key} could not be made: check the AWS credential chain (env, profile, web identity, ECS, IMDS), --aws-profile and --kms-region"
    )]
    RequestNotSent {
        /// The key reference or ARN.
        key: String,
        /// The KMS operation name.
        operation: &'static str,
        /// Why the SDK did not send it.
        #[source]
        source: Option<BoxedSource>,
    },
    /// A signature (or the public key checking it) is unusable: malformed DER, r or s out of
    /// range, or it does not recover to the recorded public key.
    #[error("invalid secp256k1 signature: {reason}")]
    InvalidSignature {
        /// What is wrong.
        reason: String,
    },
    /// An HSM or KMS signing key answered something cachet cannot use (a signature that does
    /// not parse or recover to the recorded key, a public key that is not a secp256k1 point).
    #[error(
        "{operation} with signing key {key} returned an answer cachet cannot use: the key behind the reference may not be the one the bundle recorded, or the answer was damaged"
    )]
    BadSignerAnswer {
        /// The key reference or ARN.
        key: String,
        /// The operation (`Sign`, `GetPublicKey`).
        operation: &'static str,
        /// What was wrong with the answer.
        #[source]
        source: Option<BoxedSource>,
    },
    /// A file operation failed.
    #[error("{action} {path} failed")]
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

/// How the caller (and the operator) should treat an error: the one classification shared by
/// the master key and the key provider; `node::exit` maps each class to one exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Access to the master key is denied or revoked; retrying cannot help (exit 10).
    Denied,
    /// The master key could not be reached; retrying later may help (exit 11).
    Unreachable,
    /// A ciphertext or bundle is corrupt, tampered with, or bound to another context (exit 12).
    Corrupt,
    /// A key file, bundle or datadir is accessible to group or others (exit 13).
    Permissions,
    /// The datadir is not initialised, or already is (exit 14; key provider only).
    DatadirState,
    /// The operator's input is wrong (exit 2).
    Usage,
    /// A local I/O failure or a bug (exit 1).
    Local,
}

impl ErrorClass {
    /// The class as the audit log writes it (`denied`, `unreachable`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Unreachable => "unreachable",
            Self::Corrupt => "corrupt",
            Self::Permissions => "permissions",
            Self::DatadirState => "datadir",
            Self::Usage => "usage",
            Self::Local => "local",
        }
    }
}

impl Error {
    /// True for failures that may clear on retry (throttling, 5xx, timeouts, connections).
    pub const fn is_transient(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unavailable { .. })
    }

    /// The class that decides retries, audit outcome and exit code.
    pub const fn class(&self) -> ErrorClass {
        match self {
            Self::AccessDenied { .. }
            | Self::KeyDisabled { .. }
            | Self::KeyPendingDeletion { .. }
            | Self::KeyNotFound { .. }
            | Self::WrongMasterKey { .. }
            | Self::Rejected { .. }
            | Self::PinRefused { .. }
            | Self::PinFileUnreadable { .. }
            | Self::KeyObjectMissing { .. }
            | Self::TokenRefused { .. } => ErrorClass::Denied,
            Self::Throttled { .. }
            | Self::Unavailable { .. }
            | Self::DeadlineExceeded { .. }
            | Self::TokenUnavailable { .. } => ErrorClass::Unreachable,
            Self::InvalidCiphertext { .. }
            | Self::InvalidSignature { .. }
            | Self::BadSignerAnswer { .. } => ErrorClass::Corrupt,
            Self::InsecurePermissions { .. } | Self::InsecurePinFile { .. } => {
                ErrorClass::Permissions
            }
            Self::BadKeyFile { .. }
            | Self::AlreadyExists { .. }
            | Self::InvalidReference { .. }
            | Self::BackendUnavailable { .. }
            | Self::RequestNotSent { .. }
            | Self::Config { .. } => ErrorClass::Usage,
            Self::Io { .. } | Self::Internal(_) => ErrorClass::Local,
        }
    }

    /// The backend's request id for the failed call (AWS `x-amzn-RequestId`), when it answered:
    /// what the audit log records to find the matching CloudTrail event.
    pub fn request_id(&self) -> Option<&str> {
        #[cfg(feature = "aws")]
        {
            let source = std::error::Error::source(self)?;
            crate::aws::request_id_of(source)
        }
        #[cfg(not(feature = "aws"))]
        None
    }

    /// A short stable name for the audit log (`access-denied`, `throttled`, ...).
    pub const fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied { .. } => "access-denied",
            Self::KeyDisabled { .. } => "key-disabled",
            Self::KeyPendingDeletion { .. } => "key-pending-deletion",
            Self::KeyNotFound { .. } => "key-not-found",
            Self::WrongMasterKey { .. } => "wrong-master-key",
            Self::InvalidCiphertext { .. } => "invalid-ciphertext",
            Self::Rejected { .. } => "rejected",
            Self::Throttled { .. } => "throttled",
            Self::Unavailable { .. } => "unavailable",
            Self::DeadlineExceeded { .. } => "deadline-exceeded",
            Self::InsecurePermissions { .. } => "insecure-permissions",
            Self::PinRefused { .. } => "pin-refused",
            Self::PinFileUnreadable { .. } => "pin-file-unreadable",
            Self::InsecurePinFile { .. } => "insecure-pin-file",
            Self::KeyObjectMissing { .. } => "key-object-missing",
            Self::TokenUnavailable { .. } => "token-unavailable",
            Self::TokenRefused { .. } => "token-refused",
            Self::BadKeyFile { .. } => "bad-key-file",
            Self::AlreadyExists { .. } => "already-exists",
            Self::InvalidReference { .. } => "invalid-reference",
            Self::BackendUnavailable { .. } => "backend-unavailable",
            Self::Config { .. } => "config",
            Self::RequestNotSent { .. } => "request-not-sent",
            Self::InvalidSignature { .. } => "invalid-signature",
            Self::BadSignerAnswer { .. } => "bad-signer-answer",
            Self::Io { .. } => "io",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<cachet_primitives::fs::WriteError> for Error {
    fn from(e: cachet_primitives::fs::WriteError) -> Self {
        let (action, path, source) = e.into_parts();
        Self::Io {
            action,
            path,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const P11: &str = "pkcs11:token=cachet;object=cachet-master?pin-source=file:/etc/cachet/pin";

    /// Every variant, with the exact text an operator reads (the source, if any, is printed
    /// after it by the caller, never by Display).
    #[test]
    fn errors_name_the_key_or_file_and_what_to_check() {
        let key = || ARN.to_owned();
        let cases: Vec<(Error, String, ErrorClass, &str)> = vec![
            (
                Error::AccessDenied {
                    key: key(),
                    operation: "Decrypt",
                    source: None,
                },
                format!(
                    "Decrypt denied for master key {ARN}: the node's principal may no longer be allowed kms:Decrypt on it; check the IAM policy, key policy and grants"
                ),
                ErrorClass::Denied,
                "access-denied",
            ),
            (
                Error::KeyDisabled {
                    key: key(),
                    source: None,
                },
                format!(
                    "master key {ARN} is disabled: enable it (aws kms enable-key) or rotate the bundle to another key"
                ),
                ErrorClass::Denied,
                "key-disabled",
            ),
            (
                Error::KeyPendingDeletion {
                    key: key(),
                    source: None,
                },
                format!(
                    "master key {ARN} is not usable in its current state (pending deletion or import): cancel the deletion (aws kms cancel-key-deletion) and enable it"
                ),
                ErrorClass::Denied,
                "key-pending-deletion",
            ),
            (
                Error::KeyNotFound {
                    key: key(),
                    source: None,
                },
                format!(
                    "master key {ARN} was not found: check the key reference, the region and the account"
                ),
                ErrorClass::Denied,
                "key-not-found",
            ),
            (
                Error::WrongMasterKey { key: key() },
                format!(
                    "the data key was not wrapped by master key {ARN}: this bundle belongs to another master key; pass the right one"
                ),
                ErrorClass::Denied,
                "wrong-master-key",
            ),
            (
                Error::Rejected {
                    key: key(),
                    operation: "Decrypt",
                    source: None,
                },
                format!(
                    "kms refused Decrypt on master key {ARN}: check that it is a symmetric ENCRYPT_DECRYPT key in the configured account and region"
                ),
                ErrorClass::Denied,
                "rejected",
            ),
            (
                Error::InvalidCiphertext {
                    key: key(),
                    source: None,
                },
                format!(
                    "master key {ARN} could not decrypt the wrapped data key: the bundle is corrupt or its encryption context (node, chain) was changed"
                ),
                ErrorClass::Corrupt,
                "invalid-ciphertext",
            ),
            (
                Error::Throttled {
                    key: key(),
                    operation: "Decrypt",
                    source: None,
                },
                format!("Decrypt on master key {ARN} was throttled"),
                ErrorClass::Unreachable,
                "throttled",
            ),
            (
                Error::Unavailable {
                    key: key(),
                    operation: "Decrypt",
                    source: None,
                },
                format!(
                    "Decrypt on master key {ARN} failed in transit: check network access to the KMS endpoint"
                ),
                ErrorClass::Unreachable,
                "unavailable",
            ),
            (
                Error::DeadlineExceeded {
                    key: key(),
                    operation: "Decrypt",
                    seconds: 30,
                    attempts: 9,
                    source: None,
                },
                format!(
                    "Decrypt on master key {ARN} did not succeed within 30 s (9 attempts): KMS is unreachable; check the endpoint, network and --kms-timeout"
                ),
                ErrorClass::Unreachable,
                "deadline-exceeded",
            ),
            (
                Error::Config {
                    key: "aws-kms:alias/cachet".into(),
                    reason: "no AWS region is configured".into(),
                },
                "master key configuration for aws-kms:alias/cachet: no AWS region is configured"
                    .to_owned(),
                ErrorClass::Usage,
                "config",
            ),
            (
                Error::RequestNotSent {
                    key: key(),
                    operation: "Decrypt",
                    source: None,
                },
                format!(
                    "the Decrypt request for master key {ARN} could not be made: check the AWS credential chain (env, profile, web identity, ECS, IMDS), --aws-profile and --kms-region"
                ),
                ErrorClass::Usage,
                "request-not-sent",
            ),
            (
                Error::InsecurePermissions {
                    path: "/etc/cachet/master.key".into(),
                    mode: 0o640,
                },
                "master key file /etc/cachet/master.key has mode 640, readable by group or others: run chmod 600 on it".to_owned(),
                ErrorClass::Permissions,
                "insecure-permissions",
            ),
            (
                Error::BadKeyFile {
                    path: "/etc/cachet/master.key".into(),
                    reason: "expected exactly 32 bytes",
                },
                "master key file /etc/cachet/master.key is not a cachet local master key: expected exactly 32 bytes".to_owned(),
                ErrorClass::Usage,
                "bad-key-file",
            ),
            (
                Error::AlreadyExists {
                    path: "/etc/cachet/master.key".into(),
                },
                "master key file /etc/cachet/master.key already exists: refusing to overwrite it (a lost master key makes every bundle under it undecryptable)".to_owned(),
                ErrorClass::Usage,
                "already-exists",
            ),
            (
                Error::InvalidReference {
                    given: "gcp:k".into(),
                    reason: "expected local:PATH, aws-kms:KEY or pkcs11:URI".into(),
                },
                "invalid master key reference \"gcp:k\": expected local:PATH, aws-kms:KEY or pkcs11:URI".to_owned(),
                ErrorClass::Usage,
                "invalid-reference",
            ),
            (
                Error::BackendUnavailable { backend: "aws" },
                "master key backend aws is not built into this cachet (enable the `aws` feature)"
                    .to_owned(),
                ErrorClass::Usage,
                "backend-unavailable",
            ),
            (
                Error::InvalidSignature {
                    reason: "r or s is zero".into(),
                },
                "invalid secp256k1 signature: r or s is zero".to_owned(),
                ErrorClass::Corrupt,
                "invalid-signature",
            ),
            (
                Error::BadSignerAnswer {
                    key: key(),
                    operation: "Sign",
                    source: None,
                },
                format!(
                    "Sign with signing key {ARN} returned an answer cachet cannot use: the key behind the reference may not be the one the bundle recorded, or the answer was damaged"
                ),
                ErrorClass::Corrupt,
                "bad-signer-answer",
            ),
            (
                Error::Io {
                    action: "read",
                    path: "/etc/cachet/master.key".into(),
                    source: std::io::Error::other("disk on fire"),
                },
                "read /etc/cachet/master.key failed".to_owned(),
                ErrorClass::Local,
                "io",
            ),
            (
                Error::PinRefused {
                    key: P11.into(),
                    pin_file: "/etc/cachet/pin".into(),
                    source: None,
                },
                format!(
                    "the token refused the PIN in /etc/cachet/pin for PKCS#11 key {P11}: the token's user PIN was changed or locked, or the file holds another PIN"
                ),
                ErrorClass::Denied,
                "pin-refused",
            ),
            (
                Error::PinFileUnreadable {
                    path: "/etc/cachet/pin".into(),
                    reason: "No such file or directory".into(),
                },
                "the PIN file /etc/cachet/pin of a PKCS#11 key cannot be used (No such file or directory): restore it (mode 0600, the user PIN on one line)".to_owned(),
                ErrorClass::Denied,
                "pin-file-unreadable",
            ),
            (
                Error::InsecurePinFile {
                    path: "/etc/cachet/pin".into(),
                    mode: 0o644,
                },
                "PIN file /etc/cachet/pin has mode 644, accessible to group or others: run chmod 600 on it".to_owned(),
                ErrorClass::Permissions,
                "insecure-pin-file",
            ),
            (
                Error::KeyObjectMissing { key: P11.into() },
                format!(
                    "PKCS#11 key {P11} is not on the token: the key object was deleted (which revokes it) or the URI's object=/id= is wrong"
                ),
                ErrorClass::Denied,
                "key-object-missing",
            ),
            (
                Error::TokenUnavailable {
                    key: P11.into(),
                    missing: "no token matches token=\"cachet\"".into(),
                    source: None,
                },
                format!(
                    "PKCS#11 key {P11} is unavailable: no token matches token=\"cachet\""
                ),
                ErrorClass::Unreachable,
                "token-unavailable",
            ),
            (
                Error::TokenRefused {
                    key: P11.into(),
                    operation: "C_Decrypt",
                    source: None,
                },
                format!(
                    "the token refused C_Decrypt with PKCS#11 key {P11}: check that the key object is an AES-256 secret key allowed to encrypt and decrypt (or wrap and unwrap), or an EC private key allowed to sign"
                ),
                ErrorClass::Denied,
                "token-refused",
            ),
            (
                Error::Internal("nonce length"),
                "nonce length (this is a bug in cachet)".to_owned(),
                ErrorClass::Local,
                "internal",
            ),
        ];
        assert_eq!(cases.len(), 27, "one case per variant");
        for (error, text, class, code) in cases {
            assert_eq!(error.to_string(), text);
            assert_eq!((error.class(), error.code()), (class, code), "{text}");
            assert_eq!(
                error.is_transient(),
                matches!(code, "throttled" | "unavailable"),
                "{text}"
            );
            assert_eq!(error.request_id(), None);
        }
    }

    #[test]
    fn class_names_are_what_the_audit_log_writes() {
        let names = [
            (ErrorClass::Denied, "denied"),
            (ErrorClass::Unreachable, "unreachable"),
            (ErrorClass::Corrupt, "corrupt"),
            (ErrorClass::Permissions, "permissions"),
            (ErrorClass::DatadirState, "datadir"),
            (ErrorClass::Usage, "usage"),
            (ErrorClass::Local, "local"),
        ];
        for (class, name) in names {
            assert_eq!(class.name(), name);
        }
    }
}
