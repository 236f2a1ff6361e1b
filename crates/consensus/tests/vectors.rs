//! Known-answer tests against `testdata/bft/` (`docs/dev/bft-wire.md` §9): bytes produced by
//! GoQuorum's own encoder and logged by a live GoQuorum network.

mod common;

use cachet_consensus::qbft::Signer;
use cachet_consensus::qbft::message::{self, Block, Code, Message, MessageError, Payload, Signed};
use cachet_consensus::qbft::validators::{ProposerPolicy, proposer};
use cachet_primitives::Header;
use common::{TestKey, addr, b256, load, unhex};
use serde_json::Value;

fn num(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

fn is_besu26(case: &Value) -> bool {
    case.get("goquorum_decode").is_some()
}

/// Decodes, re-encodes byte for byte, recovers the named signer and checks the stated digests.
fn check_message(case: &Value) {
    let name = case["name"].as_str().unwrap();
    let code = u8::try_from(num(&case["p2p_msg_code"])).unwrap();
    let payload = unhex(case["p2p_payload"].as_str().unwrap());
    let msg = Message::decode(code, &payload).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(msg.code() as u8, code, "{name}");
    assert_eq!(msg.encode(), payload, "{name}: re-encoding");
    let signer = addr(case["signer"].as_str().unwrap());
    assert_eq!(msg.author().unwrap(), signer, "{name}: signer");
    assert_eq!(
        msg.view(),
        (
            num(&case["sequence"]),
            u32::try_from(num(&case["round"])).unwrap()
        ),
        "{name}: view"
    );
    // Every justification entry recovers to a validator of the scenario (7nodes keys 1-4).
    let validators = [
        addr("0x6571d97f340c8495b661a823f2c2145ca47d63c2"),
        addr("0xd8dba507e85f116b1f7e231ca8525fc9008a6966"),
        addr("0xe36cbeb565b061217930767886474e3cde903ac5"),
        addr("0xf512a992f3fb749857d758ffda1330e590fa915e"),
    ];
    for a in msg.verify_justification_signatures().unwrap() {
        assert!(validators.contains(&a), "{name}: justification by {a}");
    }
    let outer_digest = match &msg {
        Message::PrePrepare(m) => m.proposal.signing_hash(),
        Message::Prepare(s) => s.signing_hash(),
        Message::Commit(s) => s.signing_hash(),
        Message::RoundChange(m) => m.payload.signing_hash(),
    };
    if let Some(d) = case.get("signing_digest") {
        assert_eq!(
            outer_digest,
            b256(d.as_str().unwrap()),
            "{name}: signing digest"
        );
    }
    if let Some(sig) = case.get("signature") {
        let sig = unhex(sig.as_str().unwrap());
        let ours = match &msg {
            Message::PrePrepare(m) => m.proposal.signature,
            Message::Prepare(s) => s.signature,
            Message::Commit(s) => s.signature,
            Message::RoundChange(m) => m.payload.signature,
        };
        assert_eq!(ours.as_slice(), sig, "{name}: signature");
    }
    if let Some(pre) = case.get("signing_preimage") {
        // keccak(preimage) is the signing digest; the preimage is RLP([code, payload]).
        assert_eq!(
            alloy_primitives::keccak256(unhex(pre.as_str().unwrap())),
            outer_digest,
            "{name}: preimage"
        );
    }
    // Re-sign with the node key: RFC 6979 gives the same bytes, and the message re-encodes to
    // the vector's payload.
    if let Some(k) = case.get("signer_nodekey") {
        let key = TestKey::from_hex(k.as_str().unwrap());
        assert_eq!(key.address(), signer, "{name}: node key");
        let resigned = match &msg {
            Message::PrePrepare(m) => {
                let mut m = m.clone();
                m.proposal = Signed::sign(m.proposal.payload.clone(), &key).unwrap();
                Message::PrePrepare(m)
            }
            Message::Prepare(s) => Message::Prepare(Signed::sign(s.payload, &key).unwrap()),
            Message::Commit(s) => Message::Commit(Signed::sign(s.payload, &key).unwrap()),
            Message::RoundChange(m) => {
                let mut m = m.clone();
                m.payload = Signed::sign(m.payload.payload, &key).unwrap();
                Message::RoundChange(m)
            }
        };
        assert_eq!(resigned.encode(), payload, "{name}: re-signed");
    }
    match &msg {
        Message::PrePrepare(m) => {
            if let Some(h) = case.get("proposal_hash") {
                assert_eq!(
                    m.proposal.payload.block.digest(),
                    b256(h.as_str().unwrap()),
                    "{name}: proposal hash"
                );
                assert_eq!(
                    cachet_seal::qbft::block_hash(m.proposal.payload.block.header()).unwrap(),
                    b256(h.as_str().unwrap()),
                    "{name}: block hash"
                );
            }
            if let Some(b) = case.get("proposal_block_rlp") {
                assert_eq!(m.proposal.payload.block.rlp(), unhex(b.as_str().unwrap()));
            }
        }
        Message::Prepare(s) => {
            if let Some(d) = case.get("digest") {
                assert_eq!(s.payload.digest, b256(d.as_str().unwrap()), "{name}");
            }
        }
        Message::Commit(s) => {
            if let Some(d) = case.get("digest") {
                assert_eq!(s.payload.digest, b256(d.as_str().unwrap()), "{name}");
            }
            if let Some(seal) = case.get("commit_seal") {
                assert_eq!(
                    s.payload.commit_seal.as_slice(),
                    unhex(seal.as_str().unwrap())
                );
                let digest = b256(case["commit_seal_digest"].as_str().unwrap());
                assert_eq!(
                    message::recover(&digest, &s.payload.commit_seal, "commit seal").unwrap(),
                    signer,
                    "{name}: commit seal signer"
                );
            }
        }
        Message::RoundChange(m) => {
            if let Some(d) = case.get("prepared_digest")
                && !b256(d.as_str().unwrap()).is_zero()
            {
                let (_, pd) = m.payload.payload.prepared.expect("prepared");
                assert_eq!(pd, b256(d.as_str().unwrap()), "{name}");
                assert_eq!(m.prepared_block.as_ref().unwrap().digest(), pd);
                assert!(m.prepares.len() >= 3, "{name}: quorum of prepares");
            } else {
                // Unprepared: empty prepared list, no block, no prepares (GoQuorum's 0xc0 0xc0).
                assert_eq!(m.payload.payload.prepared, None, "{name}");
                assert!(
                    m.prepared_block.is_none() && m.prepares.is_empty(),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn decodes_reencodes_and_recovers_every_goquorum_message_vector() {
    let mut n = 0;
    for case in load("qbft-messages.json") {
        if case.get("p2p_payload").is_none() || is_besu26(&case) {
            continue;
        }
        check_message(&case);
        n += 1;
    }
    assert_eq!(n, 16, "message vectors checked");
}

#[test]
fn decodes_every_message_a_live_goquorum_network_logged() {
    let mut n = 0;
    for case in load("qbft-goquorum-devnet.json") {
        if case.get("p2p_payload").is_none() {
            continue;
        }
        check_message(&case);
        n += 1;
    }
    assert_eq!(n, 7);
}

#[test]
fn refuses_the_besu_26_block_access_list_layouts_as_goquorum_does() {
    let mut n = 0;
    for case in load("qbft-messages.json").into_iter().filter(is_besu26) {
        let code = u8::try_from(num(&case["p2p_msg_code"])).unwrap();
        let payload = unhex(case["p2p_payload"].as_str().unwrap());
        let err = Message::decode(code, &payload).unwrap_err();
        assert!(
            matches!(err, MessageError::BesuBalLayout(_)),
            "{}: {err}",
            case["name"]
        );
        assert!(err.to_string().contains("--Xbft-legacy-protocol-encoding"));
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn the_digest_is_the_commit_seal_hash_of_the_proposal_as_it_is() {
    let case = load("qbft-messages.json")
        .into_iter()
        .find(|c| c["name"] == "qbft-digest-round2-in-proposal-extra")
        .unwrap();
    let header: Header =
        cachet_seal::header_from_json(&case["proposal_header"].to_string()).unwrap();
    // A Besu >= 24.12 proposal (round 2 in its extra): our digest is Besu's (decision 343);
    // GoQuorum's block hash forces round 0.
    assert_eq!(
        message::digest(&header).unwrap(),
        b256(case["besu_digest"].as_str().unwrap())
    );
    assert_eq!(
        cachet_seal::qbft::block_hash(&header).unwrap(),
        b256(case["goquorum_digest"].as_str().unwrap())
    );
}

#[test]
fn committed_blocks_of_the_live_network_decode_and_their_seals_verify() {
    for case in load("qbft-goquorum-devnet.json")
        .into_iter()
        .filter(|c| c["kind"] == "committed_block")
    {
        let block = Block::decode(&unhex(case["block_rlp"].as_str().unwrap())).unwrap();
        let validators: Vec<_> = case["validators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| addr(v.as_str().unwrap()))
            .collect();
        cachet_seal::qbft::verify(
            block.header(),
            Some(&validators),
            cachet_seal::bft::Threshold::BesuTwoThirds,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    }
}

#[test]
fn proposer_tables_match_goquorum_calc_proposer_for_byte_order() {
    let mut rows = 0;
    for case in load("proposer-selection.json") {
        if case["sort"] != "byte" {
            continue; // IBFT's string order is not QBFT's
        }
        let policy = match case["policy"].as_str().unwrap() {
            "round-robin" => ProposerPolicy::RoundRobin,
            "sticky" => ProposerPolicy::Sticky,
            p => panic!("{p}"),
        };
        let vals: Vec<_> = case["validators_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| addr(v.as_str().unwrap()))
            .collect();
        let mut sorted = vals.clone();
        sorted.sort();
        assert_eq!(sorted, vals, "byte order");
        for row in case["rows"].as_array().unwrap() {
            let last = addr(row["last_proposer"].as_str().unwrap());
            for (round, want) in row["proposer_by_round_0_to_5"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                assert_eq!(
                    proposer(&vals, last, round as u32, policy),
                    Some(addr(want.as_str().unwrap())),
                    "{} last {last} round {round}",
                    case["name"]
                );
            }
            rows += 1;
        }
    }
    assert!(rows >= 8, "{rows}");
}

#[test]
fn refuses_mutations_with_errors_not_panics() {
    let case = load("qbft-messages.json")
        .into_iter()
        .find(|c| c["name"] == "qbft-commit-h1-r0")
        .unwrap();
    let payload = unhex(case["p2p_payload"].as_str().unwrap());
    // Every truncation fails; a trailing byte fails; another code fails.
    for n in 0..payload.len() {
        assert!(Message::decode(0x14, &payload[..n]).is_err());
    }
    let mut longer = payload.clone();
    longer.push(0x80);
    assert!(Message::decode(0x14, &longer).is_err());
    assert!(Message::decode(0x13, &payload).is_err());
    assert_eq!(
        Message::decode(0x11, &payload),
        Err(MessageError::UnknownCode(0x11))
    );
    // A high-s twin of a valid signature is refused (Besu's rule).
    let Message::Commit(mut c) = Message::decode(0x14, &payload).unwrap() else {
        panic!()
    };
    let n = alloy_primitives::U256::from_be_bytes(*b256(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
    ));
    let s = alloy_primitives::U256::from_be_slice(&c.signature[32..64]);
    c.signature[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    c.signature[64] ^= 1;
    assert!(matches!(c.author(), Err(MessageError::BadSignature { .. })));
    let _ = (Code::Commit, <message::Commit as Payload>::CODE);
}

/// An alloy `SignerSync` over a test key, as the node's key handles implement it.
struct AlloyKey(TestKey);

impl alloy_signer::SignerSync for AlloyKey {
    fn sign_hash_sync(
        &self,
        hash: &alloy_primitives::B256,
    ) -> alloy_signer::Result<alloy_primitives::Signature> {
        let sig = self.0.sign(hash).unwrap();
        Ok(alloy_primitives::Signature::from_bytes_and_parity(
            &sig[..64],
            sig[64] == 1,
        ))
    }

    fn chain_id_sync(&self) -> Option<u64> {
        None
    }
}

#[test]
fn an_alloy_signer_remakes_a_goquorum_prepare_byte_for_byte() {
    let case = load("qbft-messages.json")
        .into_iter()
        .find(|c| c["name"] == "qbft-prepare-h1-r0")
        .unwrap();
    let payload = unhex(case["p2p_payload"].as_str().unwrap());
    let Message::Prepare(p) = Message::decode(0x13, &payload).unwrap() else {
        panic!("not a PREPARE")
    };
    let key = AlloyKey(TestKey::from_hex(case["signer_nodekey"].as_str().unwrap()));
    let signer =
        cachet_consensus::qbft::AlloySigner::new(&key, addr(case["signer"].as_str().unwrap()));
    let again = Signed::sign(p.payload, &signer).unwrap();
    assert_eq!(Message::Prepare(again).encode(), payload);
}

struct AnyBlock;

impl cachet_consensus::qbft::BlockCheck for AnyBlock {
    fn check(&self, _: u64, _: &Block) -> Result<(), String> {
        Ok(())
    }
}

/// The state machine, fed GoQuorum's PRE-PREPARE for (1, 0), answers with GoQuorum's own
/// PREPARE bytes, and after two more PREPAREs with GoQuorum's COMMIT bytes (seal included):
/// the signing path end to end, not only the codec.
#[test]
fn the_state_machine_answers_goquorum_proposal_with_goquorum_bytes() {
    use cachet_consensus::qbft::{Config, Env, Input, MemoryJournal, Output, State};
    let path = format!(
        "{}/../../testdata/vectors/nodekey.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let keys: Vec<TestKey> = entries
        .iter()
        .take(4)
        .map(|e| TestKey::from_hex(e["private_key"].as_str().unwrap()))
        .collect();
    let cases = load("qbft-messages.json");
    let case = |name: &str| cases.iter().find(|c| c["name"] == name).unwrap().clone();
    let pp = case("qbft-preprepare-h1-r0");
    let prepare = case("qbft-prepare-h1-r0");
    let commit = case("qbft-commit-h1-r0");
    let validators: Vec<_> = pp["validators_byte_sorted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| addr(v.as_str().unwrap()))
        .collect();
    let mut sorted: Vec<_> = keys.iter().map(Signer::address).collect();
    sorted.sort();
    assert_eq!(
        sorted, validators,
        "7nodes keys 1-4 are the scenario's validators"
    );
    let me = keys
        .iter()
        .find(|k| k.address() == addr(prepare["signer"].as_str().unwrap()))
        .unwrap();
    let cfg = Config {
        validators: validators.clone(),
        last_proposer: alloy_primitives::Address::ZERO,
        policy: ProposerPolicy::RoundRobin,
        request_timeout_ms: 10_000,
        max_request_timeout_ms: 0,
    };
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    state.handle(&mut env, Input::Start);
    let msg = Message::decode(0x12, &unhex(pp["p2p_payload"].as_str().unwrap())).unwrap();
    let Message::PrePrepare(ref pre) = msg else {
        panic!()
    };
    let block = pre.proposal.payload.block.clone();
    let sent = |out: &[Output]| -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|o| match o {
                Output::Broadcast(m) => Some(m.encode()),
                _ => None,
            })
            .collect()
    };
    let out = state.handle(&mut env, Input::Message(msg));
    assert_eq!(
        sent(&out),
        vec![unhex(prepare["p2p_payload"].as_str().unwrap())]
    );
    let others: Vec<&TestKey> = keys
        .iter()
        .filter(|k| k.address() != me.address())
        .collect();
    let mut out = Vec::new();
    for k in others.iter().take(2) {
        let p = Signed::sign(
            message::Prepare {
                sequence: 1,
                round: 0,
                digest: block.digest(),
            },
            *k,
        )
        .unwrap();
        out.extend(state.handle(&mut env, Input::Message(Message::Prepare(p))));
    }
    assert_eq!(
        sent(&out),
        vec![unhex(commit["p2p_payload"].as_str().unwrap())]
    );
    // Two more COMMITs (seals over the round-0 commit header) decide the block.
    let seal_digest = b256(commit["commit_seal_digest"].as_str().unwrap());
    let mut out = Vec::new();
    for k in others.iter().take(2) {
        let c = Signed::sign(
            message::Commit {
                sequence: 1,
                round: 0,
                digest: block.digest(),
                commit_seal: k.sign(&seal_digest).unwrap(),
            },
            *k,
        )
        .unwrap();
        out.extend(state.handle(&mut env, Input::Message(Message::Commit(c))));
    }
    let header = out
        .iter()
        .find_map(|o| match o {
            Output::Committed { header, .. } => Some(header.clone()),
            _ => None,
        })
        .expect("decided");
    let seals = cachet_seal::qbft::verify(
        &header,
        Some(&validators),
        cachet_seal::bft::Threshold::BesuTwoThirds,
    )
    .unwrap();
    assert_eq!(seals.committers.len(), 3);
    assert_eq!(
        cachet_seal::qbft::block_hash(&header).unwrap(),
        b256(pp["proposal_hash"].as_str().unwrap())
    );
}

fn nodekeys() -> Vec<TestKey> {
    let path = format!(
        "{}/../../testdata/vectors/nodekey.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let entries: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    entries
        .iter()
        .take(4)
        .map(|e| TestKey::from_hex(e["private_key"].as_str().unwrap()))
        .collect()
}

/// GoQuorum's whole round-change scenario of `qbft-messages.json`, replayed into one
/// validator (0xe36c…): its ROUND-CHANGE to round 1, its PREPARE for the round-1 proposal, its
/// prepared ROUND-CHANGE to round 2 and, as the round-2 proposer, its re-proposal of the
/// prepared block are GoQuorum's bytes exactly.
#[test]
fn the_state_machine_replays_goquorum_round_changes_with_goquorum_bytes() {
    use cachet_consensus::qbft::{Config, Env, Input, MemoryJournal, Output, State};
    let keys = nodekeys();
    let cases = load("qbft-messages.json");
    let bytes = |name: &str| {
        unhex(
            cases.iter().find(|c| c["name"] == name).unwrap()["p2p_payload"]
                .as_str()
                .unwrap(),
        )
    };
    let msg = |code: u8, name: &str| Input::Message(Message::decode(code, &bytes(name)).unwrap());
    let mut validators: Vec<_> = keys.iter().map(Signer::address).collect();
    validators.sort();
    let me = keys
        .iter()
        .find(|k| k.address() == addr("0xe36cbeb565b061217930767886474e3cde903ac5"))
        .unwrap();
    let cfg = Config {
        validators,
        last_proposer: alloy_primitives::Address::ZERO,
        policy: ProposerPolicy::RoundRobin,
        request_timeout_ms: 10_000,
        max_request_timeout_ms: 0,
    };
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    let sent = |out: Vec<Output>| -> Vec<Vec<u8>> {
        out.into_iter()
            .filter_map(|o| match o {
                Output::Broadcast(m) => Some(m.encode()),
                _ => None,
            })
            .collect()
    };
    state.handle(&mut env, Input::Start);
    let out = state.handle(
        &mut env,
        Input::Timeout {
            height: 1,
            round: 0,
        },
    );
    assert_eq!(
        sent(out),
        vec![bytes("qbft-roundchange-h1-r1-unprepared-2")]
    );
    assert!(
        sent(state.handle(&mut env, msg(0x15, "qbft-roundchange-h1-r1-unprepared-0"))).is_empty()
    );
    assert!(
        sent(state.handle(&mut env, msg(0x15, "qbft-roundchange-h1-r1-unprepared-1"))).is_empty()
    );
    let out = state.handle(&mut env, msg(0x12, "qbft-preprepare-h1-r1-justified"));
    assert_eq!(sent(out), vec![bytes("qbft-prepare-h1-r1-2")]);
    state.handle(&mut env, msg(0x13, "qbft-prepare-h1-r1-0"));
    let out = sent(state.handle(&mut env, msg(0x13, "qbft-prepare-h1-r1-1")));
    assert_eq!(out.len(), 1, "prepared: a COMMIT");
    assert_eq!(out[0][..1], [0xf8], "COMMIT list");
    let out = state.handle(
        &mut env,
        Input::Timeout {
            height: 1,
            round: 1,
        },
    );
    assert_eq!(sent(out), vec![bytes("qbft-roundchange-h1-r2-1")]);
    assert!(sent(state.handle(&mut env, msg(0x15, "qbft-roundchange-h1-r2-0"))).is_empty());
    let out = sent(state.handle(&mut env, msg(0x15, "qbft-roundchange-h1-r2-2")));
    assert_eq!(out.first(), Some(&bytes("qbft-preprepare-h1-r2-prepared")));
}

/// The other side of round 2: validator 0xf512… (never prepared) sends GoQuorum's unprepared
/// ROUND-CHANGE, accepts GoQuorum's prepared re-proposal (the justification check), and its
/// COMMIT at round 2 — the seal over the header with round 2 — is GoQuorum's bytes.
#[test]
fn the_state_machine_accepts_goquorum_prepared_reproposal_and_commits_with_goquorum_bytes() {
    use cachet_consensus::qbft::{Config, Env, Input, MemoryJournal, Output, State};
    let keys = nodekeys();
    let cases = load("qbft-messages.json");
    let bytes = |name: &str| {
        unhex(
            cases.iter().find(|c| c["name"] == name).unwrap()["p2p_payload"]
                .as_str()
                .unwrap(),
        )
    };
    let msg = |code: u8, name: &str| Input::Message(Message::decode(code, &bytes(name)).unwrap());
    let mut validators: Vec<_> = keys.iter().map(Signer::address).collect();
    validators.sort();
    let me = keys
        .iter()
        .find(|k| k.address() == addr("0xf512a992f3fb749857d758ffda1330e590fa915e"))
        .unwrap();
    let cfg = Config {
        validators,
        last_proposer: alloy_primitives::Address::ZERO,
        policy: ProposerPolicy::RoundRobin,
        request_timeout_ms: 10_000,
        max_request_timeout_ms: 0,
    };
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg, &journal);
    let mut env = Env {
        signer: me,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    let sent = |out: Vec<Output>| -> Vec<Vec<u8>> {
        out.into_iter()
            .filter_map(|o| match o {
                Output::Broadcast(m) => Some(m.encode()),
                _ => None,
            })
            .collect()
    };
    state.handle(&mut env, Input::Start);
    state.handle(
        &mut env,
        Input::Timeout {
            height: 1,
            round: 0,
        },
    );
    let out = state.handle(
        &mut env,
        Input::Timeout {
            height: 1,
            round: 1,
        },
    );
    assert_eq!(sent(out), vec![bytes("qbft-roundchange-h1-r2-2")]);
    state.handle(&mut env, msg(0x15, "qbft-roundchange-h1-r2-0"));
    state.handle(&mut env, msg(0x15, "qbft-roundchange-h1-r2-1"));
    let Input::Message(Message::PrePrepare(pp)) = msg(0x12, "qbft-preprepare-h1-r2-prepared")
    else {
        panic!()
    };
    let digest = pp.proposal.payload.block.digest();
    let out = sent(state.handle(&mut env, Input::Message(Message::PrePrepare(pp))));
    assert_eq!(out.len(), 1, "a PREPARE for the re-proposal");
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| k.address() != me.address()).take(2) {
        let p = Signed::sign(
            message::Prepare {
                sequence: 1,
                round: 2,
                digest,
            },
            k,
        )
        .unwrap();
        out.extend(sent(
            state.handle(&mut env, Input::Message(Message::Prepare(p))),
        ));
    }
    assert_eq!(out, vec![bytes("qbft-commit-h1-r2")]);
}

/// A live GoQuorum network's height 1 (decided at round 1), replayed into the validator that
/// logged it (0xd8db…): its ROUND-CHANGE, its signed proposal as round-1 proposer (built from
/// the round changes it logged), its PREPARE and its COMMIT are the logged bytes; and another
/// validator jumps to round 1 on that justified PRE-PREPARE and prepares it.
#[test]
fn the_state_machine_replays_a_live_goquorum_height_with_its_bytes() {
    use cachet_consensus::qbft::{Config, Env, Input, MemoryJournal, Output, State};
    let keys = nodekeys();
    let cases = load("qbft-goquorum-devnet.json");
    let bytes = |name: &str| {
        unhex(
            cases.iter().find(|c| c["name"] == name).unwrap()["p2p_payload"]
                .as_str()
                .unwrap(),
        )
    };
    let mut validators: Vec<_> = keys.iter().map(Signer::address).collect();
    validators.sort();
    let cfg = Config {
        validators,
        last_proposer: alloy_primitives::Address::ZERO,
        policy: ProposerPolicy::RoundRobin,
        request_timeout_ms: 4_000,
        max_request_timeout_ms: 0,
    };
    let sent = |out: Vec<Output>| -> Vec<Vec<u8>> {
        out.into_iter()
            .filter_map(|o| match o {
                Output::Broadcast(m) => Some(m.encode()),
                _ => None,
            })
            .collect()
    };
    let Message::PrePrepare(pp) =
        Message::decode(0x12, &bytes("qbft-goquorum-devnet-preprepare-h1-r1")).unwrap()
    else {
        panic!()
    };
    let block = pp.proposal.payload.block.clone();

    // Another validator: jumps to round 1 on the justified proposal and prepares it.
    let other = keys
        .iter()
        .find(|k| k.address() == addr("0x6571d97f340c8495b661a823f2c2145ca47d63c2"))
        .unwrap();
    let mut journal = MemoryJournal::default();
    let mut state = State::new(1, cfg.clone(), &journal);
    let mut env = Env {
        signer: other,
        journal: &mut journal,
        blocks: &AnyBlock,
    };
    state.handle(&mut env, Input::Start);
    let out = sent(state.handle(&mut env, Input::Message(Message::PrePrepare(pp.clone()))));
    assert_eq!(state.round(), 1);
    assert_eq!(out.len(), 1, "a PREPARE");

    // The logging validator itself.
    let me = keys
        .iter()
        .find(|k| k.address() == addr("0xd8dba507e85f116b1f7e231ca8525fc9008a6966"))
        .unwrap();
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
    assert_eq!(
        sent(out),
        vec![bytes("qbft-goquorum-devnet-roundchange-h1-r1")]
    );
    let mut build = false;
    for rc in &pp.round_changes {
        if rc.author().unwrap() == me.address() {
            continue;
        }
        let m = Message::RoundChange(message::RoundChange {
            payload: rc.clone(),
            prepared_block: None,
            prepares: vec![],
        });
        build |= state.handle(&mut env, Input::Message(m)).iter().any(|o| {
            matches!(
                o,
                Output::BuildBlock {
                    height: 1,
                    round: 1
                }
            )
        });
    }
    assert!(build, "the round-1 proposer asks for a block");
    let out = sent(state.handle(&mut env, Input::Block(block.clone())));
    assert_eq!(out.len(), 2, "PRE-PREPARE and own PREPARE");
    assert_eq!(out[1], bytes("qbft-goquorum-devnet-prepare-h1-r1"));
    // The signed proposal is the logged one byte for byte; the justification holds the same
    // ROUND-CHANGE payloads, in address order here and in the order GoQuorum's message set
    // (a Go map) happened to yield them there.
    let Message::PrePrepare(ours) = Message::decode(0x12, &out[0]).unwrap() else {
        panic!()
    };
    assert_eq!(ours.proposal, pp.proposal);
    let mut theirs = pp.round_changes.clone();
    theirs.sort_by_key(|rc| rc.author().unwrap());
    assert_eq!(ours.round_changes, theirs);
    assert!(ours.prepares.is_empty() && pp.prepares.is_empty());
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| k.address() != me.address()).take(2) {
        let p = Signed::sign(
            message::Prepare {
                sequence: 1,
                round: 1,
                digest: block.digest(),
            },
            k,
        )
        .unwrap();
        out.extend(sent(
            state.handle(&mut env, Input::Message(Message::Prepare(p))),
        ));
    }
    assert_eq!(out, vec![bytes("qbft-goquorum-devnet-commit-h1-r1")]);
}
