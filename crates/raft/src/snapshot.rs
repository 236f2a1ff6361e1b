//! The data of a raft snapshot: the members' node keys and the removed ids (the raft layer
//! needs them to check signatures and refuse tombstoned ids on a member that joins through the
//! snapshot), then the node's own bytes (head hash, addresses).
//!
//! `RLP([[[raftId, nodeId64], …], [removedId, …], nodeBytes])`, ids ascending. GoQuorum's
//! snapshot (`[[Address…], [removedId…], headHash]`) carries the same facts; the node's bytes
//! are where its addresses and head hash go.

use cachet_primitives::rlp;
use secp256k1::PublicKey;

use crate::error::DecodeError;
use crate::rules::Members;

/// What a snapshot carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotData {
    /// raft id → node key, removed members included (their blocks still verify).
    pub keys: Vec<(u64, PublicKey)>,
    /// Removed ids.
    pub removed: Vec<u64>,
    /// The node's bytes.
    pub app: Vec<u8>,
}

/// Most members a snapshot may list (raft ids are 16-bit).
const MAX_MEMBERS: usize = 1 << 16;

/// Encodes the snapshot data of `members` with the node's bytes `app`.
pub fn encode(members: &Members, app: &[u8]) -> Vec<u8> {
    let mut keys = Vec::new();
    for (id, key) in members.keys() {
        let mut item = Vec::new();
        rlp::put_u64(&mut item, *id);
        rlp::put_bytes(&mut item, &key.serialize_uncompressed()[1..]);
        rlp::put_list(&mut keys, &item);
    }
    let mut removed = Vec::new();
    for id in members.removed() {
        rlp::put_u64(&mut removed, *id);
    }
    let mut payload = Vec::new();
    rlp::put_list(&mut payload, &keys);
    rlp::put_list(&mut payload, &removed);
    rlp::put_bytes(&mut payload, app);
    rlp::list(&payload)
}

/// Decodes snapshot data (from the leader: bounded, strict RLP).
///
/// # Errors
/// [`DecodeError::Snapshot`] naming what is wrong.
pub fn decode(bytes: &[u8]) -> Result<SnapshotData, DecodeError> {
    let bad = |reason: String| DecodeError::Snapshot { reason };
    let rlp_err = |e: cachet_primitives::DecodeError| bad(e.to_string());
    let mut r = rlp::single_list(bytes, "raft snapshot data").map_err(rlp_err)?;
    let mut keys_r = r.list("raft snapshot members").map_err(rlp_err)?;
    let mut keys = Vec::new();
    while !keys_r.is_empty() {
        if keys.len() >= MAX_MEMBERS {
            return Err(bad("more than 65536 members".into()));
        }
        let mut m = keys_r.list("raft snapshot member").map_err(rlp_err)?;
        let id = u64::from(m.u16("raft id").map_err(rlp_err)?);
        let node_id = m.array::<64>("node id").map_err(rlp_err)?;
        m.finish("raft snapshot member").map_err(rlp_err)?;
        let mut full = [0u8; 65];
        full[0] = 4;
        full[1..].copy_from_slice(&node_id);
        let key = PublicKey::from_slice(&full)
            .map_err(|_| bad(format!("raft id {id}: the node id is not a secp256k1 key")))?;
        if keys.last().is_some_and(|(prev, _)| *prev >= id) {
            return Err(bad("member ids are not ascending".into()));
        }
        keys.push((id, key));
    }
    let mut removed_r = r.list("raft snapshot removed ids").map_err(rlp_err)?;
    let mut removed: Vec<u64> = Vec::new();
    while !removed_r.is_empty() {
        let id = u64::from(removed_r.u16("removed raft id").map_err(rlp_err)?);
        if removed.last().is_some_and(|prev| *prev >= id) {
            return Err(bad("removed ids are not ascending".into()));
        }
        removed.push(id);
    }
    let app = r
        .bytes("raft snapshot node data")
        .map_err(rlp_err)?
        .to_vec();
    r.finish("raft snapshot data").map_err(rlp_err)?;
    Ok(SnapshotData { keys, removed, app })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use secp256k1::{SECP256K1, SecretKey};

    use super::*;

    #[test]
    fn round_trips_members_and_node_bytes() {
        let k = |i: u8| {
            PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[i; 32]).unwrap())
        };
        let keys: BTreeMap<u64, PublicKey> = [(1, k(1)), (2, k(2)), (4, k(4))].into();
        let members = Members::new(keys, [1, 4], [], [2]);
        let bytes = encode(&members, b"head");
        let d = decode(&bytes).unwrap();
        assert_eq!(d.keys, vec![(1, k(1)), (2, k(2)), (4, k(4))]);
        assert_eq!(d.removed, vec![2]);
        assert_eq!(d.app, b"head");
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn rejects_unordered_ids() {
        let mut payload = Vec::new();
        rlp::put_list(&mut payload, &[]);
        let mut removed = Vec::new();
        rlp::put_u64(&mut removed, 3);
        rlp::put_u64(&mut removed, 2);
        rlp::put_list(&mut payload, &removed);
        rlp::put_bytes(&mut payload, b"");
        assert_eq!(
            decode(&rlp::list(&payload)),
            Err(DecodeError::Snapshot {
                reason: "removed ids are not ascending".into()
            })
        );
    }
}
