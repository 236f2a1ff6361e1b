//! The bytes of raft-rs's `eraftpb` messages (proto3 wire format), encoded and decoded by
//! Cachet: raft messages from the network, and the entries, hard state, conf state and
//! snapshot metadata [`crate::RedbStorage`] keeps.
//!
//! **One encoding per value.** The encoder writes fields in field-number order, omits zero
//! scalars and empty bytes, packs repeated integers and writes a nested message only when it is
//! present. The decoder accepts exactly that form and nothing else (fields out of order or
//! repeated, explicit zeros, non-minimal varints, unknown fields or wire types), so
//! `encode(decode(b)) == b` for every accepted `b`. Peers are Cachet nodes using this encoder.
//!
//! **Bounded.** Every length is checked against the bytes left before anything is allocated,
//! with the caps below; nesting is fixed (Message → Snapshot → `SnapshotMetadata` → `ConfState`),
//! so there is no recursion to exhaust. raft-rs's own protobuf 2 parser (RUSTSEC-2024-0437)
//! never sees untrusted bytes.

use bytes::Bytes;
use raft::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType,
    Snapshot, SnapshotMetadata,
};

use crate::error::DecodeError;

/// Largest message accepted: an RLPx frame carries at most 16 MiB (a 24-bit length), and the
/// leader's appends are cut at `max_size_per_msg` well below it.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;
/// Most entries in one message (raft-rs batches by size; a leader sends far fewer).
pub const MAX_ENTRIES: usize = 16_384;
/// Most ids in one `ConfState` list: raft ids are 16-bit (GoQuorum's `uint16`).
pub const MAX_CONF_IDS: usize = 1 << 16;
/// The highest raft id (GoQuorum's raft ids are `uint16`).
pub const MAX_RAFT_ID: u64 = 0xffff;

const VARINT: u8 = 0;
const LEN: u8 = 2;

/// Encodes a raft message.
pub fn encode_message(m: &Message) -> Vec<u8> {
    let mut w = Vec::new();
    put_varint_field(&mut w, 1, m.msg_type as u64);
    put_varint_field(&mut w, 2, m.to);
    put_varint_field(&mut w, 3, m.from);
    put_varint_field(&mut w, 4, m.term);
    put_varint_field(&mut w, 5, m.log_term);
    put_varint_field(&mut w, 6, m.index);
    for e in m.entries.iter() {
        put_nested(&mut w, 7, &encode_entry(e));
    }
    put_varint_field(&mut w, 8, m.commit);
    if let Some(s) = m.snapshot.as_ref() {
        put_nested(&mut w, 9, &encode_snapshot(s));
    }
    put_varint_field(&mut w, 10, u64::from(m.reject));
    put_varint_field(&mut w, 11, m.reject_hint);
    put_bytes_field(&mut w, 12, &m.context);
    put_varint_field(&mut w, 13, m.request_snapshot);
    put_varint_field(&mut w, 14, m.deprecated_priority);
    put_varint_field(&mut w, 15, m.commit_term);
    // int64 as proto3 does: two's complement in a 10-byte varint when negative.
    put_varint_field(&mut w, 16, m.priority as u64);
    w
}

/// Decodes a raft message received from a peer.
///
/// # Errors
/// [`DecodeError`] naming the field, for anything but the one encoding [`encode_message`]
/// writes, a message type or entry type raft-rs does not know, or a raft id above 65535.
pub fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge {
            what: "raft message",
            max: MAX_MESSAGE_BYTES,
            found: bytes.len(),
        });
    }
    let mut r = Fields::new(bytes, "raft message");
    let mut m = Message::default();
    let mut entries = Vec::new();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, VARINT) => {
                let v = r.nonzero_varint(field)?;
                m.msg_type = message_type(v)?;
            }
            (2, VARINT) => m.to = raft_id(r.nonzero_varint(field)?, "to")?,
            (3, VARINT) => m.from = raft_id(r.nonzero_varint(field)?, "from")?,
            (4, VARINT) => m.term = r.nonzero_varint(field)?,
            (5, VARINT) => m.log_term = r.nonzero_varint(field)?,
            (6, VARINT) => m.index = r.nonzero_varint(field)?,
            (7, LEN) => {
                if entries.len() >= MAX_ENTRIES {
                    return Err(DecodeError::TooMany {
                        what: "raft message entries",
                        max: MAX_ENTRIES,
                    });
                }
                entries.push(decode_entry(r.nested(field, true)?)?);
            }
            (8, VARINT) => m.commit = r.nonzero_varint(field)?,
            (9, LEN) => m.set_snapshot(decode_snapshot(r.nested(field, false)?)?),
            (10, VARINT) => m.reject = r.bool(field)?,
            (11, VARINT) => m.reject_hint = r.nonzero_varint(field)?,
            (12, LEN) => m.context = Bytes::copy_from_slice(r.bytes(field)?),
            (13, VARINT) => m.request_snapshot = r.nonzero_varint(field)?,
            (14, VARINT) => m.deprecated_priority = r.nonzero_varint(field)?,
            (15, VARINT) => m.commit_term = r.nonzero_varint(field)?,
            (16, VARINT) => m.priority = r.nonzero_varint(field)? as i64,
            _ => return Err(r.unknown(field, wire)),
        }
    }
    m.entries = entries.into();
    Ok(m)
}

/// Encodes a log entry.
pub fn encode_entry(e: &Entry) -> Vec<u8> {
    let mut w = Vec::with_capacity(e.data.len() + 32);
    put_varint_field(&mut w, 1, e.entry_type as u64);
    put_varint_field(&mut w, 2, e.term);
    put_varint_field(&mut w, 3, e.index);
    put_bytes_field(&mut w, 4, &e.data);
    put_varint_field(&mut w, 5, u64::from(e.sync_log));
    put_bytes_field(&mut w, 6, &e.context);
    w
}

/// Decodes a log entry.
///
/// # Errors
/// As [`decode_message`].
pub fn decode_entry(bytes: &[u8]) -> Result<Entry, DecodeError> {
    let mut r = Fields::new(bytes, "raft entry");
    let mut e = Entry::default();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, VARINT) => {
                e.entry_type = match r.nonzero_varint(field)? {
                    1 => EntryType::EntryConfChange,
                    2 => EntryType::EntryConfChangeV2,
                    found => return Err(DecodeError::UnknownEntryType { found }),
                }
            }
            (2, VARINT) => e.term = r.nonzero_varint(field)?,
            (3, VARINT) => e.index = r.nonzero_varint(field)?,
            (4, LEN) => e.data = Bytes::copy_from_slice(r.bytes(field)?),
            (5, VARINT) => e.sync_log = r.bool(field)?,
            (6, LEN) => e.context = Bytes::copy_from_slice(r.bytes(field)?),
            _ => return Err(r.unknown(field, wire)),
        }
    }
    Ok(e)
}

/// Encodes a hard state.
pub fn encode_hard_state(h: &HardState) -> Vec<u8> {
    let mut w = Vec::new();
    put_varint_field(&mut w, 1, h.term);
    put_varint_field(&mut w, 2, h.vote);
    put_varint_field(&mut w, 3, h.commit);
    w
}

/// Decodes a hard state.
///
/// # Errors
/// As [`decode_message`].
pub fn decode_hard_state(bytes: &[u8]) -> Result<HardState, DecodeError> {
    let mut r = Fields::new(bytes, "raft hard state");
    let mut h = HardState::default();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, VARINT) => h.term = r.nonzero_varint(field)?,
            (2, VARINT) => h.vote = r.nonzero_varint(field)?,
            (3, VARINT) => h.commit = r.nonzero_varint(field)?,
            _ => return Err(r.unknown(field, wire)),
        }
    }
    Ok(h)
}

/// Encodes a conf state.
pub fn encode_conf_state(c: &ConfState) -> Vec<u8> {
    let mut w = Vec::new();
    put_packed(&mut w, 1, &c.voters);
    put_packed(&mut w, 2, &c.learners);
    put_packed(&mut w, 3, &c.voters_outgoing);
    put_packed(&mut w, 4, &c.learners_next);
    put_varint_field(&mut w, 5, u64::from(c.auto_leave));
    w
}

/// Decodes a conf state.
///
/// # Errors
/// As [`decode_message`].
pub fn decode_conf_state(bytes: &[u8]) -> Result<ConfState, DecodeError> {
    let mut r = Fields::new(bytes, "raft conf state");
    let mut c = ConfState::default();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, LEN) => c.voters = r.packed_ids(field)?,
            (2, LEN) => c.learners = r.packed_ids(field)?,
            (3, LEN) => c.voters_outgoing = r.packed_ids(field)?,
            (4, LEN) => c.learners_next = r.packed_ids(field)?,
            (5, VARINT) => c.auto_leave = r.bool(field)?,
            _ => return Err(r.unknown(field, wire)),
        }
    }
    Ok(c)
}

/// Encodes snapshot metadata.
pub fn encode_snapshot_metadata(m: &SnapshotMetadata) -> Vec<u8> {
    let mut w = Vec::new();
    if let Some(c) = m.conf_state.as_ref() {
        put_nested(&mut w, 1, &encode_conf_state(c));
    }
    put_varint_field(&mut w, 2, m.index);
    put_varint_field(&mut w, 3, m.term);
    w
}

/// Decodes snapshot metadata.
///
/// # Errors
/// As [`decode_message`].
pub fn decode_snapshot_metadata(bytes: &[u8]) -> Result<SnapshotMetadata, DecodeError> {
    let mut r = Fields::new(bytes, "raft snapshot metadata");
    let mut m = SnapshotMetadata::default();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, LEN) => m.set_conf_state(decode_conf_state(r.nested(field, false)?)?),
            (2, VARINT) => m.index = r.nonzero_varint(field)?,
            (3, VARINT) => m.term = r.nonzero_varint(field)?,
            _ => return Err(r.unknown(field, wire)),
        }
    }
    Ok(m)
}

/// Encodes a snapshot.
pub fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut w = Vec::with_capacity(s.data.len() + 32);
    put_bytes_field(&mut w, 1, &s.data);
    if let Some(m) = s.metadata.as_ref() {
        put_nested(&mut w, 2, &encode_snapshot_metadata(m));
    }
    w
}

/// Decodes a snapshot.
///
/// # Errors
/// As [`decode_message`].
pub fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
    let mut r = Fields::new(bytes, "raft snapshot");
    let mut s = Snapshot::default();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, LEN) => s.data = Bytes::copy_from_slice(r.bytes(field)?),
            (2, LEN) => s.set_metadata(decode_snapshot_metadata(r.nested(field, false)?)?),
            _ => return Err(r.unknown(field, wire)),
        }
    }
    Ok(s)
}

/// Encodes a (v1) conf change, the data of an `EntryConfChange`.
pub fn encode_conf_change(c: &ConfChange) -> Vec<u8> {
    let mut w = Vec::new();
    put_varint_field(&mut w, 1, c.id);
    put_varint_field(&mut w, 2, c.change_type as u64);
    put_varint_field(&mut w, 3, c.node_id);
    put_bytes_field(&mut w, 4, &c.context);
    w
}

/// Decodes a (v1) conf change.
///
/// # Errors
/// As [`decode_message`]; [`DecodeError::UnknownConfChangeType`].
pub fn decode_conf_change(bytes: &[u8]) -> Result<ConfChange, DecodeError> {
    let mut r = Fields::new(bytes, "raft conf change");
    let mut c = ConfChange::default();
    while let Some((field, wire)) = r.next_key()? {
        match (field, wire) {
            (1, VARINT) => c.id = r.nonzero_varint(field)?,
            (2, VARINT) => {
                c.change_type = match r.nonzero_varint(field)? {
                    1 => ConfChangeType::RemoveNode,
                    2 => ConfChangeType::AddLearnerNode,
                    found => return Err(DecodeError::UnknownConfChangeType { found }),
                }
            }
            (3, VARINT) => c.node_id = raft_id(r.nonzero_varint(field)?, "node_id")?,
            (4, LEN) => c.context = Bytes::copy_from_slice(r.bytes(field)?),
            _ => return Err(r.unknown(field, wire)),
        }
    }
    Ok(c)
}

fn message_type(v: u64) -> Result<MessageType, DecodeError> {
    use MessageType::*;
    Ok(match v {
        1 => MsgBeat,
        2 => MsgPropose,
        3 => MsgAppend,
        4 => MsgAppendResponse,
        5 => MsgRequestVote,
        6 => MsgRequestVoteResponse,
        7 => MsgSnapshot,
        8 => MsgHeartbeat,
        9 => MsgHeartbeatResponse,
        10 => MsgUnreachable,
        11 => MsgSnapStatus,
        12 => MsgCheckQuorum,
        13 => MsgTransferLeader,
        14 => MsgTimeoutNow,
        15 => MsgReadIndex,
        16 => MsgReadIndexResp,
        17 => MsgRequestPreVote,
        18 => MsgRequestPreVoteResponse,
        found => return Err(DecodeError::UnknownMessageType { found }),
    })
}

fn raft_id(v: u64, field: &'static str) -> Result<u64, DecodeError> {
    if v > MAX_RAFT_ID {
        return Err(DecodeError::RaftIdOutOfRange { field, found: v });
    }
    Ok(v)
}

fn put_varint(w: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        w.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

fn put_key(w: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(w, u64::from(field) << 3 | u64::from(wire));
}

fn put_varint_field(w: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        put_key(w, field, VARINT);
        put_varint(w, v);
    }
}

fn put_bytes_field(w: &mut Vec<u8>, field: u32, b: &[u8]) {
    if !b.is_empty() {
        put_nested(w, field, b);
    }
}

fn put_nested(w: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_key(w, field, LEN);
    put_varint(w, b.len() as u64);
    w.extend_from_slice(b);
}

fn put_packed(w: &mut Vec<u8>, field: u32, ids: &[u64]) {
    if ids.is_empty() {
        return;
    }
    let mut p = Vec::with_capacity(ids.len() * 3);
    for id in ids {
        put_varint(&mut p, *id);
    }
    put_nested(w, field, &p);
}

/// A bounded reader of one message's fields, in strictly increasing field order (repeated
/// fields may repeat their number).
struct Fields<'a> {
    rest: &'a [u8],
    what: &'static str,
    last: u32,
    last_repeated: bool,
}

impl<'a> Fields<'a> {
    const fn new(rest: &'a [u8], what: &'static str) -> Self {
        Self {
            rest,
            what,
            last: 0,
            last_repeated: false,
        }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..10u32 {
            let (&b, rest) = self
                .rest
                .split_first()
                .ok_or(DecodeError::Truncated { what: self.what })?;
            self.rest = rest;
            // The tenth byte may carry only the top bit of a u64.
            if i == 9 && b > 1 {
                return Err(DecodeError::BadVarint { what: self.what });
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                // Minimal: a last byte of 0 is only the single-byte zero.
                if b == 0 && i > 0 {
                    return Err(DecodeError::BadVarint { what: self.what });
                }
                return Ok(v);
            }
        }
        Err(DecodeError::BadVarint { what: self.what })
    }

    /// The next field key, or `None` at the end; checks the order.
    fn next_key(&mut self) -> Result<Option<(u32, u8)>, DecodeError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| DecodeError::UnknownField {
            what: self.what,
            field: u32::MAX,
        })?;
        let wire = (key & 7) as u8;
        // A repeated field (entries) may follow itself; everything else strictly increases.
        let repeat_ok = self.last_repeated && field == self.last;
        if field <= self.last && !repeat_ok {
            return Err(DecodeError::FieldOrder {
                what: self.what,
                field,
            });
        }
        self.last = field;
        self.last_repeated = false;
        Ok(Some((field, wire)))
    }

    fn nonzero_varint(&mut self, field: u32) -> Result<u64, DecodeError> {
        match self.varint()? {
            0 => Err(DecodeError::ExplicitDefault {
                what: self.what,
                field,
            }),
            v => Ok(v),
        }
    }

    fn bool(&mut self, field: u32) -> Result<bool, DecodeError> {
        match self.varint()? {
            1 => Ok(true),
            0 => Err(DecodeError::ExplicitDefault {
                what: self.what,
                field,
            }),
            _ => Err(DecodeError::BadBool {
                what: self.what,
                field,
            }),
        }
    }

    fn len_prefixed(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= self.rest.len())
            .ok_or(DecodeError::Truncated { what: self.what })?;
        let (b, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(b)
    }

    /// A non-empty bytes field (empty is the default and is never written).
    fn bytes(&mut self, field: u32) -> Result<&'a [u8], DecodeError> {
        let b = self.len_prefixed()?;
        if b.is_empty() {
            return Err(DecodeError::ExplicitDefault {
                what: self.what,
                field,
            });
        }
        Ok(b)
    }

    /// A nested message (may be empty: presence is what it says); `repeated` lets the same
    /// field number follow.
    fn nested(&mut self, field: u32, repeated: bool) -> Result<&'a [u8], DecodeError> {
        let b = self.len_prefixed()?;
        self.last_repeated = repeated;
        let _ = field;
        Ok(b)
    }

    fn packed_ids(&mut self, field: u32) -> Result<Vec<u64>, DecodeError> {
        let b = self.bytes(field)?;
        let mut inner = Fields::new(b, self.what);
        let mut ids = Vec::new();
        while !inner.rest.is_empty() {
            if ids.len() >= MAX_CONF_IDS {
                return Err(DecodeError::TooMany {
                    what: "raft conf state ids",
                    max: MAX_CONF_IDS,
                });
            }
            ids.push(raft_id(inner.varint()?, "conf state id")?);
        }
        Ok(ids)
    }

    const fn unknown(&self, field: u32, wire: u8) -> DecodeError {
        let _ = wire;
        DecodeError::UnknownField {
            what: self.what,
            field,
        }
    }
}

#[cfg(test)]
mod tests;
