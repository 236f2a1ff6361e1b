//! Master keys for Cachet's envelope encryption.
//!
//! A node's key bundle is sealed under a 256-bit *data key*; the data key is stored only wrapped
//! (encrypted) by a *master key* that lives outside the data directory. This crate defines the
//! [`MasterKey`] trait and its backends:
//!
//! - [`LocalMasterKey`] (`local:PATH`): a 32-byte key file, mode 0600, for devnets and tests. It
//!   binds every wrapped data key to its [`EncryptionContext`] exactly as AWS KMS does, so a
//!   context mismatch fails the same way on both.
//! - `AwsKmsKey` (`aws-kms:KEY`, feature `aws`): AWS KMS through `aws-sdk-kms`, every call
//!   pinned to the key ARN, transient failures retried under one deadline.
//! - `AwsKmsSigner` (`kms:KEY`, feature `aws`): a secp256k1 signing key that never leaves AWS
//!   KMS (`Sign` on the digest), behind [`DigestSigner`].
//!
//! Signing keys that never leave an HSM or KMS implement [`DigestSigner`]; [`der_to_rs`] and
//! [`recoverable`] turn their ECDSA answers into Ethereum's `r ‖ s ‖ v`. [`SigningKeySpec`]
//! parses what an operator names at `init` (`hsm:pkcs11:…`, `kms:KEY`); [`open_signer`] and
//! [`open_signer_recorded`] open one for init and at unlock.
//!
//! - `Pkcs11MasterKey` (`pkcs11:URI`, RFC 7512, feature `pkcs11`): an AES-256 key inside a
//!   PKCS#11 token (an HSM, SoftHSM) through `cryptoki`; the data key is wrapped in the token
//!   with `CKM_AES_GCM` (the context as associated data) or `CKM_AES_KEY_WRAP_PAD`. `Pkcs11Signer`
//!   signs secp256k1 digests with `CKM_ECDSA` in the token.
//!
//! Every call returns a [`CallRecord`] (operation, key, request id, latency) for the audit log.
//!
//! ## Feature flags
//! - `aws`: the AWS KMS backend.
//! - `pkcs11`: the PKCS#11 backend and signer (loads the module named at run time; nothing
//!   links against a vendor library).
//!
//! See `docs/key-bundle.md` for where wrapped data keys are stored.
#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
mod aws;
mod context;
mod data_key;
mod error;
mod local;
mod master_key;
mod open;
pub mod pkcs11;
mod reference;
mod signer;
mod signing_key;

#[cfg(feature = "aws")]
pub use aws::{Arn, AwsKeyRef, AwsKmsKey, AwsKmsSigner, DEFAULT_ALIAS, DEFAULT_DEADLINE};
pub use context::EncryptionContext;
pub use data_key::{DataKey, WrappedDataKey};
pub use error::{BoxedSource, Error, ErrorClass, Result};
pub use local::LocalMasterKey;
pub use master_key::{CallRecord, GeneratedDataKey, MasterKey, Unwrapped};
pub use open::{DEFAULT_SIGNER_TIMEOUT, KmsConfig, open_for_init, open_recorded};
#[cfg(feature = "pkcs11")]
pub use pkcs11::{Pkcs11MasterKey, Pkcs11Signer, SECP256K1_EC_PARAMS, WrapMode};
pub use reference::{MasterKeyRef, MasterKeySpec};
pub use signer::{DigestSigner, SignerRef, der_to_rs, fuzzing as signer_fuzzing, recoverable};
pub use signing_key::{SignerBackend, SigningKeySpec, open_signer, open_signer_recorded};
