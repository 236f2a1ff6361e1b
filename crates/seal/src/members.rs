//! The raft-id → enode map used to verify raft blocks.

use std::collections::BTreeMap;

use secp256k1::PublicKey;

use crate::error::DecodeError;

const WHAT: &str = "raft members";

/// Raft cluster members: raft id → node public key (the enode id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftMembers {
    members: BTreeMap<u16, PublicKey>,
}

impl RaftMembers {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a member.
    pub fn insert(&mut self, raft_id: u16, public_key: PublicKey) {
        self.members.insert(raft_id, public_key);
    }

    /// The member with `raft_id`.
    pub fn get(&self, raft_id: u16) -> Option<&PublicKey> {
        self.members.get(&raft_id)
    }

    /// Parses a 128-hex enode id or an `enode://<id>@…` URL (the one enode parser,
    /// [`cachet_primitives::Enode::id_of`]).
    ///
    /// # Errors
    /// [`DecodeError::InvalidHex`] when it is not a valid secp256k1 public key.
    pub fn parse_enode(s: &str) -> Result<PublicKey, DecodeError> {
        let id = cachet_primitives::Enode::id_of(s)?;
        id.public_key().ok_or_else(|| DecodeError::InvalidHex {
            what: "enode id",
            reason: "not a point on secp256k1".into(),
        })
    }

    /// Parses JSON: either `raft_cluster`'s output (an array of objects with `raftId` and
    /// `nodeId` or `enode`), or an object mapping raft id (decimal) to an enode id or URL.
    ///
    /// # Errors
    /// [`DecodeError::InvalidJson`] or [`DecodeError::InvalidHex`].
    pub fn from_json(text: &str) -> Result<Self, DecodeError> {
        let bad = |reason: String| DecodeError::InvalidJson { what: WHAT, reason };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        let mut out = Self::new();
        match v {
            serde_json::Value::Array(items) => {
                for item in items {
                    let id = item
                        .get("raftId")
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|i| u16::try_from(i).ok())
                        .ok_or_else(|| {
                            bad("each member needs a numeric raftId in 0..=65535".into())
                        })?;
                    let node = item
                        .get("nodeId")
                        .or_else(|| item.get("enode"))
                        .and_then(serde_json::Value::as_str)
                        .ok_or_else(|| bad(format!("member {id} needs nodeId or enode")))?;
                    out.insert(id, Self::parse_enode(node)?);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, node) in map {
                    let id: u16 = k
                        .parse()
                        .map_err(|_| bad(format!("key {k:?} is not a raft id")))?;
                    let node = node
                        .as_str()
                        .ok_or_else(|| bad(format!("member {id}: value must be a string")))?;
                    out.insert(id, Self::parse_enode(node)?);
                }
            }
            _ => return Err(bad("expected an array or an object".into())),
        }
        Ok(out)
    }
}
