//! [`AwsKmsSigner`] against moto, for what moto does right (`specs/test-peers.md`): creating
//! `ECC_SECG_P256K1` keys, `DescribeKey`, `GetPublicKey` (checked against a `Sign` with
//! `MessageType=RAW`, which moto hashes and signs correctly) and IAM refusals. moto's `Sign`
//! with `MessageType=DIGEST` hashes the digest again; the last test pins that, so the day moto
//! fixes it the test says so. The real `Sign DIGEST` path is covered by `signer_tests.rs`.

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use cachet_testkit::{MOTO_REGION, MotoServer};
use secp256k1::{PublicKey, SECP256K1, SecretKey};
use sha2::{Digest as _, Sha256};

use super::AwsKmsSigner;
use super::client::connect;
use crate::{DigestSigner, Error, ErrorClass, KmsConfig, der_to_rs, recoverable};

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

async fn admin_client(moto: &MotoServer, credentials: Credentials) -> Client {
    connect(&config(moto), None, "moto", Some(credentials))
        .await
        .unwrap()
        .client
}

/// Creates a key of `spec` (`SIGN_VERIFY` unless symmetric) with `alias`; returns its ARN.
async fn create_key(client: &Client, spec: KeySpec, alias: Option<&str>) -> String {
    let usage = if spec == KeySpec::SymmetricDefault {
        KeyUsageType::EncryptDecrypt
    } else {
        KeyUsageType::SignVerify
    };
    let out = client
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap();
    let arn = out.key_metadata.unwrap().arn.unwrap();
    if let Some(alias) = alias {
        client
            .create_alias()
            .alias_name(alias)
            .target_key_id(&arn)
            .send()
            .await
            .unwrap();
    }
    arn
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn reads_the_public_key_of_a_secp256k1_key_in_every_form() {
    let moto = MotoServer::start();
    let admin = admin_client(&moto, testing()).await;
    let arn = create_key(&admin, KeySpec::EccSecgP256K1, Some("alias/validator-1")).await;
    let key_id = arn.rsplit('/').next().unwrap().to_owned();
    let alias_arn = arn.replace(&format!("key/{key_id}"), "alias/validator-1");

    let signer = AwsKmsSigner::resolve(&arn, &config(&moto), Some(testing()))
        .await
        .unwrap();
    let public = signer.public_key();
    assert_eq!(public[0], 0x04);
    for form in [arn.as_str(), &key_id, "alias/validator-1", &alias_arn] {
        let same = AwsKmsSigner::resolve(form, &config(&moto), Some(testing()))
            .await
            .unwrap_or_else(|e| panic!("{form}: {e}"));
        let reference = same.reference();
        assert_eq!(reference.given, format!("kms:{form}"));
        assert_eq!(reference.key_id, arn, "{form}");
        assert_eq!(same.public_key(), public, "{form}");
    }

    // The point is moto's key: a RAW Sign (moto hashes with SHA-256, as KMS does) recovers to
    // it through der_to_rs and recoverable.
    let message = b"cachet kms signer";
    let answer = admin
        .sign()
        .key_id(&arn)
        .message(Blob::new(message.to_vec()))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let (r, s) = der_to_rs(answer.signature.unwrap().as_ref()).unwrap();
    let digest: [u8; 32] = Sha256::digest(message).into();
    recoverable(&r, &s, &digest, &public).unwrap();
    let wrong: [u8; 32] = Sha256::digest(b"something else").into();
    assert!(recoverable(&r, &s, &wrong, &public).is_err());

    // Reopened from the record (pinned ARN): GetPublicKey agrees.
    let pinned = AwsKmsSigner::pinned(
        &signer.reference(),
        &public,
        &config(&moto),
        Some(testing()),
    )
    .await
    .unwrap();
    assert_eq!(pinned.key_arn(), arn);
    let other = PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[0x43; 32]).unwrap())
        .serialize_uncompressed();
    let err = AwsKmsSigner::pinned(&signer.reference(), &other, &config(&moto), Some(testing()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadSignerAnswer { .. }), "{err}");
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn refuses_keys_of_other_specs() {
    let moto = MotoServer::start();
    let admin = admin_client(&moto, testing()).await;
    for spec in [
        KeySpec::EccNistP256,
        KeySpec::SymmetricDefault,
        KeySpec::Rsa2048,
    ] {
        let arn = create_key(&admin, spec.clone(), None).await;
        let err = AwsKmsSigner::resolve(&arn, &config(&moto), Some(testing()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{spec:?}: {err}");
        assert!(
            err.to_string().contains("--key-spec ECC_SECG_P256K1"),
            "{err}"
        );
    }
    let err = AwsKmsSigner::resolve("alias/nobody", &config(&moto), Some(testing()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::KeyNotFound { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Denied);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn a_principal_without_kms_get_public_key_is_denied() {
    // The node user of setup_revocation may Decrypt/Encrypt/GenerateDataKey/ReEncrypt/
    // DescribeKey, not GetPublicKey or Sign.
    let moto = MotoServer::start_with_iam();
    let setup = moto.setup_revocation();
    let as_admin = Credentials::new(
        &setup.admin.access_key_id,
        &setup.admin.secret_access_key,
        None,
        None,
        "cachet-tests",
    );
    let admin = admin_client(&moto, as_admin).await;
    let arn = create_key(&admin, KeySpec::EccSecgP256K1, None).await;
    let node = Credentials::new(
        &setup.node.access_key_id,
        &setup.node.secret_access_key,
        None,
        None,
        "cachet-tests",
    );
    let err = AwsKmsSigner::resolve(&arn, &config(&moto), Some(node))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AccessDenied {
                operation: "GetPublicKey",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Denied);
}

#[tokio::test]
#[ignore = "needs moto: run scripts/test"]
async fn moto_hashes_a_digest_again_and_the_signer_refuses_the_result() {
    let moto = MotoServer::start();
    let admin = admin_client(&moto, testing()).await;
    let arn = create_key(&admin, KeySpec::EccSecgP256K1, None).await;
    let signer = AwsKmsSigner::resolve(&arn, &config(&moto), Some(testing()))
        .await
        .unwrap();
    let err = signer.sign_digest(&[7; 32]).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadSignerAnswer {
                operation: "Sign",
                ..
            }
        ),
        "moto 5.2.5 signs SHA-256(digest) for MessageType=DIGEST; if this now passes, moto was fixed and this test should become a real Sign test: {err:?}"
    );
    assert_eq!(err.class(), ErrorClass::Corrupt);
}
