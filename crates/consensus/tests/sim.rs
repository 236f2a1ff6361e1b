//! Deterministic simulation of N in-process QBFT validators (`docs/dev/bft-wire.md` §10): the
//! harness of `common/sim.rs` (seeded virtual clock, delays, drops, duplicates, crashed, silent
//! and Byzantine validators) with QBFT's messages and state machine. Every decided block's commit
//! seals verify with `cachet_seal::qbft::verify` at ⌈2N/3⌉; the Byzantine validator equivocates
//! proposals, PREPAREs and COMMITs.
//!
//! `CACHET_BFT_SEEDS` sets the seeds per scenario (default 50).

mod common;

use alloy_primitives::{Address, B256};
use cachet_consensus::qbft::message::{Commit, Prepare, Proposal, Signed};
use cachet_consensus::qbft::validators::ProposerPolicy;
use cachet_consensus::qbft::{
    Backlog, Block, Config, Env, Input, Journal, Message, Output, Signer, State,
};
use cachet_primitives::Header;
use cachet_seal::bft::Threshold;
use cachet_seal::qbft as seal;
use common::TestKey;
use common::sim::{self, Engine, TIMEOUT_MS};
use rand::Rng;
use rand::rngs::StdRng;

struct Qbft;

fn extra(validators: &[Address]) -> alloy_primitives::Bytes {
    seal::encode_extra(&seal::BftExtra {
        vanity: vec![0; 32],
        validators: validators.to_vec(),
        vote: None,
        round: 0,
        committed_seals: vec![],
    })
    .into()
}

impl Engine for Qbft {
    type Msg = Message;
    type State = State;
    const RELAY: bool = false;
    const TIME_LIMIT_MS: u64 = 2_000_000;
    type Backlog = Backlog;

    fn order(keys: &mut [TestKey]) {
        keys.sort_by_key(Signer::address);
    }

    fn genesis(validators: &[Address]) -> Header {
        sim::bft_header(None, Address::ZERO, extra(validators))
    }

    fn new_state(height: u64, validators: &[Address], head: &Header, j: &dyn Journal) -> State {
        let cfg = Config {
            validators: validators.to_vec(),
            last_proposer: head.beneficiary,
            policy: ProposerPolicy::RoundRobin,
            request_timeout_ms: TIMEOUT_MS,
            max_request_timeout_ms: 0,
        };
        State::new(height, cfg, j)
    }

    fn handle(state: &mut State, env: &mut Env<'_>, input: Input) -> Vec<Output> {
        state.handle(env, input)
    }

    fn view(state: &State) -> (u64, u32) {
        (state.height(), state.round())
    }

    fn encode(msg: &Message) -> (u8, Vec<u8>) {
        (msg.code() as u8, msg.encode())
    }

    fn decode(code: u8, bytes: &[u8]) -> Message {
        let msg = Message::decode(code, bytes).expect("own encoding decodes");
        assert_eq!(msg.encode(), bytes);
        msg
    }

    fn height_of(msg: &Message) -> u64 {
        msg.view().0
    }

    fn backlog_push(backlog: &mut Backlog, current: u64, msg: Message) {
        backlog.push(current, msg);
    }

    fn backlog_take(backlog: &mut Backlog, height: u64) -> Vec<Message> {
        backlog.take(height)
    }

    fn block_hash(header: &Header) -> B256 {
        seal::block_hash(header).unwrap()
    }

    fn verify(header: &Header, validators: &[Address]) {
        seal::verify(header, Some(validators), Threshold::BesuTwoThirds)
            .unwrap_or_else(|e| panic!("height {} has bad seals: {e}", header.number));
    }

    fn build(parent: &Header, parent_hash: B256, proposer: Address, vals: &[Address]) -> Block {
        let header = sim::bft_header(Some((parent, parent_hash)), proposer, extra(vals));
        Block::new(header, &[0xc0], &[0xc0]).unwrap()
    }

    fn describe(msg: &Message) -> String {
        let (h, r) = msg.view();
        format!("{} h{h} r{r}", msg.code().name())
    }

    fn twin(msg: &Message, key: &TestKey, rng: &mut StdRng) -> Message {
        match msg {
            Message::PrePrepare(pp) => {
                let mut header = pp.proposal.payload.block.header().clone();
                header.timestamp += 1_000_000;
                let block = Block::new(header, &[0xc0], &[0xc0]).unwrap();
                let proposal = Proposal {
                    block,
                    ..pp.proposal.payload.clone()
                };
                let mut pp = pp.clone();
                pp.proposal = Signed::sign(proposal, key).unwrap();
                Message::PrePrepare(pp)
            }
            Message::Prepare(p) => Message::Prepare(
                Signed::sign(
                    Prepare {
                        digest: B256::from(rng.r#gen::<[u8; 32]>()),
                        ..p.payload
                    },
                    key,
                )
                .unwrap(),
            ),
            Message::Commit(c) => {
                let digest = B256::from(rng.r#gen::<[u8; 32]>());
                Message::Commit(
                    Signed::sign(
                        Commit {
                            digest,
                            commit_seal: key.sign(&digest).unwrap(),
                            ..c.payload
                        },
                        key,
                    )
                    .unwrap(),
                )
            }
            Message::RoundChange(_) => msg.clone(),
        }
    }
}

#[test]
fn lossy_networks_with_slow_sync_keep_the_lock_and_do_not_fork() {
    sim::run_lossy::<Qbft>(4, 0.15);
    sim::run_lossy::<Qbft>(7, 0.15);
}

#[test]
fn four_validators_with_up_to_f_crashed_or_silent_reach_the_target_without_fork() {
    sim::run_scenario::<Qbft>(4, false, true);
}

#[test]
fn seven_validators_with_up_to_f_crashed_or_silent_reach_the_target_without_fork() {
    sim::run_scenario::<Qbft>(7, false, true);
}

#[test]
fn four_validators_with_a_byzantine_one_do_not_fork() {
    sim::run_scenario::<Qbft>(4, true, true);
}

#[test]
fn seven_validators_with_f_byzantine_do_not_fork() {
    sim::run_scenario::<Qbft>(7, true, true);
}

#[test]
fn more_than_f_silent_validators_means_no_commit_and_no_fork() {
    sim::run_more_than_f_silent::<Qbft>(300_000);
}
