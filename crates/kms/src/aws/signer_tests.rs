//! [`AwsKmsSigner`] through the real SDK client with `aws-smithy-mocks`: the mocked KMS holds a
//! real secp256k1 key, answers `GetPublicKey` with that key's `SubjectPublicKeyInfo` (built byte
//! by byte here, RFC 5480) and `Sign` with a real DER signature over the request's digest, as AWS
//! KMS does. Error paths: throttling then success, AccessDenied/Disabled/KMSInvalidState (the
//! revoked class, exit 10), 5xx until the deadline (unreachable, exit 11), wrong-key and
//! malformed answers (corrupt, exit 12), and keys of another spec.

use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::operation::get_public_key::{GetPublicKeyError, GetPublicKeyOutput};
use aws_sdk_kms::operation::sign::{SignError, SignInput, SignOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::error::{DisabledException, KmsInvalidStateException};
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use sha3::{Digest as _, Keccak256};

use super::AwsKmsSigner;
use crate::{DigestSigner, Error, ErrorClass, SignerRef};

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// secp256k1's group order n (SEC 2 v2 § 2.4.1).
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn n_minus(x: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(N[i]) - i16::from(x[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

fn secret() -> SecretKey {
    SecretKey::from_slice(&[0x42; 32]).unwrap()
}

fn public_of(secret: &SecretKey) -> [u8; 65] {
    PublicKey::from_secret_key(SECP256K1, secret).serialize_uncompressed()
}

fn address(public: &[u8; 65]) -> [u8; 20] {
    let hash = Keccak256::digest(&public[1..]);
    hash[12..].try_into().unwrap()
}

/// RFC 5480 SPKI: SEQUENCE { SEQUENCE { id-ecPublicKey, curve }, BIT STRING { 0, point } }.
fn spki(curve_oid: &[u8], point: &[u8; 65]) -> Vec<u8> {
    let mut algorithm = vec![0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    algorithm.extend(curve_oid);
    let mut body = vec![0x30, algorithm.len() as u8];
    body.extend(algorithm);
    body.extend([0x03, 0x42, 0x00]);
    body.extend(point);
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

const SECP256K1_OID: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn public_key_answer(der: Vec<u8>, spec: KeySpec) -> GetPublicKeyOutput {
    GetPublicKeyOutput::builder()
        .key_id(ARN)
        .public_key(Blob::new(der))
        .key_spec(spec)
        .key_usage(KeyUsageType::SignVerify)
        .signing_algorithms(SigningAlgorithmSpec::EcdsaSha256)
        .build()
}

fn get_public_key() -> Rule {
    mock!(Client::get_public_key)
        .match_requests(|req| req.key_id() == Some(ARN))
        .then_output(|| {
            public_key_answer(
                spki(&SECP256K1_OID, &public_of(&secret())),
                KeySpec::EccSecgP256K1,
            )
        })
}

/// What KMS does for `Sign` with `MessageType=DIGEST`: ECDSA over the 32 bytes as given, DER.
fn kms_sign(req: &SignInput, high_s: bool) -> SignOutput {
    let digest: [u8; 32] = req.message().unwrap().as_ref().try_into().unwrap();
    let signature = SECP256K1.sign_ecdsa(&Message::from_digest(digest), &secret());
    let signature = if high_s {
        let mut compact = signature.serialize_compact();
        let high = n_minus(&compact[32..]);
        compact[32..].copy_from_slice(&high);
        Signature::from_compact(&compact).unwrap()
    } else {
        signature
    };
    SignOutput::builder()
        .key_id(ARN)
        .signature(Blob::new(signature.serialize_der().to_vec()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .build()
}

/// The request AWS KMS needs for an Ethereum digest.
fn is_digest_request(req: &SignInput) -> bool {
    req.key_id() == Some(ARN)
        && req.message_type() == Some(&MessageType::Digest)
        && req.signing_algorithm() == Some(&SigningAlgorithmSpec::EcdsaSha256)
        && req.message().is_some_and(|m| m.as_ref().len() == 32)
}

fn client(rules: &[&Rule]) -> Client {
    mock_client!(
        aws_sdk_kms,
        RuleMode::Sequential,
        rules.iter().copied(),
        |c| c.retry_config(RetryConfig::disabled())
    )
}

async fn signer(rules: &[&Rule]) -> AwsKmsSigner {
    AwsKmsSigner::from_client(client(rules), ARN, Duration::from_secs(30))
        .await
        .unwrap()
}

/// The Ethereum signer of `digest` by `signature` (r ‖ s ‖ v), recovered independently.
fn recover_address(signature: &[u8; 65], digest: [u8; 32]) -> [u8; 20] {
    let id = RecoveryId::try_from(i32::from(signature[64])).unwrap();
    let sig = RecoverableSignature::from_compact(&signature[..64], id).unwrap();
    let public = SECP256K1
        .recover_ecdsa(&Message::from_digest(digest), &sig)
        .unwrap();
    address(&public.serialize_uncompressed())
}

#[tokio::test(start_paused = true)]
async fn reads_the_public_key_and_pins_the_arn() {
    let public = get_public_key();
    let signer = signer(&[&public]).await;
    assert_eq!(signer.public_key(), public_of(&secret()));
    let reference = signer.reference();
    assert_eq!(reference.key_id, ARN);
    assert_eq!(reference.given, format!("kms:{ARN}"));
    assert_eq!(public.num_calls(), 1);
    assert!(format!("{signer:?}").contains(ARN));
}

#[tokio::test(start_paused = true)]
async fn signs_a_digest_that_recovers_to_the_key_address() {
    let public = get_public_key();
    let sign = mock!(Client::sign)
        .match_requests(is_digest_request)
        .then_compute_output(|req| kms_sign(req, false));
    // MatchAny: a simple rule answers every matching call (Sequential uses it once).
    let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&public, &sign], |c| c
        .retry_config(RetryConfig::disabled()));
    let signer = AwsKmsSigner::from_client(client, ARN, Duration::from_secs(30))
        .await
        .unwrap();
    let want = address(&public_of(&secret()));
    for i in 0..4u8 {
        let digest = [i.wrapping_mul(37).wrapping_add(1); 32];
        let (signature, call) = signer.sign_digest(&digest).await.unwrap();
        assert_eq!(recover_address(&signature, digest), want);
        // What a local key signs for the same digest (RFC 6979: deterministic).
        let (id, compact) = SECP256K1
            .sign_ecdsa_recoverable(&Message::from_digest(digest), &secret())
            .serialize_compact();
        assert_eq!(&signature[..64], &compact[..]);
        assert_eq!(i32::from(signature[64]), i32::from(id));
        assert_eq!((call.operation, call.key_id.as_str()), ("Sign", ARN));
        assert_eq!(call.attempts, 1);
    }
    assert_eq!(sign.num_calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn normalises_a_high_s_signature_from_kms() {
    let public = get_public_key();
    let sign = mock!(Client::sign)
        .match_requests(is_digest_request)
        .then_compute_output(|req| kms_sign(req, true));
    let signer = signer(&[&public, &sign]).await;
    let digest = [0x5a; 32];
    let (signature, _) = signer.sign_digest(&digest).await.unwrap();
    // EIP-2: s ≤ n/2, i.e. s ≤ n − s.
    assert!(signature[32..64] <= n_minus(&signature[32..64])[..]);
    let (_, low) = SECP256K1
        .sign_ecdsa_recoverable(&Message::from_digest(digest), &secret())
        .serialize_compact();
    assert_eq!(&signature[..64], &low[..]);
    assert_eq!(
        recover_address(&signature, digest),
        address(&public_of(&secret()))
    );
}

#[tokio::test(start_paused = true)]
async fn retries_throttling_then_signs() {
    let public = get_public_key();
    let throttled = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
    let slow_down = mock!(Client::sign)
        .match_requests(is_digest_request)
        .sequence()
        .http_status(400, Some(throttled.into()))
        .http_status(429, None)
        .build();
    let sign = mock!(Client::sign)
        .match_requests(is_digest_request)
        .then_compute_output(|req| kms_sign(req, false));
    let signer = signer(&[&public, &slow_down, &sign]).await;
    let (signature, call) = signer.sign_digest(&[3; 32]).await.unwrap();
    assert_eq!(
        recover_address(&signature, [3; 32]),
        address(&public_of(&secret()))
    );
    assert_eq!(call.attempts, 3);
    assert_eq!((slow_down.num_calls(), sign.num_calls()), (2, 1));
}

async fn sign_fails_with(sign: &Rule) -> Error {
    let public = get_public_key();
    signer(&[&public, sign])
        .await
        .sign_digest(&[1; 32])
        .await
        .unwrap_err()
}

#[tokio::test(start_paused = true)]
async fn access_denied_at_sign_is_revocation() {
    // Real KMS answers a missing kms:Sign permission with a JSON AccessDeniedException.
    let body = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/node is not authorized to perform: kms:Sign on resource: key"}"#;
    let sign = mock!(Client::sign)
        .sequence()
        .http_status(400, Some(body.into()))
        .build();
    let err = sign_fails_with(&sign).await;
    assert!(
        matches!(&err, Error::AccessDenied { key, operation: "Sign", .. } if key == ARN),
        "{err}"
    );
    assert_eq!((err.class(), sign.num_calls()), (ErrorClass::Denied, 1));
    assert!(err.to_string().contains("kms:Sign"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_disabled_or_deleted_key_is_revocation() {
    let disabled = mock!(Client::sign)
        .then_error(|| SignError::DisabledException(DisabledException::builder().build()));
    let err = sign_fails_with(&disabled).await;
    assert!(matches!(err, Error::KeyDisabled { .. }), "{err}");
    assert_eq!((err.class(), disabled.num_calls()), (ErrorClass::Denied, 1));

    let pending = mock!(Client::sign).then_error(|| {
        SignError::KmsInvalidStateException(KmsInvalidStateException::builder().build())
    });
    let err = sign_fails_with(&pending).await;
    assert!(matches!(err, Error::KeyPendingDeletion { .. }), "{err}");
    assert_eq!((err.class(), pending.num_calls()), (ErrorClass::Denied, 1));
}

#[tokio::test(start_paused = true)]
async fn gives_up_on_5xx_at_the_deadline() {
    let sign = mock!(Client::sign)
        .sequence()
        .http_status(503, None)
        .repeatedly()
        .build();
    let public = get_public_key();
    let signer = AwsKmsSigner::from_client(client(&[&public, &sign]), ARN, Duration::from_secs(8))
        .await
        .unwrap();
    let err = signer.sign_digest(&[1; 32]).await.unwrap_err();
    let Error::DeadlineExceeded { attempts, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*attempts as usize, sign.num_calls());
    assert!(*attempts > 2, "{attempts}");
    assert_eq!(err.class(), ErrorClass::Unreachable);
}

#[tokio::test(start_paused = true)]
async fn refuses_a_signature_by_another_key() {
    let sign = mock!(Client::sign).then_compute_output(|req| {
        let digest: [u8; 32] = req.message().unwrap().as_ref().try_into().unwrap();
        let other = SecretKey::from_slice(&[0x43; 32]).unwrap();
        let der = SECP256K1
            .sign_ecdsa(&Message::from_digest(digest), &other)
            .serialize_der()
            .to_vec();
        SignOutput::builder()
            .key_id(ARN)
            .signature(Blob::new(der))
            .build()
    });
    let err = sign_fails_with(&sign).await;
    assert!(
        matches!(
            err,
            Error::BadSignerAnswer {
                operation: "Sign",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Corrupt);
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("does not recover to the recorded public key"),
        "{cause}"
    );
}

#[tokio::test(start_paused = true)]
async fn refuses_malformed_sign_answers() {
    let garbage = mock!(Client::sign).then_output(|| {
        SignOutput::builder()
            .key_id(ARN)
            .signature(Blob::new(vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01]))
            .build()
    });
    let err = sign_fails_with(&garbage).await;
    assert!(matches!(err, Error::BadSignerAnswer { .. }), "{err}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("not a strict DER"), "{cause}");

    let empty = mock!(Client::sign).then_output(|| SignOutput::builder().key_id(ARN).build());
    let err = sign_fails_with(&empty).await;
    assert!(matches!(err, Error::BadSignerAnswer { .. }), "{err}");

    let elsewhere = mock!(Client::sign).then_compute_output(|req| {
        let mut out = kms_sign(req, false);
        out.key_id = Some(ARN.replace("1234abcd-", "9999abcd-"));
        out
    });
    let err = sign_fails_with(&elsewhere).await;
    assert!(matches!(err, Error::BadSignerAnswer { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn refuses_a_key_of_another_spec() {
    // AWS reports the spec; moto reports none and the SPKI's curve decides.
    let p256_spec = mock!(Client::get_public_key).then_output(|| {
        public_key_answer(spki(&P256_OID, &public_of(&secret())), KeySpec::EccNistP256)
    });
    let p256_curve = mock!(Client::get_public_key).then_output(|| {
        let mut out = public_key_answer(
            spki(&P256_OID, &public_of(&secret())),
            KeySpec::EccSecgP256K1,
        );
        out.key_spec = None;
        out
    });
    let symmetric = mock!(Client::get_public_key).then_error(|| {
        GetPublicKeyError::UnsupportedOperationException(
            aws_sdk_kms::types::error::UnsupportedOperationException::builder().build(),
        )
    });
    for (rule, needle) in [
        (&p256_spec, "is a ECC_NIST_P256 key"),
        (
            &p256_curve,
            "a key on curve ECC_NIST_P256 (1.2.840.10045.3.1.7)",
        ),
        (
            &symmetric,
            "not an asymmetric ECC_SECG_P256K1 SIGN_VERIFY key",
        ),
    ] {
        let err = AwsKmsSigner::from_client(client(&[rule]), ARN, Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains(needle), "{text}");
        assert!(
            text.contains("aws kms create-key --key-spec ECC_SECG_P256K1 --key-usage SIGN_VERIFY"),
            "{text}"
        );
        assert_eq!(err.class(), ErrorClass::Usage);
    }
}

#[tokio::test(start_paused = true)]
async fn access_denied_at_get_public_key_is_revocation() {
    let body = r#"{"__type":"AccessDeniedException","message":"not authorized to perform: kms:GetPublicKey"}"#;
    let denied = mock!(Client::get_public_key)
        .sequence()
        .http_status(400, Some(body.into()))
        .build();
    let err = AwsKmsSigner::from_client(client(&[&denied]), ARN, Duration::from_secs(30))
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
    assert_eq!((err.class(), denied.num_calls()), (ErrorClass::Denied, 1));
}

#[tokio::test(start_paused = true)]
async fn a_recorded_key_is_checked_against_kms_at_open() {
    let reference = SignerRef {
        given: "kms:alias/validator-1".to_owned(),
        key_id: ARN.to_owned(),
    };
    let public = get_public_key();
    let signer = AwsKmsSigner::recorded_over(
        client(&[&public]),
        &reference,
        &public_of(&secret()),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert_eq!(signer.reference(), reference);
    assert_eq!(public.num_calls(), 1);

    // The bundle recorded another key than KMS holds under the ARN.
    let other = public_of(&SecretKey::from_slice(&[0x43; 32]).unwrap());
    let public = get_public_key();
    let err = AwsKmsSigner::recorded_over(
        client(&[&public]),
        &reference,
        &other,
        Duration::from_secs(30),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadSignerAnswer {
                operation: "GetPublicKey",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Corrupt);
}
