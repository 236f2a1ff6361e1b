//! Sealing round trips, header rules, thresholds, strict decoding and error messages.

use alloy_primitives::{Address, B64, B256, Bytes, U256};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_seal::bft::{self, BftExtra, Threshold, Vote};
use cachet_seal::clique::{self, CliqueExtra};
use cachet_seal::ibft::{self, IstanbulExtra};
use cachet_seal::{DecodeError, Engine, Error, Header, RaftMembers, Sealer, ibft2, qbft, raft};

use crate::{case, hx, load};

fn clique_header(number: u64, london: bool) -> Header {
    Header {
        parent_hash: B256::repeat_byte(number as u8),
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        number,
        difficulty: U256::from(2),
        gas_limit: 30_000_000,
        timestamp: 1_700_000_000 + number,
        extra_data: Bytes::from(vec![0u8; 97]),
        base_fee_per_gas: london.then(|| U256::from(7)),
        ..Header::default()
    }
}

fn random_keys() -> UnlockedKeys {
    UnlockedKeys::generate_for_tests(SealingKeyMode::Separate)
}

#[test]
fn round_trips_clique_seals_pre_and_post_london() {
    for london in [false, true] {
        let keys = random_keys();
        let k = keys.sealing_key();
        let h = clique_header(3, london);
        let sealed = clique::sign_header(&h, &k).unwrap();
        assert_eq!(clique::recover_signer(&sealed).unwrap(), k.address());
        assert_eq!(
            clique::seal_hash(&sealed).unwrap(),
            clique::seal_hash(&h).unwrap()
        );
        let decoded = Header::decode(&sealed.encode()).unwrap();
        assert_eq!(clique::recover_signer(&decoded).unwrap(), k.address());
    }
}

#[test]
fn accepts_clique_votes_and_rejects_recent_signers() {
    let a = random_keys().sealing_key();
    let b = random_keys().sealing_key();
    let mut signers = vec![a.address(), b.address()];
    signers.sort();
    let genesis = Header {
        extra_data: Bytes::from(
            CliqueExtra {
                vanity: [0; 32],
                signers: signers.clone(),
                seal: [0; 65],
            }
            .encode(),
        ),
        ..clique_header(0, false)
    };
    let mut snap = clique::Snapshot::from_checkpoint(&genesis, 30_000).unwrap();
    let key_of = |addr: Address| if addr == a.address() { &a } else { &b };
    // Block 1: signers[1] is in turn. Vote to add c.
    let c = random_keys().sealing_key();
    let mut h1 = clique_header(1, false);
    h1.beneficiary = c.address();
    h1.nonce = clique::NONCE_AUTH;
    h1.difficulty = snap.difficulty(1, &signers[1]);
    let s1 = clique::sign_header(&h1, key_of(signers[1])).unwrap();
    snap.apply(&s1).unwrap();
    assert!(
        !snap.signers.contains(&c.address()),
        "one vote of two is not a majority"
    );
    // The same signer again at block 2 is "recent" (limit = 2).
    let mut h2 = clique_header(2, false);
    h2.difficulty = snap.difficulty(2, &signers[1]);
    let again = clique::sign_header(&h2, key_of(signers[1])).unwrap();
    let err = snap.clone().apply(&again).unwrap_err();
    assert!(err.to_string().contains("signed recently"), "{err}");
    // The other signer votes too: c is added.
    h2.beneficiary = c.address();
    h2.nonce = clique::NONCE_AUTH;
    h2.difficulty = snap.difficulty(2, &signers[0]);
    assert_eq!(h2.difficulty, U256::from(2), "signers[0] is in turn at 2");
    let s2 = clique::sign_header(&h2, key_of(signers[0])).unwrap();
    snap.apply(&s2).unwrap();
    assert!(snap.signers.contains(&c.address()));
    assert!(snap.tally.is_empty());
    // Wrong difficulty is refused.
    let mut h3 = clique_header(3, false);
    h3.difficulty = U256::from(1);
    let s3 = clique::sign_header(&h3, &c).unwrap();
    let snap3 = snap.clone();
    if snap3.in_turn(3, &c.address()) {
        assert!(snap.clone().apply(&s3).is_err());
    }
}

#[test]
fn rejects_clique_rule_breaks() {
    let k = random_keys().sealing_key();
    let mut h = clique_header(5, false);
    h.mix_hash = B256::repeat_byte(1);
    assert!(clique::verify_header_fields(&clique::sign_header(&h, &k).unwrap(), 30_000).is_err());
    let mut h = clique_header(5, false);
    h.nonce = B64::new([1; 8]);
    assert!(clique::verify_header_fields(&h, 30_000).is_err());
    let mut h = clique_header(5, false);
    h.extra_data = Bytes::from(vec![0u8; 97 + 20]);
    assert!(clique::verify_header_fields(&h, 30_000).is_err());
    let mut h = clique_header(5, false);
    h.extra_data = Bytes::from(vec![0u8; 96]);
    assert!(matches!(
        clique::seal_hash(&h),
        Err(Error::Decode(DecodeError::ExtraTooShort { .. }))
    ));
    h.extra_data = Bytes::from(vec![0u8; 97 + 7]);
    assert!(matches!(
        CliqueExtra::decode(&h.extra_data),
        Err(DecodeError::SignerSectionLength { found: 7 })
    ));
}

fn bft_header(engine: Engine, validators: &[Address], proposer: Address) -> Header {
    let extra = match engine {
        Engine::Ibft => IstanbulExtra {
            vanity: [0; 32],
            validators: validators.to_vec(),
            seal: vec![],
            committed_seals: vec![],
        }
        .encode(),
        Engine::Ibft2 => ibft2::encode_extra(&BftExtra {
            vanity: vec![0; 32],
            validators: validators.to_vec(),
            ..BftExtra::default()
        }),
        _ => qbft::encode_extra(&BftExtra {
            vanity: vec![0; 32],
            validators: validators.to_vec(),
            vote: Some(Vote {
                recipient: Address::repeat_byte(9),
                authorize: false,
            }),
            ..BftExtra::default()
        }),
    };
    Header {
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        beneficiary: if engine == Engine::Ibft {
            Address::ZERO
        } else {
            proposer
        },
        difficulty: U256::from(1),
        number: 9,
        mix_hash: bft::ISTANBUL_DIGEST,
        extra_data: Bytes::from(extra),
        base_fee_per_gas: Some(U256::from(1)),
        ..Header::default()
    }
}

#[test]
fn round_trips_bft_seals_and_applies_thresholds() {
    let keys: Vec<UnlockedKeys> = (0..6).map(|_| random_keys()).collect();
    let mut vals: Vec<Address> = keys
        .iter()
        .map(|k| k.node_key().signer().address())
        .collect();
    vals.sort();
    let by_addr = |a: &Address| {
        keys.iter()
            .find(|k| k.node_key().signer().address() == *a)
            .unwrap()
            .node_key()
    };
    for engine in [Engine::Ibft, Engine::Ibft2, Engine::Qbft] {
        let proposer = by_addr(&vals[0]);
        let mut h = bft_header(engine, &vals, vals[0]);
        if engine == Engine::Ibft {
            h = ibft::sign_proposal(&h, proposer.signer()).unwrap();
        }
        let sign = |h: &Header, a: &Address| {
            let k = by_addr(a);
            match engine {
                Engine::Ibft => ibft::sign_commit(h, k.signer()).unwrap(),
                Engine::Ibft2 => ibft2::sign_commit(h, k.signer()).unwrap(),
                _ => qbft::sign_commit(h, k.signer()).unwrap(),
            }
        };
        let with = |h: &Header, seals: &[[u8; 65]]| match engine {
            Engine::Ibft => ibft::with_committed_seals(h, seals).unwrap(),
            Engine::Ibft2 => ibft2::with_committed_seals(h, seals).unwrap(),
            _ => qbft::with_committed_seals(h, seals).unwrap(),
        };
        let verify = |h: &Header, t| match engine {
            Engine::Ibft => ibft::verify(h, Some(&vals), t),
            Engine::Ibft2 => ibft2::verify(h, Some(&vals), t),
            _ => qbft::verify(h, Some(&vals), t),
        };
        // N = 6: two seals satisfy Quorum (> F = 1) but not Besu (>= 4).
        let two: Vec<[u8; 65]> = vals[..2].iter().map(|a| sign(&h, a)).collect();
        let h2 = with(&h, &two);
        let got = verify(&h2, Threshold::QuorumMoreThanF).unwrap();
        assert_eq!(got.committers, vals[..2].to_vec(), "{engine}");
        assert_eq!(got.proposer, vals[0], "{engine}");
        assert!(matches!(
            verify(&h2, Threshold::BesuTwoThirds),
            Err(Error::InsufficientSeals {
                found: 2,
                required: 4,
                ..
            })
        ));
        let four: Vec<[u8; 65]> = vals[..4].iter().map(|a| sign(&h, a)).collect();
        verify(&with(&h, &four), Threshold::BesuTwoThirds).unwrap();
        // A duplicated committer does not count twice.
        let dup = vec![four[0], four[0], four[1], four[2]];
        assert!(matches!(
            verify(&with(&h, &dup), Threshold::BesuTwoThirds),
            Err(Error::DuplicateCommitter { .. })
        ));
        // An outsider's seal is refused.
        let outsider = random_keys().node_key();
        let bad = match engine {
            Engine::Ibft => ibft::sign_commit(&h, outsider.signer()).unwrap(),
            Engine::Ibft2 => ibft2::sign_commit(&h, outsider.signer()).unwrap(),
            _ => qbft::sign_commit(&h, outsider.signer()).unwrap(),
        };
        assert!(matches!(
            verify(
                &with(&h, &[bad, four[0], four[1], four[2]]),
                Threshold::BesuTwoThirds
            ),
            Err(Error::Unauthorized { .. })
        ));
        // Wrong mixHash or difficulty is refused.
        let mut wrong = with(&h, &four);
        wrong.difficulty = U256::from(2);
        assert!(matches!(
            verify(&wrong, Threshold::BesuTwoThirds),
            Err(Error::HeaderRule { .. })
        ));
    }
}

#[test]
fn rejects_ibft2_and_qbft_round_forms_of_the_other() {
    let e = BftExtra {
        vanity: vec![0; 32],
        round: 5,
        ..BftExtra::default()
    };
    let i2 = ibft2::encode_extra(&e);
    let q = qbft::encode_extra(&e);
    assert!(ibft2::decode_extra(&q).is_err());
    assert!(qbft::decode_extra(&i2).is_err());
    // A QBFT round with a leading zero byte is non-canonical.
    let mut padded = q;
    let pos = padded.iter().rposition(|b| *b == 0x05).unwrap();
    padded.splice(pos..=pos, [0x82, 0x00, 0x05]);
    padded[1] += 2;
    assert!(qbft::decode_extra(&padded).is_err());
}

#[test]
fn rejects_every_truncation_of_every_extra_vector() {
    let ibft_cases = load("ibft");
    let qbft_cases = load("qbft");
    let samples: Vec<(Engine, Vec<u8>)> = vec![
        (
            Engine::Ibft,
            hx(&case(&ibft_cases, "ibft1-quorum-examples-7nodes-genesis-extra")["extraData"]),
        ),
        (
            Engine::Ibft2,
            hx(&case(&ibft_cases, "ibft2-besu-codec-known-raw-hex")["extraData"]),
        ),
        (
            Engine::Qbft,
            hx(&case(&qbft_cases, "qbft-besu-codec-known-raw-hex")["extraData"]),
        ),
        (Engine::Raft, hx(&load("raft")[0]["extra_data"])),
    ];
    for (engine, bytes) in samples {
        for n in 0..bytes.len() {
            let p = &bytes[..n];
            let ok = match engine {
                Engine::Ibft => IstanbulExtra::decode(p).is_ok(),
                Engine::Ibft2 => ibft2::decode_extra(p).is_ok(),
                Engine::Qbft => qbft::decode_extra(p).is_ok(),
                _ => raft::RaftSeal::decode(p).is_ok(),
            };
            assert!(!ok, "{engine}: prefix {n} decoded");
        }
    }
}

#[test]
fn rejects_raft_blocks_from_the_wrong_member() {
    let keys = random_keys();
    let k = keys.node_key();
    let mut members = RaftMembers::new();
    members.insert(3, k.signer().public_key());
    let h = Header {
        number: 4,
        timestamp: 1_700_000_000_000_000_000,
        difficulty: U256::from(131_072),
        ..Header::default()
    };
    let sealed = raft::sign_block(&h, 3, k.signer(), &members).unwrap();
    assert_eq!(raft::verify(&sealed, &members).unwrap().raft_id, 3);
    // Final roots differ from the signed digest's zeroed ones: still verifies.
    let mut fin = sealed.clone();
    fin.transactions_root = B256::repeat_byte(1);
    fin.ommers_hash = cachet_seal::EMPTY_OMMERS_HASH;
    fin.logs_bloom = alloy_primitives::Bloom::repeat_byte(3);
    raft::verify(&fin, &members).unwrap();
    // Another member's enode under our id: refused, and a minter withholds the block.
    let mut wrong = RaftMembers::new();
    wrong.insert(3, random_keys().node_key().signer().public_key());
    assert!(matches!(
        raft::verify(&sealed, &wrong),
        Err(Error::RaftSignerMismatch { raft_id: 3, .. })
    ));
    assert!(matches!(
        raft::sign_block(&h, 3, k.signer(), &wrong),
        Err(Error::RaftSelfCheck { raft_id: 3, .. })
    ));
    assert!(matches!(
        raft::verify(&sealed, &RaftMembers::new()),
        Err(Error::UnknownRaftMember { raft_id: 3 })
    ));
}

#[test]
fn rejects_equivocation_for_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    let keys = random_keys();
    let node = keys.node_key();
    let sealer_key = keys.sealing_key();
    let me = node.signer().address();
    let mut members = RaftMembers::new();
    members.insert(1, node.signer().public_key());
    let mut sealer = Sealer::open(dir.path()).unwrap();
    let a = clique_header(10, true);
    let mut b = a.clone();
    b.gas_used = 1;
    sealer.clique(&a, &sealer_key).unwrap();
    sealer.clique(&a, &sealer_key).unwrap();
    assert!(matches!(
        sealer.clique(&b, &sealer_key),
        Err(Error::Equivocation {
            height: 10,
            round: None,
            ..
        })
    ));

    let ra = Header {
        number: 10,
        ..Header::default()
    };
    let rb = Header {
        number: 10,
        gas_used: 5,
        ..Header::default()
    };
    sealer.raft(&ra, 1, node.signer(), &members).unwrap();
    assert!(matches!(
        sealer.raft(&rb, 1, node.signer(), &members),
        Err(Error::Equivocation { .. })
    ));

    let vals = vec![me];
    for engine in [Engine::Ibft2, Engine::Qbft] {
        let h = bft_header(engine, &vals, me);
        let mut other = h.clone();
        other.gas_used = 9;
        let p = sealer
            .bft_propose(engine, &h, 0, me, node.signer())
            .unwrap();
        sealer.bft_commit(engine, &p, node.signer()).unwrap();
        assert!(matches!(
            sealer.bft_propose(engine, &other, 0, me, node.signer()),
            Err(Error::Equivocation { round: Some(0), .. })
        ));
        // A new round may carry a different block.
        sealer
            .bft_propose(engine, &other, 1, me, node.signer())
            .unwrap();
    }
    let h = bft_header(Engine::Ibft, &vals, me);
    let p = sealer.ibft_propose(&h, 0, node.signer()).unwrap();
    sealer.ibft_commit(&p, 0, node.signer()).unwrap();
    let mut other = h.clone();
    other.timestamp = 1;
    assert!(matches!(
        sealer.ibft_propose(&other, 0, node.signer()),
        Err(Error::Equivocation { .. })
    ));
    drop(sealer);
    // Across a restart.
    let mut sealer = Sealer::open(dir.path()).unwrap();
    assert!(matches!(
        sealer.clique(&b, &sealer_key),
        Err(Error::Equivocation { .. })
    ));
    sealer.clique(&a, &sealer_key).unwrap();
}

/// The doppelganger check's two questions of a block from the network: who signed it
/// (`signers`: recovered from the seals, independently of the journal) and whether this
/// datadir's journal sealed it (`Sealer::sealed`): yes for what this journal sealed, no for the
/// same key's block sealed through another journal (a copied bundle), for every engine.
#[test]
fn tells_blocks_this_journal_sealed_from_the_same_keys_blocks_sealed_elsewhere() {
    let ours = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let keys = random_keys();
    let node = keys.node_key();
    let sealing = keys.sealing_key();
    let me = node.signer().address();
    let mut members = RaftMembers::new();
    members.insert(1, node.signer().public_key());
    let mut sealer = Sealer::open(ours.path()).unwrap();
    let mut other = Sealer::open(copy.path()).unwrap();

    let a = clique_header(10, true);
    let mut b = a.clone();
    b.number = 11;
    let mine = sealer.clique(&a, &sealing).unwrap();
    let theirs = other.clique(&b, &sealing).unwrap();
    assert_eq!(
        cachet_seal::signers(Engine::Clique, &theirs).unwrap(),
        vec![sealing.address()]
    );
    assert!(sealer.sealed(Engine::Clique, &mine).unwrap());
    assert!(!sealer.sealed(Engine::Clique, &theirs).unwrap());
    // The copy sealed a different block at our height: not ours either.
    let mut c = a.clone();
    c.gas_used = 1;
    let fork = other.clique(&c, &sealing).unwrap();
    assert!(!sealer.sealed(Engine::Clique, &fork).unwrap());

    let ra = Header {
        number: 10,
        timestamp: 1_700_000_000_000_000_000,
        ..Header::default()
    };
    let rb = Header {
        number: 11,
        ..ra.clone()
    };
    let mine = sealer.raft(&ra, 1, node.signer(), &members).unwrap();
    let theirs = other.raft(&rb, 1, node.signer(), &members).unwrap();
    assert_eq!(
        cachet_seal::signers(Engine::Raft, &theirs).unwrap(),
        vec![me]
    );
    assert!(sealer.sealed(Engine::Raft, &mine).unwrap());
    assert!(!sealer.sealed(Engine::Raft, &theirs).unwrap());

    let vals = vec![me];
    for engine in [Engine::Ibft2, Engine::Qbft] {
        let h = bft_header(engine, &vals, me);
        let mut later = h.clone();
        later.number += 1;
        let mine = sealer
            .bft_propose(engine, &h, 2, me, node.signer())
            .unwrap();
        let theirs = other
            .bft_propose(engine, &later, 0, me, node.signer())
            .unwrap();
        // IBFT 2.0/QBFT name the proposer in the coinbase only: the signers are the committers.
        assert_eq!(cachet_seal::signers(engine, &theirs).unwrap(), vec![me]);
        assert!(sealer.sealed(engine, &mine).unwrap(), "{engine}");
        assert!(!sealer.sealed(engine, &theirs).unwrap(), "{engine}");
    }
    let h = bft_header(Engine::Ibft, &vals, me);
    let mut later = h.clone();
    later.number += 1;
    let p = sealer.ibft_propose(&h, 0, node.signer()).unwrap();
    let commit = sealer.ibft_commit(&p, 0, node.signer()).unwrap();
    let mine = ibft::with_committed_seals(&p, &[commit]).unwrap();
    let p = other.ibft_propose(&later, 0, node.signer()).unwrap();
    let commit = other.ibft_commit(&p, 0, node.signer()).unwrap();
    let theirs = ibft::with_committed_seals(&p, &[commit]).unwrap();
    assert_eq!(
        cachet_seal::signers(Engine::Ibft, &theirs).unwrap(),
        vec![me]
    );
    assert!(sealer.sealed(Engine::Ibft, &mine).unwrap());
    assert!(!sealer.sealed(Engine::Ibft, &theirs).unwrap());

    // What the journal says survives a restart (the node's own earlier blocks stay its own).
    drop(sealer);
    let sealer = Sealer::open(ours.path()).unwrap();
    assert!(sealer.sealed(Engine::Ibft, &mine).unwrap());
    assert!(!sealer.sealed(Engine::Ibft, &theirs).unwrap());
}

#[test]
fn accepts_error_messages_as_written() {
    let cases: Vec<(Error, &str)> = vec![
        (
            Error::Equivocation {
                engine: "qbft",
                height: 7,
                round: Some(2),
                signed: B256::ZERO,
                requested: B256::repeat_byte(1),
            },
            "refusing to seal: qbft height 7 round 2 already sealed 0x0000000000000000000000000000000000000000000000000000000000000000 and now asked for 0x0101010101010101010101010101010101010101010101010101010101010101: this would equivocate; check for a second node with the same key or a reorg of the local chain",
        ),
        (
            Error::InsufficientSeals {
                engine: "ibft",
                found: 2,
                required: 4,
                policy: Threshold::BesuTwoThirds.name(),
            },
            "ibft: 2 distinct valid committed seals, 4 required (besu: at least ceil(2N/3))",
        ),
        (
            Error::UnknownRaftMember { raft_id: 4 },
            "raft: raft id 4 is not in the member map: check --raft-members",
        ),
        (
            Error::CliqueUnsupportedField {
                field: "withdrawalsRoot",
            },
            "clique does not support the withdrawalsRoot header field (shanghai and later): reference clients reject it",
        ),
        (
            Error::Unsealed {
                what: "clique seal",
            },
            "clique seal: the header carries no seal (genesis or not yet sealed)",
        ),
        (
            Error::BadSignature {
                what: "raft signature",
                v: 27,
            },
            "raft signature: signature does not recover (bad r, s or recovery id 27)",
        ),
        (
            Error::Decode(DecodeError::WrongLength {
                what: "header.nonce",
                expected: 8,
                found: 7,
            }),
            "header.nonce: expected 8 bytes, found 7",
        ),
        (
            Error::Decode(DecodeError::NonCanonical {
                what: "qbft extraData round",
            }),
            "qbft extraData round: non-canonical rlp encoding: reference clients reject this form",
        ),
        (
            Error::Decode(DecodeError::InvalidRaftId { found: "01".into() }),
            "raft extraData: raft id \"01\" is not lowercase hex without leading zeros in 1..=ffff",
        ),
        (Error::Internal("x"), "x (this is a bug in cachet)"),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}

#[test]
fn round_trips_random_extra_data_for_every_engine() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..300 {
        let n = rng.gen_range(0..8);
        let validators: Vec<Address> = (0..n)
            .map(|_| Address::from(rng.r#gen::<[u8; 20]>()))
            .collect();
        let seals: Vec<[u8; 65]> = (0..rng.gen_range(0..4))
            .map(|_| [rng.r#gen::<u8>(); 65])
            .collect();
        let vote = match rng.gen_range(0..3) {
            0 => None,
            k => Some(Vote {
                recipient: Address::from(rng.r#gen::<[u8; 20]>()),
                authorize: k == 1,
            }),
        };
        let vanity_len = rng.gen_range(0..=32);
        let e = BftExtra {
            vanity: vec![rng.r#gen(); vanity_len],
            validators: validators.clone(),
            vote,
            round: rng.r#gen(),
            committed_seals: seals.clone(),
        };
        assert_eq!(ibft2::decode_extra(&ibft2::encode_extra(&e)).unwrap(), e);
        assert_eq!(qbft::decode_extra(&qbft::encode_extra(&e)).unwrap(), e);
        let seal = if rng.r#gen() {
            vec![]
        } else {
            vec![rng.r#gen(); 65]
        };
        let i = IstanbulExtra {
            vanity: rng.r#gen(),
            validators: validators.clone(),
            seal,
            committed_seals: seals,
        };
        assert_eq!(IstanbulExtra::decode(&i.encode()).unwrap(), i);
        let c = CliqueExtra {
            vanity: rng.r#gen(),
            signers: validators,
            seal: [rng.r#gen(); 65],
        };
        assert_eq!(CliqueExtra::decode(&c.encode()).unwrap(), c);
        let r = raft::RaftSeal {
            raft_id: rng.r#gen(),
            signature: [rng.r#gen(); 65],
        };
        assert_eq!(raft::RaftSeal::decode(&r.encode()).unwrap(), r);
    }
}

#[test]
fn accepts_a_header_at_the_size_cap_and_rejects_one_byte_more() {
    let base = Header::default().encode().len();
    // At this size the extraData prefix grows by 2 bytes and the list prefix by 1 (over 64 KiB).
    let extra_len = cachet_seal::MAX_HEADER_BYTES - base - 4;
    let h = Header {
        extra_data: Bytes::from(vec![1u8; extra_len]),
        ..Header::default()
    };
    let enc = h.encode();
    assert_eq!(enc.len(), cachet_seal::MAX_HEADER_BYTES);
    assert_eq!(Header::decode(&enc).unwrap(), h);
    let over = Header {
        extra_data: Bytes::from(vec![1u8; extra_len + 1]),
        ..Header::default()
    }
    .encode();
    assert!(matches!(
        Header::decode(&over),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn accepts_every_remaining_error_message_as_written() {
    let p = std::path::PathBuf::from("/d/seal-journal");
    let a = Address::repeat_byte(0xab);
    let cases: Vec<(Error, &str)> = vec![
        (
            Error::Decode(DecodeError::Truncated { what: "header" }),
            "header: input truncated: check that the whole value was copied",
        ),
        (
            Error::Decode(DecodeError::TrailingBytes {
                what: "header",
                extra: 2,
            }),
            "header: 2 trailing bytes after the value: check for concatenated input",
        ),
        (
            Error::Decode(DecodeError::ExpectedString { what: "x" }),
            "x: expected an rlp string, found a list",
        ),
        (
            Error::Decode(DecodeError::ExpectedList { what: "x" }),
            "x: expected an rlp list, found a string",
        ),
        (
            Error::Decode(DecodeError::IntegerOverflow {
                what: "header.number",
                max_bytes: 8,
            }),
            "header.number: integer too large (at most 8 bytes)",
        ),
        (
            Error::Decode(DecodeError::TooLarge {
                what: "header",
                cap: 1,
                found: 2,
            }),
            "header: 2 bytes exceeds the cap of 1 bytes",
        ),
        (
            Error::Decode(DecodeError::WrongItemCount {
                what: "qbft extraData",
                expected: "5",
                found: 4,
            }),
            "qbft extraData: expected 5 items, found 4",
        ),
        (
            Error::Decode(DecodeError::ExtraTooShort {
                engine: "clique",
                min: 97,
                found: 3,
            }),
            "clique extraData is 3 bytes, shorter than the minimum 97: is this the right engine?",
        ),
        (
            Error::Decode(DecodeError::SignerSectionLength { found: 7 }),
            "clique extraData signer section is 7 bytes, not a multiple of 20",
        ),
        (
            Error::Decode(DecodeError::InvalidVote {
                what: "v",
                allowed: "a",
            }),
            "v: invalid vote encoding (allowed: a)",
        ),
        (
            Error::Decode(DecodeError::InvalidHex {
                what: "h",
                reason: "r".into(),
            }),
            "h: invalid hex: r",
        ),
        (
            Error::Decode(DecodeError::Hex {
                what: "header rlp",
                source: hex::FromHexError::OddLength,
            }),
            "header rlp: invalid hex",
        ),
        (
            Error::Decode(DecodeError::InvalidJson {
                what: "j",
                reason: "r".into(),
            }),
            "j: invalid json: r",
        ),
        (
            Error::HeaderRule {
                engine: "qbft",
                rule: "r".into(),
            },
            "qbft header rule broken: r",
        ),
        (
            Error::Unauthorized {
                engine: "clique",
                signer: a,
            },
            "clique: 0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB is not in the signer/validator set",
        ),
        (
            Error::DuplicateCommitter {
                engine: "ibft",
                signer: a,
            },
            "ibft: committer 0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB appears more than once",
        ),
        (
            Error::MissingRaftMembers,
            "raft verification needs the raft-id to enode map: pass --raft-members",
        ),
        (
            Error::RaftSignerMismatch {
                raft_id: 2,
                recovered: a,
                expected: Address::ZERO,
            },
            "raft: block signed by 0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB but raft id 2 is 0x0000000000000000000000000000000000000000",
        ),
        (
            Error::RaftSelfCheck {
                raft_id: 2,
                source: Box::new(Error::MissingRaftMembers),
            },
            "raft: own signature for raft id 2 failed verification: block withheld, check the node key and the member map",
        ),
        (
            Error::Signer(alloy_signer::Error::other("x")),
            "signing failed",
        ),
        (
            Error::JournalIo {
                path: p.clone(),
                op: "fsync",
                source: std::io::Error::other("x"),
            },
            "seal journal /d/seal-journal: fsync failed: check the datadir's disk and permissions",
        ),
        (
            Error::JournalLocked { path: p.clone() },
            "seal journal /d/seal-journal is locked by another process: is another cachet running on this datadir?",
        ),
        (
            Error::JournalCorrupt {
                path: p,
                line: 3,
                reason: "checksum mismatch",
            },
            "seal journal /d/seal-journal line 3 is corrupt: checksum mismatch; restore the file from backup, never delete it",
        ),
        (
            Error::Equivocation {
                engine: "clique",
                height: 1,
                round: None,
                signed: B256::ZERO,
                requested: B256::ZERO,
            },
            "refusing to seal: clique height 1 already sealed 0x0000000000000000000000000000000000000000000000000000000000000000 and now asked for 0x0000000000000000000000000000000000000000000000000000000000000000: this would equivocate; check for a second node with the same key or a reorg of the local chain",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
}
