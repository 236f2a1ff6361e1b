//! Error paths the emulator cannot produce, through the real SDK client with `aws-smithy-mocks`:
//! the modeled exceptions, throttling then success, 5xx until the deadline, and an HTTP 403
//! whose body the JSON protocol cannot parse (moto's IAM answer).

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptOutput};
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError;
use aws_sdk_kms::operation::re_encrypt::ReEncryptError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::error::{
    DisabledException, IncorrectKeyException, InvalidCiphertextException, KmsInvalidStateException,
    NotFoundException,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use super::AwsKmsKey;
use crate::{EncryptionContext, Error, ErrorClass, MasterKey, WrappedDataKey};

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_ARN: &str =
    "arn:aws:kms:us-east-1:123456789012:key/0000abcd-12ab-34cd-56ef-1234567890ab";

fn key(rules: &[&Rule], deadline: Duration) -> AwsKmsKey {
    // As in production (client.rs), the SDK does not retry: every attempt is ours.
    let client: Client = mock_client!(
        aws_sdk_kms,
        RuleMode::Sequential,
        rules.iter().copied(),
        |c| c.retry_config(RetryConfig::disabled())
    );
    AwsKmsKey::from_client(client, ARN, deadline)
}

fn ctx() -> EncryptionContext {
    EncryptionContext::new()
        .with("cachet:purpose", "key-bundle")
        .with("cachet:node", "0x00000000000000000000000000000000000000aa")
        .with("cachet:chain", "1337")
}

fn wrapped() -> WrappedDataKey {
    WrappedDataKey::from_bytes(vec![1; 184])
}

fn decrypted() -> DecryptOutput {
    DecryptOutput::builder()
        .key_id(ARN)
        .plaintext(Blob::new(vec![7u8; 32]))
        .build()
}

async fn decrypt_fails_with(error: fn() -> DecryptError) -> (Error, usize) {
    let rule = mock!(Client::decrypt).then_error(error);
    let err = key(&[&rule], Duration::from_secs(30))
        .decrypt_data_key(&wrapped(), &ctx())
        .await
        .unwrap_err();
    (err, rule.num_calls())
}

#[tokio::test(start_paused = true)]
async fn rejects_a_disabled_key_without_retrying() {
    let (err, calls) = decrypt_fails_with(|| {
        DecryptError::DisabledException(DisabledException::builder().build())
    })
    .await;
    assert!(
        matches!(&err, Error::KeyDisabled { key, .. } if key == ARN),
        "{err}"
    );
    assert_eq!((err.class(), calls), (ErrorClass::Denied, 1));
}

#[tokio::test(start_paused = true)]
async fn rejects_a_key_pending_deletion_without_retrying() {
    let (err, calls) = decrypt_fails_with(|| {
        DecryptError::KmsInvalidStateException(KmsInvalidStateException::builder().build())
    })
    .await;
    assert!(matches!(err, Error::KeyPendingDeletion { .. }), "{err}");
    assert_eq!((err.class(), calls), (ErrorClass::Denied, 1));
}

#[tokio::test(start_paused = true)]
async fn rejects_an_incorrect_key_without_retrying() {
    let (err, calls) = decrypt_fails_with(|| {
        DecryptError::IncorrectKeyException(IncorrectKeyException::builder().build())
    })
    .await;
    assert!(matches!(err, Error::WrongMasterKey { .. }), "{err}");
    assert_eq!((err.class(), calls), (ErrorClass::Denied, 1));
}

#[tokio::test(start_paused = true)]
async fn rejects_an_invalid_ciphertext_as_a_ciphertext_error() {
    let (err, calls) = decrypt_fails_with(|| {
        DecryptError::InvalidCiphertextException(InvalidCiphertextException::builder().build())
    })
    .await;
    assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
    assert_eq!((err.class(), calls), (ErrorClass::Corrupt, 1));
}

#[tokio::test(start_paused = true)]
async fn rejects_a_missing_key_without_retrying() {
    let (err, calls) = decrypt_fails_with(|| {
        DecryptError::NotFoundException(NotFoundException::builder().build())
    })
    .await;
    assert!(matches!(err, Error::KeyNotFound { .. }), "{err}");
    assert_eq!(calls, 1);
}

#[tokio::test(start_paused = true)]
async fn rejects_a_disabled_key_at_generate_data_key() {
    let rule = mock!(Client::generate_data_key).then_error(|| {
        GenerateDataKeyError::DisabledException(DisabledException::builder().build())
    });
    let err = key(&[&rule], Duration::from_secs(30))
        .generate_data_key(&ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyDisabled { .. }), "{err}");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn rejects_an_incorrect_source_key_at_re_encrypt() {
    let rule = mock!(Client::re_encrypt).then_error(|| {
        ReEncryptError::IncorrectKeyException(IncorrectKeyException::builder().build())
    });
    let source = key(&[&rule], Duration::from_secs(30));
    let target = AwsKmsKey::from_client(source.client.clone(), OTHER_ARN, Duration::from_secs(1));
    let err = source
        .rewrap_to(&wrapped(), &ctx(), &target)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongMasterKey { .. }), "{err}");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn rejects_an_unparsed_http_403_as_access_denied() {
    // moto's IAM layer answers XML, which the JSON protocol cannot parse (test-peers.md).
    let body = "<ErrorResponse><Error><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/node is not authorized to perform: kms:Decrypt</Message></Error></ErrorResponse>";
    let rule = mock!(Client::decrypt)
        .sequence()
        .http_status(403, Some(body.into()))
        .build();
    let err = key(&[&rule], Duration::from_secs(30))
        .decrypt_data_key(&wrapped(), &ctx())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AccessDenied {
                operation: "Decrypt",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "Decrypt denied for master key {ARN}: the node's principal may no longer be allowed kms:Decrypt on it; check the IAM policy, key policy and grants"
        )
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn retries_throttling_then_succeeds() {
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let rule = mock!(Client::decrypt)
        .sequence()
        .http_status(400, Some(throttled.into()))
        .http_status(429, None)
        .output(decrypted)
        .build();
    let out = key(&[&rule], Duration::from_secs(30))
        .decrypt_data_key(&wrapped(), &ctx())
        .await
        .unwrap();
    assert_eq!(out.plaintext.expose_secret(), &[7u8; 32]);
    assert_eq!((out.call.attempts, rule.num_calls()), (3, 3));
    assert_eq!(out.call.operation, "Decrypt");
    assert_eq!(out.call.key_id, ARN);
}

#[tokio::test(start_paused = true)]
async fn gives_up_on_5xx_at_the_deadline() {
    let rule = mock!(Client::decrypt)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let started = tokio::time::Instant::now();
    let err = key(&[&rule], Duration::from_secs(20))
        .decrypt_data_key(&wrapped(), &ctx())
        .await
        .unwrap_err();
    let Error::DeadlineExceeded {
        attempts,
        seconds: 20,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(*attempts > 3, "{attempts}");
    assert_eq!(*attempts as usize, rule.num_calls());
    assert!(started.elapsed() <= Duration::from_secs(20));
    assert_eq!(err.class(), ErrorClass::Unreachable);
}

#[tokio::test(start_paused = true)]
async fn rejects_a_data_key_of_the_wrong_length() {
    let rule = mock!(Client::decrypt).then_output(|| {
        DecryptOutput::builder()
            .key_id(ARN)
            .plaintext(Blob::new(vec![7u8; 16]))
            .build()
    });
    let err = key(&[&rule], Duration::from_secs(30))
        .decrypt_data_key(&wrapped(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
}
