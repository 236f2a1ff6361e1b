//! AWS KMS (feature `aws`): `aws-kms:KEY` master keys and `kms:KEY` signing keys.
//!
//! - [`key_ref`]: the reference forms AWS accepts, validated before any call;
//! - [`client`]: the trimmed SDK client (rustls + ring), region rules, SDK retries off;
//! - [`classify`]: SDK errors → [`crate::Error`], definitive or transient, once;
//! - [`retry`]: jittered exponential backoff under the total deadline;
//! - [`call`]: one call pinned to a key ARN, retried, classified and recorded;
//! - [`key`]: [`AwsKmsKey`], the [`crate::MasterKey`] implementation;
//! - [`signer`]: [`AwsKmsSigner`], the [`crate::DigestSigner`] implementation.

mod call;
mod classify;
mod client;
mod key;
mod key_ref;
mod retry;
mod signer;

#[cfg(test)]
mod mock_tests;
#[cfg(test)]
mod moto_tests;
#[cfg(test)]
mod signer_moto_tests;
#[cfg(test)]
mod signer_tests;

pub(crate) use classify::request_id_of;
pub use key::AwsKmsKey;
pub use key_ref::{Arn, AwsKeyRef, DEFAULT_ALIAS};
pub use retry::DEFAULT_DEADLINE;
pub use signer::AwsKmsSigner;
