//! [`AwsKmsKey`]: the `aws-kms:KEY` master key.

use std::collections::HashMap;
use std::future::Future;

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec, KeySpec, KeyState, KeyUsageType};
use tracing::{field, instrument};
use zeroize::Zeroizing;

use super::call::{HttpResponse, pinned_call, resolve_key};
use super::classify::ModeledError;
use super::client::{Connection, connect};
use super::key_ref::AwsKeyRef;
use super::retry::RetryPolicy;
use crate::{
    CallRecord, DataKey, EncryptionContext, Error, GeneratedDataKey, KmsConfig, MasterKey,
    MasterKeyRef, Result, Unwrapped, WrappedDataKey,
};

/// An AWS KMS symmetric key (`aws-kms:KEY`), every call pinned to its key ARN.
///
/// ```no_run
/// # async fn demo() -> cachet_kms::Result<()> {
/// use cachet_kms::{AwsKmsKey, EncryptionContext, KmsConfig, MasterKey as _};
///
/// let config = KmsConfig { region: Some("us-east-2".into()), ..KmsConfig::default() };
/// let key = AwsKmsKey::open_for_init(Some("alias/cachet"), &config).await?;
/// let context = EncryptionContext::new().with("cachet:purpose", "key-bundle");
/// let generated = key.generate_data_key(&context).await?;
/// let again = key.decrypt_data_key(&generated.wrapped, &context).await?;
/// assert_eq!(again.plaintext.expose_secret(), generated.plaintext.expose_secret());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AwsKmsKey {
    pub(crate) client: Client,
    given: String,
    key_arn: String,
    region: String,
    retry: RetryPolicy,
}

impl AwsKmsKey {
    /// Opens the key an operator named (`init`, or a `rotate` target): validates the form,
    /// resolves it with `DescribeKey`, and checks it is an enabled symmetric
    /// `ENCRYPT_DECRYPT` key. `None` means the alias `alias/cachet`.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] for a malformed key, [`Error::Config`] for a region conflict
    /// or an unsuitable key, and the access errors of `DescribeKey`.
    pub async fn open_for_init(key: Option<&str>, config: &KmsConfig) -> Result<Self> {
        Self::resolve(key, config, None).await
    }

    /// Opens the key a bundle recorded, pinned to its key ARN; makes no call.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] when the recorded key id is not a key ARN,
    /// [`Error::Config`] when it conflicts with the configured region.
    pub async fn open_recorded(reference: &MasterKeyRef, config: &KmsConfig) -> Result<Self> {
        Self::pinned(reference, config, None).await
    }

    /// The key ARN every call names.
    pub fn key_arn(&self) -> &str {
        &self.key_arn
    }

    /// The region of the client.
    pub fn region(&self) -> &str {
        &self.region
    }

    pub(crate) async fn resolve(
        key: Option<&str>,
        config: &KmsConfig,
        credentials: Option<Credentials>,
    ) -> Result<Self> {
        let key_ref = AwsKeyRef::parse(key)?;
        let given = format!("aws-kms:{}", key_ref.key_id());
        let Connection { client, region } =
            connect(config, key_ref.region(), &given, credentials).await?;
        let retry = RetryPolicy::with_deadline(config.timeout);
        let key_id = key_ref.key_id().to_owned();
        let (key_arn, metadata) = resolve_key(&client, &retry, &key_id, &given, &region).await?;
        check_usable(&given, &key_arn, &metadata)?;
        Ok(Self {
            client,
            given,
            key_arn,
            region,
            retry,
        })
    }

    pub(crate) async fn pinned(
        reference: &MasterKeyRef,
        config: &KmsConfig,
        credentials: Option<Credentials>,
    ) -> Result<Self> {
        let arn = AwsKeyRef::parse_key_arn(&reference.key_id)?;
        let Connection { client, region } =
            connect(config, Some(&arn.region), &arn.text, credentials).await?;
        Ok(Self {
            client,
            given: reference.given.clone(),
            key_arn: arn.text,
            region,
            retry: RetryPolicy::with_deadline(config.timeout),
        })
    }

    /// A key over a prepared client (unit tests with `aws-smithy-mocks`).
    #[cfg(test)]
    pub(crate) fn from_client(
        client: Client,
        key_arn: &str,
        deadline: std::time::Duration,
    ) -> Self {
        Self {
            client,
            given: format!("aws-kms:{key_arn}"),
            key_arn: key_arn.to_owned(),
            region: "us-east-1".to_owned(),
            retry: RetryPolicy::with_deadline(Some(deadline)),
        }
    }

    /// Runs one KMS operation pinned to the key ARN (see [`pinned_call`]).
    async fn call<T, E, F, Fut>(&self, operation: &'static str, send: F) -> Result<(T, CallRecord)>
    where
        T: RequestId,
        E: ModeledError,
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
    {
        pinned_call(&self.retry, &self.key_arn, operation, send).await
    }

    #[instrument(target = "cachet::kms", name = "kms.generate_data_key", skip_all, fields(key_id = %self.key_arn, context = %context.digest_hex(), latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty))]
    async fn generate(&self, context: &EncryptionContext) -> Result<GeneratedDataKey> {
        let pairs = pairs(context);
        let (mut output, call) = self
            .call("GenerateDataKey", || {
                self.client
                    .generate_data_key()
                    .key_id(&self.key_arn)
                    .key_spec(DataKeySpec::Aes256)
                    .set_encryption_context(Some(pairs.clone()))
                    .send()
            })
            .await?;
        let plaintext = data_key(output.plaintext.take(), &self.key_arn)?;
        let wrapped = output.ciphertext_blob.take().ok_or(Error::Internal(
            "GenerateDataKey answered without a ciphertext",
        ))?;
        Ok(GeneratedDataKey {
            plaintext,
            wrapped: WrappedDataKey::from_bytes(wrapped.into_inner()),
            call,
        })
    }

    #[instrument(target = "cachet::kms", name = "kms.decrypt", skip_all, fields(key_id = %self.key_arn, context = %context.digest_hex(), latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty))]
    async fn decrypt(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        let pairs = pairs(context);
        let (mut output, call) = self
            .call("Decrypt", || {
                self.client
                    .decrypt()
                    .key_id(&self.key_arn)
                    .ciphertext_blob(Blob::new(wrapped.as_bytes()))
                    .set_encryption_context(Some(pairs.clone()))
                    .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault)
                    .send()
            })
            .await?;
        if output
            .key_id
            .as_deref()
            .is_some_and(|used| used != self.key_arn)
        {
            return Err(Error::WrongMasterKey {
                key: self.key_arn.clone(),
            });
        }
        let plaintext = data_key(output.plaintext.take(), &self.key_arn)?;
        Ok(Unwrapped { plaintext, call })
    }

    /// # Security
    /// The SDK's request body holds a copy of the plaintext that it frees without zeroizing.
    #[instrument(target = "cachet::kms", name = "kms.encrypt", skip_all, fields(key_id = %self.key_arn, context = %context.digest_hex(), latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty))]
    async fn encrypt(
        &self,
        plaintext: &DataKey,
        context: &EncryptionContext,
    ) -> Result<(WrappedDataKey, CallRecord)> {
        let pairs = pairs(context);
        let (output, call) = self
            .call("Encrypt", || {
                self.client
                    .encrypt()
                    .key_id(&self.key_arn)
                    // Why: KMS needs the plaintext to wrap it; this is the one call that sends it.
                    .plaintext(Blob::new(plaintext.expose_secret().to_vec()))
                    .set_encryption_context(Some(pairs.clone()))
                    .send()
            })
            .await?;
        let blob = output
            .ciphertext_blob
            .ok_or(Error::Internal("Encrypt answered without a ciphertext"))?;
        Ok((WrappedDataKey::from_bytes(blob.into_inner()), call))
    }

    #[instrument(target = "cachet::kms", name = "kms.re_encrypt", skip_all, fields(key_id = %self.key_arn, destination, context = %context.digest_hex(), latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty))]
    async fn re_encrypt(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
        destination: &str,
    ) -> Result<(WrappedDataKey, Vec<CallRecord>)> {
        let pairs = pairs(context);
        let (output, call) = self
            .call("ReEncrypt", || {
                self.client
                    .re_encrypt()
                    .ciphertext_blob(Blob::new(wrapped.as_bytes()))
                    .source_key_id(&self.key_arn)
                    .set_source_encryption_context(Some(pairs.clone()))
                    .destination_key_id(destination)
                    .set_destination_encryption_context(Some(pairs.clone()))
                    .send()
            })
            .await?;
        let blob = output
            .ciphertext_blob
            .ok_or(Error::Internal("ReEncrypt answered without a ciphertext"))?;
        Ok((WrappedDataKey::from_bytes(blob.into_inner()), vec![call]))
    }
}

impl std::fmt::Debug for AwsKmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsKey")
            .field("given", &self.given)
            .field("key_arn", &self.key_arn)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MasterKey for AwsKmsKey {
    fn reference(&self) -> MasterKeyRef {
        MasterKeyRef {
            given: self.given.clone(),
            key_id: self.key_arn.clone(),
        }
    }

    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<GeneratedDataKey> {
        self.generate(context).await
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        self.decrypt(wrapped, context).await
    }

    /// # Security
    /// The SDK's request body holds a copy of the plaintext that it frees without zeroizing.
    async fn wrap_data_key(
        &self,
        plaintext: &DataKey,
        context: &EncryptionContext,
    ) -> Result<(WrappedDataKey, CallRecord)> {
        self.encrypt(plaintext, context).await
    }

    async fn rewrap_to(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
        target: &dyn MasterKey,
    ) -> Result<(WrappedDataKey, Vec<CallRecord>)> {
        // ReEncrypt keeps the plaintext data key inside KMS; it works within one region.
        if let Some(destination) = target.aws_key_arn() {
            let same_region =
                AwsKeyRef::parse_key_arn(destination).is_ok_and(|arn| arn.region == self.region);
            if same_region {
                return self.re_encrypt(wrapped, context, destination).await;
            }
        }
        let unwrapped = self.decrypt_data_key(wrapped, context).await?;
        let (rewrapped, call) = target.wrap_data_key(&unwrapped.plaintext, context).await?;
        Ok((rewrapped, vec![unwrapped.call, call]))
    }

    fn aws_key_arn(&self) -> Option<&str> {
        Some(&self.key_arn)
    }
}

fn pairs(context: &EncryptionContext) -> HashMap<String, String> {
    context
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Takes KMS's plaintext into a zeroizing 32-byte key.
fn data_key(blob: Option<Blob>, key_arn: &str) -> Result<DataKey> {
    let bytes = Zeroizing::new(blob.map(Blob::into_inner).unwrap_or_default());
    let array: &[u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::InvalidCiphertext {
            key: key_arn.to_owned(),
            source: Some(
                format!("kms returned a {}-byte data key, expected 32", bytes.len()).into(),
            ),
        })?;
    Ok(DataKey::from_bytes(Zeroizing::new(*array)))
}

fn check_usable(
    given: &str,
    key_arn: &str,
    metadata: &aws_sdk_kms::types::KeyMetadata,
) -> Result<()> {
    match metadata.key_state() {
        Some(KeyState::Enabled) | None => {}
        Some(KeyState::Disabled) => {
            return Err(Error::KeyDisabled {
                key: key_arn.to_owned(),
                source: None,
            });
        }
        Some(_) => {
            return Err(Error::KeyPendingDeletion {
                key: key_arn.to_owned(),
                source: None,
            });
        }
    }
    let symmetric = metadata
        .key_spec()
        .is_none_or(|s| *s == KeySpec::SymmetricDefault);
    let encrypt = metadata
        .key_usage()
        .is_none_or(|u| *u == KeyUsageType::EncryptDecrypt);
    if !(symmetric && encrypt) {
        return Err(Error::Config {
            key: given.to_owned(),
            reason: format!(
                "{key_arn} is not a symmetric ENCRYPT_DECRYPT key; create one with --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT"
            ),
        });
    }
    Ok(())
}
