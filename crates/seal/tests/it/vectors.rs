//! Every vector in `testdata/vectors/{clique,ibft,qbft,raft}.json`, byte for byte.

use alloy_primitives::{Address, B256, keccak256};
use cachet_seal::bft::{BftExtra, Vote};
use cachet_seal::clique::{self, CliqueExtra};
use cachet_seal::ibft::{self, IstanbulExtra};
use cachet_seal::{Error, Header, RaftMembers, header_from_json, ibft2, qbft, raft};
use serde_json::Value;

use crate::{addr, addrs, b256, case, hx, keys, load, seal65};

fn header_of(c: &Value) -> Header {
    let rlp = hx(&c["header_rlp"]);
    let h = Header::decode(&rlp).unwrap();
    assert_eq!(h.encode(), rlp, "{}: header re-encoding", c["name"]);
    let from_json = header_from_json(&c["header"].to_string()).unwrap();
    assert_eq!(from_json, h, "{}: json and rlp headers differ", c["name"]);
    h
}

#[test]
fn accepts_every_clique_vector() {
    let cases = load("clique");
    for c in &cases {
        let name = c["name"].as_str().unwrap();
        if c.get("header_rlp").is_none() {
            let extra = CliqueExtra::decode(&hx(&c["extraData"])).unwrap();
            assert_eq!(extra.signers, addrs(&c["checkpoint_signers"]), "{name}");
            assert_eq!(extra.encode(), hx(&c["extraData"]), "{name}");
            continue;
        }
        let h = header_of(c);
        if name != "geth_TestSealHash" {
            assert_eq!(h.hash_slow(), b256(&c["block_hash"]), "{name}: block hash");
        }
        assert_eq!(
            clique::seal_rlp(&h).unwrap(),
            hx(&c["seal_rlp"]),
            "{name}: seal rlp"
        );
        assert_eq!(
            clique::seal_hash(&h).unwrap(),
            b256(&c["seal_hash"]),
            "{name}: seal hash"
        );
        let extra = CliqueExtra::decode(&h.extra_data).unwrap();
        assert_eq!(extra.vanity.to_vec(), hx(&c["extra_vanity"]), "{name}");
        assert_eq!(extra.seal.to_vec(), hx(&c["extra_seal"]), "{name}");
        if let Some(signers) = c.get("checkpoint_signers") {
            assert_eq!(extra.signers, addrs(signers), "{name}");
        }
        match c["signer"].as_str() {
            Some(_) => assert_eq!(
                clique::recover_signer(&h).unwrap(),
                addr(&c["signer"]),
                "{name}: signer"
            ),
            None => assert!(
                matches!(clique::recover_signer(&h), Err(Error::Unsealed { .. })),
                "{name}"
            ),
        }
    }
}

#[test]
fn rejects_london_seal_hash_without_base_fee() {
    let cases = load("clique");
    let c = case(&cases, "goerli_5102442_london");
    let mut h = header_of(c);
    h.base_fee_per_gas = None;
    assert_ne!(clique::recover_signer(&h).unwrap(), addr(&c["signer"]));
}

#[test]
fn rejects_clique_headers_with_shanghai_fields() {
    let cases = load("clique");
    let mut h = header_of(case(&cases, "goerli_5102442_london"));
    h.withdrawals_root = Some(B256::ZERO);
    assert!(matches!(
        clique::seal_hash(&h),
        Err(Error::CliqueUnsupportedField {
            field: "withdrawalsRoot"
        })
    ));
    let mut h = header_of(case(&cases, "goerli_1"));
    h.parent_beacon_block_root = Some(B256::ZERO);
    assert!(matches!(
        clique::recover_signer(&h),
        Err(Error::CliqueUnsupportedField { .. })
    ));
}

#[test]
fn accepts_goerli_chain_through_the_clique_snapshot() {
    let cases = load("clique");
    let genesis = header_of(case(&cases, "goerli_genesis"));
    let mut snap = clique::Snapshot::from_checkpoint(&genesis, 30_000).unwrap();
    let one = header_of(case(&cases, "goerli_1"));
    let two = header_of(case(&cases, "goerli_2"));
    assert_eq!(
        snap.apply(&one).unwrap(),
        addr(&case(&cases, "goerli_1")["signer"])
    );
    // One signer: it is always in turn and never "recent" for the next block (limit 1).
    assert_eq!(
        snap.apply(&two).unwrap(),
        addr(&case(&cases, "goerli_2")["signer"])
    );
    let mut bad = two.clone();
    bad.difficulty = alloy_primitives::U256::from(1);
    let mut s2 = clique::Snapshot::from_checkpoint(&genesis, 30_000).unwrap();
    s2.apply(&one).unwrap();
    assert!(s2.apply(&bad).is_err());
}

#[test]
fn accepts_every_ibft1_vector() {
    let cases = load("ibft");
    // Real Quorum IBFT block 1: proposer, committers in seal order and block hash stated.
    for name in ["ibft1-quorum-real-block1", "ibft1-quorum-computed-novote"] {
        let c = case(&cases, name);
        let h = header_of(c);
        let extra = IstanbulExtra::decode(&h.extra_data).unwrap();
        assert_eq!(extra.encode(), h.extra_data.to_vec());
        assert_eq!(extra.validators, addrs(&c["validators"]), "{name}");
        assert_eq!(
            ibft::proposer_seal_extra(&extra),
            hx(&c["extra_for_proposer_seal_hex"]),
            "{name}"
        );
        assert_eq!(
            ibft::block_hash_extra(&extra),
            hx(&c["extra_for_block_hash_hex"]),
            "{name}"
        );
        assert_eq!(
            ibft::proposer_sig_hash(&h).unwrap(),
            b256(&c["proposer_sighash"]),
            "{name}"
        );
        assert_eq!(
            keccak256(ibft::proposer_sig_hash(&h).unwrap()),
            b256(&c["proposer_signed_digest_keccak_of_sighash"]),
            "{name}"
        );
        assert_eq!(extra.seal, hx(&c["proposer_seal"]), "{name}");
        let hash = ibft::block_hash(&h).unwrap();
        assert_eq!(hash, b256(&c["block_hash"]), "{name}");
        assert_eq!(
            ibft::commit_digest(&hash),
            b256(&c["committed_seal_digest"]),
            "{name}"
        );
        let seals = ibft::verify(
            &h,
            Some(&extra.validators),
            cachet_seal::bft::Threshold::QuorumMoreThanF,
        )
        .unwrap();
        assert_eq!(
            seals.proposer,
            addr(c.get("proposer").unwrap_or(&c["proposer_address"])),
            "{name}"
        );
        let committed: Vec<Value> = c["committed_seals"].as_array().unwrap().clone();
        let expected_committers: Vec<Address> = match c.get("committers") {
            Some(list) => addrs(list),
            None => committed.iter().map(|s| addr(&s["signer"])).collect(),
        };
        assert_eq!(seals.committers, expected_committers, "{name}");
        if let Some(naive) = c.get("naive_keccak_of_full_header_rlp") {
            assert_eq!(h.hash_slow(), b256(naive), "{name}");
        }
        assert_ne!(hash, h.hash_slow(), "{name}");
    }
}

#[test]
fn round_trips_ibft1_signing_with_vector_keys() {
    let cases = load("ibft");
    let c = case(&cases, "ibft1-quorum-computed-novote");
    let sealed = header_of(c);
    // Strip the proposer seal and committed seals, then seal again with the vector key.
    let mut extra = IstanbulExtra::decode(&sealed.extra_data).unwrap();
    extra.seal.clear();
    extra.committed_seals.clear();
    let bare = Header {
        extra_data: extra.encode().into(),
        ..sealed
    };
    let proposer = keys(&c["proposer_nodekey"]).node_key();
    let proposed = ibft::sign_proposal(&bare, proposer.signer()).unwrap();
    let extra = IstanbulExtra::decode(&proposed.extra_data).unwrap();
    assert_eq!(extra.seal, hx(&c["proposer_seal"]));
    let mut seals = Vec::new();
    for s in c["committed_seals"].as_array().unwrap() {
        let k = keys(&s["signer_nodekey"]).node_key();
        let seal = ibft::sign_commit(&proposed, k.signer()).unwrap();
        assert_eq!(seal.to_vec(), hx(&s["seal"]));
        seals.push(seal);
    }
    let full = ibft::with_committed_seals(&proposed, &seals).unwrap();
    assert_eq!(full.encode(), hx(&c["header_rlp"]));
}

#[test]
fn accepts_ibft1_codec_vectors() {
    let cases = load("ibft");
    let c = case(&cases, "ibft1-quorum-TestHeaderHash");
    let h = header_of(c);
    assert_eq!(ibft::block_hash(&h).unwrap(), b256(&c["block_hash"]));

    let c = case(&cases, "ibft1-quorum-extra-decode");
    let mut bytes = hx(&c["vanity"]);
    bytes.extend(hx(&c["extra_after_vanity_hex"]));
    let e = IstanbulExtra::decode(&bytes).unwrap();
    assert_eq!(e.validators, addrs(&c["decoded"]["validators"]));
    assert!(e.seal.is_empty() && e.committed_seals.is_empty());
    assert_eq!(e.encode(), bytes);

    let c = case(&cases, "ibft1-quorum-examples-7nodes-genesis-extra");
    let bytes = hx(&c["extraData"]);
    let e = IstanbulExtra::decode(&bytes).unwrap();
    assert_eq!(e.validators, addrs(&c["decoded"]["validators"]));
    assert_eq!(e.seal, vec![0u8; 65]);
    assert_eq!(e.encode(), bytes);
}

fn check_bft_decoded(e: &BftExtra, d: &Value) {
    assert_eq!(e.vanity, hx(&d["vanity"]));
    if let Some(v) = d.get("validators") {
        assert_eq!(e.validators, addrs(v));
    }
    if let Some(r) = d.get("round") {
        assert_eq!(u64::from(e.round), r.as_u64().unwrap());
    }
    match d.get("vote") {
        Some(Value::Null) => assert_eq!(e.vote, None),
        Some(v) => assert_eq!(
            e.vote,
            Some(Vote {
                recipient: addr(&v["recipient"]),
                authorize: v["authorize"].as_bool().unwrap()
            })
        ),
        None => {}
    }
    if let Some(s) = d.get("committed_seals") {
        let want: Vec<[u8; 65]> = s
            .as_array()
            .unwrap()
            .iter()
            .map(|x| seal65(x.get("raw").unwrap_or(x)))
            .collect();
        assert_eq!(e.committed_seals, want);
    }
}

#[test]
fn accepts_every_ibft2_vector() {
    let cases = load("ibft");
    let c = case(&cases, "ibft2-besu-codec-known-raw-hex");
    let bytes = hx(&c["extraData"]);
    let e = ibft2::decode_extra(&bytes).unwrap();
    check_bft_decoded(&e, &c["decoded"]);
    assert_eq!(ibft2::encode_extra(&e), bytes);
    // The same content with a minimal round is QBFT, not IBFT 2.0.
    assert!(qbft::decode_extra(&bytes).is_err());

    let c = case(&cases, "ibft2-genesis-computed-encodeFromAddresses");
    let vals = addrs(&case(&cases, "ibft2-computed-7nodes-novote")["validators"]);
    let genesis = BftExtra {
        vanity: vec![0; 32],
        validators: vals,
        ..BftExtra::default()
    };
    assert_eq!(ibft2::encode_extra(&genesis), hx(&c["extraData"]));
    assert_eq!(ibft2::decode_extra(&hx(&c["extraData"])).unwrap(), genesis);

    for name in [
        "ibft2-besu-BftBlockHashingTest-replica",
        "ibft2-computed-7nodes-novote",
    ] {
        let c = case(&cases, name);
        let h = header_of(c);
        let e = ibft2::decode_extra(&h.extra_data).unwrap();
        assert_eq!(ibft2::encode_extra(&e), h.extra_data.to_vec(), "{name}");
        assert_eq!(u64::from(e.round), c["round"].as_u64().unwrap(), "{name}");
        assert_eq!(
            ibft2::commit_seal_extra(&e),
            hx(&c["extra_for_commit_seal_hex"]),
            "{name}"
        );
        assert_eq!(
            ibft2::block_hash_extra(&e),
            hx(&c["extra_for_block_hash_hex"]),
            "{name}"
        );
        assert_eq!(
            ibft2::commit_digest(&h).unwrap(),
            b256(&c["commit_seal_digest"]),
            "{name}"
        );
        assert_eq!(
            ibft2::block_hash(&h).unwrap(),
            b256(&c["block_hash"]),
            "{name}"
        );
        let mut seals = Vec::new();
        for s in c["committed_seals"].as_array().unwrap() {
            let k = keys(&s["signer_privkey"]).node_key();
            let seal = ibft2::sign_commit(&h, k.signer()).unwrap();
            assert_eq!(seal.to_vec(), hx(&s["seal"]), "{name}");
            seals.push(seal);
        }
        assert_eq!(
            ibft2::with_committed_seals(&h, &seals).unwrap(),
            h,
            "{name}"
        );
        let r = ibft2::recover(&h).unwrap();
        let want: Vec<Address> = c["committed_seals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| addr(&s["signer"]))
            .collect();
        assert_eq!(r.committers, want, "{name}");
    }
}

#[test]
fn accepts_every_qbft_vector() {
    let cases = load("qbft");
    for name in [
        "qbft-besu-codec-known-raw-hex",
        "qbft-besu-validator-contract-genesis",
        "qbft-quorum-TestPrepareExtra",
        "qbft-quorum-TestExtractToQBFTExtra-empty-vanity",
        "qbft-quorum-TestWriteRoundNumber",
        "qbft-quorum-examples-7nodes-genesis-extra",
    ] {
        let c = case(&cases, name);
        let bytes = hx(&c["extraData"]);
        let e = qbft::decode_extra(&bytes).unwrap_or_else(|err| panic!("{name}: {err}"));
        check_bft_decoded(&e, &c["decoded"]);
        assert_eq!(qbft::encode_extra(&e), bytes, "{name}");
    }
    let c = case(&cases, "qbft-computed-round0-novote");
    let h = header_of(c);
    let e = qbft::decode_extra(&h.extra_data).unwrap();
    assert_eq!(
        qbft::commit_seal_extra(&e),
        hx(&c["extra_for_commit_seal_hex"])
    );
    assert_eq!(
        qbft::block_hash_extra(&e),
        hx(&c["extra_for_block_hash_hex"])
    );
    assert_eq!(
        qbft::commit_digest(&h).unwrap(),
        b256(&c["commit_seal_digest"])
    );
    assert_eq!(qbft::block_hash(&h).unwrap(), b256(&c["block_hash"]));
    assert_ne!(h.hash_slow(), qbft::block_hash(&h).unwrap());
    assert_eq!(h.hash_slow(), b256(&c["naive_keccak_of_full_header_rlp"]));
    let mut seals = Vec::new();
    for s in c["committed_seals"].as_array().unwrap() {
        let k = keys(&s["signer_nodekey"]).node_key();
        let seal = qbft::sign_commit(&h, k.signer()).unwrap();
        assert_eq!(seal.to_vec(), hx(&s["seal"]));
        seals.push(seal);
    }
    assert_eq!(qbft::with_committed_seals(&h, &seals).unwrap(), h);
    let r = qbft::verify(
        &h,
        Some(&addrs(&c["validators"])),
        cachet_seal::bft::Threshold::BesuTwoThirds,
    )
    .unwrap();
    assert_eq!(r.proposer, addr(&c["proposer_address"]));
}

#[test]
fn accepts_the_raft_vector() {
    let cases = load("raft");
    let c = &cases[0];
    let rlp = hx(&c["signing_header_rlp"]);
    let h = Header::decode(&rlp).unwrap();
    assert_eq!(
        h,
        header_from_json(&c["signing_header"].to_string()).unwrap()
    );
    assert_eq!(raft::signing_hash(&h), b256(&c["signed_digest"]));
    assert_eq!(
        raft::raft_id_ascii(5).as_bytes(),
        hx(&c["raft_id_bytes_hex"]).as_slice()
    );
    let mut members = RaftMembers::new();
    members.insert(
        5,
        RaftMembers::parse_enode(c["enode_pubkey"].as_str().unwrap()).unwrap(),
    );
    let k = keys(&c["nodekey"]).node_key();
    let sealed = raft::sign_block(&h, 5, k.signer(), &members).unwrap();
    assert_eq!(sealed.extra_data.to_vec(), hx(&c["extra_data"]));
    assert_eq!(
        sealed.extra_data.len() as u64,
        c["extra_data_len"].as_u64().unwrap()
    );
    let seal = raft::RaftSeal::decode(&sealed.extra_data).unwrap();
    assert_eq!(seal.signature.to_vec(), hx(&c["signature"]));
    let signer = raft::verify(&sealed, &members).unwrap();
    assert_eq!(signer.address, addr(&c["node_address"]));
    assert_eq!(signer.raft_id, 5);
}
