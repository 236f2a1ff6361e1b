//! Clique seals per second with the sealing key in memory, in SoftHSM and in AWS KMS (modeled by
//! `aws-smithy-mocks`: no network, so the KMS row is Cachet's own cost — SDK request/response,
//! DER parsing, low-s, trial recovery, the signing thread — and a real deployment adds its round
//! trip to KMS), in the same run, through the node's path: `Sealer::clique` (seal-journal
//! fsync included) with the key set's `SigningKey`. Also the signature alone
//! (`SigningKey::sign_digest`, no journal). The table gives each row's rate, its ratio to the
//! in-memory row, and the extra time per block as a share of a 1 s clique period.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once per process, so the bench re-runs itself with a temporary
//! token directory. Size: `CACHET_BENCH_SEALS` seals per row (default 200).
//! Run: `cargo bench -p cachet-seal --bench remote_seal`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::{B64, B256, Bytes, U256};
use aws_sdk_kms::Client;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::operation::sign::{SignInput, SignOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use cachet_keyprovider::{RemoteRole, SealingKeyMode, UnlockedKeys};
use cachet_kms::{AwsKmsSigner, DigestSigner, KmsConfig, Pkcs11Signer};
use cachet_seal::{Header, Sealer};
use cachet_testkit::{SoftHsm, USER_PIN};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

const CHILD: &str = "CACHET_BENCH_REMOTE_SEAL_CHILD";
const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os(CHILD).is_none() {
        let hsm = SoftHsm::new();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .envs(hsm.env())
            .env(CHILD, hsm.dir())
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let dir = std::path::PathBuf::from(std::env::var_os(CHILD).unwrap());
    let n: u64 = std::env::var("CACHET_BENCH_SEALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let hsm = SoftHsm::at(&dir);
    hsm.init_token("bench");
    let pin = hsm.pin_file("pin", USER_PIN);
    let uri = format!(
        "pkcs11:token=bench;object=sealer?module-path={}&pin-source=file:{}",
        hsm.module().display(),
        pin.display()
    );
    let deadline = Duration::from_secs(30);
    let token: Arc<dyn DigestSigner> =
        Arc::new(Pkcs11Signer::create(&uri, &KmsConfig::default()).unwrap());
    let rows: Vec<(&str, UnlockedKeys)> = vec![
        (
            "in memory (baseline)",
            UnlockedKeys::generate_for_tests(SealingKeyMode::Separate),
        ),
        (
            "PKCS#11 (SoftHSM 2)",
            UnlockedKeys::with_remote_for_tests(vec![(RemoteRole::Sealing, token)], deadline, None)
                .unwrap(),
        ),
        (
            "AWS KMS (aws-smithy-mocks)",
            UnlockedKeys::with_remote_for_tests(
                vec![(RemoteRole::Sealing, kms_signer())],
                deadline,
                None,
            )
            .unwrap(),
        ),
    ];
    println!("{n} clique seals per row (Sealer::clique: journal fsync + signature), 1 s period\n");
    println!(
        "| sealing key | seals/s | ms/seal | vs in memory | signatures/s (sign only) | extra per block vs 1 s period |"
    );
    println!("|---|---|---|---|---|---|");
    let mut baseline = None;
    for (i, (name, keys)) in rows.iter().enumerate() {
        let key = keys.sealing_key();
        let journal = tempfile::tempdir().unwrap();
        let mut sealer = Sealer::open(journal.path()).unwrap();
        // One warm-up signature (first session, SDK setup).
        key.sign_digest(&[1; 32]).unwrap();
        let started = Instant::now();
        for number in 1..=n {
            sealer
                .clique(&header(number + 1000 * i as u64), &key)
                .unwrap();
        }
        let seal = started.elapsed().as_secs_f64() / n as f64;
        let started = Instant::now();
        for j in 0..n {
            let digest = B256::from(U256::from(j + 7)).0;
            key.sign_digest(&digest).unwrap();
        }
        let sign = started.elapsed().as_secs_f64() / n as f64;
        let base = *baseline.get_or_insert(seal);
        println!(
            "| {name} | {:.0} | {:.3} | {:.2}× | {:.0} | {:.3} % |",
            1.0 / seal,
            seal * 1e3,
            seal / base,
            1.0 / sign,
            (seal - base) * 100.0
        );
        assert!(sealer.journal().holds(
            cachet_seal::Engine::Clique,
            n + 1000 * i as u64,
            0,
            &cachet_seal::clique::seal_hash(&header(n + 1000 * i as u64)).unwrap()
        ));
    }
}

fn header(number: u64) -> Header {
    Header {
        parent_hash: B256::from(U256::from(number)),
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        difficulty: U256::from(2),
        number,
        gas_limit: 30_000_000,
        timestamp: 1_700_000_000 + number,
        extra_data: Bytes::from(vec![0u8; 97]),
        nonce: B64::ZERO,
        base_fee_per_gas: Some(U256::from(7)),
        ..Header::default()
    }
}

fn kms_secret() -> SecretKey {
    SecretKey::from_byte_array(&[0x5d; 32]).unwrap()
}

/// The mocked KMS: a real secp256k1 key; `GetPublicKey` answers its SPKI (RFC 5480), `Sign`
/// a DER signature over the digest as given (`MessageType=DIGEST`).
fn kms_signer() -> Arc<dyn DigestSigner> {
    let point = PublicKey::from_secret_key(SECP256K1, &kms_secret()).serialize_uncompressed();
    let mut spki = vec![
        0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
        0x2b, 0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(&point);
    let public = mock!(Client::get_public_key).then_output(move || {
        GetPublicKeyOutput::builder()
            .key_id(ARN)
            .public_key(Blob::new(spki.clone()))
            .key_spec(KeySpec::EccSecgP256K1)
            .key_usage(KeyUsageType::SignVerify)
            .signing_algorithms(SigningAlgorithmSpec::EcdsaSha256)
            .build()
    });
    let sign = mock!(Client::sign).then_compute_output(|req: &SignInput| {
        let digest: [u8; 32] = req.message().unwrap().as_ref().try_into().unwrap();
        let der = SECP256K1
            .sign_ecdsa(&Message::from_digest(digest), &kms_secret())
            .serialize_der();
        SignOutput::builder()
            .key_id(ARN)
            .signature(Blob::new(der.to_vec()))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .build()
    });
    let client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&public, &sign], |c| c
        .retry_config(RetryConfig::disabled()));
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
    Arc::new(signer)
}
