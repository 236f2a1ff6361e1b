//! One KMS call pinned to a key ARN: retried under the policy, classified once, recorded on
//! the current span and in a [`CallRecord`]. Shared by the master key and the signing key.

use std::future::Future;
use std::time::Duration;

use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::RequestId;

use super::classify::{ModeledError, classify};
use super::retry::RetryPolicy;
use crate::{CallRecord, Result};

pub(super) type HttpResponse = aws_sdk_kms::config::http::HttpResponse;

/// Runs one KMS operation under `retry`, classifying failures against `key_arn`; records
/// latency, attempts and request id on the current (instrumented) span.
pub(super) async fn pinned_call<T, E, F, Fut>(
    retry: &RetryPolicy,
    key_arn: &str,
    operation: &'static str,
    mut send: F,
) -> Result<(T, CallRecord)>
where
    T: RequestId,
    E: ModeledError,
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
{
    let outcome = retry
        .run(operation, key_arn, || {
            let call = send();
            async move { call.await.map_err(|e| classify(operation, key_arn, e)) }
        })
        .await;
    let done = match outcome {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!(target: "cachet::kms", operation, error = err.code(), request_id = err.request_id(), "kms call failed");
            return Err(err);
        }
    };
    let request_id = done.value.request_id().map(str::to_owned);
    record(
        &tracing::Span::current(),
        done.latency,
        done.attempts,
        request_id.as_deref(),
    );
    let call = CallRecord {
        operation,
        key_id: key_arn.to_owned(),
        request_id,
        latency: done.latency,
        attempts: done.attempts,
    };
    Ok((done.value, call))
}

pub(super) fn record(
    span: &tracing::Span,
    latency: Duration,
    attempts: u32,
    request_id: Option<&str>,
) {
    span.record("latency_ms", latency.as_millis() as u64);
    span.record("attempts", attempts);
    if let Some(id) = request_id {
        span.record("request_id", id);
    }
}

/// `DescribeKey` for what the operator named (alias, key id or ARN): the key ARN every later
/// call pins to, and the key's metadata for the caller's own checks (state, spec, usage).
/// Refuses a key that resolves outside the configured `region`.
pub(super) async fn resolve_key(
    client: &aws_sdk_kms::Client,
    retry: &RetryPolicy,
    key_id: &str,
    given: &str,
    region: &str,
) -> Result<(String, aws_sdk_kms::types::KeyMetadata)> {
    use tracing::Instrument as _;
    let span = tracing::info_span!(target: "cachet::kms", "kms.describe_key", key_id = %key_id, latency_ms = tracing::field::Empty, attempts = tracing::field::Empty, request_id = tracing::field::Empty);
    let done = retry
        .run("DescribeKey", given, || {
            let call = client.describe_key().key_id(key_id).send();
            async move { call.await.map_err(|e| classify("DescribeKey", given, e)) }
        })
        .instrument(span.clone())
        .await?;
    record(&span, done.latency, done.attempts, done.value.request_id());
    let metadata = done.value.key_metadata.ok_or(crate::Error::Internal(
        "DescribeKey answered without key metadata",
    ))?;
    let key_arn = metadata.arn.clone().ok_or(crate::Error::Internal(
        "DescribeKey answered without a key ARN",
    ))?;
    let arn = super::key_ref::AwsKeyRef::parse_key_arn(&key_arn)?;
    if arn.region != region {
        return Err(crate::Error::Config {
            key: given.to_owned(),
            reason: format!("it resolved to {key_arn}, outside the configured region {region}"),
        });
    }
    Ok((key_arn, metadata))
}
