//! Known-answer tests of the legacy IBFT messages (`docs/dev/bft-wire.md` §7) against
//! `testdata/bft/ibft-messages.json` (bytes from `GoQuorum`'s own encoder and signer) and the
//! live `GoQuorum` IBFT block of `ibft-to-qbft-goquorum-devnet.json`.

mod common;

use alloy_primitives::{Address, keccak256};
use cachet_consensus::ibft::message::{Content, P2P_CODE, committed_seal_digest};
use cachet_consensus::ibft::{Message, MessageError, sort_validators};
use cachet_consensus::qbft::message::recover;
use cachet_consensus::qbft::{Block, Signer};
use common::{TestKey, addr, b256, load, unhex};
use serde_json::Value;

fn s<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no {key}", case["name"]))
}

/// The four 7nodes keys of the vectors' network, from the QBFT vector file.
fn keys() -> Vec<TestKey> {
    let mut out: Vec<TestKey> = Vec::new();
    for c in load("qbft-messages.json") {
        if let Some(k) = c.get("signer_nodekey").and_then(Value::as_str) {
            let key = TestKey::from_hex(k);
            if !out.iter().any(|o| o.address() == key.address()) {
                out.push(key);
            }
        }
    }
    assert_eq!(out.len(), 4);
    out
}

fn check(case: &Value) -> Message {
    let name = s(case, "name");
    assert_eq!(
        case["p2p_msg_code"].as_u64(),
        Some(u64::from(P2P_CODE)),
        "{name}"
    );
    let payload = unhex(s(case, "p2p_payload"));
    let msg = Message::decode(P2P_CODE, &payload).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(msg.encode(), payload, "{name}: re-encoding");
    assert_eq!(
        msg.wrapper_rlp(),
        unhex(s(case, "message_rlp")),
        "{name}: wrapper"
    );
    assert_eq!(
        msg.inner(),
        unhex(s(case, "inner_msg_rlp")),
        "{name}: inner msg"
    );
    assert_eq!(
        msg.code() as u64,
        case["ibft_code"].as_u64().unwrap(),
        "{name}: code"
    );
    let signer = addr(s(case, "signer"));
    assert_eq!(msg.author().unwrap(), signer, "{name}: signer");
    assert_eq!(msg.address, signer, "{name}: address field");
    assert_eq!(
        msg.signature.as_slice(),
        unhex(s(case, "signature")),
        "{name}"
    );
    assert_eq!(
        msg.signing_hash(),
        b256(s(case, "signing_digest")),
        "{name}"
    );
    assert_eq!(
        keccak256(unhex(s(case, "signing_preimage_payload_no_sig"))),
        msg.signing_hash(),
        "{name}: preimage"
    );
    assert_eq!(
        keccak256(&payload),
        b256(s(case, "dedup_hash_rlphash_bytes")),
        "{name}: dedup hash"
    );
    let key = TestKey::from_hex(s(case, "signer_nodekey"));
    assert_eq!(key.address(), signer, "{name}: node key");
    let resigned = Message::sign(msg.sequence, msg.round, msg.content.clone(), &key).unwrap();
    assert_eq!(resigned.encode(), payload, "{name}: re-signed");
    msg
}

#[test]
fn every_ibft_message_vector_decodes_reencodes_recovers_and_resigns() {
    let cases = load("ibft-messages.json");
    assert_eq!(cases.len(), 4);
    let mut codes = Vec::new();
    for case in &cases {
        let name = s(case, "name");
        let msg = check(case);
        codes.push(msg.code());
        match &msg.content {
            Content::PrePrepare(block) => {
                assert_eq!(block.rlp(), unhex(s(case, "proposal_block_rlp")), "{name}");
                let hash = b256(s(case, "proposal_hash"));
                assert_eq!(block.digest(), hash, "{name}: proposal hash");
                let header = block.header();
                assert_eq!(
                    cachet_seal::ibft::proposer_sig_hash(header).unwrap(),
                    b256(s(case, "proposer_seal_sighash")),
                    "{name}: proposer sighash"
                );
                assert_eq!(
                    cachet_seal::ibft::recover_proposer(header).unwrap(),
                    msg.author().unwrap(),
                    "{name}: the proposer seal is the author's"
                );
                let mut order: Vec<Address> = case["validators_byte_sorted"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| addr(v.as_str().unwrap()))
                    .collect();
                sort_validators(&mut order);
                let expected: Vec<Address> = case["validators_proposer_order_string_sorted"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| addr(v.as_str().unwrap()))
                    .collect();
                assert_eq!(order, expected, "{name}: proposer order");
            }
            Content::Commit {
                digest,
                committed_seal,
            } => {
                assert_eq!(committed_seal.as_slice(), unhex(s(case, "committed_seal")));
                let pre = unhex(s(case, "committed_seal_preimage"));
                assert_eq!(&pre[..32], digest.as_slice(), "{name}: preimage hash");
                assert_eq!(pre[32], 0x02, "{name}: preimage code");
                assert_eq!(keccak256(&pre), b256(s(case, "committed_seal_digest")));
                assert_eq!(committed_seal_digest(digest), keccak256(&pre), "{name}");
                assert_eq!(
                    msg.committed_seal_signer().unwrap(),
                    Some(msg.address),
                    "{name}: seal signer"
                );
                let key = TestKey::from_hex(s(case, "signer_nodekey"));
                assert_eq!(
                    key.sign(&committed_seal_digest(digest)).unwrap(),
                    *committed_seal,
                    "{name}: re-made seal"
                );
            }
            Content::Prepare(d) => assert!(!d.is_zero(), "{name}"),
            Content::RoundChange => assert_eq!(msg.round, 1, "{name}"),
        }
    }
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 4, "one vector per code");
}

/// Block 7 of the live network: the last IBFT block. Its digest is the block hash `GoQuorum`
/// reported, and its committed seals are the live COMMITs' seals: re-made byte for byte from the
/// committers' keys over `keccak(hash ‖ 0x02)`.
#[test]
fn live_ibft_block_hash_and_committed_seals() {
    let cases = load("ibft-to-qbft-goquorum-devnet.json");
    let case = cases
        .iter()
        .find(|c| c["kind"] == "committed_block_ibft")
        .unwrap();
    let block = Block::decode_ibft(&unhex(s(case, "block_rlp"))).unwrap();
    assert_eq!(block.rlp(), unhex(s(case, "block_rlp")));
    let hash = b256(s(case, "block_hash"));
    assert_eq!(block.digest(), hash);
    let extra = cachet_seal::ibft::IstanbulExtra::decode(&block.header().extra_data).unwrap();
    assert!(extra.committed_seals.len() >= 3);
    let keys = keys();
    for seal in &extra.committed_seals {
        let who = recover(&committed_seal_digest(&hash), seal, "seal").unwrap();
        let key = keys.iter().find(|k| k.address() == who).unwrap();
        assert_eq!(key.sign(&committed_seal_digest(&hash)).unwrap(), *seal);
    }
    // The QBFT block after it is not an IBFT block.
    let qbft = cases
        .iter()
        .find(|c| c["kind"] == "committed_block")
        .unwrap();
    assert!(Block::decode_ibft(&unhex(s(qbft, "block_rlp"))).is_err());
}

#[test]
fn decoder_refuses_what_goquorum_never_sends() {
    let cases = load("ibft-messages.json");
    let by = |n: &str| {
        let c = cases.iter().find(|c| c["name"] == n).unwrap();
        Message::decode(P2P_CODE, &unhex(s(c, "p2p_payload"))).unwrap()
    };
    let key = keys().into_iter().next().unwrap();
    let prepare = by("ibft-prepare-h1-r0");
    // Another p2p code.
    assert!(matches!(
        Message::decode(0x12, &prepare.encode()),
        Err(MessageError::UnknownP2pCode(0x12))
    ));
    // Trailing bytes after the payload string.
    let mut trailing = prepare.encode();
    trailing.push(0x80);
    assert!(Message::decode(P2P_CODE, &trailing).is_err());
    // A committed seal on a PREPARE.
    let mut w = prepare.wrapper_rlp();
    // Replace the final 0x80 (empty seal) by a one-byte string.
    w.pop();
    w.push(0x01);
    assert!(Message::decode_wrapper(&w).is_err());
    // A ROUND-CHANGE with a digest.
    let mut rc = by("ibft-roundchange-h1-r1");
    let digest = prepare.content.digest();
    rc.content = Content::Prepare(digest);
    let signed = Message::sign(rc.sequence, rc.round, rc.content, &key).unwrap();
    let mut w = signed.wrapper_rlp();
    // Turn the code from PREPARE (1) into ROUND-CHANGE (3): byte after the list header.
    let at = w.iter().position(|b| *b == 0x01).unwrap();
    w[at] = 0x03;
    assert!(matches!(
        Message::decode_wrapper(&w),
        Err(MessageError::Inconsistent(_))
    ));
    // The address field must be the signer.
    let mut forged = prepare.clone();
    forged.address = key.address();
    assert!(forged.author().is_err());
    // High s is refused.
    let mut high = prepare;
    let n = alloy_primitives::U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s_val = alloy_primitives::U256::from_be_slice(&high.signature[32..64]);
    high.signature[32..64].copy_from_slice(&(n - s_val).to_be_bytes::<32>());
    high.signature[64] ^= 1;
    assert!(high.author().is_err());
}
