//! [`AwsKmsSigner`]: a secp256k1 signing key that never leaves AWS KMS (`kms:KEY`).

use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::operation::RequestId as _;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeyMetadata, KeySpec, KeyState, KeyUsageType, MessageType, SigningAlgorithmSpec,
};
use tracing::{Instrument as _, field, instrument};

use super::call::{pinned_call, record, resolve_key};
use super::classify::{SIGNING_KEY_SPEC, classify};
use super::client::{Connection, connect};
use super::key_ref::AwsKeyRef;
use super::retry::RetryPolicy;
use crate::signer::{SpkiProblem, public_key_from_spki};
use crate::{
    BoxedSource, CallRecord, DigestSigner, Error, KmsConfig, Result, SignerRef, der_to_rs,
    recoverable,
};

/// An asymmetric AWS KMS key (`ECC_SECG_P256K1`, `SIGN_VERIFY`) that signs 32-byte digests
/// with `Sign` (`ECDSA_SHA_256`, `MessageType=DIGEST`), every call pinned to its key ARN.
///
/// The public key is read once with `GetPublicKey` when the signer is opened; every signature
/// is checked against it (the recovery id is found by recovering it).
#[derive(Clone)]
pub struct AwsKmsSigner {
    client: Client,
    given: String,
    key_arn: String,
    region: String,
    retry: RetryPolicy,
    public_key: [u8; 65],
}

impl AwsKmsSigner {
    /// Opens the key an operator named (`init --sealing-key kms:KEY`; `key` is what follows
    /// `kms:`, in any of the four forms AWS accepts): `DescribeKey` resolves it to its key ARN
    /// and checks it is an enabled `ECC_SECG_P256K1` `SIGN_VERIFY` key, then `GetPublicKey`
    /// (pinned to the ARN) reads its public key.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] for a malformed key, [`Error::Config`] for a region conflict
    /// or a key of another spec, and the access errors of `GetPublicKey`.
    pub async fn open(key: &str, config: &KmsConfig) -> Result<Self> {
        Self::resolve(key, config, None).await
    }

    /// Opens the key a bundle recorded, pinned to its key ARN, and checks with `GetPublicKey`
    /// that KMS still holds the recorded public key (and that this principal may use it).
    ///
    /// # Errors
    /// [`Error::InvalidReference`] when the recorded key id is not a key ARN,
    /// [`Error::Config`] for a region conflict, [`Error::BadSignerAnswer`] when the key behind
    /// the ARN has another public key, and the access errors of `GetPublicKey`.
    pub async fn open_recorded(
        reference: &SignerRef,
        public_key: &[u8; 65],
        config: &KmsConfig,
    ) -> Result<Self> {
        Self::pinned(reference, public_key, config, None).await
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
        key: &str,
        config: &KmsConfig,
        credentials: Option<Credentials>,
    ) -> Result<Self> {
        let given = format!("kms:{key}");
        let key_ref = AwsKeyRef::parse(Some(key)).map_err(|e| match e {
            Error::InvalidReference { reason, .. } => Error::InvalidReference {
                given: given.clone(),
                reason,
            },
            e => e,
        })?;
        let Connection { client, region } =
            connect(config, key_ref.region(), &given, credentials).await?;
        let retry = RetryPolicy::with_deadline(config.timeout);
        // DescribeKey resolves an alias to the key ARN (GetPublicKey's KeyId is the ARN in AWS
        // but the bare key id in moto) and reports the key's state and spec.
        let (key_arn, metadata) =
            resolve_key(&client, &retry, key_ref.key_id(), &given, &region).await?;
        check_metadata(&given, &key_arn, &metadata)?;
        let output = get_public_key(&client, &retry, &key_arn, &given).await?;
        let public_key = check_public_key(&given, &key_arn, &output)?;
        Ok(Self {
            client,
            given,
            key_arn,
            region,
            retry,
            public_key,
        })
    }

    pub(crate) async fn pinned(
        reference: &SignerRef,
        public_key: &[u8; 65],
        config: &KmsConfig,
        credentials: Option<Credentials>,
    ) -> Result<Self> {
        let arn = AwsKeyRef::parse_key_arn(&reference.key_id)?;
        let Connection { client, region } =
            connect(config, Some(&arn.region), &arn.text, credentials).await?;
        let signer = Self {
            client,
            given: reference.given.clone(),
            key_arn: arn.text,
            region,
            retry: RetryPolicy::with_deadline(config.timeout),
            public_key: *public_key,
        };
        signer.check_recorded().await?;
        Ok(signer)
    }

    /// A signer over a prepared SDK client pinned to `key_arn`, its public key read with one
    /// `GetPublicKey`; no region or `DescribeKey` checks. For tests and benches with
    /// `aws-smithy-mocks`.
    ///
    /// # Errors
    /// As [`Self::open_recorded`], and [`Error::Config`] for a key of another spec.
    #[doc(hidden)]
    pub async fn from_client(
        client: Client,
        key_arn: &str,
        deadline: std::time::Duration,
    ) -> Result<Self> {
        let retry = RetryPolicy::with_deadline(Some(deadline));
        let given = format!("kms:{key_arn}");
        let output = get_public_key(&client, &retry, key_arn, &given).await?;
        let public_key = check_public_key(&given, key_arn, &output)?;
        let region = client
            .config()
            .region()
            .map(ToString::to_string)
            .unwrap_or_default();
        Ok(Self {
            client,
            given,
            key_arn: key_arn.to_owned(),
            region,
            retry,
            public_key,
        })
    }

    /// A signer opened from a bundle's record over a prepared client (unit tests).
    #[cfg(test)]
    pub(crate) async fn recorded_over(
        client: Client,
        reference: &SignerRef,
        public_key: &[u8; 65],
        deadline: std::time::Duration,
    ) -> Result<Self> {
        let signer = Self {
            client,
            given: reference.given.clone(),
            key_arn: reference.key_id.clone(),
            region: "us-east-1".to_owned(),
            retry: RetryPolicy::with_deadline(Some(deadline)),
            public_key: *public_key,
        };
        signer.check_recorded().await?;
        Ok(signer)
    }

    /// `GetPublicKey` on the pinned ARN: the key must still be the one the bundle recorded.
    #[instrument(target = "cachet::kms", name = "kms.get_public_key", skip_all, fields(key_id = %self.key_arn, latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty))]
    async fn check_recorded(&self) -> Result<CallRecord> {
        let (output, call) = pinned_call(&self.retry, &self.key_arn, "GetPublicKey", || {
            self.client.get_public_key().key_id(&self.key_arn).send()
        })
        .await?;
        let current = check_public_key(&self.given, &self.key_arn, &output)?;
        if current != self.public_key {
            return Err(Error::BadSignerAnswer {
                key: self.key_arn.clone(),
                operation: "GetPublicKey",
                source: Some(
                    "KMS holds another public key under this ARN than the bundle recorded".into(),
                ),
            });
        }
        Ok(call)
    }

    #[instrument(target = "cachet::kms", name = "kms.sign", skip_all, fields(key_id = %self.key_arn, digest = %hex::encode(digest), latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty))]
    async fn sign(&self, digest: &[u8; 32]) -> Result<([u8; 65], CallRecord)> {
        let (output, call) = pinned_call(&self.retry, &self.key_arn, "Sign", || {
            self.client
                .sign()
                .key_id(&self.key_arn)
                // DIGEST: KMS signs these 32 bytes as the SHA-256 output, without hashing again.
                .message(Blob::new(digest.to_vec()))
                .message_type(MessageType::Digest)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
        })
        .await?;
        let bad = |source: BoxedSource| Error::BadSignerAnswer {
            key: self.key_arn.clone(),
            operation: "Sign",
            source: Some(source),
        };
        if let Some(used) = output.key_id.as_deref()
            && used != self.key_arn
        {
            return Err(bad(format!("KMS signed with {used}").into()));
        }
        let der = output
            .signature
            .as_ref()
            .ok_or_else(|| bad("no signature in the answer".into()))?;
        let (r, s) = der_to_rs(der.as_ref()).map_err(|e| bad(Box::new(e)))?;
        let signature =
            recoverable(&r, &s, digest, &self.public_key).map_err(|e| bad(Box::new(e)))?;
        Ok((signature, call))
    }
}

impl std::fmt::Debug for AwsKmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsSigner")
            .field("given", &self.given)
            .field("key_arn", &self.key_arn)
            .field("region", &self.region)
            .field("public_key", &hex::encode(self.public_key))
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl DigestSigner for AwsKmsSigner {
    fn reference(&self) -> SignerRef {
        SignerRef {
            given: self.given.clone(),
            key_id: self.key_arn.clone(),
        }
    }

    fn public_key(&self) -> [u8; 65] {
        self.public_key
    }

    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<([u8; 65], CallRecord)> {
        self.sign(digest).await
    }
}

/// `GetPublicKey` by any key form (resolving at open); errors name `given`.
async fn get_public_key(
    client: &Client,
    retry: &RetryPolicy,
    key_id: &str,
    given: &str,
) -> Result<GetPublicKeyOutput> {
    let span = tracing::info_span!(target: "cachet::kms", "kms.get_public_key", key_id = %key_id, latency_ms = field::Empty, attempts = field::Empty, request_id = field::Empty);
    let done = retry
        .run("GetPublicKey", given, || {
            let call = client.get_public_key().key_id(key_id).send();
            async move { call.await.map_err(|e| classify("GetPublicKey", given, e)) }
        })
        .instrument(span.clone())
        .await?;
    record(&span, done.latency, done.attempts, done.value.request_id());
    Ok(done.value)
}

/// An enabled secp256k1 signing key, from its `DescribeKey` metadata.
fn check_metadata(given: &str, key_arn: &str, metadata: &KeyMetadata) -> Result<()> {
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
    let wrong_kind = |what: &str| Error::Config {
        key: given.to_owned(),
        reason: format!("{key_arn} is a {what} key: {SIGNING_KEY_SPEC}"),
    };
    if let Some(spec) = metadata.key_spec()
        && *spec != KeySpec::EccSecgP256K1
    {
        return Err(wrong_kind(spec.as_str()));
    }
    if let Some(usage) = metadata.key_usage()
        && *usage != KeyUsageType::SignVerify
    {
        return Err(wrong_kind(usage.as_str()));
    }
    Ok(())
}

/// The 65-byte point of a `GetPublicKey` answer, after checking the key is a secp256k1
/// signing key that allows `ECDSA_SHA_256`.
fn check_public_key(given: &str, key_arn: &str, output: &GetPublicKeyOutput) -> Result<[u8; 65]> {
    let wrong_kind = |what: String| Error::Config {
        key: given.to_owned(),
        reason: format!("{key_arn} is {what}: {SIGNING_KEY_SPEC}"),
    };
    if let Some(spec) = output.key_spec()
        && *spec != KeySpec::EccSecgP256K1
    {
        return Err(wrong_kind(format!("a {} key", spec.as_str())));
    }
    if let Some(usage) = output.key_usage()
        && *usage != KeyUsageType::SignVerify
    {
        return Err(wrong_kind(format!("a {} key", usage.as_str())));
    }
    let algorithms = output.signing_algorithms();
    if !algorithms.is_empty() && !algorithms.contains(&SigningAlgorithmSpec::EcdsaSha256) {
        return Err(wrong_kind(
            "a key that does not allow ECDSA_SHA_256".to_owned(),
        ));
    }
    let der = output.public_key.as_ref().ok_or(Error::BadSignerAnswer {
        key: key_arn.to_owned(),
        operation: "GetPublicKey",
        source: Some("no public key in the answer".into()),
    })?;
    public_key_from_spki(der.as_ref()).map_err(|problem| match problem {
        SpkiProblem::OtherKind(what) => wrong_kind(what),
        SpkiProblem::Malformed(why) => Error::BadSignerAnswer {
            key: key_arn.to_owned(),
            operation: "GetPublicKey",
            source: Some(why.into()),
        },
    })
}
