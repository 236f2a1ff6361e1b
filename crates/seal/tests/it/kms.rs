//! Clique seals made by a key that never leaves AWS KMS, through the node's path: the
//! `AwsKmsSigner` over the real SDK client (answers modeled with `aws-smithy-mocks`: KMS holds a
//! real secp256k1 key, `GetPublicKey` answers its RFC 5480 `SubjectPublicKeyInfo`, `Sign` with
//! `MessageType=DIGEST` a DER ECDSA signature over the requested digest, high-s half the time,
//! as KMS may), behind the key set's `SigningKey` and its signing thread, into `Sealer::clique`;
//! the seals verify with Cachet's verifier. An `AccessDeniedException` on `Sign` is a
//! revocation (class denied, published to the holder).

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{B64, B256, Bytes, U256};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::operation::sign::{SignInput, SignOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use cachet_keyprovider::{ErrorClass, RemoteRole, UnlockedKeys};
use cachet_kms::{AwsKmsSigner, DigestSigner};
use cachet_seal::{Engine, Header, Sealer, VerifyOptions};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn secret() -> SecretKey {
    SecretKey::from_byte_array(&[0x5c; 32]).unwrap()
}

/// RFC 5480 SPKI for an uncompressed secp256k1 point: SEQUENCE { SEQUENCE { id-ecPublicKey
/// (1.2.840.10045.2.1), secp256k1 (1.3.132.0.10) }, BIT STRING { 0 unused bits, point } }.
fn spki(point: &[u8; 65]) -> Vec<u8> {
    let mut out = vec![
        0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
        0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
    ];
    out.extend_from_slice(point);
    out
}

fn get_public_key() -> Rule {
    mock!(Client::get_public_key)
        .match_requests(|req| req.key_id() == Some(ARN))
        .then_output(|| {
            GetPublicKeyOutput::builder()
                .key_id(ARN)
                .public_key(Blob::new(spki(
                    &PublicKey::from_secret_key(SECP256K1, &secret()).serialize_uncompressed(),
                )))
                .key_spec(KeySpec::EccSecgP256K1)
                .key_usage(KeyUsageType::SignVerify)
                .signing_algorithms(SigningAlgorithmSpec::EcdsaSha256)
                .build()
        })
}

/// secp256k1's order n (SEC 2 v2 § 2.4.1), for answering with the high-s twin.
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

/// KMS `Sign` with `MessageType=DIGEST`: ECDSA over the 32 bytes as given, DER; the high-s
/// twin when the digest's first byte is odd.
fn kms_sign(req: &SignInput) -> SignOutput {
    assert_eq!(req.message_type(), Some(&MessageType::Digest));
    assert_eq!(
        req.signing_algorithm(),
        Some(&SigningAlgorithmSpec::EcdsaSha256)
    );
    let digest: [u8; 32] = req.message().unwrap().as_ref().try_into().unwrap();
    let mut compact = SECP256K1
        .sign_ecdsa(&Message::from_digest(digest), &secret())
        .serialize_compact();
    if digest[0] & 1 == 1 {
        let high = n_minus(&compact[32..]);
        compact[32..].copy_from_slice(&high);
    }
    let der = Signature::from_compact(&compact).unwrap().serialize_der();
    SignOutput::builder()
        .key_id(ARN)
        .signature(Blob::new(der.to_vec()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .build()
}

fn kms_keys(rules: &[&Rule]) -> UnlockedKeys {
    let client = mock_client!(
        aws_sdk_kms,
        RuleMode::MatchAny,
        rules.iter().copied(),
        |c| c.retry_config(RetryConfig::disabled())
    );
    let signer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(AwsKmsSigner::from_client(
            client,
            ARN,
            Duration::from_secs(5),
        ))
        .unwrap();
    let signer: Arc<dyn DigestSigner> = Arc::new(signer);
    UnlockedKeys::with_remote_for_tests(
        vec![(RemoteRole::Sealing, signer)],
        Duration::from_secs(30),
        None,
    )
    .unwrap()
}

fn clique_header(number: u64) -> Header {
    Header {
        parent_hash: B256::repeat_byte(number as u8),
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        difficulty: U256::from(2),
        number,
        gas_limit: 8_000_000,
        timestamp: 1_700_000_000 + number,
        extra_data: Bytes::from(vec![0u8; 97]),
        nonce: B64::ZERO,
        base_fee_per_gas: Some(U256::from(7)),
        ..Header::default()
    }
}

#[test]
fn kms_sealed_clique_blocks_verify_and_recover_to_the_kms_key() {
    let public = get_public_key();
    let sign = mock!(Client::sign).then_compute_output(kms_sign);
    let keys = kms_keys(&[&public, &sign]);
    let key = keys.sealing_key();
    let expected =
        cachet_keyprovider::address_of(&PublicKey::from_secret_key(SECP256K1, &secret()));
    assert_eq!(key.address(), expected);
    let dir = tempfile::tempdir().unwrap();
    let mut sealer = Sealer::open(dir.path()).unwrap();
    for n in 1..=6 {
        let sealed = sealer.clique(&clique_header(n), &key).unwrap();
        let opts = VerifyOptions {
            validators: Some(&[expected]),
            ..VerifyOptions::default()
        };
        let recovered = cachet_seal::verify(Engine::Clique, &sealed, &opts).unwrap();
        assert_eq!(recovered.signer, expected);
        // Low-s whatever KMS answered (EIP-2): s ≤ n − s.
        let extra = &sealed.extra_data[32..];
        assert!(extra[32..64] <= n_minus(&extra[32..64])[..], "block {n}");
    }
    assert_eq!(sign.num_calls(), 6);
}

#[test]
fn access_denied_on_sign_is_a_published_revocation() {
    let public = get_public_key();
    let body = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/node is not authorized to perform: kms:Sign"}"#;
    let denied = mock!(Client::sign)
        .sequence()
        .http_status(400, Some(body.into()))
        .build();
    let keys = kms_keys(&[&public, &denied]);
    let revoked = keys.signer_revoked();
    let err = keys.sealing_key().sign_digest(&[1; 32]).unwrap_err();
    let found = revoked.borrow().clone().expect("revocation published");
    assert!(
        found.to_string().starts_with(&format!(
            "the sealing key in kms:{ARN} was revoked: Sign denied"
        )),
        "{found}"
    );
    // The handle's error carries the class: denied, exit 10 in the node.
    assert_eq!(err.class(), ErrorClass::Denied, "{err}");
}
