//! The IBFT state machine replayed against `GoQuorum`'s bytes: the vectors of
//! `ibft-messages.json` (one 7nodes network, height 1) and the live IBFT block 7 of
//! `ibft-to-qbft-goquorum-devnet.json`. One validator's state machine is fed the others'
//! messages and must send `GoQuorum`'s exact bytes; plus single-validator rules (lock, round
//! change, journal).

mod common;

use alloy_primitives::{Address, B256, Bytes};
use cachet_consensus::ibft::message::{Content, P2P_CODE};
use cachet_consensus::ibft::{Config, Input, Message, Output, QuorumRule, State, sort_validators};
use cachet_consensus::qbft::validators::ProposerPolicy;
use cachet_consensus::qbft::{Block, BlockCheck, Env, Journal, MemoryJournal, Signer};
use cachet_seal::bft::Threshold;
use cachet_seal::ibft::IstanbulExtra;
use common::{TestKey, addr, load, unhex};
use serde_json::Value;

struct AnyBlock;

impl BlockCheck for AnyBlock {
    fn check(&self, _: u64, _: &Block) -> Result<(), String> {
        Ok(())
    }
}

/// The 7nodes keys 1-4 (from the QBFT vector file), by address.
fn key(a: &str) -> TestKey {
    let want = addr(a);
    for c in load("qbft-messages.json") {
        if let Some(k) = c.get("signer_nodekey").and_then(Value::as_str) {
            let key = TestKey::from_hex(k);
            if key.address() == want {
                return key;
            }
        }
    }
    panic!("no key for {a}")
}

const V6571: &str = "0x6571d97f340c8495b661a823f2c2145ca47d63c2";
const VD8DB: &str = "0xd8dba507e85f116b1f7e231ca8525fc9008a6966";
const VE36C: &str = "0xe36cbeb565b061217930767886474e3cde903ac5";
const VF512: &str = "0xf512a992f3fb749857d758ffda1330e590fa915e";

fn validators() -> Vec<Address> {
    let mut v: Vec<Address> = [V6571, VD8DB, VE36C, VF512]
        .iter()
        .map(|a| addr(a))
        .collect();
    sort_validators(&mut v);
    v
}

fn config(last_proposer: Address) -> Config {
    Config {
        validators: validators(),
        last_proposer,
        policy: ProposerPolicy::RoundRobin,
        request_timeout_ms: 4000,
        quorum: QuorumRule::TwoThirds,
    }
}

fn vector(name: &str) -> Vec<u8> {
    let c = load("ibft-messages.json")
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap();
    unhex(c["p2p_payload"].as_str().unwrap())
}

fn decode(bytes: &[u8]) -> Message {
    Message::decode(P2P_CODE, bytes).unwrap()
}

struct Node {
    key: TestKey,
    journal: MemoryJournal,
    state: State,
}

impl Node {
    fn new(who: &str, height: u64, cfg: Config) -> Self {
        let journal = MemoryJournal::default();
        let state = State::new(height, cfg, &journal);
        Self {
            key: key(who),
            journal,
            state,
        }
    }

    fn feed(&mut self, input: Input) -> Vec<Output> {
        let mut env = Env {
            signer: &self.key,
            journal: &mut self.journal,
            blocks: &AnyBlock,
        };
        self.state.handle(&mut env, input)
    }
}

fn sent(out: &[Output]) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn committed(out: &[Output]) -> Option<cachet_primitives::Header> {
    out.iter().find_map(|o| match o {
        Output::Committed { header, .. } => Some((**header).clone()),
        _ => None,
    })
}

fn sign(who: &str, height: u64, round: u32, content: Content) -> Message {
    Message::sign(height, round, content, &key(who)).unwrap()
}

fn commit(who: &str, height: u64, round: u32, digest: B256) -> Message {
    let k = key(who);
    let committed_seal = k
        .sign(&cachet_consensus::ibft::message::committed_seal_digest(
            &digest,
        ))
        .unwrap();
    sign(
        who,
        height,
        round,
        Content::Commit {
            digest,
            committed_seal,
        },
    )
}

/// Validator f512 at height 1: fed `GoQuorum`'s PRE-PREPARE it sends `GoQuorum`'s PREPARE, and
/// with two more PREPAREs `GoQuorum`'s COMMIT (committed seal included); two more COMMITs commit
/// a block whose seals verify.
#[test]
fn a_validator_sends_goquorums_prepare_and_commit() {
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    let out = n.feed(Input::Start);
    assert!(sent(&out).is_empty());
    let pp = decode(&vector("ibft-preprepare-h1-r0"));
    let digest = pp.content.digest();
    let out = n.feed(Input::Message(pp));
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 1, "{out:?}");
    assert_eq!(msgs[0].encode(), vector("ibft-prepare-h1-r0"));
    // One more PREPARE is not a quorum (3 of 4 with our own).
    let out = n.feed(Input::Message(sign(VD8DB, 1, 0, Content::Prepare(digest))));
    assert!(sent(&out).is_empty(), "{out:?}");
    let out = n.feed(Input::Message(sign(V6571, 1, 0, Content::Prepare(digest))));
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 1, "{out:?}");
    assert_eq!(msgs[0].encode(), vector("ibft-commit-h1-r0"));
    assert_eq!(n.state.locked(), Some(digest));
    let out = n.feed(Input::Message(commit(V6571, 1, 0, digest)));
    assert!(committed(&out).is_none());
    let out = n.feed(Input::Message(commit(VE36C, 1, 0, digest)));
    let header = committed(&out).expect("committed");
    let seals =
        cachet_seal::ibft::verify(&header, Some(&validators()), Threshold::BesuTwoThirds).unwrap();
    assert_eq!(seals.block_hash, digest);
    assert_eq!(seals.proposer, addr(V6571));
    assert_eq!(seals.committers.len(), 3);
    assert!(n.state.is_committed());
}

/// A committed block the host could not import unlocks and asks for the next round (`GoQuorum`
/// `commit`: `UnlockHash`, `sendNextRoundChange`); before the height commits it does nothing.
#[test]
fn a_failed_import_unlocks_and_asks_for_the_next_round() {
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    n.feed(Input::Start);
    let pp = decode(&vector("ibft-preprepare-h1-r0"));
    let digest = pp.content.digest();
    n.feed(Input::Message(pp));
    let mut env = Env {
        signer: &n.key,
        journal: &mut n.journal,
        blocks: &AnyBlock,
    };
    assert!(n.state.import_failed(&mut env).is_empty(), "not committed");
    for who in [VD8DB, V6571, VE36C] {
        n.feed(Input::Message(commit(who, 1, 0, digest)));
    }
    assert!(n.state.is_committed());
    assert_eq!(n.state.locked(), Some(digest));
    let mut env = Env {
        signer: &n.key,
        journal: &mut n.journal,
        blocks: &AnyBlock,
    };
    let out = n.state.import_failed(&mut env);
    assert!(!n.state.is_committed());
    assert_eq!(n.state.locked(), None);
    assert_eq!(n.state.round(), 1);
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 1, "{out:?}");
    assert_eq!(msgs[0].view(), (1, 1));
    assert_eq!(msgs[0].content, Content::RoundChange);
}

/// COMMITs count toward the PREPARE quorum (`GetPrepareOrCommitSize`).
#[test]
fn commits_count_toward_the_prepare_quorum() {
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    n.feed(Input::Start);
    let pp = decode(&vector("ibft-preprepare-h1-r0"));
    let digest = pp.content.digest();
    n.feed(Input::Message(pp));
    let out = n.feed(Input::Message(commit(VD8DB, 1, 0, digest)));
    assert!(sent(&out).is_empty());
    let out = n.feed(Input::Message(commit(V6571, 1, 0, digest)));
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].encode(), vector("ibft-commit-h1-r0"));
    // That COMMIT is the third: committed.
    assert!(committed(&out).is_some());
}

/// The round-0 proposer, handed the vector's block without its seal, seals it and sends
/// `GoQuorum`'s PRE-PREPARE byte for byte.
#[test]
fn the_proposer_seals_and_sends_goquorums_pre_prepare() {
    let mut n = Node::new(V6571, 1, config(Address::ZERO));
    let out = n.feed(Input::Start);
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::BuildBlock {
                height: 1,
                round: 0
            }
        )),
        "{out:?}"
    );
    let Content::PrePrepare(block) = decode(&vector("ibft-preprepare-h1-r0")).content else {
        panic!()
    };
    let mut header = block.header().clone();
    let mut extra = IstanbulExtra::decode(&header.extra_data).unwrap();
    extra.seal.clear();
    header.extra_data = Bytes::from(extra.encode());
    let unsealed = block.with_ibft_header(&header).unwrap();
    assert_ne!(unsealed.digest(), block.digest());
    let out = n.feed(Input::Block(unsealed));
    let msgs = sent(&out);
    assert_eq!(msgs[0].encode(), vector("ibft-preprepare-h1-r0"));
    // It then prepares its own proposal.
    assert!(matches!(msgs[1].content, Content::Prepare(d) if d == block.digest()));
    assert_eq!(msgs.len(), 2);
}

/// On the round-0 timer, `GoQuorum`'s ROUND-CHANGE for round 1; the next timer is
/// request timeout + 2^1 s.
#[test]
fn timeout_sends_goquorums_round_change() {
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    n.feed(Input::Start);
    let out = n.feed(Input::Timeout {
        height: 1,
        round: 0,
    });
    let msgs = sent(&out);
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].encode(), vector("ibft-roundchange-h1-r1"));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SetTimer {
            height: 1,
            round: 1,
            after_ms: 6000
        }
    )));
    assert_eq!(n.state.round(), 1);
}

/// F+1 ROUND-CHANGEs while waiting: catch up; a quorum: start the round. A locked proposer
/// re-proposes its locked block; a locked validator refuses another block and COMMITs the locked
/// one straight away.
#[test]
fn round_changes_and_the_lock() {
    // f512 locks on the vector's block at round 0.
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    n.feed(Input::Start);
    let pp = decode(&vector("ibft-preprepare-h1-r0"));
    let digest = pp.content.digest();
    n.feed(Input::Message(pp.clone()));
    n.feed(Input::Message(sign(VD8DB, 1, 0, Content::Prepare(digest))));
    n.feed(Input::Message(sign(V6571, 1, 0, Content::Prepare(digest))));
    assert_eq!(n.state.locked(), Some(digest));
    // Times out: round 1 (waiting). F+1 = 2 ROUND-CHANGEs for round 2: catch up to 2.
    n.feed(Input::Timeout {
        height: 1,
        round: 0,
    });
    assert_eq!(n.state.round(), 1);
    n.feed(Input::Message(sign(VD8DB, 1, 2, Content::RoundChange)));
    let out = n.feed(Input::Message(sign(VE36C, 1, 2, Content::RoundChange)));
    assert_eq!(n.state.round(), 2);
    let msgs = sent(&out);
    assert!(matches!(
        msgs[..],
        [Message {
            round: 2,
            content: Content::RoundChange,
            ..
        }]
    ));
    // Our own ROUND-CHANGE made three: round 2 started. Its proposer (string order
    // [6571, f512, d8db, e36c], genesis parent: seed = round) is d8db, not us.
    assert_eq!(config(Address::ZERO).proposer(2), Some(addr(VD8DB)));
    // d8db proposes another block: refused, ROUND-CHANGE for round 3.
    let Content::PrePrepare(block) = &pp.content else {
        panic!()
    };
    let mut other = block.header().clone();
    other.timestamp += 1;
    let other = block.with_ibft_header(&other).unwrap();
    let out = n.feed(Input::Message(sign(
        VD8DB,
        1,
        2,
        Content::PrePrepare(other),
    )));
    assert_eq!(n.state.round(), 3);
    assert!(
        sent(&out)
            .iter()
            .all(|m| m.content == Content::RoundChange && m.round == 3)
    );
    // Waiting at round 3: ROUND-CHANGEs for round 5 from F+1 make it ask for round 5 too, and
    // three of them start it.
    for who in [V6571, VD8DB, VE36C] {
        n.feed(Input::Message(sign(who, 1, 5, Content::RoundChange)));
    }
    assert_eq!(n.state.round(), 5);
    // Round 5's proposer is f512 (genesis parent: seed 5, 5 mod 4 = 1): locked, it re-proposes
    // the locked block and COMMITs it without a PREPARE.
    let mut n2 = Node::new(VF512, 1, config(Address::ZERO));
    assert_eq!(config(Address::ZERO).proposer(5), Some(addr(VF512)));
    n2.feed(Input::Start);
    n2.feed(Input::Message(pp));
    n2.feed(Input::Message(sign(VD8DB, 1, 0, Content::Prepare(digest))));
    n2.feed(Input::Message(sign(V6571, 1, 0, Content::Prepare(digest))));
    let mut out = Vec::new();
    for who in [V6571, VD8DB, VE36C] {
        out = n2.feed(Input::Message(sign(who, 1, 5, Content::RoundChange)));
    }
    assert_eq!(n2.state.round(), 5);
    let msgs = sent(&out);
    assert!(
        matches!(&msgs[0].content, Content::PrePrepare(b) if b.digest() == digest),
        "{msgs:?}"
    );
    assert!(matches!(msgs[1].content, Content::Commit { digest: d, .. } if d == digest));
    assert_eq!(msgs.len(), 2);
}

/// The journal refuses a second digest at (height, round): no PREPARE is signed for it.
#[test]
fn the_journal_guards_every_signature() {
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    n.journal.record(1, 0, B256::repeat_byte(7)).unwrap();
    n.feed(Input::Start);
    let out = n.feed(Input::Message(decode(&vector("ibft-preprepare-h1-r0"))));
    assert!(sent(&out).is_empty(), "{out:?}");
}

/// A COMMIT whose committed seal is not its author's is not counted.
#[test]
fn a_commit_with_someone_elses_seal_is_ignored() {
    let mut n = Node::new(VF512, 1, config(Address::ZERO));
    n.feed(Input::Start);
    let pp = decode(&vector("ibft-preprepare-h1-r0"));
    let digest = pp.content.digest();
    n.feed(Input::Message(pp));
    let Content::Commit { committed_seal, .. } = commit(V6571, 1, 0, digest).content else {
        panic!()
    };
    let forged = sign(
        VD8DB,
        1,
        0,
        Content::Commit {
            digest,
            committed_seal,
        },
    );
    let out = n.feed(Input::Message(forged));
    assert!(matches!(&out[..], [Output::Ignored(_)]), "{out:?}");
}

/// The live IBFT block 7: a committer's state machine, fed the proposal and the others' votes,
/// sends a COMMIT whose committed seal is the one `GoQuorum` put in the block, and commits a
/// header with the block's hash whose seals are the block's.
#[test]
fn live_block_7_replayed_through_one_committer() {
    let cases = load("ibft-to-qbft-goquorum-devnet.json");
    let case = cases
        .iter()
        .find(|c| c["kind"] == "committed_block_ibft")
        .unwrap();
    let live = Block::decode_ibft(&unhex(case["block_rlp"].as_str().unwrap())).unwrap();
    let hash = live.digest();
    let live_extra = IstanbulExtra::decode(&live.header().extra_data).unwrap();
    let proposer = cachet_seal::ibft::recover_proposer(live.header()).unwrap();
    let mut proposal_header = live.header().clone();
    proposal_header.extra_data = Bytes::from(
        IstanbulExtra {
            committed_seals: vec![],
            ..live_extra.clone()
        }
        .encode(),
    );
    let proposal = live.with_ibft_header(&proposal_header).unwrap();
    assert_eq!(proposal.digest(), hash);
    // Round 0 (IBFT blocks do not record the round): the parent's proposer precedes ours.
    let order = validators();
    let at = order.iter().position(|a| *a == proposer).unwrap();
    let last = order[(at + order.len() - 1) % order.len()];
    let committers = cachet_seal::ibft::recover(live.header())
        .unwrap()
        .committers;
    let hex = |a: &Address| format!("{a:#x}");
    let me = committers.iter().find(|a| **a != proposer).unwrap();
    let mut n = Node::new(&hex(me), 7, config(last));
    n.feed(Input::Start);
    let pp = sign(&hex(&proposer), 7, 0, Content::PrePrepare(proposal));
    let out = n.feed(Input::Message(pp));
    assert!(matches!(sent(&out)[..], [Message { content: Content::Prepare(d), .. }] if d == hash));
    let mut commit_sent = None;
    for other in order.iter().filter(|a| *a != me).take(2) {
        let out = n.feed(Input::Message(sign(
            &hex(other),
            7,
            0,
            Content::Prepare(hash),
        )));
        commit_sent = commit_sent.or(sent(&out).into_iter().next());
    }
    let Some(Message {
        content: Content::Commit { committed_seal, .. },
        ..
    }) = commit_sent
    else {
        panic!("no COMMIT")
    };
    let mine = committers.iter().position(|a| a == me).unwrap();
    assert_eq!(
        committed_seal, live_extra.committed_seals[mine],
        "live seal"
    );
    // The other committers' COMMITs carry their live seals.
    let mut header = None;
    for (i, c) in committers.iter().enumerate().filter(|(_, c)| *c != me) {
        let m = sign(
            &hex(c),
            7,
            0,
            Content::Commit {
                digest: hash,
                committed_seal: live_extra.committed_seals[i],
            },
        );
        header = header.or(committed(&n.feed(Input::Message(m))));
    }
    let header = header.expect("committed");
    assert_eq!(cachet_seal::ibft::block_hash(&header).unwrap(), hash);
    let mut ours = IstanbulExtra::decode(&header.extra_data)
        .unwrap()
        .committed_seals;
    let mut theirs = live_extra.committed_seals;
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

/// The lock survives a restart: saved through the journal (the node's `FileJournal` included)
/// and reloaded by `State::new`; the restarted validator then COMMITs only the locked block.
#[test]
fn the_lock_survives_a_restart_through_the_file_journal() {
    let dir = tempfile::tempdir().unwrap();
    let pp = decode(&vector("ibft-preprepare-h1-r0"));
    let digest = pp.content.digest();
    {
        let mut journal = cachet_consensus::qbft::FileJournal::open(dir.path()).unwrap();
        let k = key(VF512);
        let mut state = State::new(1, config(Address::ZERO), &journal);
        let mut env = Env {
            signer: &k,
            journal: &mut journal,
            blocks: &AnyBlock,
        };
        state.handle(&mut env, Input::Start);
        state.handle(&mut env, Input::Message(pp));
        state.handle(
            &mut env,
            Input::Message(sign(VD8DB, 1, 0, Content::Prepare(digest))),
        );
        state.handle(
            &mut env,
            Input::Message(sign(V6571, 1, 0, Content::Prepare(digest))),
        );
        assert_eq!(state.locked(), Some(digest));
    }
    let journal = cachet_consensus::qbft::FileJournal::open(dir.path()).unwrap();
    let state = State::new(1, config(Address::ZERO), &journal);
    assert_eq!(state.locked(), Some(digest));
}

/// Quorum rules (`bft-wire.md` §5) and the round timer (`newRoundChangeTimer`).
#[test]
fn quorum_rules_and_round_timer() {
    let cfg = |n: usize, quorum| Config {
        validators: (1..=n as u64)
            .map(|i| TestKey::numbered(i).address())
            .collect(),
        quorum,
        ..config(Address::ZERO)
    };
    for (n, two_thirds, two_f_plus_one) in [(1, 1, 1), (4, 3, 3), (5, 4, 3), (6, 4, 3), (7, 5, 5)] {
        assert_eq!(
            cfg(n, QuorumRule::TwoThirds).quorum(),
            two_thirds,
            "N = {n}"
        );
        assert_eq!(
            cfg(n, QuorumRule::TwoFPlusOne).quorum(),
            two_f_plus_one,
            "N = {n}"
        );
    }
    let c = config(Address::ZERO);
    assert_eq!(c.timeout_ms(0), 4000);
    assert_eq!(c.timeout_ms(1), 6000);
    assert_eq!(c.timeout_ms(3), 12_000);
    assert_eq!(c.timeout_ms(70), u64::MAX);
}
