//! The raft message decoder never panics: the fuzz corpus (one seed per message kind a member
//! sends, `fuzz/corpus/raft_message`), then mutations of it and random bytes,
//! `CACHET_FUZZ_CASES` cases (default 2000; the fuzz target runs the same entry point).
//! `CACHET_RAFT_WRITE_CORPUS=1` rewrites the corpus from `seeds()`.
#![allow(
    clippy::field_reassign_with_default,
    reason = "raft-rs's protobuf structs are built field by field"
)]

mod common;

use std::path::PathBuf;

use cachet_raft::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType, Snapshot,
    SnapshotMetadata,
};
use cachet_raft::fuzzing::raft_message;
use cachet_raft::{Members, wire};
use common::{TestKey, mint};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn msg(t: MessageType, from: u64, to: u64, term: u64) -> Message {
    let mut m = Message::default();
    m.set_msg_type(t);
    m.from = from;
    m.to = to;
    m.term = term;
    m
}

/// Named seeds: what members send each other.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut hb = msg(MessageType::MsgHeartbeat, 1, 2, 3);
    hb.commit = 17;
    out.push(("heartbeat", hb));
    out.push((
        "heartbeat-response",
        msg(MessageType::MsgHeartbeatResponse, 2, 1, 3),
    ));
    let mut vote = msg(MessageType::MsgRequestVote, 3, 1, 4);
    vote.log_term = 3;
    vote.index = 20;
    vote.commit = 18;
    vote.commit_term = 3;
    out.push(("request-vote", vote.clone()));
    let mut pre = vote;
    pre.set_msg_type(MessageType::MsgRequestPreVote);
    out.push(("request-prevote", pre));
    let mut resp = msg(MessageType::MsgRequestVoteResponse, 1, 3, 4);
    resp.reject = true;
    out.push(("vote-rejected", resp));
    let (_, block) = mint(&TestKey::numbered(1), 1, alloy_primitives::B256::ZERO, 1, 1);
    let mut app = msg(MessageType::MsgAppend, 1, 2, 3);
    app.log_term = 3;
    app.index = 20;
    app.commit = 19;
    let mut e = Entry::default();
    e.term = 3;
    e.index = 21;
    e.data = block.into();
    let mut cc = ConfChange::default();
    cc.set_change_type(ConfChangeType::AddLearnerNode);
    cc.node_id = 4;
    cc.context = TestKey::numbered(4).public.serialize_uncompressed()[1..]
        .to_vec()
        .into();
    let mut ce = Entry::default();
    ce.set_entry_type(EntryType::EntryConfChange);
    ce.term = 3;
    ce.index = 22;
    ce.data = wire::encode_conf_change(&cc).into();
    let mut empty = Entry::default();
    empty.term = 3;
    empty.index = 23;
    app.entries = vec![e, ce, empty].into();
    out.push(("append-block-confchange-empty", app));
    let mut rej = msg(MessageType::MsgAppendResponse, 2, 1, 3);
    rej.index = 20;
    rej.reject = true;
    rej.reject_hint = 15;
    rej.log_term = 2;
    out.push(("append-rejected", rej));
    let mut snap = msg(MessageType::MsgSnapshot, 1, 4, 5);
    let keys = (1..=3).map(|i| (i, TestKey::numbered(i).public)).collect();
    let members = Members::new(keys, [1, 2, 3], [], [7]);
    let mut meta = SnapshotMetadata::default();
    meta.index = 64;
    meta.term = 5;
    meta.set_conf_state(ConfState::from((vec![1, 2, 3], vec![4])));
    let mut s = Snapshot::default();
    s.data = cachet_raft::snapshot::encode(&members, &[0x42; 32]).into();
    s.set_metadata(meta);
    snap.set_snapshot(s);
    out.push(("snapshot", snap));
    out.push(("timeout-now", msg(MessageType::MsgTimeoutNow, 1, 2, 6)));
    out.into_iter()
        .map(|(n, m)| (n, wire::encode_message(&m)))
        .collect()
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/raft_message")
}

#[test]
fn the_corpus_is_the_seeds_and_each_round_trips() {
    let dir = corpus_dir();
    if std::env::var("CACHET_RAFT_WRITE_CORPUS").is_ok() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in seeds() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
    for (name, bytes) in seeds() {
        let stored = std::fs::read(dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}: run with CACHET_RAFT_WRITE_CORPUS=1"));
        assert_eq!(stored, bytes, "{name} differs from seeds()");
        let m = wire::decode_message(&bytes).unwrap();
        assert_eq!(wire::encode_message(&m), bytes, "{name}");
        raft_message(&bytes);
    }
}

#[test]
fn decoder_survives_mutated_seeds_and_random_bytes() {
    let cases: usize = std::env::var("CACHET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seeds: Vec<Vec<u8>> = seeds().into_iter().map(|(_, b)| b).collect();
    let mut rng = StdRng::seed_from_u64(0x7af7);
    for i in 0..cases {
        let mut input = seeds[i % seeds.len()].clone();
        match rng.gen_range(0..5) {
            0 => {
                for _ in 0..rng.gen_range(1..8) {
                    let at = rng.gen_range(0..input.len());
                    input[at] = rng.r#gen();
                }
            }
            1 => input.truncate(rng.gen_range(0..input.len())),
            2 => {
                let at = rng.gen_range(0..input.len());
                input.insert(at, rng.r#gen());
            }
            3 => {
                let at = rng.gen_range(0..input.len());
                input.remove(at);
            }
            _ => {
                let n = rng.gen_range(0..300);
                input = (0..n).map(|_| rng.r#gen()).collect();
            }
        }
        raft_message(&input);
    }
}
