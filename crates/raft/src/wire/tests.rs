#![allow(
    clippy::field_reassign_with_default,
    reason = "raft-rs's protobuf structs are built field by field"
)]

use proptest::prelude::*;
use raft::eraftpb::ConfChangeType;

use super::*;

/// A message using every field, with an entry of each kind and a snapshot.
pub(crate) fn sample() -> Message {
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgAppend);
    m.to = 2;
    m.from = 1;
    m.term = 7;
    m.log_term = 6;
    m.index = 41;
    m.commit = 40;
    m.commit_term = 6;
    m.reject = true;
    m.reject_hint = 39;
    m.context = Bytes::from_static(b"ctx");
    m.request_snapshot = 3;
    m.deprecated_priority = 4;
    m.priority = -5;
    let mut block = Entry::default();
    block.term = 7;
    block.index = 42;
    block.data = Bytes::from_static(&[0xc3, 0xc0, 0xc0, 0xc0]);
    block.context = Bytes::from_static(b"c");
    block.sync_log = true;
    let mut cc = ConfChange::default();
    cc.id = 1;
    cc.set_change_type(ConfChangeType::AddLearnerNode);
    cc.node_id = 4;
    cc.context = Bytes::from(vec![0xab; 64]);
    let mut conf = Entry::default();
    conf.set_entry_type(EntryType::EntryConfChange);
    conf.term = 7;
    conf.index = 43;
    conf.data = encode_conf_change(&cc).into();
    let empty = Entry::default();
    m.entries = vec![block, conf, empty].into();
    let mut meta = SnapshotMetadata::default();
    meta.index = 30;
    meta.term = 5;
    meta.set_conf_state(ConfState::from((vec![1, 2, 3], vec![4])));
    let mut s = Snapshot::default();
    s.data = Bytes::from_static(b"head");
    s.set_metadata(meta);
    m.set_snapshot(s);
    m
}

#[test]
fn round_trips_a_message_with_every_field() {
    let m = sample();
    let bytes = encode_message(&m);
    let back = decode_message(&bytes).unwrap();
    assert_eq!(back, m);
    assert_eq!(encode_message(&back), bytes);
}

#[test]
fn encodes_fields_in_number_order_as_hand_written() {
    // MsgHeartbeat (8) from 1 to 3, term 2, commit 5: keys 0x08, 0x10, 0x18, 0x20, 0x40.
    let mut m = Message::default();
    m.set_msg_type(MessageType::MsgHeartbeat);
    m.to = 3;
    m.from = 1;
    m.term = 2;
    m.commit = 5;
    let bytes = encode_message(&m);
    assert_eq!(
        bytes,
        [0x08, 0x08, 0x10, 0x03, 0x18, 0x01, 0x20, 0x02, 0x40, 0x05]
    );
    // priority -1: a 10-byte varint, as proto3 writes int64.
    let mut p = Message::default();
    p.priority = -1;
    assert_eq!(
        encode_message(&p),
        [
            0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
        ]
    );
    assert_eq!(decode_message(&encode_message(&p)).unwrap().priority, -1);
}

#[test]
fn rejects_every_strict_prefix_or_decodes_it_exactly() {
    let bytes = encode_message(&sample());
    for n in 0..bytes.len() {
        let prefix = &bytes[..n];
        // A cut on a field boundary is another valid message; anything else must fail.
        if let Ok(m) = decode_message(prefix) {
            assert_eq!(encode_message(&m), prefix, "prefix {n}");
        }
    }
    // Cuts inside the entries' nested bytes always fail.
    assert!(matches!(
        decode_message(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated { .. })
    ));
}

#[test]
fn rejects_non_canonical_forms() {
    let hb = [0x08, 0x08, 0x10, 0x03, 0x18, 0x01];
    // Out of order: from before to.
    assert_eq!(
        decode_message(&[0x08, 0x08, 0x18, 0x01, 0x10, 0x03]),
        Err(DecodeError::FieldOrder {
            what: "raft message",
            field: 2
        })
    );
    // A field twice.
    assert!(matches!(
        decode_message(&[0x10, 0x03, 0x10, 0x03]),
        Err(DecodeError::FieldOrder { field: 2, .. })
    ));
    // An explicit zero.
    assert_eq!(
        decode_message(&[0x20, 0x00]),
        Err(DecodeError::ExplicitDefault {
            what: "raft message",
            field: 4
        })
    );
    // A non-minimal varint (3 as 0x83 0x00).
    assert!(matches!(
        decode_message(&[0x10, 0x83, 0x00]),
        Err(DecodeError::BadVarint { .. })
    ));
    // An unknown field (17) and a known field with the wrong wire type (to as bytes).
    assert!(matches!(
        decode_message(&[0x88, 0x01, 0x01]),
        Err(DecodeError::UnknownField { field: 17, .. })
    ));
    assert!(matches!(
        decode_message(&[0x12, 0x01, 0x03]),
        Err(DecodeError::UnknownField { field: 2, .. })
    ));
    // A 64-bit wire type.
    assert!(matches!(
        decode_message(&[0x21, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(DecodeError::UnknownField { field: 4, .. })
    ));
    // A bool of 2.
    assert!(matches!(
        decode_message(&[0x50, 0x02]),
        Err(DecodeError::BadBool { field: 10, .. })
    ));
    // An 11-byte varint.
    let mut long = vec![0x20];
    long.extend([0xff; 10]);
    long.push(0x01);
    assert!(matches!(
        decode_message(&long),
        Err(DecodeError::BadVarint { .. })
    ));
    assert!(decode_message(&hb).is_ok());
}

#[test]
fn rejects_unknown_types() {
    assert_eq!(
        decode_message(&[0x08, 0x13]),
        Err(DecodeError::UnknownMessageType { found: 19 })
    );
    // An entry of type 3.
    assert_eq!(
        decode_message(&[0x3a, 0x02, 0x08, 0x03]),
        Err(DecodeError::UnknownEntryType { found: 3 })
    );
    // A conf change of type 3 (etcd's AddLearnerNode number; raft-rs has no 3).
    assert_eq!(
        decode_conf_change(&[0x10, 0x03]),
        Err(DecodeError::UnknownConfChangeType { found: 3 })
    );
}

#[test]
fn accepts_raft_id_65535_and_rejects_65536() {
    // to = 0xffff: varint ff ff 03.
    let m = decode_message(&[0x10, 0xff, 0xff, 0x03]).unwrap();
    assert_eq!(m.to, MAX_RAFT_ID);
    assert_eq!(
        decode_message(&[0x10, 0x80, 0x80, 0x04]),
        Err(DecodeError::RaftIdOutOfRange {
            field: "to",
            found: 65536
        })
    );
    assert!(matches!(
        decode_conf_state(&[0x0a, 0x03, 0x80, 0x80, 0x04]),
        Err(DecodeError::RaftIdOutOfRange { .. })
    ));
}

#[test]
fn accepts_the_entry_cap_and_rejects_one_more() {
    let at_cap: Vec<u8> = [0x3a, 0x00].repeat(MAX_ENTRIES);
    assert_eq!(decode_message(&at_cap).unwrap().entries.len(), MAX_ENTRIES);
    let over: Vec<u8> = [0x3a, 0x00].repeat(MAX_ENTRIES + 1);
    assert_eq!(
        decode_message(&over),
        Err(DecodeError::TooMany {
            what: "raft message entries",
            max: MAX_ENTRIES
        })
    );
}

#[test]
fn rejects_a_message_above_the_size_cap() {
    let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        decode_message(&big),
        Err(DecodeError::TooLarge {
            what: "raft message",
            max: MAX_MESSAGE_BYTES,
            found: MAX_MESSAGE_BYTES + 1
        })
    );
}

#[test]
fn round_trips_stored_values() {
    let mut h = HardState::default();
    h.term = 9;
    h.vote = 2;
    h.commit = 77;
    assert_eq!(decode_hard_state(&encode_hard_state(&h)).unwrap(), h);
    let c = ConfState::from((vec![1, 2, 300], vec![65535]));
    assert_eq!(decode_conf_state(&encode_conf_state(&c)).unwrap(), c);
    assert_eq!(decode_hard_state(&[]).unwrap(), HardState::default());
}

#[test]
fn error_messages_read_as_written() {
    let cases: Vec<(DecodeError, &str)> = vec![
        (
            DecodeError::Truncated { what: "raft entry" },
            "raft entry is truncated",
        ),
        (
            DecodeError::BadVarint { what: "raft entry" },
            "raft entry has a malformed varint",
        ),
        (
            DecodeError::UnknownField {
                what: "raft message",
                field: 17,
            },
            "raft message has unknown field 17 (or a wrong wire type for it)",
        ),
        (
            DecodeError::FieldOrder {
                what: "raft message",
                field: 2,
            },
            "raft message has field 2 out of order or twice",
        ),
        (
            DecodeError::ExplicitDefault {
                what: "raft message",
                field: 4,
            },
            "raft message writes the default value of field 4",
        ),
        (
            DecodeError::BadBool {
                what: "raft message",
                field: 10,
            },
            "raft message has a bool field 10 that is neither 0 nor 1",
        ),
        (
            DecodeError::TooLarge {
                what: "raft message",
                max: 1,
                found: 2,
            },
            "raft message is 2 bytes, above the cap of 1",
        ),
        (
            DecodeError::TooMany {
                what: "raft message entries",
                max: 3,
            },
            "raft message entries: more than 3",
        ),
        (
            DecodeError::UnknownMessageType { found: 19 },
            "unknown raft message type 19",
        ),
        (
            DecodeError::UnknownEntryType { found: 3 },
            "unknown raft entry type 3",
        ),
        (
            DecodeError::UnknownConfChangeType { found: 3 },
            "unknown raft conf change type 3",
        ),
        (
            DecodeError::RaftIdOutOfRange {
                field: "to",
                found: 65536,
            },
            "raft id 65536 in to is above 65535",
        ),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (
        0..3i32,
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..8),
        any::<bool>(),
    )
        .prop_map(|(t, term, index, data, context, sync_log)| {
            let mut e = Entry::default();
            e.set_entry_type(match t {
                0 => EntryType::EntryNormal,
                1 => EntryType::EntryConfChange,
                _ => EntryType::EntryConfChangeV2,
            });
            e.term = term;
            e.index = index;
            e.data = data.into();
            e.context = context.into();
            e.sync_log = sync_log;
            e
        })
}

proptest! {
    #[test]
    fn round_trips_arbitrary_messages(
        t in 1..19u64,
        to in 0..=MAX_RAFT_ID,
        from in 0..=MAX_RAFT_ID,
        term in any::<u64>(),
        index in any::<u64>(),
        priority in any::<i64>(),
        entries in proptest::collection::vec(arb_entry(), 0..4),
        voters in proptest::collection::vec(0..=MAX_RAFT_ID, 0..5),
        snap in any::<bool>(),
    ) {
        let mut m = Message::default();
        m.msg_type = message_type(t).unwrap();
        m.to = to;
        m.from = from;
        m.term = term;
        m.index = index;
        m.priority = priority;
        m.entries = entries.into();
        if snap {
            let mut meta = SnapshotMetadata::default();
            meta.set_conf_state(ConfState::from((voters, Vec::<u64>::new())));
            meta.index = index;
            let mut s = Snapshot::default();
            s.set_metadata(meta);
            m.set_snapshot(s);
        }
        let bytes = encode_message(&m);
        let back = decode_message(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(encode_message(&back), bytes);
    }
}
