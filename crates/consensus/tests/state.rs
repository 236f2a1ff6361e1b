//! Single-validator views of the state machine: what it signs, what it refuses.

mod common;

use alloy_primitives::{Address, B256, U256};
use cachet_consensus::qbft::message::{Prepare, Proposal, RoundChangePayload, Signed};
use cachet_consensus::qbft::validators::ProposerPolicy;
use cachet_consensus::qbft::{
    Backlog, Block, BlockCheck, Config, Env, Input, Journal, MemoryJournal, Message, Output,
    Signer, State,
};
use cachet_primitives::Header;
use cachet_seal::bft::ISTANBUL_DIGEST;
use cachet_seal::qbft as seal;
use common::TestKey;

struct AnyBlock;

impl BlockCheck for AnyBlock {
    fn check(&self, _: u64, _: &Block) -> Result<(), String> {
        Ok(())
    }
}

fn keys() -> Vec<TestKey> {
    let mut k: Vec<TestKey> = (1..=4).map(TestKey::numbered).collect();
    k.sort_by_key(|k| k.address());
    k
}

fn config(keys: &[TestKey]) -> Config {
    Config {
        validators: keys.iter().map(Signer::address).collect(),
        last_proposer: Address::ZERO,
        policy: ProposerPolicy::RoundRobin,
        request_timeout_ms: 4000,
        max_request_timeout_ms: 0,
    }
}

fn block(keys: &[TestKey], proposer: Address, timestamp: u64) -> Block {
    let header = Header {
        number: 1,
        beneficiary: proposer,
        timestamp,
        difficulty: U256::from(1),
        mix_hash: ISTANBUL_DIGEST,
        extra_data: seal::encode_extra(&seal::BftExtra {
            vanity: vec![0; 32],
            validators: keys.iter().map(Signer::address).collect(),
            vote: None,
            round: 0,
            committed_seals: vec![],
        })
        .into(),
        ..Header::default()
    };
    Block::new(header, &[0xc0], &[0xc0]).unwrap()
}

fn pre_prepare(key: &TestKey, round: u32, block: Block) -> Message {
    Message::PrePrepare(cachet_consensus::qbft::message::PrePrepare {
        proposal: Signed::sign(
            Proposal {
                sequence: 1,
                round,
                block,
            },
            key,
        )
        .unwrap(),
        round_changes: vec![],
        prepares: vec![],
    })
}

fn prepares(out: &[Output]) -> Vec<B256> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(Message::Prepare(p)) => Some(p.payload.digest),
            _ => None,
        })
        .collect()
}

#[test]
fn prepares_the_round_zero_proposal_once_and_ignores_a_second_one() {
    let keys = keys();
    let cfg = config(&keys);
    let proposer = cfg.proposer(0).unwrap();
    let pkey = keys.iter().find(|k| k.address() == proposer).unwrap();
    let me = keys.iter().find(|k| k.address() != proposer).unwrap();
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    let out = state.handle(&mut env, Input::Start);
    assert!(matches!(
        out.as_slice(),
        [Output::SetTimer {
            height: 1,
            round: 0,
            after_ms: 4000
        }]
    ));
    let a = block(&keys, proposer, 1);
    let out = state.handle(&mut env, Input::Message(pre_prepare(pkey, 0, a.clone())));
    assert_eq!(prepares(&out), vec![a.digest()]);
    // The proposer equivocates: the second proposal of the round is not prepared.
    let b = block(&keys, proposer, 2);
    let out = state.handle(&mut env, Input::Message(pre_prepare(pkey, 0, b)));
    assert!(prepares(&out).is_empty(), "{out:?}");
}

#[test]
fn refuses_proposals_from_others_than_the_proposer() {
    let keys = keys();
    let cfg = config(&keys);
    let proposer = cfg.proposer(0).unwrap();
    let other = keys.iter().find(|k| k.address() != proposer).unwrap();
    let me = keys.iter().rev().find(|k| k.address() != proposer).unwrap();
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    state.handle(&mut env, Input::Start);
    let out = state.handle(
        &mut env,
        Input::Message(pre_prepare(other, 0, block(&keys, other.address(), 1))),
    );
    assert!(prepares(&out).is_empty());
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Ignored(w) if w.contains("not its proposer")))
    );
}

#[test]
fn a_restarted_validator_does_not_prepare_a_different_block_in_a_round_it_signed() {
    let keys = keys();
    let cfg = config(&keys);
    let proposer = cfg.proposer(0).unwrap();
    let pkey = keys.iter().find(|k| k.address() == proposer).unwrap();
    let me = keys.iter().find(|k| k.address() != proposer).unwrap();
    let a = block(&keys, proposer, 1);
    let b = block(&keys, proposer, 2);
    // Before the crash it prepared A at (1, 0).
    let mut journal = MemoryJournal::default();
    journal.record(1, 0, a.digest()).unwrap();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    state.handle(&mut env, Input::Start);
    let out = state.handle(&mut env, Input::Message(pre_prepare(pkey, 0, b)));
    assert!(prepares(&out).is_empty());
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Ignored(w) if w.contains("refusing to sign")))
    );
}

#[test]
fn timeouts_double_per_round_and_send_a_round_change() {
    let keys = keys();
    let cfg = config(&keys);
    assert_eq!(
        (0..4).map(|r| cfg.timeout_ms(r)).collect::<Vec<_>>(),
        [4000, 8000, 16000, 32000]
    );
    let capped = Config {
        max_request_timeout_ms: 10_000,
        ..cfg.clone()
    };
    assert_eq!(capped.timeout_ms(3), 10_000);
    assert_eq!(cfg.timeout_ms(200), u64::MAX);
    let me = &keys[0];
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    state.handle(&mut env, Input::Start);
    let out = state.handle(
        &mut env,
        Input::Timeout {
            height: 1,
            round: 0,
        },
    );
    assert_eq!(state.round(), 1);
    let rc = out
        .iter()
        .find_map(|o| match o {
            Output::Broadcast(Message::RoundChange(rc)) => Some(rc.clone()),
            _ => None,
        })
        .expect("a ROUND-CHANGE");
    assert_eq!(
        rc.payload.payload,
        RoundChangePayload {
            sequence: 1,
            round: 1,
            prepared: None
        }
    );
    assert_eq!(rc.payload.author().unwrap(), me.address());
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SetTimer {
            round: 1,
            after_ms: 8000,
            ..
        }
    )));
    // A stale timer does nothing.
    assert!(
        state
            .handle(
                &mut env,
                Input::Timeout {
                    height: 1,
                    round: 0
                }
            )
            .is_empty()
    );
}

#[test]
fn ignores_non_validators_and_other_heights() {
    let keys = keys();
    let cfg = config(&keys);
    let stranger = TestKey::numbered(99);
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: &keys[0],
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    state.handle(&mut env, Input::Start);
    let p = |seq, key: &TestKey| {
        Message::Prepare(
            Signed::sign(
                Prepare {
                    sequence: seq,
                    round: 0,
                    digest: B256::repeat_byte(1),
                },
                key,
            )
            .unwrap(),
        )
    };
    let out = state.handle(&mut env, Input::Message(p(1, &stranger)));
    assert!(matches!(out.as_slice(), [Output::Ignored(w)] if w.contains("not a validator")));
    let out = state.handle(&mut env, Input::Message(p(2, &keys[1])));
    assert!(matches!(out.as_slice(), [Output::Ignored(w)] if w.contains("height 2")));
}

#[test]
fn the_backlog_keeps_ten_heights_and_a_thousand_messages() {
    let key = TestKey::numbered(1);
    let p = |seq| {
        Message::Prepare(
            Signed::sign(
                Prepare {
                    sequence: seq,
                    round: 0,
                    digest: B256::ZERO,
                },
                &key,
            )
            .unwrap(),
        )
    };
    let mut b = Backlog::default();
    b.push(5, p(5)); // current: dropped
    b.push(5, p(16)); // 11 ahead: dropped
    b.push(5, p(15));
    assert_eq!(b.len(), 1);
    for _ in 0..1100 {
        b.push(5, p(6));
    }
    assert_eq!(
        b.len(),
        1000,
        "bounded; the highest height is evicted first"
    );
    let mut b2 = b.clone();
    assert!(b.take(15).is_empty());
    assert!(b.is_empty(), "taking a height drops the lower ones");
    assert_eq!(b2.take(6).len(), 1000);
    assert!(b2.is_empty());
}
