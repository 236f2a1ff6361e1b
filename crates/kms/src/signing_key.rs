//! Signing keys that never leave an HSM or KMS as an operator names them at `init`
//! (`hsm:pkcs11:…`, `kms:KEY`) and as a bundle records them: opening one for init (its public
//! key read from the token or KMS) and re-opening a recorded one at unlock (its public key
//! compared with the recorded one).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::pkcs11::{ObjectType, Pkcs11Uri};
use crate::{DigestSigner, Error, KmsConfig, Result, SignerRef};

/// Where a signing key lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerBackend {
    /// A PKCS#11 token (`hsm:pkcs11:…`, RFC 7512): `CKM_ECDSA` in the token.
    Hsm,
    /// AWS KMS (`kms:KEY`): `Sign` with `ECDSA_SHA_256`, `MessageType=DIGEST`.
    Kms,
}

impl SignerBackend {
    /// `hsm` or `kms`, the prefix an operator writes.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hsm => "hsm",
            Self::Kms => "kms",
        }
    }
}

impl std::fmt::Display for SignerBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed `hsm:…` / `kms:…` signing-key reference, before any backend is contacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeySpec {
    /// The backend.
    pub backend: SignerBackend,
    /// What follows the prefix: a `pkcs11:` URI, or an AWS key in any of its four forms.
    pub key: String,
}

impl SigningKeySpec {
    /// True when `given` names an HSM/KMS signing key (starts with `hsm:` or `kms:`).
    pub fn is_remote(given: &str) -> bool {
        given.starts_with("hsm:") || given.starts_with("kms:")
    }

    /// Parses `hsm:pkcs11:URI` or `kms:KEY`.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] for another prefix, an empty key, or a `pkcs11:` URI that does
    /// not name a private key, reads its PIN from anywhere but a file, or says something cachet
    /// would ignore. The form of an AWS key is checked when it is opened.
    pub fn parse(given: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidReference {
            given: given.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(uri) = given.strip_prefix("hsm:") {
            let parsed = Pkcs11Uri::parse(uri).map_err(|e| invalid(&e.0))?;
            parsed
                .check_for_key(ObjectType::Private)
                .map_err(|e| invalid(&e.0))?;
            return Ok(Self {
                backend: SignerBackend::Hsm,
                key: uri.to_owned(),
            });
        }
        if let Some(key) = given.strip_prefix("kms:") {
            if key.is_empty() {
                return Err(invalid(
                    "kms: needs a key: a key ARN, key id, alias/NAME or alias ARN of an ECC_SECG_P256K1 SIGN_VERIFY key",
                ));
            }
            return Ok(Self {
                backend: SignerBackend::Kms,
                key: key.to_owned(),
            });
        }
        Err(invalid(
            "expected hsm:pkcs11:URI (a secp256k1 key in a PKCS#11 token) or kms:KEY (an AWS KMS ECC_SECG_P256K1 key)",
        ))
    }
}

/// Opens the signing key an operator named at `init`: the public key is read from the token
/// (`CKA_EC_POINT`) or from KMS (`DescribeKey`, then `GetPublicKey` on the key ARN).
///
/// # Errors
/// The backend's errors; [`Error::BackendUnavailable`] when it is not compiled in.
pub async fn open_signer(
    spec: &SigningKeySpec,
    config: &KmsConfig,
) -> Result<Arc<dyn DigestSigner>> {
    match spec.backend {
        #[cfg(feature = "pkcs11")]
        SignerBackend::Hsm => Ok(Arc::new(crate::Pkcs11Signer::open(&spec.key, config)?)),
        #[cfg(feature = "aws")]
        SignerBackend::Kms => Ok(Arc::new(
            crate::AwsKmsSigner::open(&spec.key, config).await?,
        )),
        #[allow(unreachable_patterns)] // reached only when a backend is not compiled in
        backend => {
            let _ = config;
            Err(Error::BackendUnavailable {
                backend: match backend {
                    SignerBackend::Hsm => "pkcs11",
                    SignerBackend::Kms => "aws",
                },
            })
        }
    }
}

/// Re-opens a signing key a bundle recorded, pinned to its recorded key (the PKCS#11 URI, the
/// AWS key ARN), and checks that the token or KMS still answers for it and holds the recorded
/// public key: one `GetPublicKey` (AWS), or one logged-in session reading `CKA_EC_POINT`.
///
/// # Errors
/// The backend's access errors (a revoked key: class denied); [`Error::BadSignerAnswer`]
/// (class corrupt) when another public key is found under the reference.
pub async fn open_signer_recorded(
    backend: SignerBackend,
    reference: &SignerRef,
    public_key: &[u8; 65],
    config: &KmsConfig,
) -> Result<Arc<dyn DigestSigner>> {
    match backend {
        #[cfg(feature = "pkcs11")]
        SignerBackend::Hsm => Ok(Arc::new(crate::Pkcs11Signer::open_recorded(
            reference, public_key, config,
        )?)),
        #[cfg(feature = "aws")]
        SignerBackend::Kms => {
            // Retries of one signature stop at the signing deadline, not the master key's.
            let config = KmsConfig {
                timeout: Some(config.signer_deadline()),
                ..config.clone()
            };
            Ok(Arc::new(
                crate::AwsKmsSigner::open_recorded(reference, public_key, &config).await?,
            ))
        }
        #[allow(unreachable_patterns)] // reached only when a backend is not compiled in
        backend => {
            let _ = (reference, public_key, config);
            Err(Error::BackendUnavailable {
                backend: match backend {
                    SignerBackend::Hsm => "pkcs11",
                    SignerBackend::Kms => "aws",
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hsm_and_kms_references() {
        let uri = "pkcs11:token=cachet;object=sealer?pin-source=file:/etc/cachet/pin";
        assert_eq!(
            SigningKeySpec::parse(&format!("hsm:{uri}")).unwrap(),
            SigningKeySpec {
                backend: SignerBackend::Hsm,
                key: uri.to_owned()
            }
        );
        assert_eq!(
            SigningKeySpec::parse("kms:alias/validator-1").unwrap(),
            SigningKeySpec {
                backend: SignerBackend::Kms,
                key: "alias/validator-1".to_owned()
            }
        );
        assert!(SigningKeySpec::is_remote("kms:x"));
        assert!(!SigningKeySpec::is_remote("separate"));
    }

    #[test]
    fn refuses_what_is_not_a_signing_key() {
        for (given, why) in [
            ("separate", "expected hsm:pkcs11:URI"),
            ("kms:", "kms: needs a key"),
            ("hsm:pkcs11:token=t;object=k", "pin-source"),
            (
                "hsm:pkcs11:token=t;object=k;type=secret-key?pin-source=file:/p",
                "type=private",
            ),
            ("hsm:/etc/key", "starts with pkcs11:"),
        ] {
            let err = SigningKeySpec::parse(given).unwrap_err();
            assert!(
                matches!(err, Error::InvalidReference { .. }),
                "{given}: {err}"
            );
            assert!(err.to_string().contains(why), "{given}: {err}");
        }
    }
}
