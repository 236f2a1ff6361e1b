//! Master-key references: what the operator writes (`local:PATH`, `aws-kms:KEY`) and what the
//! bundle header records.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A parsed master-key reference, before any backend is contacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySpec {
    /// `local:PATH`: a 32-byte key file.
    Local(PathBuf),
    /// `aws-kms:KEY`: an AWS KMS key; `None` means the default alias `alias/cachet`.
    AwsKms(Option<String>),
}

impl MasterKeySpec {
    /// Parses `local:PATH`, `aws-kms:KEY` or `aws-kms` (default alias).
    ///
    /// # Errors
    /// [`Error::InvalidReference`] when the scheme is unknown or the path is empty. The form of an
    /// AWS key is checked by the AWS backend.
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
        Err(invalid("expected local:PATH or aws-kms:KEY"))
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
    /// The resolved key: `local-sha256:<16 hex>` or an AWS key ARN.
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
    }

    #[test]
    fn rejects_unknown_scheme_and_empty_path() {
        for bad in ["", "local:", "file:/k", "/k", "pkcs11:x"] {
            let err = MasterKeySpec::parse(bad).unwrap_err();
            assert!(
                matches!(err, Error::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
    }
}
