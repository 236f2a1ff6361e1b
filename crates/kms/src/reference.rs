//! Master-key references: what the operator writes (`local:PATH`, `aws-kms:KEY`, `pkcs11:URI`)
//! and what the bundle header records.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::pkcs11::{ObjectType, Pkcs11Uri};
use crate::{Error, Result};

/// A parsed master-key reference, before any backend is contacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySpec {
    /// `local:PATH`: a 32-byte key file.
    Local(PathBuf),
    /// `aws-kms:KEY`: an AWS KMS key; `None` means the default alias `alias/cachet`.
    AwsKms(Option<String>),
    /// `pkcs11:…` (RFC 7512): an AES key in a PKCS#11 token, as given and as parsed.
    Pkcs11 {
        /// The URI as the operator wrote it (what the bundle records).
        given: String,
        /// The parsed URI.
        uri: Box<Pkcs11Uri>,
    },
}

impl MasterKeySpec {
    /// Parses `local:PATH`, `aws-kms:KEY`, `aws-kms` (default alias) or `pkcs11:URI`.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] when the scheme is unknown, the path is empty, or a `pkcs11:`
    /// URI is malformed or names no key, a PIN value or attributes cachet would ignore. The form
    /// of an AWS key is checked by the AWS backend.
    pub fn parse(given: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidReference {
            given: given.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = given.strip_prefix("local:") {
            if path.is_empty() {
                return Err(invalid(
                    "local: needs a file path, as in local:/etc/cachet/master.key",
                ));
            }
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if given == "aws-kms" || given == "aws-kms:" {
            return Ok(Self::AwsKms(None));
        }
        if let Some(key) = given.strip_prefix("aws-kms:") {
            return Ok(Self::AwsKms(Some(key.to_owned())));
        }
        if given
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("pkcs11:"))
        {
            let uri = Pkcs11Uri::parse(given).map_err(|e| invalid(&e.0))?;
            uri.check_for_key(ObjectType::SecretKey)
                .map_err(|e| invalid(&e.0))?;
            return Ok(Self::Pkcs11 {
                given: given.to_owned(),
                uri: Box::new(uri),
            });
        }
        Err(invalid("expected local:PATH, aws-kms:KEY or pkcs11:URI"))
    }
}

/// What a bundle header records about its master key.
///
/// `given` is what the operator typed (for humans); `key_id` is what unlock pins to: the local
/// key's fingerprint or the AWS key ARN, so retargeting an alias never silently changes the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterKeyRef {
    /// The reference as the operator gave it (`local:/abs/path`, `aws-kms:alias/x`).
    pub given: String,
    /// The resolved key: `local-sha256:<16 hex>`, an AWS key ARN, or
    /// `pkcs11-aes-gcm-kcv:<16 hex>` / `pkcs11-aes-kwp-kcv:<16 hex>` (wrap mode and key check
    /// value of a PKCS#11 key).
    pub key_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        assert_eq!(
            MasterKeySpec::parse("local:/k").unwrap(),
            MasterKeySpec::Local("/k".into())
        );
        assert_eq!(
            MasterKeySpec::parse("aws-kms").unwrap(),
            MasterKeySpec::AwsKms(None)
        );
        assert_eq!(
            MasterKeySpec::parse("aws-kms:").unwrap(),
            MasterKeySpec::AwsKms(None)
        );
        assert_eq!(
            MasterKeySpec::parse("aws-kms:alias/x").unwrap(),
            MasterKeySpec::AwsKms(Some("alias/x".into()))
        );
        let given = "pkcs11:token=cachet;object=cachet-master?pin-source=file:/etc/cachet/pin";
        match MasterKeySpec::parse(given).unwrap() {
            MasterKeySpec::Pkcs11 { given: g, uri } => {
                assert_eq!(g, given);
                assert_eq!(uri.object.as_deref(), Some("cachet-master"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_unknown_scheme_and_empty_path() {
        for bad in [
            "",
            "local:",
            "file:/k",
            "/k",
            "pkcs11:x",
            "pkcs11:object=k",
            "pkcs11:object=k?pin-value=1",
        ] {
            let err = MasterKeySpec::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
    }
}
