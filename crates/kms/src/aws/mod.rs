//! `aws-kms:KEY`: AWS KMS master keys (feature `aws`).
//!
//! - [`key_ref`]: the reference forms AWS accepts, validated before any call;
//! - [`client`]: the trimmed SDK client (rustls + ring), region rules, SDK retries off;
//! - [`classify`]: SDK errors → [`crate::Error`], definitive or transient, once;
//! - [`retry`]: jittered exponential backoff under the total deadline;
//! - [`key`]: [`AwsKmsKey`], the [`crate::MasterKey`] implementation.

mod classify;
mod client;
mod key;
mod key_ref;
mod retry;

#[cfg(test)]
mod mock_tests;
#[cfg(test)]
mod moto_tests;

pub(crate) use classify::request_id_of;
pub use key::AwsKmsKey;
pub use key_ref::{Arn, AwsKeyRef, DEFAULT_ALIAS};
pub use retry::DEFAULT_DEADLINE;
