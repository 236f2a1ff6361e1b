//! The verified chain and the clique sealer: a 3-signer chain sealed in turn, checked by
//! `Chain::import`; invalid blocks are refused; a restart replays and keeps the head.
//!
//! The clique rules themselves are checked against geth/EthereumJS vectors in `cachet-seal`;
//! here the node's use of them is exercised.

use std::sync::Arc;

use alloy_primitives::{Address, Bytes, U256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::block::EMPTY_BODY_RLP;
use cachet_node::chain::{Chain, Imported};
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::store::ChainStore;

const GENESIS_TIME: u64 = 1_700_000_000;

pub(crate) fn genesis_json(signers: &[Address], period: u64) -> Vec<u8> {
    let mut sorted = signers.to_vec();
    sorted.sort();
    let mut extra = "0x".to_owned() + &"00".repeat(32);
    for s in &sorted {
        extra.push_str(&hex::encode(s));
    }
    extra.push_str(&"00".repeat(65));
    format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,"clique":{{"period":{period},"epoch":4}}}},"timestamp":"{GENESIS_TIME:#x}","extraData":"{extra}","gasLimit":"0x1c9c380","difficulty":"0x1","alloc":{{}}}}"#
    )
    .into_bytes()
}

fn open_chain(dir: &std::path::Path, genesis: &[u8]) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
    Arc::new(Chain::open(store, g).unwrap())
}

#[test]
fn accepts_three_signers_rotating_in_turn_across_checkpoints() {
    let keys: Vec<UnlockedKeys> = (0..3)
        .map(|_| UnlockedKeys::generate_for_tests(SealingKeyMode::Separate))
        .collect();
    let addrs: Vec<Address> = keys.iter().map(|k| k.sealing_key().address()).collect();
    let dir = tempfile::tempdir().unwrap();
    let chain = open_chain(dir.path(), &genesis_json(&addrs, 1));
    let mut sealers: Vec<CliqueSealer> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let d = dir.path().join(format!("s{i}"));
            std::fs::create_dir_all(&d).unwrap();
            CliqueSealer::new(chain.clone(), &d, k.sealing_key(), Proposals::default()).unwrap()
        })
        .collect();
    let mut sorted = addrs;
    sorted.sort();
    for n in 1..=10u64 {
        // The in-turn signer (index n mod 3 in the sorted list) seals with difficulty 2.
        let who = sorted[(n % 3) as usize];
        let s = sealers.iter_mut().find(|s| s.address() == who).unwrap();
        let h = s
            .seal_now(GENESIS_TIME + n)
            .unwrap()
            .expect("in-turn signer may seal");
        assert_eq!(h.number, n);
        assert_eq!(h.difficulty, U256::from(2));
        assert_eq!(chain.head().hash, h.hash_slow());
        // Epoch 4: checkpoints carry the signer list.
        let extra_len = if n % 4 == 0 { 97 + 60 } else { 97 };
        assert_eq!(h.extra_data.len(), extra_len, "block {n}");
    }
    // The signer of block 10 may not seal block 11 (recently signed).
    let last = sorted[(10 % 3) as usize];
    let s = sealers.iter_mut().find(|s| s.address() == last).unwrap();
    assert!(s.seal_now(GENESIS_TIME + 11).unwrap().is_none());
    assert_eq!(chain.head().header.number, 10);
    assert_eq!(chain.head().total_difficulty, U256::from(1 + 2 * 10));
}

#[test]
fn accepts_out_of_turn_block_with_difficulty_one() {
    let keys: Vec<UnlockedKeys> = (0..2)
        .map(|_| UnlockedKeys::generate_for_tests(SealingKeyMode::Separate))
        .collect();
    let addrs: Vec<Address> = keys.iter().map(|k| k.sealing_key().address()).collect();
    let mut sorted = addrs.clone();
    sorted.sort();
    let dir = tempfile::tempdir().unwrap();
    let chain = open_chain(dir.path(), &genesis_json(&addrs, 1));
    // Block 1 is in turn for sorted[1]; sorted[0] seals it out of turn.
    let k = keys
        .iter()
        .find(|k| k.sealing_key().address() == sorted[0])
        .unwrap();
    let mut s =
        CliqueSealer::new(chain, dir.path(), k.sealing_key(), Proposals::default()).unwrap();
    let h = s.seal_now(GENESIS_TIME + 1).unwrap().unwrap();
    assert_eq!(h.difficulty, U256::from(1));
}

#[test]
fn rejects_block_sealed_by_an_outsider() {
    let signer = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let outsider = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis_json(&[signer.sealing_key().address()], 1);
    let chain = open_chain(dir.path(), &genesis);
    // The outsider builds a block on its own view (a chain where it is the signer) …
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_chain(
        other_dir.path(),
        &genesis_json(&[outsider.sealing_key().address()], 1),
    );
    let mut s = CliqueSealer::new(
        other,
        other_dir.path(),
        outsider.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let forged = s.seal_now(GENESIS_TIME + 1).unwrap().unwrap();
    // … which differs in its parent; give it ours and re-seal so only the signer is wrong.
    let mut h = forged;
    h.parent_hash = chain.head().hash;
    let forged = cachet_seal::clique::sign_header(&h, &outsider.sealing_key()).unwrap();
    let err = chain.import(&forged.encode(), &EMPTY_BODY_RLP).unwrap_err();
    assert!(
        matches!(err, cachet_node::Error::Seal { number: 1, .. }),
        "{err}"
    );
    assert_eq!(chain.head().header.number, 0);
}

#[test]
fn rejects_tampered_block_and_nonempty_body() {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis_json(&[k.sealing_key().address()], 1);
    let src_dir = tempfile::tempdir().unwrap();
    let src = open_chain(src_dir.path(), &genesis);
    let mut s =
        CliqueSealer::new(src, src_dir.path(), k.sealing_key(), Proposals::default()).unwrap();
    let h = s.seal_now(GENESIS_TIME + 1).unwrap().unwrap();
    let chain = open_chain(dir.path(), &genesis);
    // Tampered gas limit: the seal no longer recovers to the signer.
    let mut bad = h.clone();
    bad.gas_limit += 1;
    assert!(chain.import(&bad.encode(), &EMPTY_BODY_RLP).is_err());
    // A body with an ommer is refused.
    let body_with_ommer = [0xc3, 0xc0, 0xc1, 0x80];
    assert!(chain.import(&h.encode(), &body_with_ommer).is_err());
    // The real block is accepted, once.
    assert_eq!(
        chain.import(&h.encode(), &EMPTY_BODY_RLP).unwrap(),
        Imported::Head
    );
    assert_eq!(
        chain.import(&h.encode(), &EMPTY_BODY_RLP).unwrap(),
        Imported::Known
    );
    // A different extraData vanity changes the hash and breaks the seal.
    let mut vanity = h;
    let mut e = vanity.extra_data.to_vec();
    e[0] = 1;
    vanity.extra_data = Bytes::from(e);
    assert!(chain.import(&vanity.encode(), &EMPTY_BODY_RLP).is_err());
}

#[test]
fn round_trips_head_and_snapshot_across_restart() {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis_json(&[k.sealing_key().address()], 1);
    let head = {
        let chain = open_chain(dir.path(), &genesis);
        let mut s = CliqueSealer::new(
            chain.clone(),
            dir.path(),
            k.sealing_key(),
            Proposals::default(),
        )
        .unwrap();
        for n in 1..=6 {
            s.seal_now(GENESIS_TIME + n).unwrap().unwrap();
        }
        chain.head()
    };
    let chain = open_chain(dir.path(), &genesis);
    assert_eq!(chain.head(), head);
    assert_eq!(chain.signers(), vec![k.sealing_key().address()]);
    // The journal refuses nothing for the next height: sealing continues.
    let mut s =
        CliqueSealer::new(chain, dir.path(), k.sealing_key(), Proposals::default()).unwrap();
    assert_eq!(s.seal_now(GENESIS_TIME + 7).unwrap().unwrap().number, 7);
}

#[test]
fn accepts_vote_that_authorises_a_new_signer() {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let newcomer = Address::repeat_byte(0x42);
    let dir = tempfile::tempdir().unwrap();
    let chain = open_chain(dir.path(), &genesis_json(&[k.sealing_key().address()], 1));
    let proposals = Proposals::default();
    proposals.lock().unwrap().insert(newcomer, true);
    let mut s = CliqueSealer::new(chain.clone(), dir.path(), k.sealing_key(), proposals).unwrap();
    let h = s.seal_now(GENESIS_TIME + 1).unwrap().unwrap();
    assert_eq!(h.beneficiary, newcomer);
    assert_eq!(h.nonce, cachet_seal::clique::NONCE_AUTH);
    // One signer: one vote is a majority.
    assert!(chain.signers().contains(&newcomer));
}

/// The clique rules (now in `clique::CliqueRules`) keep the block period: a block sealed by
/// the right signer less than `period` seconds after its parent is refused; the same block at
/// parent + period imports.
#[test]
fn rejects_block_earlier_than_the_period() {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let chain = open_chain(dir.path(), &genesis_json(&[k.sealing_key().address()], 5));
    let s = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        k.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let head = chain.head();
    let snap = chain.snapshot(&head.hash).unwrap();
    let unsealed = s.build(&head, &snap, GENESIS_TIME).unwrap();
    assert_eq!(unsealed.timestamp, GENESIS_TIME + 5);
    let early = cachet_seal::clique::sign_header(
        &cachet_seal::Header {
            timestamp: GENESIS_TIME + 1,
            ..unsealed.clone()
        },
        &k.sealing_key(),
    )
    .unwrap();
    let err = chain.import(&early.encode(), &EMPTY_BODY_RLP).unwrap_err();
    assert!(
        matches!(&err, cachet_node::Error::InvalidBlock { number: 1, rule } if rule.contains("period")),
        "{err}"
    );
    let good = cachet_seal::clique::sign_header(&unsealed, &k.sealing_key()).unwrap();
    assert_eq!(
        chain.import(&good.encode(), &EMPTY_BODY_RLP).unwrap(),
        Imported::Head
    );
}

/// A clique chain whose London comes after genesis: the sealer's first London block doubles the
/// gas limit (EIP-1559's elasticity) and carries the initial base fee, and the chain accepts it.
#[test]
fn seals_and_accepts_the_first_london_block_with_twice_the_gas_limit() {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let json = String::from_utf8(genesis_json(&[k.sealing_key().address()], 1))
        .unwrap()
        .replace(r#""londonBlock":0"#, r#""londonBlock":2"#);
    let chain = open_chain(dir.path(), json.as_bytes());
    let mut s = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        k.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    // `seal_now` imports what it seals.
    let b1 = s.seal_now(GENESIS_TIME + 1).unwrap().unwrap();
    let b2 = s.seal_now(GENESIS_TIME + 2).unwrap().unwrap();
    assert_eq!(b1.base_fee_per_gas, None);
    assert_eq!(b2.gas_limit, 2 * b1.gas_limit);
    assert_eq!(
        b2.base_fee_per_gas,
        Some(U256::from(cachet_genesis::INITIAL_BASE_FEE))
    );
    assert_eq!(chain.head().header, b2);
    // A peer's chain accepts it too.
    let other = tempfile::tempdir().unwrap();
    let peer = open_chain(other.path(), json.as_bytes());
    peer.import(&b1.encode(), &EMPTY_BODY_RLP).unwrap();
    assert_eq!(
        peer.import(&b2.encode(), &EMPTY_BODY_RLP).unwrap(),
        Imported::Head
    );
}
