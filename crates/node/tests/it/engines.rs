//! IBFT (GoQuorum istanbul), IBFT 2.0, QBFT and Raft in the node: a single validator/minter
//! seals with its node key, `Chain::import` verifies (a follower chain imports the same blocks
//! and reaches the same head), bad seals, votes and wrong fields are refused, and a sealer
//! restarted after a crash between the journal write and the chain commit seals the recorded
//! header instead of a second block at that height.
//!
//! The seal bytes themselves are checked against GoQuorum/Besu vectors in `cachet-seal`; the
//! CLI tests (`bin/cachet/tests/it/engines.rs`) check them with an independent Python decoder.

use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B64, Bytes, U256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::Error;
use cachet_node::bft::BftSealer;
use cachet_node::block::EMPTY_BODY_RLP;
use cachet_node::chain::{Chain, Imported};
use cachet_node::raft::RaftMinter;
use cachet_node::store::ChainStore;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST, Threshold};
use cachet_seal::{Engine, Header, JournalKey, RaftMembers, SealJournal, ibft, ibft2, qbft, raft};

const GENESIS_TIME: u64 = 1_700_000_000;
/// 2023-11-14 in nanoseconds.
const GENESIS_NS: u64 = GENESIS_TIME * 1_000_000_000;

fn bft_extra(engine: Engine, validators: &[Address]) -> Vec<u8> {
    match engine {
        Engine::Ibft => ibft::IstanbulExtra {
            vanity: [0; 32],
            validators: validators.to_vec(),
            seal: Vec::new(),
            committed_seals: Vec::new(),
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
            ..BftExtra::default()
        }),
    }
}

/// A genesis for `engine` with `validators` (ignored for raft).
pub(crate) fn genesis_json(engine: Engine, validators: &[Address]) -> Vec<u8> {
    let section = match engine {
        Engine::Ibft => r#""istanbul":{"epoch":30000,"policy":0,"ceil2Nby3Block":0}"#,
        Engine::Ibft2 => r#""ibft2":{"blockperiodseconds":1,"epochlength":30000}"#,
        Engine::Qbft => r#""qbft":{"blockperiodseconds":1,"epochlength":30000}"#,
        _ => r#""isQuorum":true,"raft":true"#,
    };
    let (extra, mix, london, time) = if engine == Engine::Raft {
        (Vec::new(), alloy_primitives::B256::ZERO, "", 0)
    } else {
        (
            bft_extra(engine, validators),
            ISTANBUL_DIGEST,
            r#","londonBlock":0"#,
            GENESIS_TIME,
        )
    };
    format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0{london},{section}}},"timestamp":"{time:#x}","extraData":"0x{}","gasLimit":"0x1c9c380","difficulty":"0x1","mixHash":"{mix}","alloc":{{}}}}"#,
        hex::encode(extra)
    )
    .into_bytes()
}

fn open(dir: &std::path::Path, genesis: &[u8], members: RaftMembers) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
    Arc::new(Chain::open_with(store, g, members).unwrap())
}

fn keys() -> UnlockedKeys {
    UnlockedKeys::generate_for_tests(SealingKeyMode::Separate)
}

fn raw(chain: &Chain, n: u64) -> Vec<u8> {
    chain.header_rlp_by_number(n).unwrap().unwrap()
}

fn bft_seals_three_blocks(engine: Engine) {
    let k = keys();
    let me = k.node_key().signer().address();
    let genesis = genesis_json(engine, &[me]);
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    assert_eq!(chain.engine(), engine);
    let mut sealer = BftSealer::new(chain.clone(), dir.path(), k.node_key()).unwrap();
    assert!(sealer.can_seal());
    for n in 1..=3u64 {
        // The clock lags: the timestamp is parent + period (1 s).
        let h = sealer
            .seal_now(GENESIS_TIME)
            .unwrap()
            .expect("sole validator seals");
        assert_eq!(h.number, n);
        assert_eq!(h.timestamp, GENESIS_TIME + n);
        assert_eq!(h.difficulty, U256::from(1));
        assert_eq!(h.mix_hash, ISTANBUL_DIGEST);
        let seals = match engine {
            Engine::Ibft => ibft::verify(&h, Some(&[me]), Threshold::BesuTwoThirds),
            Engine::Ibft2 => ibft2::verify(&h, Some(&[me]), Threshold::BesuTwoThirds),
            _ => qbft::verify(&h, Some(&[me]), Threshold::BesuTwoThirds),
        }
        .unwrap();
        assert_eq!(seals.proposer, me);
        assert_eq!(seals.committers, vec![me]);
        assert_eq!(
            chain.head().hash,
            seals.block_hash,
            "keyed by the engine's hash"
        );
        assert_ne!(seals.block_hash, h.hash_slow());
    }
    // A follower verifies and imports the same blocks.
    let fdir = tempfile::tempdir().unwrap();
    let follower = open(fdir.path(), &genesis, RaftMembers::new());
    for n in 1..=3 {
        assert_eq!(
            follower.import(&raw(&chain, n), &EMPTY_BODY_RLP).unwrap(),
            Imported::Head
        );
    }
    assert_eq!(follower.head().hash, chain.head().hash);
    // A non-validator never seals.
    let other = keys();
    let odir = tempfile::tempdir().unwrap();
    let mut s = BftSealer::new(follower, odir.path(), other.node_key()).unwrap();
    assert!(s.seal_now(GENESIS_TIME + 100).unwrap().is_none());
    // Reopening keeps the head.
    let head = chain.head();
    drop(sealer);
    drop(chain);
    let reopened = open(dir.path(), &genesis, RaftMembers::new());
    assert_eq!(reopened.head(), head);
}

#[test]
fn accepts_single_validator_ibft_chain() {
    bft_seals_three_blocks(Engine::Ibft);
}

#[test]
fn accepts_single_validator_ibft2_chain() {
    bft_seals_three_blocks(Engine::Ibft2);
}

#[test]
fn accepts_single_validator_qbft_chain() {
    bft_seals_three_blocks(Engine::Qbft);
}

/// A follower of a single-validator chain and one sealed block 1.
fn bft_fixture(engine: Engine) -> (UnlockedKeys, Arc<Chain>, Header, Vec<tempfile::TempDir>) {
    let k = keys();
    let genesis = genesis_json(engine, &[k.node_key().signer().address()]);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let source = open(d1.path(), &genesis, RaftMembers::new());
    let sealer = BftSealer::new(source.clone(), d1.path(), k.node_key()).unwrap();
    let head = source.head();
    let unsealed = sealer.build(&head, GENESIS_TIME).unwrap();
    let follower = open(d2.path(), &genesis, RaftMembers::new());
    (k, follower, unsealed, vec![d1, d2])
}

fn resealed(engine: Engine, unsealed: &Header, key: &UnlockedKeys) -> Header {
    let dir = tempfile::tempdir().unwrap();
    let mut s = cachet_seal::Sealer::open(dir.path()).unwrap();
    let signer = key.node_key();
    let signer = signer.signer();
    match engine {
        Engine::Ibft => {
            let p = s.ibft_propose(unsealed, 0, signer).unwrap();
            let c = s.ibft_commit(&p, 0, signer).unwrap();
            ibft::with_committed_seals(&p, &[c]).unwrap()
        }
        _ => s
            .bft_propose(engine, unsealed, 0, signer.address(), signer)
            .unwrap(),
    }
}

#[test]
fn rejects_bft_blocks_with_bad_seals() {
    for engine in [Engine::Ibft, Engine::Ibft2, Engine::Qbft] {
        let (k, follower, unsealed, _dirs) = bft_fixture(engine);
        // Sealed by a key that is not a validator.
        let stranger = keys();
        let bad = resealed(engine, &unsealed, &stranger);
        let err = follower.import(&bad.encode(), &EMPTY_BODY_RLP).unwrap_err();
        assert!(
            matches!(err, Error::Seal { number: 1, .. }),
            "{engine}: {err}"
        );
        // A flipped byte in the committed seal.
        let good = resealed(engine, &unsealed, &k);
        let mut extra = good.extra_data.to_vec();
        let at = extra.len() - 10;
        extra[at] ^= 1;
        let flipped = Header {
            extra_data: Bytes::from(extra),
            ..good.clone()
        };
        assert!(
            follower.import(&flipped.encode(), &EMPTY_BODY_RLP).is_err(),
            "{engine}: flipped seal byte"
        );
        // No committed seals at all.
        let unsealed_commit = match engine {
            Engine::Ibft => ibft::with_committed_seals(&good, &[]).unwrap(),
            Engine::Ibft2 => ibft2::with_committed_seals(&good, &[]).unwrap(),
            _ => qbft::with_committed_seals(&good, &[]).unwrap(),
        };
        let err = follower
            .import(&unsealed_commit.encode(), &EMPTY_BODY_RLP)
            .unwrap_err();
        assert!(matches!(err, Error::Seal { .. }), "{engine}: {err}");
        // Timestamp earlier than parent + period (the seal is valid, the header rule is not).
        let early = Header {
            timestamp: GENESIS_TIME,
            ..unsealed.clone()
        };
        let err = follower
            .import(&resealed(engine, &early, &k).encode(), &EMPTY_BODY_RLP)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidBlock { .. }), "{engine}: {err}");
        // The good block imports.
        assert_eq!(
            follower.import(&good.encode(), &EMPTY_BODY_RLP).unwrap(),
            Imported::Head
        );
    }
}

#[test]
fn applies_bft_votes_and_rejects_wrong_validator_lists() {
    // One validator: a single vote is more than 1 / 2, so the candidate is a validator from
    // the next block (GoQuorum's rules, decision 460).
    let (k, follower, unsealed, _dirs) = bft_fixture(Engine::Qbft);
    let me = k.node_key().signer().address();
    let seven = Address::repeat_byte(7);
    let mut both = vec![me, seven];
    both.sort();
    let mut extra = qbft::decode_extra(&unsealed.extra_data).unwrap();
    extra.vote = Some(cachet_seal::bft::Vote {
        recipient: seven,
        authorize: true,
    });
    let voting = Header {
        extra_data: Bytes::from(qbft::encode_extra(&extra)),
        ..unsealed
    };
    follower
        .import(
            &resealed(Engine::Qbft, &voting, &k).encode(),
            &EMPTY_BODY_RLP,
        )
        .unwrap();
    let head = follower.head();
    assert_eq!(head.header.number, 1);
    assert_eq!(follower.rules().validators(&head.hash).unwrap(), both);
    assert_eq!(
        follower
            .rules()
            .validators(&follower.genesis_hash())
            .unwrap(),
        vec![me]
    );
    // A block must list the set it is sealed under (the parent's): not one with another member.
    let mut extra = qbft::decode_extra(&unsealed.extra_data).unwrap();
    extra.vote = None;
    extra.validators = vec![me, Address::repeat_byte(9)];
    let listed = Header {
        extra_data: Bytes::from(qbft::encode_extra(&extra)),
        ..unsealed
    };
    assert!(
        follower
            .import(
                &resealed(Engine::Qbft, &listed, &k).encode(),
                &EMPTY_BODY_RLP
            )
            .is_err()
    );
    // IBFT 1.0 votes ride on coinbase + nonce (0xff..ff adds).
    let (k, follower, unsealed, _dirs) = bft_fixture(Engine::Ibft);
    let me = k.node_key().signer().address();
    let bad_nonce = Header {
        beneficiary: seven,
        nonce: B64::new([1, 0, 0, 0, 0, 0, 0, 0]),
        ..unsealed.clone()
    };
    let err = follower
        .import(
            &resealed(Engine::Ibft, &bad_nonce, &k).encode(),
            &EMPTY_BODY_RLP,
        )
        .unwrap_err();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source.as_deref().unwrap_or_default().contains("nonce"),
        "{err}: {source:?}"
    );
    let voting = Header {
        beneficiary: seven,
        nonce: B64::new([0xff; 8]),
        ..unsealed
    };
    follower
        .import(
            &resealed(Engine::Ibft, &voting, &k).encode(),
            &EMPTY_BODY_RLP,
        )
        .unwrap();
    let mut both = vec![me, seven];
    both.sort();
    assert_eq!(
        follower.rules().validators(&follower.head().hash).unwrap(),
        both
    );
    // IBFT 2.0 votes (Besu's tally) are still refused.
    let (k, follower, unsealed, _dirs) = bft_fixture(Engine::Ibft2);
    let mut extra = ibft2::decode_extra(&unsealed.extra_data).unwrap();
    extra.vote = Some(cachet_seal::bft::Vote {
        recipient: seven,
        authorize: true,
    });
    let voting = Header {
        extra_data: Bytes::from(ibft2::encode_extra(&extra)),
        ..unsealed
    };
    let err = follower
        .import(
            &resealed(Engine::Ibft2, &voting, &k).encode(),
            &EMPTY_BODY_RLP,
        )
        .unwrap_err();
    assert!(err.to_string().contains("vote"), "{err}");
}

#[test]
fn accepts_bft_restart_sealing_the_recorded_header_once() {
    let k = keys();
    let genesis = genesis_json(Engine::Qbft, &[k.node_key().signer().address()]);
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    let mut sealer = BftSealer::new(chain.clone(), dir.path(), k.node_key()).unwrap();
    sealer.seal_now(GENESIS_TIME).unwrap().unwrap();
    // Crash after the journal write, before the chain commit.
    let pending = sealer.build(&chain.head(), GENESIS_TIME).unwrap();
    let (lost, _) = sealer.seal(&pending, &EMPTY_BODY_RLP).unwrap();
    drop(sealer);
    let mut sealer = BftSealer::new(chain.clone(), dir.path(), k.node_key()).unwrap();
    // Later the clock says another timestamp; the recorded header is sealed instead.
    let h = sealer.seal_now(GENESIS_TIME + 50).unwrap().unwrap();
    assert_eq!(h.timestamp, pending.timestamp);
    assert_eq!(h, lost);
    drop(sealer);
    // The journal holds exactly one hash at height 2 (round 0), the canonical block's.
    let journal = SealJournal::open(dir.path()).unwrap();
    assert_eq!(
        journal.get(&JournalKey::new(Engine::Qbft, 2, 0)),
        Some(chain.head().hash)
    );
    assert_eq!(journal.len(), 2);
}

fn members(id: u16, k: &UnlockedKeys) -> RaftMembers {
    let mut m = RaftMembers::new();
    m.insert(id, k.node_key().signer().public_key());
    m
}

#[test]
fn accepts_raft_minted_chain_with_nanosecond_timestamps() {
    let k = keys();
    let genesis = genesis_json(Engine::Raft, &[]);
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis, members(1, &k));
    let mut minter = RaftMinter::new(
        chain.clone(),
        dir.path(),
        k.node_key(),
        1,
        Duration::from_millis(50),
    )
    .unwrap();
    for n in 1..=3u64 {
        let h = minter.mint_at(GENESIS_NS + n).unwrap();
        assert_eq!(h.number, n);
        assert_eq!(h.timestamp, GENESIS_NS + n);
        assert_eq!(h.difficulty, U256::from(131_072));
        let signer = raft::verify(&h, &members(1, &k)).unwrap();
        assert_eq!(signer.address, k.node_key().signer().address());
        assert_eq!(chain.head().hash, h.hash_slow());
    }
    // The clock going backwards still gives parent + 1 ns.
    let h = minter.mint_at(5).unwrap();
    assert_eq!(h.timestamp, GENESIS_NS + 4);
    // A follower knowing raft id 1 imports; one that does not refuses and says why.
    let fdir = tempfile::tempdir().unwrap();
    let follower = open(fdir.path(), &genesis, members(1, &k));
    for n in 1..=4 {
        follower.import(&raw(&chain, n), &EMPTY_BODY_RLP).unwrap();
    }
    assert_eq!(follower.head().hash, chain.head().hash);
    let udir = tempfile::tempdir().unwrap();
    let stranger = open(udir.path(), &genesis, RaftMembers::new());
    let err = stranger
        .import(&raw(&chain, 1), &EMPTY_BODY_RLP)
        .unwrap_err();
    assert!(err.to_string().contains("--raft-members"), "{err}");
}

#[test]
fn rejects_raft_blocks_with_bad_signatures_or_fields() {
    let k = keys();
    let impostor = keys();
    let genesis = genesis_json(Engine::Raft, &[]);
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis, members(1, &k));
    let minter = RaftMinter::new(
        chain.clone(),
        dir.path(),
        k.node_key(),
        1,
        Duration::from_millis(50),
    )
    .unwrap();
    let unsealed = minter.build(&chain.head(), GENESIS_NS + 1);
    // Signed by another key under raft id 1.
    let forged = raft::sign_block(
        &unsealed,
        1,
        impostor.node_key().signer(),
        &members(1, &impostor),
    )
    .unwrap();
    let err = chain.import(&forged.encode(), &EMPTY_BODY_RLP).unwrap_err();
    assert!(matches!(err, Error::Seal { number: 1, .. }), "{err}");
    let sign = |h: &Header| raft::sign_block(h, 1, k.node_key().signer(), &members(1, &k)).unwrap();
    // Seconds, not nanoseconds.
    let seconds = sign(&Header {
        timestamp: GENESIS_TIME + 1,
        ..unsealed.clone()
    });
    let err = chain
        .import(&seconds.encode(), &EMPTY_BODY_RLP)
        .unwrap_err();
    assert!(err.to_string().contains("nanoseconds"), "{err}");
    // Non-zero nonce.
    let nonce = sign(&Header {
        nonce: B64::new([0, 0, 0, 0, 0, 0, 0, 1]),
        ..unsealed.clone()
    });
    assert!(chain.import(&nonce.encode(), &EMPTY_BODY_RLP).is_err());
    // A flipped signature byte.
    let good = sign(&unsealed);
    let mut extra = good.extra_data.to_vec();
    let at = extra.len() - 5;
    extra[at] ^= 1;
    let flipped = Header {
        extra_data: Bytes::from(extra),
        ..good
    };
    assert!(chain.import(&flipped.encode(), &EMPTY_BODY_RLP).is_err());
    assert_eq!(
        chain.import(&good.encode(), &EMPTY_BODY_RLP).unwrap(),
        Imported::Head
    );
}

#[test]
fn accepts_raft_restart_signing_the_recorded_header_once() {
    let k = keys();
    let genesis = genesis_json(Engine::Raft, &[]);
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis, members(3, &k));
    let new_minter = || {
        RaftMinter::new(
            chain.clone(),
            dir.path(),
            k.node_key(),
            3,
            Duration::from_millis(50),
        )
        .unwrap()
    };
    let mut minter = new_minter();
    minter.mint_at(GENESIS_NS + 1).unwrap();
    let pending = minter.build(&chain.head(), GENESIS_NS + 2);
    let (lost, _) = minter.seal(&pending, &EMPTY_BODY_RLP).unwrap();
    drop(minter);
    let mut minter = new_minter();
    let h = minter.mint_at(GENESIS_NS + 99).unwrap();
    assert_eq!(h, lost);
    drop(minter);
    let journal = SealJournal::open(dir.path()).unwrap();
    assert_eq!(
        journal.get(&JournalKey::new(Engine::Raft, 2, 0)),
        Some(raft::signing_hash(&h))
    );
    // Another raft id than the members give this key is refused up front.
    assert!(
        RaftMinter::new(
            chain.clone(),
            tempfile::tempdir().unwrap().path(),
            k.node_key(),
            4,
            Duration::from_millis(50)
        )
        .is_err()
    );
}

/// GoQuorum `istanbul` with `qbftBlock: 2`: block 1 is IBFT 1.0, blocks 2… QBFT (extraData,
/// seals and hash switch); a follower verifies both.
#[test]
fn accepts_ibft_to_qbft_transition_at_qbft_block() {
    let k = keys();
    let me = k.node_key().signer().address();
    let genesis = String::from_utf8(genesis_json(Engine::Ibft, &[me]))
        .unwrap()
        .replace(
            r#""ceil2Nby3Block":0"#,
            r#""ceil2Nby3Block":0,"qbftBlock":2"#,
        )
        .into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    let mut sealer = BftSealer::new(chain.clone(), dir.path(), k.node_key()).unwrap();
    let blocks: Vec<Header> = (0..3)
        .map(|_| sealer.seal_now(GENESIS_TIME).unwrap().unwrap())
        .collect();
    assert!(ibft::IstanbulExtra::decode(&blocks[0].extra_data).is_ok());
    assert_eq!(blocks[0].beneficiary, Address::ZERO);
    for b in &blocks[1..] {
        let seals = qbft::verify(b, Some(&[me]), Threshold::BesuTwoThirds).unwrap();
        assert_eq!(seals.committers, vec![me]);
        assert_eq!(b.beneficiary, me, "QBFT proposer = coinbase");
    }
    assert_eq!(blocks[2].parent_hash, qbft::block_hash(&blocks[1]).unwrap());
    assert_eq!(blocks[1].parent_hash, ibft::block_hash(&blocks[0]).unwrap());
    let fdir = tempfile::tempdir().unwrap();
    let follower = open(fdir.path(), &genesis, RaftMembers::new());
    for n in 1..=3 {
        follower.import(&raw(&chain, n), &EMPTY_BODY_RLP).unwrap();
    }
    assert_eq!(follower.head().hash, chain.head().hash);
    // An IBFT 1.0 block after the transition is refused.
    let head = follower.head();
    let ibft_extra = bft_extra(Engine::Ibft, &[me]);
    let mut late = blocks[2].clone();
    late.parent_hash = head.hash;
    late.number = 4;
    late.timestamp += 1;
    late.beneficiary = Address::ZERO;
    late.extra_data = ibft_extra.into();
    let d = tempfile::tempdir().unwrap();
    let mut s = cachet_seal::Sealer::open(d.path()).unwrap();
    let nk = k.node_key();
    let p = s.ibft_propose(&late, 0, nk.signer()).unwrap();
    let c = s.ibft_commit(&p, 0, nk.signer()).unwrap();
    let late = ibft::with_committed_seals(&p, &[c]).unwrap();
    assert!(follower.import(&late.encode(), &EMPTY_BODY_RLP).is_err());
}
