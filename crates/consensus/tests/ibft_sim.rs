//! Deterministic simulation of N in-process legacy IBFT validators: the harness of
//! `common/sim.rs` (seeded virtual clock, delays, drops, duplicates, crashed, silent and Byzantine
//! validators) with IBFT's messages and `ibft::State`. Every decided block's proposer seal and
//! committed seals verify with `cachet_seal::ibft::verify` at ⌈2N/3⌉; the Byzantine validator
//! equivocates proposals (re-sealed), PREPAREs and COMMITs.
//!
//! `CACHET_BFT_SEEDS` sets the seeds per scenario (default 50).

mod common;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, keccak256};
use cachet_consensus::ibft::message::{Content, P2P_CODE, committed_seal_digest};
use cachet_consensus::ibft::{Config, Input, Message, Output, QuorumRule, State};
use cachet_consensus::qbft::validators::ProposerPolicy;
use cachet_consensus::qbft::{Block, Env, Journal, Signer};
use cachet_primitives::Header;
use cachet_seal::bft::Threshold;
use cachet_seal::ibft::{self as seal, IstanbulExtra};
use common::TestKey;
use common::sim::{self, Engine, TIMEOUT_MS};
use rand::Rng;
use rand::rngs::StdRng;

/// Heights ahead of the current one the simulation keeps messages for.
const BACKLOG_DISTANCE: u64 = 10;

/// Per-link loss of the lossy scenario: validators relay what they see (`Engine::RELAY`), so a
/// message is lost only when every path drops it; this is high enough to force round changes.
const LOSSY_DROP: f64 = 0.5;

struct Ibft;

fn extra(validators: &[Address]) -> Bytes {
    let mut sorted = validators.to_vec();
    sorted.sort();
    IstanbulExtra {
        vanity: [0; 32],
        validators: sorted,
        seal: vec![],
        committed_seals: vec![],
    }
    .encode()
    .into()
}

impl Engine for Ibft {
    type Msg = Message;
    type State = State;
    const RELAY: bool = true;
    const TIME_LIMIT_MS: u64 = 1_000_000_000;
    type Backlog = BTreeMap<u64, Vec<Message>>;

    fn order(keys: &mut [TestKey]) {
        keys.sort_by_cached_key(|k| k.address().to_checksum(None));
    }

    fn genesis(validators: &[Address]) -> Header {
        sim::bft_header(None, Address::ZERO, extra(validators))
    }

    fn new_state(height: u64, validators: &[Address], head: &Header, j: &dyn Journal) -> State {
        let last_proposer = if head.number == 0 {
            Address::ZERO
        } else {
            seal::recover_proposer(head).unwrap()
        };
        let cfg = Config {
            validators: validators.to_vec(),
            last_proposer,
            policy: ProposerPolicy::RoundRobin,
            request_timeout_ms: TIMEOUT_MS,
            quorum: QuorumRule::TwoThirds,
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
        (P2P_CODE, msg.encode())
    }

    fn decode(code: u8, bytes: &[u8]) -> Message {
        let msg = Message::decode(code, bytes).expect("own encoding decodes");
        assert_eq!(msg.encode(), bytes);
        msg
    }

    fn height_of(msg: &Message) -> u64 {
        msg.sequence
    }

    fn backlog_push(backlog: &mut Self::Backlog, current: u64, msg: Message) {
        if msg.sequence > current && msg.sequence <= current + BACKLOG_DISTANCE {
            backlog.entry(msg.sequence).or_default().push(msg);
        }
    }

    fn backlog_take(backlog: &mut Self::Backlog, height: u64) -> Vec<Message> {
        let mut keep = backlog.split_off(&height);
        let out = keep.remove(&height).unwrap_or_default();
        *backlog = keep;
        out
    }

    fn block_hash(header: &Header) -> B256 {
        seal::block_hash(header).unwrap()
    }

    fn verify(header: &Header, validators: &[Address]) {
        seal::verify(header, Some(validators), Threshold::BesuTwoThirds)
            .unwrap_or_else(|e| panic!("height {} has bad seals: {e}", header.number));
    }

    fn build(parent: &Header, parent_hash: B256, _: Address, vals: &[Address]) -> Block {
        let header = sim::bft_header(Some((parent, parent_hash)), Address::ZERO, extra(vals));
        Block::new_ibft(&header, &[0xc0], &[0xc0]).unwrap()
    }

    fn describe(msg: &Message) -> String {
        format!(
            "{} h{} r{} {} by {}",
            msg.code().name(),
            msg.sequence,
            msg.round,
            msg.content.digest(),
            msg.address
        )
    }

    fn twin(msg: &Message, key: &TestKey, rng: &mut StdRng) -> Message {
        let content = match &msg.content {
            Content::PrePrepare(block) => {
                let mut header = block.header().clone();
                header.timestamp += 1_000_000;
                let sig = key
                    .sign(&keccak256(seal::proposer_sig_hash(&header).unwrap()))
                    .unwrap();
                let mut e = IstanbulExtra::decode(&header.extra_data).unwrap();
                e.seal = sig.to_vec();
                header.extra_data = e.encode().into();
                Content::PrePrepare(block.with_ibft_header(&header).unwrap())
            }
            Content::Prepare(_) => Content::Prepare(B256::from(rng.r#gen::<[u8; 32]>())),
            Content::Commit { .. } => {
                let digest = B256::from(rng.r#gen::<[u8; 32]>());
                Content::Commit {
                    digest,
                    committed_seal: key.sign(&committed_seal_digest(&digest)).unwrap(),
                }
            }
            Content::RoundChange => return msg.clone(),
        };
        Message::sign(msg.sequence, msg.round, content, key).unwrap()
    }
}

#[test]
fn ibft_lossy_networks_with_slow_sync_keep_the_lock_and_do_not_fork() {
    sim::run_lossy::<Ibft>(4, LOSSY_DROP);
    sim::run_lossy::<Ibft>(7, LOSSY_DROP);
}

#[test]
fn ibft_four_validators_with_up_to_f_crashed_or_silent_reach_the_target_without_fork() {
    sim::run_scenario::<Ibft>(4, false, true);
}

#[test]
fn ibft_seven_validators_with_up_to_f_crashed_or_silent_reach_the_target_without_fork() {
    sim::run_scenario::<Ibft>(7, false, true);
}

#[test]
fn ibft_four_validators_with_a_byzantine_one_do_not_fork() {
    sim::run_scenario::<Ibft>(4, true, false);
}

#[test]
fn ibft_seven_validators_with_f_byzantine_do_not_fork() {
    sim::run_scenario::<Ibft>(7, true, false);
}

#[test]
fn ibft_more_than_f_silent_validators_means_no_commit_and_no_fork() {
    sim::run_more_than_f_silent::<Ibft>(300_000);
}
