//! The `MasterKey` trait every backend implements.

use std::time::Duration;

use async_trait::async_trait;

use crate::{DataKey, EncryptionContext, MasterKeyRef, Result, WrappedDataKey};

/// One call to a master key, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// The operation (`GenerateDataKey`, `Decrypt`, `Encrypt`, `ReEncrypt`, `DescribeKey`,
    /// `Sign`, `GetPublicKey`).
    pub operation: &'static str,
    /// The key the call addressed (key id / ARN).
    pub key_id: String,
    /// The backend's request id (AWS `x-amzn-RequestId`), to find the CloudTrail event.
    pub request_id: Option<String>,
    /// Wall time of the call, retries included.
    pub latency: Duration,
    /// Calls made, including retries.
    pub attempts: u32,
}

/// A data key fresh from [`MasterKey::generate_data_key`].
#[derive(Debug)]
pub struct GeneratedDataKey {
    /// The plaintext; zeroized on drop.
    pub plaintext: DataKey,
    /// The same key wrapped under the master key and the context.
    pub wrapped: WrappedDataKey,
    /// The call, for the audit log.
    pub call: CallRecord,
}

/// A data key recovered by [`MasterKey::decrypt_data_key`].
#[derive(Debug)]
pub struct Unwrapped {
    /// The plaintext; zeroized on drop.
    pub plaintext: DataKey,
    /// The call, for the audit log.
    pub call: CallRecord,
}

/// A key-encryption key held outside the data directory.
///
/// | method | AWS KMS | local backend |
/// |---|---|---|
/// | `generate_data_key` | `GenerateDataKey` (AES_256) | CSPRNG + AES-256-GCM wrap |
/// | `decrypt_data_key` | `Decrypt` with `KeyId` pinned | AES-256-GCM unwrap |
/// | `wrap_data_key` | `Encrypt` | AES-256-GCM wrap |
/// | `rewrap_to` | `ReEncrypt` (AWS → AWS) | decrypt, then the target wraps |
///
/// Every method binds the wrapped key to the [`EncryptionContext`]: decrypting under any other
/// context fails with [`crate::Error::InvalidCiphertext`].
#[async_trait]
pub trait MasterKey: Send + Sync + std::fmt::Debug {
    /// The reference recorded in the bundle header.
    fn reference(&self) -> MasterKeyRef;

    /// Creates a fresh 256-bit data key and returns it in plaintext and wrapped.
    ///
    /// # Errors
    /// Any [`crate::Error`]; transient ones have already been retried by the backend.
    ///
    /// # Security
    /// The plaintext zeroizes on drop; keep it no longer than needed.
    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<GeneratedDataKey>;

    /// Unwraps a data key wrapped by this master key under `context`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidCiphertext`] when the ciphertext or context is wrong,
    /// [`crate::Error::WrongMasterKey`] when another master key wrapped it, and the access errors.
    ///
    /// # Security
    /// The plaintext zeroizes on drop; keep it no longer than needed.
    async fn decrypt_data_key(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
    ) -> Result<Unwrapped>;

    /// Wraps an existing plaintext data key under this master key.
    ///
    /// # Errors
    /// Any [`crate::Error`].
    async fn wrap_data_key(
        &self,
        plaintext: &DataKey,
        context: &EncryptionContext,
    ) -> Result<(WrappedDataKey, CallRecord)>;

    /// Moves a data key wrapped by `self` to `target`. The default decrypts here and wraps at the
    /// target; backends that can re-encrypt server-side (AWS → AWS) override it.
    ///
    /// # Errors
    /// Any [`crate::Error`] from either key.
    async fn rewrap_to(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
        target: &dyn MasterKey,
    ) -> Result<(WrappedDataKey, Vec<CallRecord>)> {
        let unwrapped = self.decrypt_data_key(wrapped, context).await?;
        let (rewrapped, call) = target.wrap_data_key(&unwrapped.plaintext, context).await?;
        Ok((rewrapped, vec![unwrapped.call, call]))
    }

    /// The AWS key ARN when this is an AWS KMS key (lets `rewrap_to` choose `ReEncrypt`).
    fn aws_key_arn(&self) -> Option<&str> {
        None
    }
}
