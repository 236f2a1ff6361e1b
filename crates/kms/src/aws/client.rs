//! Building the KMS client: the trimmed HTTP stack, the standard credential chain, the region
//! rules and our own retry policy in place of the SDK's.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_kms::Client;
use aws_sdk_kms::config::{Credentials, Region, SharedHttpClient};
use aws_smithy_http_client::{Builder, tls};

use crate::{Error, KmsConfig, Result};

/// Longest wait for a TCP/TLS connection; the operation deadline bounds the rest.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client bound to one region.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) region: String,
}

/// Connects to KMS in the configured region.
///
/// `arn_region` is the region of a key or alias ARN: it must agree with a configured region
/// (`--kms-region`, `AWS_REGION`, the profile), and is used when none is configured.
/// `credentials` replaces the standard chain (tests against the emulator).
///
/// # Errors
/// [`Error::Config`] on a region conflict or when no region is known.
pub(crate) async fn connect(
    config: &KmsConfig,
    arn_region: Option<&str>,
    key: &str,
    credentials: Option<Credentials>,
) -> Result<Connection> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        // Ours are the only retries (retry.rs), so every attempt is counted and audited.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        );
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(credentials);
    }
    let sdk = loader.load().await;
    let region = choose_region(sdk.region().map(Region::as_ref), arn_region, key)?;
    let kms = aws_sdk_kms::config::Builder::from(&sdk)
        .region(Region::new(region.clone()))
        .build();
    Ok(Connection {
        client: Client::from_conf(kms),
        region,
    })
}

/// The rustls + ring HTTPS client (`specs/test-peers.md`: one TLS stack, no aws-lc).
fn http_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

fn choose_region(configured: Option<&str>, arn_region: Option<&str>, key: &str) -> Result<String> {
    match (configured, arn_region) {
        (Some(configured), Some(arn)) if configured != arn => Err(Error::Config {
            key: key.to_owned(),
            reason: format!(
                "the key ARN is in region {arn} but the configured region is {configured} (--kms-region, AWS_REGION or the profile): make them agree"
            ),
        }),
        (Some(region), _) | (None, Some(region)) => Ok(region.to_owned()),
        (None, None) => Err(Error::Config {
            key: key.to_owned(),
            reason: "no AWS region is configured: pass --kms-region, set AWS_REGION, or name the key by its ARN".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_conflicting_region() {
        let err = choose_region(Some("us-east-1"), Some("us-east-2"), "aws-kms:arn").unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "master key configuration for aws-kms:arn: the key ARN is in region us-east-2 but the configured region is us-east-1 (--kms-region, AWS_REGION or the profile): make them agree"
        );
    }

    #[test]
    fn accepts_the_arn_region_or_the_configured_one() {
        assert_eq!(
            choose_region(None, Some("eu-west-1"), "k").unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            choose_region(Some("eu-west-1"), None, "k").unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            choose_region(Some("eu-west-1"), Some("eu-west-1"), "k").unwrap(),
            "eu-west-1"
        );
        assert!(matches!(
            choose_region(None, None, "k"),
            Err(Error::Config { .. })
        ));
    }
}
