//! Opening a master key from what the operator typed (init) or what a bundle recorded (unlock).

use std::path::PathBuf;
use std::time::Duration;

use crate::{Error, LocalMasterKey, MasterKey, MasterKeyRef, MasterKeySpec, Result};

/// Backend settings from the command line.
#[derive(Clone, Debug, Default)]
pub struct KmsConfig {
    /// `--kms-region`; otherwise the standard AWS chain (env, profile) or the key ARN's region.
    pub region: Option<String>,
    /// `--kms-endpoint` (also `AWS_ENDPOINT_URL_KMS`), for emulators and VPC endpoints.
    pub endpoint: Option<String>,
    /// `--aws-profile`.
    pub profile: Option<String>,
    /// `--kms-timeout`: total deadline for one operation, retries included. `None` = default.
    pub timeout: Option<Duration>,
    /// `--pkcs11-module` (also `CACHET_PKCS11_MODULE`): the PKCS#11 module for `pkcs11:` URIs
    /// without `module-path`.
    pub pkcs11_module: Option<PathBuf>,
    /// `--signer-timeout`: the deadline of one signature by an HSM/KMS-resident key (retries
    /// included), and of the check at unlock that it still answers. `None` =
    /// [`DEFAULT_SIGNER_TIMEOUT`].
    pub signer_timeout: Option<Duration>,
}

/// The default deadline of one HSM/KMS signature: well under a clique period of a few seconds,
/// long enough for a KMS round trip with a retry or two.
pub const DEFAULT_SIGNER_TIMEOUT: Duration = Duration::from_secs(5);

impl KmsConfig {
    /// The signing deadline in force.
    pub fn signer_deadline(&self) -> Duration {
        self.signer_timeout.unwrap_or(DEFAULT_SIGNER_TIMEOUT)
    }
}

/// Opens the master key an operator named at `init` (or as a `rotate` target). An AWS alias is
/// resolved to its key ARN here (`DescribeKey`), and the ARN is what the bundle records.
///
/// # Errors
/// Any [`Error`] of the backend; [`Error::BackendUnavailable`] when it is not compiled in.
pub async fn open_for_init(spec: &MasterKeySpec, config: &KmsConfig) -> Result<Box<dyn MasterKey>> {
    match spec {
        MasterKeySpec::Local(path) => Ok(Box::new(LocalMasterKey::open(path)?)),
        #[cfg(feature = "aws")]
        MasterKeySpec::AwsKms(key) => Ok(Box::new(
            crate::AwsKmsKey::open_for_init(key.as_deref(), config).await?,
        )),
        #[cfg(not(feature = "aws"))]
        MasterKeySpec::AwsKms(_) => {
            let _ = config;
            Err(Error::BackendUnavailable { backend: "aws" })
        }
        #[cfg(feature = "pkcs11")]
        MasterKeySpec::Pkcs11 { given, .. } => {
            Ok(Box::new(crate::Pkcs11MasterKey::open(given, config)?))
        }
        #[cfg(not(feature = "pkcs11"))]
        MasterKeySpec::Pkcs11 { .. } => Err(Error::BackendUnavailable { backend: "pkcs11" }),
    }
}

/// Opens the master key a bundle recorded, pinned to its recorded key id: a local key file must
/// have the recorded fingerprint; an AWS call names the recorded key ARN, never the alias; a
/// PKCS#11 key must have the recorded key check value (and is used in the recorded wrap mode).
///
/// # Errors
/// [`Error::WrongMasterKey`] when a local file holds another key; any backend [`Error`].
pub async fn open_recorded(
    reference: &MasterKeyRef,
    config: &KmsConfig,
) -> Result<Box<dyn MasterKey>> {
    match MasterKeySpec::parse(&reference.given)? {
        MasterKeySpec::Local(path) => {
            let key = LocalMasterKey::open(&path)?;
            if key.reference().key_id != reference.key_id {
                return Err(Error::WrongMasterKey {
                    key: reference.given.clone(),
                });
            }
            Ok(Box::new(key))
        }
        #[cfg(feature = "aws")]
        MasterKeySpec::AwsKms(_) => Ok(Box::new(
            crate::AwsKmsKey::open_recorded(reference, config).await?,
        )),
        #[cfg(not(feature = "aws"))]
        MasterKeySpec::AwsKms(_) => {
            let _ = config;
            Err(Error::BackendUnavailable { backend: "aws" })
        }
        #[cfg(feature = "pkcs11")]
        MasterKeySpec::Pkcs11 { .. } => {
            Ok(Box::new(crate::pkcs11::open_recorded(reference, config)?))
        }
        #[cfg(not(feature = "pkcs11"))]
        MasterKeySpec::Pkcs11 { .. } => Err(Error::BackendUnavailable { backend: "pkcs11" }),
    }
}
