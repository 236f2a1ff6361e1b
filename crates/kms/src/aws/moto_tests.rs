//! The AWS backend against moto (an emulator we did not write), through the real SDK over HTTP:
//! every key-reference form, the default alias, region conflicts, the encryption context,
//! revocation through IAM, and rewrapping between AWS keys and to/from a local key.

use std::time::Duration;

use aws_sdk_kms::config::Credentials;
use cachet_testkit::{AwsUser, MOTO_ACCOUNT, MOTO_REGION, MotoServer};

use super::AwsKmsKey;
use crate::{EncryptionContext, Error, ErrorClass, KmsConfig, LocalMasterKey, MasterKey};

fn config(moto: &MotoServer) -> KmsConfig {
    KmsConfig {
        region: Some(MOTO_REGION.to_owned()),
        endpoint: Some(moto.endpoint()),
        profile: None,
        timeout: Some(Duration::from_secs(20)),
        pkcs11_module: None,
        signer_timeout: None,
    }
}

fn testing() -> Credentials {
    Credentials::new("testing", "testing", None, None, "cachet-tests")
}

fn as_user(user: &AwsUser) -> Credentials {
    Credentials::new(
        &user.access_key_id,
        &user.secret_access_key,
        None,
        None,
        "cachet-tests",
    )
}

fn ctx(chain: &str) -> EncryptionContext {
    EncryptionContext::new()
        .with("cachet:purpose", "key-bundle")
        .with("cachet:node", "0x00000000000000000000000000000000000000aa")
        .with("cachet:chain", chain)
}

async fn open(moto: &MotoServer, key: Option<&str>) -> crate::Result<AwsKmsKey> {
    AwsKmsKey::resolve(key, &config(moto), Some(testing())).await
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn accepts_every_key_reference_form() {
    let moto = MotoServer::start();
    let arn = moto.create_key(None, Some("alias/cachet-forms"));
    let key_id = arn.rsplit('/').next().unwrap().to_owned();
    let alias_arn = format!("arn:aws:kms:{MOTO_REGION}:{MOTO_ACCOUNT}:alias/cachet-forms");
    for form in [arn.as_str(), &key_id, "alias/cachet-forms", &alias_arn] {
        let key = open(&moto, Some(form))
            .await
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        let reference = key.reference();
        assert_eq!(reference.given, format!("aws-kms:{form}"));
        assert_eq!(reference.key_id, arn, "{form}");
    }

    // Wrapped under one form, unwrapped by the key pinned to the recorded ARN.
    let key = open(&moto, Some("alias/cachet-forms")).await.unwrap();
    let generated = key.generate_data_key(&ctx("1337")).await.unwrap();
    assert_eq!(generated.call.operation, "GenerateDataKey");
    assert!(
        generated.call.request_id.is_some(),
        "moto sends x-amzn-RequestId"
    );
    let pinned = AwsKmsKey::pinned(&key.reference(), &config(&moto), Some(testing()))
        .await
        .unwrap();
    let back = pinned
        .decrypt_data_key(&generated.wrapped, &ctx("1337"))
        .await
        .unwrap();
    assert_eq!(
        back.plaintext.expose_secret(),
        generated.plaintext.expose_secret()
    );
    assert_eq!((back.call.operation, back.call.attempts), ("Decrypt", 1));
    assert_eq!(back.call.key_id, arn);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn accepts_nothing_as_alias_cachet() {
    let moto = MotoServer::start();
    let _other = moto.create_key(None, Some("alias/not-cachet"));
    let arn = moto.create_key(None, Some("alias/cachet"));
    let key = open(&moto, None).await.unwrap();
    assert_eq!(key.reference().given, "aws-kms:alias/cachet");
    assert_eq!(key.key_arn(), arn);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn rejects_an_unknown_alias_as_not_found() {
    let moto = MotoServer::start();
    let err = open(&moto, Some("alias/nobody")).await.unwrap_err();
    assert!(matches!(err, Error::KeyNotFound { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Denied);
    assert!(err.request_id().is_some(), "{err:?}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn rejects_a_region_conflicting_with_the_key_arn() {
    let moto = MotoServer::start();
    let arn = moto.create_key(None, None);
    let elsewhere = arn.replace(MOTO_REGION, "eu-west-1");
    let alias_elsewhere = format!("arn:aws:kms:eu-west-1:{MOTO_ACCOUNT}:alias/x");
    for form in [elsewhere.as_str(), &alias_elsewhere] {
        let err = open(&moto, Some(form)).await.unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{form}: {err}");
        assert!(
            err.to_string()
                .contains("in region eu-west-1 but the configured region is us-east-1"),
            "{err}"
        );
    }
    let recorded = crate::MasterKeyRef {
        given: format!("aws-kms:{elsewhere}"),
        key_id: elsewhere,
    };
    let err = AwsKmsKey::pinned(&recorded, &config(&moto), Some(testing()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn rejects_an_edited_encryption_context() {
    let moto = MotoServer::start();
    let arn = moto.create_key(None, None);
    let key = open(&moto, Some(&arn)).await.unwrap();
    let generated = key.generate_data_key(&ctx("1337")).await.unwrap();
    for edited in [
        ctx("1338"),
        ctx("1337").with("extra", "1"),
        EncryptionContext::new(),
    ] {
        let err = key
            .decrypt_data_key(&generated.wrapped, &edited)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Corrupt);
    }
    let mut tampered = generated.wrapped.as_bytes().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let tampered = crate::WrappedDataKey::from_bytes(tampered);
    let err = key
        .decrypt_data_key(&tampered, &ctx("1337"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn revocation_through_iam_is_definitive_and_reversible() {
    let moto = MotoServer::start_with_iam();
    let setup = moto.setup_revocation();
    let node = as_user(&setup.node);
    let key = AwsKmsKey::resolve(Some(&setup.alias), &config(&moto), Some(node.clone()))
        .await
        .unwrap();
    assert_eq!(key.key_arn(), setup.key_arn);
    let generated = key.generate_data_key(&ctx("1337")).await.unwrap();
    let pinned = AwsKmsKey::pinned(&key.reference(), &config(&moto), Some(node))
        .await
        .unwrap();
    pinned
        .decrypt_data_key(&generated.wrapped, &ctx("1337"))
        .await
        .unwrap();

    moto.detach_policy(&setup.admin, &setup.node.name, &setup.node_policy_arn);
    let err = pinned
        .decrypt_data_key(&generated.wrapped, &ctx("1337"))
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
    assert!(!err.is_transient());
    assert_eq!(err.class(), ErrorClass::Denied);
    assert!(err.to_string().contains(&setup.key_arn), "{err}");
    let err = pinned.generate_data_key(&ctx("1337")).await.unwrap_err();
    assert!(matches!(err, Error::AccessDenied { .. }), "{err}");

    moto.attach_policy(&setup.admin, &setup.node.name, &setup.node_policy_arn);
    let back = pinned
        .decrypt_data_key(&generated.wrapped, &ctx("1337"))
        .await
        .unwrap();
    assert_eq!(
        back.plaintext.expose_secret(),
        generated.plaintext.expose_secret()
    );

    // Someone else's keys are not the node's: the admin's key works, a made-up one is denied.
    let stranger = Credentials::new("AKIAIOSFODNN7EXAMPLE", "not-a-secret", None, None, "t");
    let outsider = AwsKmsKey::pinned(&key.reference(), &config(&moto), Some(stranger))
        .await
        .unwrap();
    let err = outsider
        .decrypt_data_key(&generated.wrapped, &ctx("1337"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Denied, "{err}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn re_encrypts_from_one_aws_key_to_another_inside_kms() {
    let moto = MotoServer::start();
    let from = open(&moto, Some(&moto.create_key(None, None)))
        .await
        .unwrap();
    let to = open(&moto, Some(&moto.create_key(None, None)))
        .await
        .unwrap();
    let generated = from.generate_data_key(&ctx("1337")).await.unwrap();
    let (rewrapped, calls) = from
        .rewrap_to(&generated.wrapped, &ctx("1337"), &to)
        .await
        .unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].operation, "ReEncrypt");
    assert!(calls[0].request_id.is_some());
    let back = to.decrypt_data_key(&rewrapped, &ctx("1337")).await.unwrap();
    assert_eq!(
        back.plaintext.expose_secret(),
        generated.plaintext.expose_secret()
    );
    // The context still binds after ReEncrypt.
    let err = to
        .decrypt_data_key(&rewrapped, &ctx("1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn rewraps_between_aws_and_a_local_key_both_ways() {
    let moto = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let local = LocalMasterKey::create(&dir.path().join("mk")).unwrap();
    let aws = open(&moto, Some(&moto.create_key(None, None)))
        .await
        .unwrap();

    let generated = aws.generate_data_key(&ctx("1337")).await.unwrap();
    let (on_local, calls) = aws
        .rewrap_to(&generated.wrapped, &ctx("1337"), &local)
        .await
        .unwrap();
    let ops: Vec<_> = calls.iter().map(|c| c.operation).collect();
    assert_eq!(ops, ["Decrypt", "Encrypt"]);
    let back = local
        .decrypt_data_key(&on_local, &ctx("1337"))
        .await
        .unwrap();
    assert_eq!(
        back.plaintext.expose_secret(),
        generated.plaintext.expose_secret()
    );

    let (on_aws, calls) = local
        .rewrap_to(&on_local, &ctx("1337"), &aws)
        .await
        .unwrap();
    assert_eq!(calls[1].operation, "Encrypt");
    assert!(calls[1].request_id.is_some());
    let back = aws.decrypt_data_key(&on_aws, &ctx("1337")).await.unwrap();
    assert_eq!(
        back.plaintext.expose_secret(),
        generated.plaintext.expose_secret()
    );
}

#[tokio::test]
async fn gives_up_on_a_closed_port_at_the_deadline() {
    // No emulator: a real connection refusal is transient, retried, then DeadlineExceeded.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = KmsConfig {
        region: Some(MOTO_REGION.to_owned()),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        profile: None,
        timeout: Some(Duration::from_secs(2)),
        pkcs11_module: None,
        signer_timeout: None,
    };
    let arn = format!(
        "arn:aws:kms:{MOTO_REGION}:{MOTO_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    );
    let recorded = crate::MasterKeyRef {
        given: format!("aws-kms:{arn}"),
        key_id: arn,
    };
    let key = AwsKmsKey::pinned(&recorded, &config, Some(testing()))
        .await
        .unwrap();
    let err = key
        .decrypt_data_key(&crate::WrappedDataKey::from_bytes(vec![1; 64]), &ctx("1"))
        .await
        .unwrap_err();
    let Error::DeadlineExceeded { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert!(*attempts > 1, "{attempts}");
    assert_eq!(err.class(), ErrorClass::Unreachable);
}
