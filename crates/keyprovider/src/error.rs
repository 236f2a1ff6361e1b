//! Key-provider errors; their class is the master key's [`ErrorClass`], extended with the
//! datadir's state.

use std::path::PathBuf;

pub use cachet_kms::ErrorClass;

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
    /// A JSON section of the bundle does not parse.
    #[error("key bundle {} is corrupt ({field} is not valid json): restore it from a backup", .path.display())]
    BundleJson {
        /// The bundle file.
        path: PathBuf,
        /// Which section.
        field: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
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
    /// Every master key of a bundle with several failed; the first one's class decides.
    #[error("none of the {count} master keys of key bundle {} unlocked it: {summary}", .path.display())]
    NoMasterKeyUnlocked {
        /// The bundle file.
        path: PathBuf,
        /// How many slots were tried.
        count: usize,
        /// The first slot's error class (decision 292).
        class: ErrorClass,
        /// Each slot's error, in order.
        summary: String,
        /// The first slot's error.
        #[source]
        source: Box<Self>,
    },
    /// `rotate --remove-master-key` named the only master key.
    #[error("{given} is the only master key of key bundle {}: refusing to remove it (nothing could unlock the keys again); add another first with `cachet rotate --add-master-key REF`", .path.display())]
    LastMasterKey {
        /// The bundle file.
        path: PathBuf,
        /// The reference given.
        given: String,
    },
    /// `rotate --remove-master-key` named a key the bundle does not have.
    #[error("key bundle {} has no master key {given}; its master keys are: {present}", .path.display())]
    MasterKeyNotInBundle {
        /// The bundle file.
        path: PathBuf,
        /// The reference given.
        given: String,
        /// The bundle's master keys, as recorded.
        present: String,
    },
    /// `rotate --add-master-key` / `--to` named a key the bundle already has.
    #[error("master key {given} is already slot {slot} of key bundle {}", .path.display())]
    MasterKeyAlreadyInBundle {
        /// The bundle file.
        path: PathBuf,
        /// The reference given.
        given: String,
        /// Its slot (1-based).
        slot: usize,
    },
    /// `unlock --slot N` beyond the bundle's master keys.
    #[error("key bundle {} has {count} master key(s), no master key {slot}", .path.display())]
    NoSuchMasterKey {
        /// The bundle file.
        path: PathBuf,
        /// The slot asked for (1-based).
        slot: usize,
        /// How many the bundle has.
        count: usize,
    },
    /// `rotate --add-master-key` on a bundle that has the most master keys already.
    #[error("key bundle {} already has {max} master keys, the most a bundle holds: remove one first (cachet rotate --remove-master-key REF)", .path.display())]
    TooManyMasterKeys {
        /// The bundle file.
        path: PathBuf,
        /// The cap.
        max: usize,
    },
    /// A plain `rotate` of a bundle that is already in the current format.
    #[error("key bundle {} is already format v2: nothing to do; pass --to, --add-master-key or --remove-master-key", .path.display())]
    NothingToChange {
        /// The bundle file.
        path: PathBuf,
    },
    /// An import source file is malformed.
    #[error("cannot import {}: {reason}", .path.display())]
    Import {
        /// The source file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A JSON import source (keystore V3, Tessera key file) does not have the expected shape.
    #[error("cannot import {}: {what} is not valid", .path.display())]
    ImportJson {
        /// The source file.
        path: PathBuf,
        /// Which document or section, e.g. `keystore V3 JSON`, `kdfparams`.
        what: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An import source's key-derivation parameters are refused by the KDF.
    #[error("cannot import {}: its {kdf} parameters are not usable", .path.display())]
    ImportKdf {
        /// The source file.
        path: PathBuf,
        /// The KDF (`scrypt`, `argon2`).
        kdf: &'static str,
        /// The KDF's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
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
    /// An HSM/KMS-resident key failed to sign, or to answer at unlock; the backend's error
    /// decides the class (a removed key object or `AccessDenied` is denied, exit 10; another
    /// public key under the reference is corrupt, exit 12).
    #[error("the {role} in {location} failed")]
    SigningKey {
        /// `sealing key`, `wallet key`.
        role: String,
        /// Where it lives (`hsm:pkcs11:…`, `kms:<key ARN>`).
        location: String,
        /// The backend's error (boxed: it is large, and this enum travels in `Result`s).
        #[source]
        source: Box<cachet_kms::Error>,
    },
    /// An HSM/KMS-resident key did not answer within the signing deadline.
    #[error(
        "the {role} in {location} did not answer within {millis} ms: check the HSM or KMS connection, or raise --signer-timeout"
    )]
    SigningTimeout {
        /// `sealing key`, `wallet key`.
        role: String,
        /// Where it lives.
        location: String,
        /// The deadline.
        millis: u64,
    },
    /// A key the bundle does not hold was asked for in a form that needs its bytes.
    #[error(
        "the {role} lives in {location} and never leaves it: cachet can sign with it but cannot hand it to another program"
    )]
    KeyNotHeld {
        /// `sealing key`, `wallet key`.
        role: String,
        /// Where it lives.
        location: String,
    },
    /// A file operation failed.
    #[error("{action} {} failed", .path.display())]
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

impl Error {
    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::MasterKey(e) => e.class(),
            Self::NotInitialised { .. } | Self::AlreadyInitialised { .. } => {
                ErrorClass::DatadirState
            }
            Self::InsecurePermissions { .. } => ErrorClass::Permissions,
            Self::CorruptBundle { .. }
            | Self::BundleJson { .. }
            | Self::TamperedBundle { .. }
            | Self::IdentityMismatch { .. } => ErrorClass::Corrupt,
            Self::NoMasterKeyUnlocked { class, .. } => *class,
            Self::LastMasterKey { .. }
            | Self::MasterKeyNotInBundle { .. }
            | Self::MasterKeyAlreadyInBundle { .. }
            | Self::TooManyMasterKeys { .. }
            | Self::NoSuchMasterKey { .. }
            | Self::NothingToChange { .. }
            | Self::Import { .. }
            | Self::ImportJson { .. }
            | Self::ImportKdf { .. }
            | Self::WrongPassword { .. }
            | Self::InvalidKey { .. } => ErrorClass::Usage,
            Self::KeysWiped => ErrorClass::Denied,
            Self::SigningKey { source, .. } => source.class(),
            Self::SigningTimeout { .. } => ErrorClass::Unreachable,
            Self::KeyNotHeld { .. } => ErrorClass::Usage,
            Self::Io { .. } | Self::Internal(_) => ErrorClass::Local,
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

    /// Every variant, with the exact text an operator reads (a source, if any, is printed after
    /// it by the caller, never by Display).
    #[test]
    fn errors_name_the_file_and_what_to_check() {
        let path = || PathBuf::from("/d/keys.cachet");
        let json = || serde_json::from_str::<u8>("x").unwrap_err();
        let cases: Vec<(Error, &str, ErrorClass)> = vec![
            (
                Error::MasterKey(cachet_kms::Error::WrongMasterKey {
                    key: "local:/k".into(),
                }),
                "the data key was not wrapped by master key local:/k: this bundle belongs to another master key; pass the right one",
                ErrorClass::Denied,
            ),
            (
                Error::NotInitialised {
                    datadir: "/d".into(),
                },
                "/d has no key bundle (keys.cachet): run `cachet init --datadir /d` first, or check the path",
                ErrorClass::DatadirState,
            ),
            (
                Error::AlreadyInitialised {
                    datadir: "/d".into(),
                },
                "/d already has a key bundle: refusing to replace a node's keys (use `cachet destroy` first if you really mean it)",
                ErrorClass::DatadirState,
            ),
            (
                Error::InsecurePermissions {
                    path: path(),
                    mode: 0o644,
                },
                "/d/keys.cachet has mode 644, accessible to group or others: run chmod 600 on the bundle (700 on the datadir)",
                ErrorClass::Permissions,
            ),
            (
                Error::CorruptBundle {
                    path: path(),
                    field: "magic",
                    reason: "not a cachet key bundle".into(),
                },
                "key bundle /d/keys.cachet is corrupt (magic): not a cachet key bundle",
                ErrorClass::Corrupt,
            ),
            (
                Error::BundleJson {
                    path: path(),
                    field: "header",
                    source: json(),
                },
                "key bundle /d/keys.cachet is corrupt (header is not valid json): restore it from a backup",
                ErrorClass::Corrupt,
            ),
            (
                Error::TamperedBundle { path: path() },
                "key bundle /d/keys.cachet failed authentication: its header or sealed keys were modified; restore it from a backup",
                ErrorClass::Corrupt,
            ),
            (
                Error::IdentityMismatch {
                    path: path(),
                    which: "node key",
                },
                "key bundle /d/keys.cachet is inconsistent: the decrypted node key does not match the header's public identity",
                ErrorClass::Corrupt,
            ),
            (
                Error::NoMasterKeyUnlocked {
                    path: path(),
                    count: 2,
                    class: ErrorClass::Denied,
                    summary: "slot 1 (local:/a): a; slot 2 (local:/b): b".into(),
                    source: Box::new(Error::KeysWiped),
                },
                "none of the 2 master keys of key bundle /d/keys.cachet unlocked it: slot 1 (local:/a): a; slot 2 (local:/b): b",
                ErrorClass::Denied,
            ),
            (
                Error::LastMasterKey {
                    path: path(),
                    given: "local:/a".into(),
                },
                "local:/a is the only master key of key bundle /d/keys.cachet: refusing to remove it (nothing could unlock the keys again); add another first with `cachet rotate --add-master-key REF`",
                ErrorClass::Usage,
            ),
            (
                Error::MasterKeyNotInBundle {
                    path: path(),
                    given: "local:/c".into(),
                    present: "local:/a, local:/b".into(),
                },
                "key bundle /d/keys.cachet has no master key local:/c; its master keys are: local:/a, local:/b",
                ErrorClass::Usage,
            ),
            (
                Error::MasterKeyAlreadyInBundle {
                    path: path(),
                    given: "local:/b".into(),
                    slot: 2,
                },
                "master key local:/b is already slot 2 of key bundle /d/keys.cachet",
                ErrorClass::Usage,
            ),
            (
                Error::TooManyMasterKeys {
                    path: path(),
                    max: 4,
                },
                "key bundle /d/keys.cachet already has 4 master keys, the most a bundle holds: remove one first (cachet rotate --remove-master-key REF)",
                ErrorClass::Usage,
            ),
            (
                Error::NoSuchMasterKey {
                    path: path(),
                    slot: 3,
                    count: 2,
                },
                "key bundle /d/keys.cachet has 2 master key(s), no master key 3",
                ErrorClass::Usage,
            ),
            (
                Error::NothingToChange { path: path() },
                "key bundle /d/keys.cachet is already format v2: nothing to do; pass --to, --add-master-key or --remove-master-key",
                ErrorClass::Usage,
            ),
            (
                Error::Import {
                    path: "/i/nodekey".into(),
                    reason: "key file too short, want 64 hex characters".into(),
                },
                "cannot import /i/nodekey: key file too short, want 64 hex characters",
                ErrorClass::Usage,
            ),
            (
                Error::ImportJson {
                    path: "/i/key.json".into(),
                    what: "keystore V3 JSON",
                    source: json(),
                },
                "cannot import /i/key.json: keystore V3 JSON is not valid",
                ErrorClass::Usage,
            ),
            (
                Error::ImportKdf {
                    path: "/i/key.json".into(),
                    kdf: "scrypt",
                    source: "r too large".into(),
                },
                "cannot import /i/key.json: its scrypt parameters are not usable",
                ErrorClass::Usage,
            ),
            (
                Error::WrongPassword {
                    path: "/i/key.json".into(),
                },
                "wrong password for /i/key.json (its MAC did not verify)",
                ErrorClass::Usage,
            ),
            (
                Error::KeysWiped,
                "the unlocked keys were wiped (master key revoked or node stopping): restart the node once access to the master key is restored",
                ErrorClass::Denied,
            ),
            (
                Error::InvalidKey {
                    role: "node key",
                    curve: "secp256k1",
                },
                "node key is not a valid secp256k1 private key",
                ErrorClass::Usage,
            ),
            (
                Error::SigningKey {
                    role: "sealing key".into(),
                    location: "kms:arn:aws:kms:us-east-1:111122223333:key/k".into(),
                    source: Box::new(cachet_kms::Error::AccessDenied {
                        key: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
                        operation: "Sign",
                        source: None,
                    }),
                },
                "the sealing key in kms:arn:aws:kms:us-east-1:111122223333:key/k failed",
                ErrorClass::Denied,
            ),
            (
                Error::SigningTimeout {
                    role: "wallet key".into(),
                    location: "hsm:pkcs11:object=w".into(),
                    millis: 5000,
                },
                "the wallet key in hsm:pkcs11:object=w did not answer within 5000 ms: check the HSM or KMS connection, or raise --signer-timeout",
                ErrorClass::Unreachable,
            ),
            (
                Error::KeyNotHeld {
                    role: "sealing key".into(),
                    location: "hsm:pkcs11:object=s".into(),
                },
                "the sealing key lives in hsm:pkcs11:object=s and never leaves it: cachet can sign with it but cannot hand it to another program",
                ErrorClass::Usage,
            ),
            (
                Error::Io {
                    action: "rename",
                    path: path(),
                    source: std::io::Error::other("disk on fire"),
                },
                "rename /d/keys.cachet failed",
                ErrorClass::Local,
            ),
            (
                Error::Internal("sealed key set too large"),
                "sealed key set too large (this is a bug in cachet)",
                ErrorClass::Local,
            ),
        ];
        assert_eq!(cases.len(), 26, "one case per variant");
        for (error, text, class) in cases {
            assert_eq!(error.to_string(), text);
            assert_eq!(error.class(), class, "{text}");
        }
    }
}
