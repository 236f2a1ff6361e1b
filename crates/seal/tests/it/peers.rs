//! Independent checks against py-evm, `EthereumJS` and the `PyPI` `rlp` package (run by `scripts/test`).

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_seal::bft::{BftExtra, Vote};
use cachet_seal::clique;
use cachet_seal::ibft::IstanbulExtra;
use cachet_seal::{Header, ibft2, qbft, raft};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

fn run_json(out: std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn random_header(rng: &mut StdRng, london: bool) -> Header {
    let mut b32 = || B256::from(rng.r#gen::<[u8; 32]>());
    let (parent, state, tx, rc) = (b32(), b32(), b32(), b32());
    let mut bloom = [0u8; 256];
    rng.fill(&mut bloom[..]);
    let mut extra = vec![0u8; 97];
    rng.fill(&mut extra[..32]);
    Header {
        parent_hash: parent,
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        beneficiary: Address::from(rng.r#gen::<[u8; 20]>()),
        state_root: state,
        transactions_root: tx,
        receipts_root: rc,
        logs_bloom: Bloom::from(bloom),
        difficulty: U256::from(rng.gen_range(1..=2u64)),
        number: rng.gen_range(1..1u64 << 40),
        gas_limit: rng.gen_range(5000..1u64 << 40),
        gas_used: 0,
        timestamp: rng.gen_range(0..1u64 << 40),
        extra_data: Bytes::from(extra),
        mix_hash: B256::ZERO,
        nonce: if rng.r#gen() {
            B64::ZERO
        } else {
            B64::new([0xff; 8])
        },
        base_fee_per_gas: london.then(|| U256::from(rng.gen_range(0..u64::MAX))),
        ..Header::default()
    }
}

#[test]
#[ignore = "needs py-evm and @ethereumjs/block: run scripts/test"]
fn accepts_our_clique_seals_in_py_evm_and_ethereumjs() {
    let mut rng = StdRng::seed_from_u64(0x5ea1);
    let mut rlps = Vec::new();
    let mut signers = Vec::new();
    for i in 0..24 {
        let key = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate).sealing_key();
        let sealed = clique::sign_header(&random_header(&mut rng, i % 2 == 1), &key).unwrap();
        rlps.push(format!("0x{}", hex::encode(sealed.encode())));
        signers.push(Value::String(format!("{:?}", key.address())));
    }
    let args: Vec<&str> = rlps.iter().map(String::as_str).collect();
    let mut py_args = vec!["recover"];
    py_args.extend(&args);
    assert_eq!(
        run_json(cachet_testkit::run_python("clique_peer.py", &py_args)),
        Value::Array(signers.clone()),
        "py-evm"
    );
    assert_eq!(
        run_json(cachet_testkit::run_node_script("clique-peer.mjs", &py_args)),
        Value::Array(signers),
        "ethereumjs"
    );
}

#[test]
#[ignore = "needs py-evm and @ethereumjs/block: run scripts/test"]
fn accepts_clique_seals_made_by_py_evm_and_ethereumjs() {
    for (peer, sealed) in [
        (
            "py-evm",
            run_json(cachet_testkit::run_python(
                "clique_peer.py",
                &["seal", "12", "4242"],
            )),
        ),
        (
            "ethereumjs",
            run_json(cachet_testkit::run_node_script(
                "clique-peer.mjs",
                &["seal", "12", "4242"],
            )),
        ),
    ] {
        let cases = sealed.as_array().unwrap();
        assert_eq!(cases.len(), 12);
        let mut london = 0;
        for c in cases {
            let bytes = hex::decode(&c["rlp"].as_str().unwrap()[2..]).unwrap();
            let h = Header::decode(&bytes).unwrap_or_else(|e| panic!("{peer}: {e}"));
            assert_eq!(h.encode(), bytes, "{peer}: re-encoding");
            assert_eq!(
                h.base_fee_per_gas.is_some(),
                c["london"].as_bool().unwrap(),
                "{peer}"
            );
            london += usize::from(h.base_fee_per_gas.is_some());
            let signer = clique::recover_signer(&h).unwrap();
            assert_eq!(
                format!("{signer:?}"),
                c["signer"].as_str().unwrap(),
                "{peer}"
            );
        }
        assert_eq!(london, 6, "{peer}: half the headers are post-London");
    }
}

fn hx(b: &[u8]) -> Value {
    Value::String(format!("0x{}", hex::encode(b)))
}

#[test]
#[ignore = "needs PyPI rlp and @ethereumjs/rlp: run scripts/test"]
fn accepts_our_bft_extra_structure_in_independent_rlp_decoders() {
    let vals = vec![Address::repeat_byte(1), Address::repeat_byte(2)];
    let seal = [7u8; 65];
    let vanity = vec![9u8; 32];
    let vals_json: Vec<Value> = vals.iter().map(|a| hx(a.as_slice())).collect();
    let add = Some(Vote {
        recipient: Address::repeat_byte(3),
        authorize: true,
    });
    let drop = Some(Vote {
        recipient: Address::repeat_byte(3),
        authorize: false,
    });
    let extra = |vote, round| BftExtra {
        vanity: vanity.clone(),
        validators: vals.clone(),
        vote,
        round,
        committed_seals: vec![seal],
    };
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    // IBFT 2.0: empty vote 0x80, drop byte 0x00, 4-byte round.
    for (vote, vote_json) in [
        (None, json!("0x")),
        (add, json!([hx(&[3; 20]), "0xff"])),
        (drop, json!([hx(&[3; 20]), "0x00"])),
    ] {
        inputs.push(ibft2::encode_extra(&extra(vote, 0x01_0203)));
        expected.push(json!([
            hx(&vanity),
            vals_json,
            vote_json,
            "0x00010203",
            [hx(&seal)]
        ]));
    }
    // QBFT: empty vote is an empty list, drop byte is 0x80 (empty string), minimal round.
    for (vote, vote_json) in [
        (None, json!([])),
        (add, json!([hx(&[3; 20]), "0xff"])),
        (drop, json!([hx(&[3; 20]), "0x"])),
    ] {
        inputs.push(qbft::encode_extra(&extra(vote, 0x01_0203)));
        expected.push(json!([
            hx(&vanity),
            vals_json,
            vote_json,
            "0x010203",
            [hx(&seal)]
        ]));
        inputs.push(qbft::encode_extra(&extra(vote, 0)));
        expected.push(json!([
            hx(&vanity),
            vals_json,
            vote_json,
            "0x",
            [hx(&seal)]
        ]));
    }
    // IBFT 1.0: the RLP after the 32-byte vanity.
    let ibft = IstanbulExtra {
        vanity: [0; 32],
        validators: vals.clone(),
        seal: seal.to_vec(),
        committed_seals: vec![seal, seal],
    };
    inputs.push(ibft.encode()[32..].to_vec());
    expected.push(json!([vals_json, hx(&seal), [hx(&seal), hx(&seal)]]));
    // Raft: [ascii hex id, sig] after the vanity.
    let r = raft::RaftSeal {
        raft_id: 0x1a2,
        signature: seal,
    }
    .encode();
    inputs.push(r[32..].to_vec());
    expected.push(json!([hx(b"1a2"), hx(&seal)]));

    let hexes: Vec<String> = inputs
        .iter()
        .map(|i| format!("0x{}", hex::encode(i)))
        .collect();
    let mut args = vec!["rlp-structure"];
    args.extend(hexes.iter().map(String::as_str));
    assert_eq!(
        run_json(cachet_testkit::run_python("clique_peer.py", &args)),
        Value::Array(expected.clone()),
        "PyPI rlp"
    );
    assert_eq!(
        run_json(cachet_testkit::run_node_script("clique-peer.mjs", &args)),
        Value::Array(expected),
        "@ethereumjs/rlp"
    );
}
