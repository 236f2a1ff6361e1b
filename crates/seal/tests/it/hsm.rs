//! Clique, QBFT and raft seals made by a key that never leaves a PKCS#11 token (SoftHSM; a token
//! directory and a process per test), through the same `Sealer` and `SignerSync` handle the
//! node uses, verified by Cachet's verifier (the one the seal vectors pin) and by independent
//! peers: py-evm and `EthereumJS` for clique, `PyPI` rlp/eth-keys (`tests/py/engine_seals.py`)
//! for QBFT and raft.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B64, B256, Bytes, U256};
use cachet_keyprovider::{RemoteRole, UnlockedKeys};
use cachet_kms::{DigestSigner, KmsConfig, Pkcs11Signer};
use cachet_seal::bft::{self, BftExtra, Threshold};
use cachet_seal::{Engine, Header, RaftMembers, Sealer, VerifyOptions, qbft};
use cachet_testkit::{SoftHsm, USER_PIN};
use serde_json::Value;

fn run_json(out: std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn lower(a: Address) -> String {
    format!("0x{}", hex::encode(a.as_slice()))
}

/// A key set whose sealing key is a fresh key pair in the test's token.
fn hsm_keys(hsm: &SoftHsm) -> UnlockedKeys {
    hsm.init_token("cachet");
    let pin = hsm.pin_file("pin", USER_PIN);
    let uri = format!(
        "pkcs11:token=cachet;object=sealer?module-path={}&pin-source=file:{}",
        hsm.module().display(),
        pin.display()
    );
    let signer: Arc<dyn DigestSigner> =
        Arc::new(Pkcs11Signer::create(&uri, &KmsConfig::default()).unwrap());
    UnlockedKeys::with_remote_for_tests(
        vec![(RemoteRole::Sealing, signer)],
        Duration::from_secs(30),
        None,
    )
    .unwrap()
}

fn clique_header(number: u64, london: bool) -> Header {
    Header {
        parent_hash: B256::repeat_byte(number as u8),
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        state_root: B256::repeat_byte(0x11),
        difficulty: U256::from(2),
        number,
        gas_limit: 8_000_000,
        timestamp: 1_700_000_000 + number,
        extra_data: Bytes::from(vec![0u8; 97]),
        mix_hash: B256::ZERO,
        nonce: B64::ZERO,
        base_fee_per_gas: london.then(|| U256::from(1_000_000_000u64)),
        ..Header::default()
    }
}

#[test]
#[ignore = "needs softhsm2, py-evm, @ethereumjs/block and PyPI rlp: run scripts/test"]
fn hsm_sealed_clique_qbft_and_raft_blocks_verify_in_cachet_and_independent_peers() {
    SoftHsm::run_test(
        module_path!(),
        "hsm_sealed_clique_qbft_and_raft_blocks_verify_in_cachet_and_independent_peers",
        |hsm| {
            let keys = hsm_keys(hsm);
            let key = keys.sealing_key();
            assert!(key.remote().is_some(), "the sealing key is the token's");
            let me = key.address();
            let datadir = tempfile::tempdir().unwrap();
            let mut sealer = Sealer::open(datadir.path()).unwrap();

            // Clique: eight blocks, half after London.
            let mut rlps = Vec::new();
            for n in 1..=8u64 {
                let sealed = sealer.clique(&clique_header(n, n % 2 == 0), &key).unwrap();
                let opts = VerifyOptions {
                    validators: Some(&[me]),
                    ..VerifyOptions::default()
                };
                assert_eq!(
                    cachet_seal::verify(Engine::Clique, &sealed, &opts)
                        .unwrap()
                        .signer,
                    me
                );
                rlps.push(format!("0x{}", hex::encode(sealed.encode())));
            }
            let mut args = vec!["recover"];
            args.extend(rlps.iter().map(String::as_str));
            let expected = Value::Array(vec![Value::String(format!("{me:?}")); 8]);
            assert_eq!(
                run_json(cachet_testkit::run_python("clique_peer.py", &args)),
                expected,
                "py-evm"
            );
            assert_eq!(
                run_json(cachet_testkit::run_node_script("clique-peer.mjs", &args)),
                expected,
                "ethereumjs"
            );

            // QBFT: this validator proposes (its commit seal made in the token).
            let extra = qbft::encode_extra(&BftExtra {
                vanity: vec![0; 32],
                validators: vec![me],
                ..BftExtra::default()
            });
            let header = Header {
                ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
                beneficiary: me,
                difficulty: U256::from(1),
                number: 9,
                gas_limit: 8_000_000,
                timestamp: 1_700_000_009,
                mix_hash: bft::ISTANBUL_DIGEST,
                extra_data: Bytes::from(extra),
                base_fee_per_gas: Some(U256::from(1)),
                ..Header::default()
            };
            let proposal = sealer
                .bft_propose(Engine::Qbft, &header, 0, me, &key)
                .unwrap();
            let opts = VerifyOptions {
                validators: Some(&[me]),
                threshold: Threshold::BesuTwoThirds,
                ..VerifyOptions::default()
            };
            let recovered = cachet_seal::verify(Engine::Qbft, &proposal, &opts).unwrap();
            assert_eq!(recovered.committers, vec![me]);
            let hex_qbft = format!("0x{}", hex::encode(proposal.encode()));
            let peer = run_json(cachet_testkit::run_python(
                "engine_seals.py",
                &["qbft", &hex_qbft],
            ));
            assert_eq!(
                peer[0]["committers"],
                serde_json::json!([lower(me)]),
                "{peer}"
            );

            // Raft: minter 1 is this key.
            let mut members = RaftMembers::new();
            members.insert(1, key.public_key());
            let block = Header {
                number: 10,
                timestamp: 1_700_000_010_000_000_000,
                difficulty: U256::from(131_072),
                ..Header::default()
            };
            let minted = sealer.raft(&block, 1, &key, &members).unwrap();
            let opts = VerifyOptions {
                raft_members: Some(&members),
                ..VerifyOptions::default()
            };
            let recovered = cachet_seal::verify(Engine::Raft, &minted, &opts).unwrap();
            assert_eq!(recovered.raft_id, Some(1));
            assert_eq!(recovered.signer, me);
            let hex_raft = format!("0x{}", hex::encode(minted.encode()));
            let peer = run_json(cachet_testkit::run_python(
                "engine_seals.py",
                &["raft", &hex_raft],
            ));
            assert_eq!(peer[0]["proposer"], Value::String(lower(me)), "{peer}");
            assert_eq!(peer[0]["raft_id"], Value::from(1), "{peer}");
        },
    );
}
