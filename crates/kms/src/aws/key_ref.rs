//! The forms of an AWS KMS key reference, validated before any call.
//!
//! AWS accepts four forms wherever a `KeyId` is expected (AWS KMS API reference, `KeyId`
//! parameter of `Decrypt`/`DescribeKey`):
//!
//! | form | example |
//! |---|---|
//! | key ARN | `arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab` |
//! | key id | `1234abcd-12ab-34cd-56ef-1234567890ab` or `mrk-1234abcd12ab34cd56ef1234567890ab` |
//! | alias name | `alias/ExampleAlias` |
//! | alias ARN | `arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias` |
//!
//! `aws-kms` with no key means the alias [`DEFAULT_ALIAS`].

use crate::{Error, Result};

/// The alias used when the operator writes `aws-kms` with no key.
pub const DEFAULT_ALIAS: &str = "alias/cachet";

/// Longest alias name AWS allows (`CreateAlias`: 1–256 characters including `alias/`).
const MAX_ALIAS_LEN: usize = 256;

/// A syntactically valid AWS KMS key reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsKeyRef {
    /// `arn:<partition>:kms:<region>:<account>:key/<key id>`.
    KeyArn(Arn),
    /// A bare key id: a UUID or a multi-Region `mrk-` id.
    KeyId(String),
    /// `alias/<name>`.
    AliasName(String),
    /// `arn:<partition>:kms:<region>:<account>:alias/<name>`.
    AliasArn(Arn),
}

/// The parts of a KMS key or alias ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn {
    /// The whole ARN, as given.
    pub text: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The region the key lives in.
    pub region: String,
    /// The 12-digit account id.
    pub account: String,
}

impl AwsKeyRef {
    /// Parses what follows `aws-kms:`; `None` (or empty) is the default alias.
    ///
    /// # Errors
    /// [`Error::InvalidReference`] naming what is wrong with the form.
    pub fn parse(key: Option<&str>) -> Result<Self> {
        let key = match key {
            None | Some("") => DEFAULT_ALIAS,
            Some(key) => key,
        };
        let invalid = |reason: String| Error::InvalidReference {
            given: format!("aws-kms:{key}"),
            reason,
        };
        if key.starts_with("arn:") {
            return parse_arn(key).map_err(invalid);
        }
        if let Some(name) = key.strip_prefix("alias/") {
            check_alias_name(key, name).map_err(invalid)?;
            return Ok(Self::AliasName(key.to_owned()));
        }
        if is_key_id(key) {
            return Ok(Self::KeyId(key.to_owned()));
        }
        Err(invalid(
            "expected a key ARN, a key id (UUID or mrk-…), alias/NAME or an alias ARN".to_owned(),
        ))
    }

    /// Parses a key ARN as recorded in a bundle header (only the key-ARN form is accepted:
    /// unlock pins the key, never an alias).
    ///
    /// # Errors
    /// [`Error::InvalidReference`] when `text` is not a key ARN.
    pub fn parse_key_arn(text: &str) -> Result<Arn> {
        match Self::parse(Some(text)) {
            Ok(Self::KeyArn(arn)) => Ok(arn),
            Ok(_) => Err(Error::InvalidReference {
                given: text.to_owned(),
                reason: "the bundle must record a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"
                    .to_owned(),
            }),
            Err(e) => Err(e),
        }
    }

    /// The string passed to KMS as `KeyId`.
    pub fn key_id(&self) -> &str {
        match self {
            Self::KeyArn(arn) | Self::AliasArn(arn) => &arn.text,
            Self::KeyId(id) | Self::AliasName(id) => id,
        }
    }

    /// The region named by an ARN form.
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::KeyArn(arn) | Self::AliasArn(arn) => Some(&arn.region),
            Self::KeyId(_) | Self::AliasName(_) => None,
        }
    }
}

fn parse_arn(text: &str) -> std::result::Result<AwsKeyRef, String> {
    // arn:partition:service:region:account:resource; the resource (alias names) may hold '/'
    // but never ':'.
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    let &[_, partition, service, region, account, resource] = parts.as_slice() else {
        return Err(
            "an ARN has six ':'-separated parts: arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE"
                .to_owned(),
        );
    };
    let known_partition = partition == "aws"
        || partition
            .strip_prefix("aws-")
            .is_some_and(|rest| rest.split('-').all(is_lower_word));
    if !known_partition {
        return Err(format!("unknown AWS partition {partition:?}"));
    }
    if service != "kms" {
        return Err(format!("the ARN is for service {service:?}, not kms"));
    }
    if !is_region(region) {
        return Err(format!(
            "{region:?} is not an AWS region name (as in us-east-2)"
        ));
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account:?} is not a 12-digit AWS account id"));
    }
    let arn = Arn {
        text: text.to_owned(),
        partition: partition.to_owned(),
        region: region.to_owned(),
        account: account.to_owned(),
    };
    if let Some(id) = resource.strip_prefix("key/") {
        if !is_key_id(id) {
            return Err(format!("{id:?} is not a key id (UUID or mrk-…)"));
        }
        return Ok(AwsKeyRef::KeyArn(arn));
    }
    if let Some(name) = resource.strip_prefix("alias/") {
        check_alias_name(resource, name)?;
        return Ok(AwsKeyRef::AliasArn(arn));
    }
    Err(format!(
        "the ARN's resource {resource:?} is neither key/ID nor alias/NAME"
    ))
}

fn check_alias_name(full: &str, name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the alias name after alias/ is empty".to_owned());
    }
    if full.len() > MAX_ALIAS_LEN {
        return Err(format!("an alias is at most {MAX_ALIAS_LEN} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err("an alias name holds only letters, digits, '/', '_' and '-'".to_owned());
    }
    if name.starts_with("aws/") {
        // AWS managed keys only serve AWS services (kms:ViaService); a node cannot use them.
        return Err("alias/aws/… names AWS managed keys, which only AWS services may use; create a customer managed key".to_owned());
    }
    Ok(())
}

/// A UUID (8-4-4-4-12 hex) or `mrk-` followed by 32 hex digits.
fn is_key_id(id: &str) -> bool {
    if let Some(hex) = id.strip_prefix("mrk-") {
        return hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `us-east-2`, `eu-central-1`, `us-gov-west-1`, `ap-southeast-4`: lowercase words, then a number.
fn is_region(region: &str) -> bool {
    let mut parts = region.split('-').peekable();
    let mut words = 0;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return words >= 2 && !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        }
        if !is_lower_word(part) {
            return false;
        }
        words += 1;
    }
    false
}

fn is_lower_word(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Examples from the AWS KMS API reference, "KeyId" parameter.
    const KEY_ARN: &str =
        "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const ALIAS_ARN: &str = "arn:aws:kms:us-east-2:111122223333:alias/ExampleAlias";

    #[test]
    fn accepts_every_form_aws_documents() {
        let arn = match AwsKeyRef::parse(Some(KEY_ARN)).unwrap() {
            AwsKeyRef::KeyArn(arn) => arn,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            (arn.partition.as_str(), arn.region.as_str()),
            ("aws", "us-east-2")
        );
        assert_eq!(arn.account, "111122223333");
        assert!(matches!(
            AwsKeyRef::parse(Some(ALIAS_ARN)).unwrap(),
            AwsKeyRef::AliasArn(_)
        ));
        assert_eq!(
            AwsKeyRef::parse(Some("1234abcd-12ab-34cd-56ef-1234567890ab")).unwrap(),
            AwsKeyRef::KeyId("1234abcd-12ab-34cd-56ef-1234567890ab".into())
        );
        assert_eq!(
            AwsKeyRef::parse(Some("mrk-1234abcd12ab34cd56ef1234567890ab")).unwrap(),
            AwsKeyRef::KeyId("mrk-1234abcd12ab34cd56ef1234567890ab".into())
        );
        assert_eq!(
            AwsKeyRef::parse(Some("alias/ExampleAlias")).unwrap(),
            AwsKeyRef::AliasName("alias/ExampleAlias".into())
        );
        assert_eq!(
            AwsKeyRef::parse(Some(
                "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/a/b_c-d"
            ))
            .unwrap()
            .region(),
            Some("us-gov-west-1")
        );
    }

    #[test]
    fn accepts_nothing_as_the_default_alias() {
        for key in [None, Some("")] {
            assert_eq!(
                AwsKeyRef::parse(key).unwrap(),
                AwsKeyRef::AliasName(DEFAULT_ALIAS.into())
            );
        }
    }

    #[test]
    fn rejects_malformed_references() {
        for bad in [
            "1234abcd",
            "1234abcd-12ab-34cd-56ef-1234567890a",
            "1234abcd-12ab-34cd-56ef-1234567890ag",
            "mrk-1234",
            "alias/",
            "alias/has space",
            "alias/aws/ebs",
            "arn:aws:kms:us-east-2:111122223333",
            "arn:aws:s3:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:US-EAST-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:useast:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:11112222333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-2:111122223333:key/not-a-key",
            "arn:aws:kms:us-east-2:111122223333:grant/x",
            "arn:gcp:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            let err = AwsKeyRef::parse(Some(bad)).unwrap_err();
            assert!(
                matches!(err, Error::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
        let long = format!("alias/{}", "a".repeat(251));
        assert!(AwsKeyRef::parse(Some(&long)).is_err());
        assert!(AwsKeyRef::parse(Some(&long[..256])).is_ok());
    }

    #[test]
    fn rejects_a_recorded_alias_instead_of_a_key_arn() {
        assert_eq!(AwsKeyRef::parse_key_arn(KEY_ARN).unwrap().text, KEY_ARN);
        for bad in [
            ALIAS_ARN,
            "alias/cachet",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            assert!(AwsKeyRef::parse_key_arn(bad).is_err(), "{bad}");
        }
    }
}
