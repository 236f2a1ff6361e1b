//! The cluster's rules as pure functions: who may mint, which committed block a member
//! accepts, which messages and membership changes it takes. [`RaftRule`] names each refusal.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::B256;
use cachet_primitives::Header;
use cachet_primitives::block::split_block;
use secp256k1::PublicKey;

/// A rule of the cluster that refused a block, a message or a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RaftRule {
    /// Only the leader mints and changes membership.
    #[error("NotLeader: raft id {raft_id} is not the leader (leader: {leader})")]
    NotLeader {
        /// This node.
        raft_id: u64,
        /// The leader it knows of (0: none).
        leader: u64,
    },
    /// The leader has a minted block (or older entries) not yet committed and applied.
    #[error("MintOutstanding: a minted block or an older entry is not yet committed and applied")]
    MintOutstanding,
    /// A block signed by a member that did not lead the term its entry belongs to.
    #[error(
        "NotLeaderOfTerm: block {hash} in term {term} is signed by raft id {signer}, but raft id {leader} led that term"
    )]
    NotLeaderOfTerm {
        /// The entry's term.
        term: u64,
        /// The leader of that term.
        leader: u64,
        /// The raft id in the block's signature.
        signer: u64,
        /// The block hash.
        hash: B256,
    },
    /// A block signed with a raft id that is not a voting member.
    #[error("NotMember: block {hash} is signed as raft id {raft_id}, which is not a voting member")]
    NotMember {
        /// The raft id in the signature.
        raft_id: u64,
        /// The block hash.
        hash: B256,
    },
    /// The signature does not recover to the node key of the member it names.
    #[error(
        "SignerMismatch: block {hash} names raft id {raft_id}, but its signature is not that member's node key"
    )]
    SignerMismatch {
        /// The raft id in the signature.
        raft_id: u64,
        /// The block hash.
        hash: B256,
    },
    /// The entry is not a block with a quorum PR 395 signature.
    #[error("Unreadable: entry {index} is not a signed raft block ({reason})")]
    Unreadable {
        /// The entry index (0 when not yet in the log).
        index: u64,
        /// What failed.
        reason: String,
    },
    /// A proposal arrived from the network: members never forward proposals, the leader mints.
    #[error("ForwardedProposal: raft id {from} sent a proposal; only the leader proposes, locally")]
    ForwardedProposal {
        /// The sender.
        from: u64,
    },
    /// A message type that only the local node may step.
    #[error("LocalMessage: raft id {from} sent a local-only message type {msg_type}")]
    LocalMessage {
        /// The sender.
        from: u64,
        /// The type's number.
        msg_type: i32,
    },
    /// A message for another raft id.
    #[error("WrongRecipient: a message for raft id {to} reached raft id {me}")]
    WrongRecipient {
        /// The recipient named in the message.
        to: u64,
        /// This node.
        me: u64,
    },
    /// A message whose `from` is not the member the transport authenticated.
    #[error(
        "WrongSender: the message claims raft id {claimed}, the transport proved raft id {proven}"
    )]
    WrongSender {
        /// The `from` field.
        claimed: u64,
        /// The member the transport proved.
        proven: u64,
    },
    /// A removed raft id never comes back.
    #[error("RemovedId: raft id {raft_id} was removed from the cluster and never rejoins")]
    RemovedId {
        /// The id.
        raft_id: u64,
    },
    /// A node key that already belongs to a member.
    #[error("KeyInUse: the node key is already raft id {raft_id}'s")]
    KeyInUse {
        /// The member holding it.
        raft_id: u64,
    },
    /// A membership change raft-rs cannot take now or that names no suitable member.
    #[error("Membership: {0}")]
    Membership(String),
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Votes and may lead (and mint).
    Voter,
    /// Receives the log, never votes nor leads.
    Learner,
}

/// The cluster's members as the applied log defines them: raft id → node key, and the ids
/// removed for ever.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members {
    keys: BTreeMap<u64, PublicKey>,
    voters: BTreeSet<u64>,
    learners: BTreeSet<u64>,
    removed: BTreeSet<u64>,
}

impl Members {
    /// Members from keys, voter and learner ids, and removed ids.
    pub fn new(
        keys: BTreeMap<u64, PublicKey>,
        voters: impl IntoIterator<Item = u64>,
        learners: impl IntoIterator<Item = u64>,
        removed: impl IntoIterator<Item = u64>,
    ) -> Self {
        Self {
            keys,
            voters: voters.into_iter().collect(),
            learners: learners.into_iter().collect(),
            removed: removed.into_iter().collect(),
        }
    }

    /// The node key of `raft_id` (voter or learner).
    pub fn key(&self, raft_id: u64) -> Option<&PublicKey> {
        self.keys.get(&raft_id)
    }

    /// Every known key, removed members' included (their old blocks still verify).
    pub const fn keys(&self) -> &BTreeMap<u64, PublicKey> {
        &self.keys
    }

    /// The role of `raft_id`, if it is a member.
    pub fn role(&self, raft_id: u64) -> Option<Role> {
        if self.voters.contains(&raft_id) {
            Some(Role::Voter)
        } else if self.learners.contains(&raft_id) {
            Some(Role::Learner)
        } else {
            None
        }
    }

    /// Voting members.
    pub const fn voters(&self) -> &BTreeSet<u64> {
        &self.voters
    }

    /// Learners.
    pub const fn learners(&self) -> &BTreeSet<u64> {
        &self.learners
    }

    /// Removed ids (tombstones).
    pub const fn removed(&self) -> &BTreeSet<u64> {
        &self.removed
    }

    /// The member holding `key`, among current members.
    pub fn id_of(&self, key: &PublicKey) -> Option<u64> {
        self.keys
            .iter()
            .find(|(id, k)| *k == key && self.role(**id).is_some())
            .map(|(id, _)| *id)
    }

    /// The raft id `raft_addPeer` hands out: one above every id ever used, removed ones included
    /// (GoQuorum's `nextRaftId`), so a removed id never comes back.
    pub fn next_id(&self) -> u64 {
        let top = [
            self.keys.keys().next_back(),
            self.voters.iter().next_back(),
            self.learners.iter().next_back(),
            self.removed.iter().next_back(),
        ]
        .into_iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(0);
        top + 1
    }

    pub(crate) fn set_key(&mut self, raft_id: u64, key: PublicKey) {
        self.keys.insert(raft_id, key);
    }

    pub(crate) fn set_roles(
        &mut self,
        voters: impl IntoIterator<Item = u64>,
        learners: impl IntoIterator<Item = u64>,
    ) {
        self.voters = voters.into_iter().collect();
        self.learners = learners.into_iter().collect();
    }

    pub(crate) fn tombstone(&mut self, raft_id: u64) {
        self.removed.insert(raft_id);
        self.voters.remove(&raft_id);
        self.learners.remove(&raft_id);
    }
}

/// A block read from a log entry, its signature checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedBlock {
    /// The block's header.
    pub header: Header,
    /// The block hash.
    pub hash: B256,
    /// The raft id that signed it.
    pub minter: u64,
}

/// Reads the block in an entry's data and checks its quorum PR 395 signature against the
/// voting members: the raft id it names must be a voter whose node key made the signature.
///
/// # Errors
/// [`RaftRule::Unreadable`], [`RaftRule::NotMember`] or [`RaftRule::SignerMismatch`].
pub fn check_signature(
    index: u64,
    data: &[u8],
    members: &Members,
) -> Result<MintedBlock, RaftRule> {
    let unreadable = |reason: String| RaftRule::Unreadable { index, reason };
    let (header_rlp, _) = split_block(data).map_err(|e| unreadable(e.to_string()))?;
    let header = Header::decode(&header_rlp).map_err(|e| unreadable(e.to_string()))?;
    let hash = header.hash_slow();
    let signer = cachet_seal::raft::recover(&header).map_err(|e| unreadable(e.to_string()))?;
    let raft_id = u64::from(signer.raft_id);
    if members.role(raft_id) != Some(Role::Voter) {
        return Err(RaftRule::NotMember { raft_id, hash });
    }
    if members.key(raft_id) != Some(&signer.public_key) {
        return Err(RaftRule::SignerMismatch { raft_id, hash });
    }
    Ok(MintedBlock {
        header,
        hash,
        minter: raft_id,
    })
}

/// The rule for a committed block: its signature is a voting member's (as
/// [`check_signature`]) and that member led `term`, the term of the entry (`leader`: who led
/// it, as this node knows; `None` when it never heard from that term's leader, and then the
/// term's first block names it, see `docs/dev/raft.md`).
///
/// # Errors
/// As [`check_signature`], and [`RaftRule::NotLeaderOfTerm`].
pub fn check_committed(
    index: u64,
    term: u64,
    data: &[u8],
    members: &Members,
    leader: Option<u64>,
) -> Result<MintedBlock, RaftRule> {
    let block = check_signature(index, data, members)?;
    if let Some(leader) = leader
        && leader != block.minter
    {
        return Err(RaftRule::NotLeaderOfTerm {
            term,
            leader,
            signer: block.minter,
            hash: block.hash,
        });
    }
    Ok(block)
}

/// Who may mint: the leader, with every entry of its log committed and handed to the node
/// (so it mints on the last committed block), no minted block outstanding and no leadership
/// transfer under way.
pub const fn may_mint(
    is_leader: bool,
    transferring: bool,
    outstanding: bool,
    committed: u64,
    last_index: u64,
    delivered: u64,
) -> bool {
    is_leader && !transferring && !outstanding && committed == last_index && delivered == committed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{DecodeError, Error};

    #[test]
    fn rule_and_error_messages_read_as_written() {
        let h = B256::repeat_byte(0xab);
        let hash = "0xabababababababababababababababababababababababababababababababab";
        let cases: Vec<(Error, String)> = vec![
            (
                RaftRule::NotLeader {
                    raft_id: 2,
                    leader: 1,
                }
                .into(),
                "raft rule NotLeader: raft id 2 is not the leader (leader: 1)".into(),
            ),
            (
                RaftRule::MintOutstanding.into(),
                "raft rule MintOutstanding: a minted block or an older entry is not yet committed and applied".into(),
            ),
            (
                RaftRule::NotLeaderOfTerm {
                    term: 4,
                    leader: 1,
                    signer: 3,
                    hash: h,
                }
                .into(),
                format!("raft rule NotLeaderOfTerm: block {hash} in term 4 is signed by raft id 3, but raft id 1 led that term"),
            ),
            (
                RaftRule::NotMember { raft_id: 9, hash: h }.into(),
                format!("raft rule NotMember: block {hash} is signed as raft id 9, which is not a voting member"),
            ),
            (
                RaftRule::SignerMismatch { raft_id: 2, hash: h }.into(),
                format!("raft rule SignerMismatch: block {hash} names raft id 2, but its signature is not that member's node key"),
            ),
            (
                RaftRule::Unreadable {
                    index: 7,
                    reason: "x".into(),
                }
                .into(),
                "raft rule Unreadable: entry 7 is not a signed raft block (x)".into(),
            ),
            (
                RaftRule::ForwardedProposal { from: 3 }.into(),
                "raft rule ForwardedProposal: raft id 3 sent a proposal; only the leader proposes, locally".into(),
            ),
            (
                RaftRule::LocalMessage {
                    from: 3,
                    msg_type: 0,
                }
                .into(),
                "raft rule LocalMessage: raft id 3 sent a local-only message type 0".into(),
            ),
            (
                RaftRule::WrongRecipient { to: 5, me: 1 }.into(),
                "raft rule WrongRecipient: a message for raft id 5 reached raft id 1".into(),
            ),
            (
                RaftRule::WrongSender {
                    claimed: 2,
                    proven: 3,
                }
                .into(),
                "raft rule WrongSender: the message claims raft id 2, the transport proved raft id 3".into(),
            ),
            (
                RaftRule::RemovedId { raft_id: 2 }.into(),
                "raft rule RemovedId: raft id 2 was removed from the cluster and never rejoins".into(),
            ),
            (
                RaftRule::KeyInUse { raft_id: 1 }.into(),
                "raft rule KeyInUse: the node key is already raft id 1's".into(),
            ),
            (
                RaftRule::Membership("m".into()).into(),
                "raft rule Membership: m".into(),
            ),
            (
                Error::Store {
                    op: "commit",
                    source: Box::new(redb::StorageError::Corrupted("page 7".into()).into()),
                },
                "raft store: commit failed: check the disk and the data directory".into(),
            ),
            (
                Error::Corrupt {
                    what: "hard state",
                    source: DecodeError::Truncated { what: "raft hard state" },
                },
                "raft store: hard state is corrupt: restore the data directory or rejoin the cluster".into(),
            ),
            (
                Error::Raft {
                    op: "propose a block",
                    source: raft::Error::ProposalDropped,
                },
                "raft: propose a block failed".into(),
            ),
            (
                Error::AlreadyInitialized,
                "raft store already holds a cluster: start the node without initializing it".into(),
            ),
            (
                Error::CompactBeyondApplied {
                    index: 9,
                    applied: 8,
                },
                "raft store cannot compact to index 9: only 8 is applied".into(),
            ),
            (
                Error::Internal("x"),
                "raft: x (this is a bug in cachet)".into(),
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn next_id_is_above_every_id_ever_used() {
        let members = Members::new(BTreeMap::new(), [1, 2], [5], [7]);
        assert_eq!(members.next_id(), 8);
        assert_eq!(Members::default().next_id(), 1);
    }

    #[test]
    fn may_mint_only_as_a_settled_leader() {
        assert!(may_mint(true, false, false, 9, 9, 9));
        assert!(!may_mint(false, false, false, 9, 9, 9));
        assert!(!may_mint(true, true, false, 9, 9, 9));
        assert!(!may_mint(true, false, true, 9, 9, 9));
        assert!(!may_mint(true, false, false, 8, 9, 8));
        assert!(!may_mint(true, false, false, 9, 9, 8));
    }
}
