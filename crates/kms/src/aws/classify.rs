//! Turning an AWS SDK error into a [`crate::Error`], once, where the answer arrives.
//!
//! Definitive (never retried): access denied (any HTTP 401/403, including moto's IAM layer,
//! whose XML `AccessDenied` the JSON protocol cannot parse), disabled, invalid state (pending
//! deletion), not found, incorrect key, invalid ciphertext, and any other 4xx. Transient:
//! throttling (HTTP 429 and the throttling codes), 5xx, KMS's internal/dependency-timeout/
//! key-unavailable errors, timeouts and connection failures.

use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId as _;
use aws_sdk_kms::operation::decrypt::DecryptError;
use aws_sdk_kms::operation::describe_key::DescribeKeyError;
use aws_sdk_kms::operation::encrypt::EncryptError;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyError;
use aws_sdk_kms::operation::re_encrypt::ReEncryptError;
use aws_sdk_kms::operation::sign::SignError;

use crate::{BoxedSource, Error};

/// The raw HTTP response type the SDK attaches to errors.
type HttpResponse = aws_sdk_kms::config::http::HttpResponse;

/// What a modeled KMS error means for us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Modeled {
    Disabled,
    InvalidState,
    NotFound,
    IncorrectKey,
    InvalidCiphertext,
    InvalidKeyUsage,
    /// KMS-side trouble worth retrying (internal, dependency timeout, key unavailable).
    Transient,
    /// Not modeled for this operation (`Unhandled`): decided from the code and HTTP status.
    Other,
}

/// Maps an operation's modeled error variants to [`Modeled`].
pub(crate) trait ModeledError:
    ProvideErrorMetadata + std::error::Error + Send + Sync + 'static
{
    /// What this error means.
    fn modeled(&self) -> Modeled;
}

impl ModeledError for DecryptError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::DisabledException(_) => Modeled::Disabled,
            Self::KmsInvalidStateException(_) => Modeled::InvalidState,
            Self::NotFoundException(_) => Modeled::NotFound,
            Self::IncorrectKeyException(_) => Modeled::IncorrectKey,
            Self::InvalidCiphertextException(_) => Modeled::InvalidCiphertext,
            Self::InvalidKeyUsageException(_) => Modeled::InvalidKeyUsage,
            Self::DependencyTimeoutException(_)
            | Self::KeyUnavailableException(_)
            | Self::KmsInternalException(_) => Modeled::Transient,
            _ => Modeled::Other,
        }
    }
}

impl ModeledError for GenerateDataKeyError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::DisabledException(_) => Modeled::Disabled,
            Self::KmsInvalidStateException(_) => Modeled::InvalidState,
            Self::NotFoundException(_) => Modeled::NotFound,
            Self::InvalidKeyUsageException(_) => Modeled::InvalidKeyUsage,
            Self::DependencyTimeoutException(_)
            | Self::KeyUnavailableException(_)
            | Self::KmsInternalException(_) => Modeled::Transient,
            _ => Modeled::Other,
        }
    }
}

impl ModeledError for EncryptError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::DisabledException(_) => Modeled::Disabled,
            Self::KmsInvalidStateException(_) => Modeled::InvalidState,
            Self::NotFoundException(_) => Modeled::NotFound,
            Self::InvalidKeyUsageException(_) => Modeled::InvalidKeyUsage,
            Self::DependencyTimeoutException(_)
            | Self::KeyUnavailableException(_)
            | Self::KmsInternalException(_) => Modeled::Transient,
            _ => Modeled::Other,
        }
    }
}

impl ModeledError for ReEncryptError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::DisabledException(_) => Modeled::Disabled,
            Self::KmsInvalidStateException(_) => Modeled::InvalidState,
            Self::NotFoundException(_) => Modeled::NotFound,
            Self::IncorrectKeyException(_) => Modeled::IncorrectKey,
            Self::InvalidCiphertextException(_) => Modeled::InvalidCiphertext,
            Self::InvalidKeyUsageException(_) => Modeled::InvalidKeyUsage,
            Self::DependencyTimeoutException(_)
            | Self::KeyUnavailableException(_)
            | Self::KmsInternalException(_) => Modeled::Transient,
            _ => Modeled::Other,
        }
    }
}

impl ModeledError for SignError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::DisabledException(_) => Modeled::Disabled,
            Self::KmsInvalidStateException(_) => Modeled::InvalidState,
            Self::NotFoundException(_) => Modeled::NotFound,
            Self::InvalidKeyUsageException(_) => Modeled::InvalidKeyUsage,
            Self::DependencyTimeoutException(_)
            | Self::KeyUnavailableException(_)
            | Self::KmsInternalException(_) => Modeled::Transient,
            _ => Modeled::Other,
        }
    }
}

impl ModeledError for GetPublicKeyError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::DisabledException(_) => Modeled::Disabled,
            Self::KmsInvalidStateException(_) => Modeled::InvalidState,
            Self::NotFoundException(_) | Self::InvalidArnException(_) => Modeled::NotFound,
            // A symmetric key has no public key.
            Self::InvalidKeyUsageException(_) | Self::UnsupportedOperationException(_) => {
                Modeled::InvalidKeyUsage
            }
            Self::DependencyTimeoutException(_)
            | Self::KeyUnavailableException(_)
            | Self::KmsInternalException(_) => Modeled::Transient,
            _ => Modeled::Other,
        }
    }
}

impl ModeledError for DescribeKeyError {
    fn modeled(&self) -> Modeled {
        match self {
            Self::NotFoundException(_) | Self::InvalidArnException(_) => Modeled::NotFound,
            Self::DependencyTimeoutException(_) | Self::KmsInternalException(_) => {
                Modeled::Transient
            }
            _ => Modeled::Other,
        }
    }
}

/// What a signing key must be, for the operator.
pub(crate) const SIGNING_KEY_SPEC: &str = "the key is not an asymmetric ECC_SECG_P256K1 SIGN_VERIFY key; create one with aws kms create-key --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY";

/// Error codes that mean "these credentials may not do this" (HTTP 400 or 403 in real KMS).
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "ExpiredTokenException",
    "MissingAuthenticationToken",
];

/// Error codes that mean "slow down".
const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
];

/// Classifies one failed call. `key` is what the error names (the key ARN, or the reference
/// being resolved).
pub(crate) fn classify<E: ModeledError>(
    operation: &'static str,
    key: &str,
    err: SdkError<E, HttpResponse>,
) -> Error {
    let status = err.raw_response().map(|r| r.status().as_u16());
    let kind = match &err {
        SdkError::ServiceError(ctx) => match ctx.err().modeled() {
            Modeled::Other => by_code_and_status(err.code(), status),
            modeled => modeled.into(),
        },
        SdkError::ResponseError(_) => by_code_and_status(None, status),
        SdkError::TimeoutError(_) => Kind::Transient,
        SdkError::DispatchFailure(failure) => {
            if failure.is_io() || failure.is_timeout() {
                Kind::Transient
            } else if failure.is_user() || lacks_credentials(&err) {
                Kind::Config
            } else {
                Kind::Transient
            }
        }
        SdkError::ConstructionFailure(_) => Kind::Config,
        _ => Kind::Transient,
    };
    let answer = Answer::from_sdk(operation, status, err);
    let key = key.to_owned();
    let source: Option<BoxedSource> = Some(Box::new(answer));
    match kind {
        Kind::Denied => Error::AccessDenied { key, operation, source },
        Kind::Disabled => Error::KeyDisabled { key, source },
        Kind::InvalidState => Error::KeyPendingDeletion { key, source },
        Kind::NotFound => Error::KeyNotFound { key, source },
        Kind::IncorrectKey => Error::WrongMasterKey { key },
        Kind::InvalidCiphertext => Error::InvalidCiphertext { key, source },
        Kind::Throttled => Error::Throttled { key, operation, source },
        Kind::Transient => Error::Unavailable { key, operation, source },
        Kind::Rejected => Error::Rejected { key, operation, source },
        Kind::InvalidKeyUsage if matches!(operation, "Sign" | "GetPublicKey") => Error::Config {
            key,
            reason: SIGNING_KEY_SPEC.to_owned(),
        },
        Kind::InvalidKeyUsage => Error::Config {
            key,
            reason: "the key is not a symmetric ENCRYPT_DECRYPT key; create one with --key-spec SYMMETRIC_DEFAULT --key-usage ENCRYPT_DECRYPT".to_owned(),
        },
        Kind::Config => Error::RequestNotSent { key, operation, source },
    }
}

/// The request id of a failed call, if the backend answered (walks the source chain).
pub(crate) fn request_id_of<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a str> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(answer) = e.downcast_ref::<Answer>() {
            return answer.request_id.as_deref();
        }
        next = e.source();
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Denied,
    Disabled,
    InvalidState,
    NotFound,
    IncorrectKey,
    InvalidCiphertext,
    InvalidKeyUsage,
    Throttled,
    Transient,
    Rejected,
    Config,
}

impl From<Modeled> for Kind {
    fn from(m: Modeled) -> Self {
        match m {
            Modeled::Disabled => Self::Disabled,
            Modeled::InvalidState => Self::InvalidState,
            Modeled::NotFound => Self::NotFound,
            Modeled::IncorrectKey => Self::IncorrectKey,
            Modeled::InvalidCiphertext => Self::InvalidCiphertext,
            Modeled::InvalidKeyUsage => Self::InvalidKeyUsage,
            Modeled::Transient | Modeled::Other => Self::Transient,
        }
    }
}

fn by_code_and_status(code: Option<&str>, status: Option<u16>) -> Kind {
    if matches!(status, Some(401 | 403)) || code.is_some_and(|c| DENIED_CODES.contains(&c)) {
        return Kind::Denied;
    }
    if status == Some(429) || code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        return Kind::Throttled;
    }
    match status {
        Some(400..=499) => Kind::Rejected,
        _ => Kind::Transient,
    }
}

/// True when the credential chain found no credentials at all (not a provider hiccup).
fn lacks_credentials<E: ModeledError>(err: &SdkError<E, HttpResponse>) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(creds) = e.downcast_ref::<CredentialsError>() {
            return matches!(
                creds,
                CredentialsError::CredentialsNotLoaded(_)
                    | CredentialsError::InvalidConfiguration(_)
            );
        }
        next = e.source();
    }
    false
}

/// What KMS answered (or why it could not): the source of every AWS [`Error`].
#[derive(Debug)]
pub(crate) struct Answer {
    operation: &'static str,
    request_id: Option<String>,
    status: Option<u16>,
    code: Option<String>,
    message: Option<String>,
    /// For failures without an answer: the SDK's own description.
    detail: Option<String>,
}

impl Answer {
    fn from_sdk<E: ModeledError>(
        operation: &'static str,
        status: Option<u16>,
        err: SdkError<E, HttpResponse>,
    ) -> Self {
        let answered = matches!(err, SdkError::ServiceError(_) | SdkError::ResponseError(_));
        Self {
            operation,
            request_id: err.request_id().map(str::to_owned),
            status,
            code: err.code().map(str::to_owned),
            message: err.message().map(str::to_owned),
            detail: (!answered).then(|| DisplayErrorContext(&err).to_string()),
        }
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(detail) = &self.detail {
            return write!(f, "kms {} got no answer: {detail}", self.operation);
        }
        write!(
            f,
            "kms {} answered {}",
            self.operation,
            self.code.as_deref().unwrap_or("an unparsed error")
        )?;
        if let Some(message) = &self.message {
            write!(f, " ({message})")?;
        }
        if let Some(status) = self.status {
            write!(f, ", HTTP {status}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, ", request id {id}")?;
        }
        Ok(())
    }
}

/// The end of the chain an operator reads: its Display summarises the SDK error (and, for
/// failures without an answer, the SDK's whole chain), so the SDK error is not kept as a source
/// that the printed chain would repeat.
impl std::error::Error for Answer {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_401_or_403_is_definitive() {
        for status in [401, 403] {
            assert_eq!(by_code_and_status(None, Some(status)), Kind::Denied);
            assert_eq!(
                by_code_and_status(Some("Whatever"), Some(status)),
                Kind::Denied
            );
        }
        assert_eq!(
            by_code_and_status(Some("AccessDeniedException"), Some(400)),
            Kind::Denied
        );
    }

    #[test]
    fn throttling_and_5xx_are_transient_other_4xx_are_not() {
        assert_eq!(by_code_and_status(None, Some(429)), Kind::Throttled);
        assert_eq!(
            by_code_and_status(Some("ThrottlingException"), Some(400)),
            Kind::Throttled
        );
        assert_eq!(by_code_and_status(None, Some(500)), Kind::Transient);
        assert_eq!(by_code_and_status(None, Some(503)), Kind::Transient);
        assert_eq!(by_code_and_status(None, None), Kind::Transient);
        assert_eq!(
            by_code_and_status(Some("ValidationException"), Some(400)),
            Kind::Rejected
        );
    }
}
