//! [`RaftNode`]: raft-rs's `RawNode` on [`RedbStorage`] with the cluster's rules. The node
//! drives it: [`RaftNode::tick`] on a timer, [`RaftNode::step`] for each decoded message from
//! an authenticated peer, [`RaftNode::propose_block`] when it minted, then [`RaftNode::ready`]
//! for what to send and apply — storage is written before anything is returned.

use std::collections::BTreeMap;

use alloy_primitives::B256;
use bytes::Bytes;
use cachet_primitives::Header;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType, Message, MessageType};
use raft::{RawNode, StateRole};
use secp256k1::PublicKey;

use crate::error::{Error, Result};
use crate::rules::{self, MintedBlock, RaftRule, Role};
use crate::storage::{Batch, RedbStorage};
use crate::{snapshot, wire};

/// Timing and flow settings of one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// This member's raft id.
    pub id: u64,
    /// Ticks without a leader before campaigning (GoQuorum: 10 ticks of 100 ms).
    pub election_tick: usize,
    /// Ticks between the leader's heartbeats (GoQuorum: 1).
    pub heartbeat_tick: usize,
    /// The election timeout is drawn from `[min_election_tick, max_election_tick)`.
    pub min_election_tick: usize,
    /// See `min_election_tick`.
    pub max_election_tick: usize,
    /// Largest append a leader sends (bytes of entries).
    pub max_size_per_msg: u64,
    /// Appends in flight per follower.
    pub max_inflight_msgs: usize,
}

impl Config {
    /// GoQuorum's timing (10 ticks election, 1 tick heartbeat, timeout in `[10, 20)`), 1 MiB
    /// appends, 256 in flight.
    pub const fn new(id: u64) -> Self {
        Self {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            min_election_tick: 10,
            max_election_tick: 20,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
        }
    }
}

/// What the node does with one committed entry (in log order), or other news.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Install the snapshot: `data` is the node's bytes the leader compacted with (its head);
    /// sync the chain to it. Membership is already applied.
    Snapshot {
        /// Last index it covers.
        index: u64,
        /// Its term.
        term: u64,
        /// The node's bytes.
        data: Bytes,
    },
    /// A committed block whose signature passed the rules: import it if it extends the head,
    /// skip it otherwise (GoQuorum's rule).
    Block {
        /// Log index.
        index: u64,
        /// Log term (whose leader minted it).
        term: u64,
        /// The block RLP.
        data: Bytes,
        /// The block and who minted it.
        block: Box<MintedBlock>,
    },
    /// A committed entry the rules refuse: the node must stop (as GoQuorum stops on a block
    /// it cannot insert), not skip.
    Refused {
        /// Log index.
        index: u64,
        /// Log term.
        term: u64,
        /// The rule.
        rule: RaftRule,
    },
    /// A membership change took effect.
    Membership {
        /// Log index.
        index: u64,
        /// What changed.
        change: MembershipChange,
    },
    /// A block this node proposed as leader will never be committed: drop it.
    Discarded {
        /// Its hash.
        hash: B256,
    },
    /// The role, leader or term changed.
    Role {
        /// This node's raft role.
        role: StateRole,
        /// The leader (0: none known).
        leader: u64,
        /// The term.
        term: u64,
    },
}

/// A membership change read from a committed conf change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// A member joined (as a voter or a learner).
    Added {
        /// Its raft id.
        id: u64,
        /// Its node key.
        key: PublicKey,
        /// Voter or learner.
        role: Role,
    },
    /// A learner became a voter.
    Promoted {
        /// Its raft id.
        id: u64,
    },
    /// A member left for ever; when it is this node, stop.
    Removed {
        /// Its raft id.
        id: u64,
    },
    /// The change was committed but refused by the rules (every member refuses it alike).
    Ignored {
        /// The rule.
        rule: RaftRule,
    },
}

/// What one call to [`RaftNode::ready`] hands the node, already persisted.
#[derive(Debug, Default)]
pub struct Ready {
    /// Send each to its `to` member.
    pub messages: Vec<Message>,
    /// Carry these out in order before the next call.
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy)]
struct Outstanding {
    index: u64,
    term: u64,
    hash: B256,
}

/// A cluster member: raft-rs plus the rules.
pub struct RaftNode {
    raw: RawNode<RedbStorage>,
    outstanding: Option<Outstanding>,
    /// Highest index whose committed entry was handed to the node.
    delivered: u64,
    pending_leaders: Vec<(u64, u64)>,
    leaders: BTreeMap<u64, u64>,
    last_role: (StateRole, u64, u64),
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id())
            .field("role", &self.role())
            .field("term", &self.term())
            .field("leader", &self.leader())
            .finish_non_exhaustive()
    }
}

impl RaftNode {
    /// Starts (or restarts, from what `storage` holds) a member. A new cluster's founders
    /// first call [`RedbStorage::initialize`]; a joining member starts empty and receives a
    /// snapshot.
    ///
    /// # Errors
    /// [`Error::Raft`] when raft-rs refuses the configuration or the stored state.
    pub fn new(config: &Config, storage: RedbStorage) -> Result<Self> {
        let applied = storage
            .applied()
            .max(storage.snapshot_metadata().index)
            .min(
                storage
                    .hard_state()
                    .commit
                    .max(storage.snapshot_metadata().index),
            );
        let cfg = raft::Config {
            id: config.id,
            election_tick: config.election_tick,
            heartbeat_tick: config.heartbeat_tick,
            min_election_tick: config.min_election_tick,
            max_election_tick: config.max_election_tick,
            max_size_per_msg: config.max_size_per_msg,
            max_inflight_msgs: config.max_inflight_msgs,
            applied,
            // A leader cut off from a majority steps down (and stops minting); a member that
            // was partitioned away does not disturb the leader when it comes back.
            check_quorum: true,
            pre_vote: true,
            ..raft::Config::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw = RawNode::new(&cfg, storage, &logger).map_err(Error::raft("start raft"))?;
        let last_role = (raw.raft.state, raw.raft.leader_id, raw.raft.term);
        Ok(Self {
            raw,
            outstanding: None,
            delivered: applied,
            pending_leaders: Vec::new(),
            leaders: BTreeMap::new(),
            last_role,
        })
    }

    /// This member's raft id.
    pub fn id(&self) -> u64 {
        self.raw.raft.id
    }

    /// Leader, follower, candidate or pre-candidate.
    pub fn role(&self) -> StateRole {
        self.raw.raft.state
    }

    /// The leader this member knows of (0: none).
    pub fn leader(&self) -> u64 {
        self.raw.raft.leader_id
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// The commit index.
    pub fn committed(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// The last log index.
    pub fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }

    /// The storage (members, conf state, applied index).
    pub fn storage(&self) -> &RedbStorage {
        self.raw.store()
    }

    /// Who led `term`, as this member knows it.
    pub fn leader_of(&self, term: u64) -> Option<u64> {
        self.leaders
            .get(&term)
            .copied()
            .or_else(|| self.raw.store().term_leader(term))
    }

    /// One tick of the raft clock (GoQuorum: every 100 ms).
    pub fn tick(&mut self) {
        self.raw.tick();
        self.note_self_leader();
    }

    /// Whether this member may mint now: the leader, with its whole log committed and handed
    /// out, no minted block outstanding, no leadership transfer under way.
    pub fn may_mint(&self) -> bool {
        rules::may_mint(
            self.role() == StateRole::Leader,
            self.raw.raft.lead_transferee.is_some(),
            self.outstanding.is_some(),
            self.committed(),
            self.last_index(),
            self.delivered,
        )
    }

    /// Proposes a block this member minted and signed (quorum PR 395 signature with its own
    /// raft id and node key) through the log.
    ///
    /// # Errors
    /// [`RaftRule::NotLeader`] or [`RaftRule::MintOutstanding`] unless [`Self::may_mint`];
    /// the signature rules of [`rules::check_signature`] (a block signed by another member:
    /// [`RaftRule::NotLeaderOfTerm`]); [`Error::Raft`].
    pub fn propose_block(&mut self, block_rlp: Vec<u8>) -> Result<MintedBlock> {
        if self.role() != StateRole::Leader {
            return Err(RaftRule::NotLeader {
                raft_id: self.id(),
                leader: self.leader(),
            }
            .into());
        }
        if !self.may_mint() {
            return Err(RaftRule::MintOutstanding.into());
        }
        let block = rules::check_signature(0, &block_rlp, self.raw.store().members())?;
        if block.minter != self.id() {
            return Err(RaftRule::NotLeaderOfTerm {
                term: self.term(),
                leader: self.id(),
                signer: block.minter,
                hash: block.hash,
            }
            .into());
        }
        let before = self.last_index();
        self.raw
            .propose(Vec::new(), block_rlp)
            .map_err(Error::raft("propose a block"))?;
        let index = self.last_index();
        if index != before + 1 {
            return Err(Error::Internal("the leader did not append its proposal"));
        }
        self.outstanding = Some(Outstanding {
            index,
            term: self.term(),
            hash: block.hash,
        });
        Ok(block)
    }

    /// Steps a message received from the member the transport authenticated as `proven`.
    ///
    /// # Errors
    /// [`Error::Rule`] naming why the message is refused (it is dropped and nothing changes):
    /// wrong recipient or sender, a removed member, a local-only type, a proposal (members
    /// never forward them), or an append whose new blocks are not signed by the sender, the
    /// leader of that term ([`RaftRule::NotLeaderOfTerm`]); [`Error::Raft`] when raft-rs
    /// refuses it.
    pub fn step(&mut self, proven: u64, msg: Message) -> Result<()> {
        let me = self.id();
        if msg.to != me {
            return Err(RaftRule::WrongRecipient { to: msg.to, me }.into());
        }
        if msg.from != proven {
            return Err(RaftRule::WrongSender {
                claimed: msg.from,
                proven,
            }
            .into());
        }
        let members = self.raw.store().members();
        if members.removed().contains(&msg.from) {
            return Err(RaftRule::RemovedId { raft_id: msg.from }.into());
        }
        let msg_type = msg.get_msg_type();
        if raft::raw_node::is_local_msg(msg_type) {
            return Err(RaftRule::LocalMessage {
                from: msg.from,
                msg_type: msg_type as i32,
            }
            .into());
        }
        if msg_type == MessageType::MsgPropose {
            return Err(RaftRule::ForwardedProposal { from: msg.from }.into());
        }
        // A member that has not received its first snapshot knows no keys; its empty log
        // cannot take entries anyway (every log starts after the founding snapshot at index
        // 1), so raft-rs rejects the append and the leader sends the snapshot.
        if msg_type == MessageType::MsgAppend && !members.voters().is_empty() {
            // Entries of the sender's own term were appended by the sender, which leads that
            // term: every block among them must be its own.
            for e in msg.entries.iter() {
                if e.term == msg.term && is_block(e) {
                    let block = rules::check_signature(e.index, &e.data, members)?;
                    if block.minter != msg.from {
                        return Err(RaftRule::NotLeaderOfTerm {
                            term: e.term,
                            leader: msg.from,
                            signer: block.minter,
                            hash: block.hash,
                        }
                        .into());
                    }
                }
            }
        }
        if msg_type == MessageType::MsgSnapshot
            && let Some(s) = msg.snapshot.as_ref()
            && let Err(e) = snapshot::decode(&s.data)
        {
            return Err(RaftRule::Unreadable {
                index: s.get_metadata().index,
                reason: e.to_string(),
            }
            .into());
        }
        let (from, term) = (msg.from, msg.term);
        let leader_msg = matches!(
            msg_type,
            MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot
        );
        self.raw.step(msg).map_err(Error::raft("step a message"))?;
        if leader_msg && self.raw.raft.leader_id == from && self.raw.raft.term == term {
            self.note_leader(term, from);
        }
        self.note_self_leader();
        Ok(())
    }

    /// Tells raft-rs that `id` could not be reached (the transport failed to send to it).
    pub fn report_unreachable(&mut self, id: u64) {
        self.raw.report_unreachable(id);
    }

    /// Tells raft-rs whether a snapshot message to `id` was delivered: the leader sends no
    /// more appends to a member until it learns this.
    pub fn report_snapshot(&mut self, id: u64, delivered: bool) {
        let status = if delivered {
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        self.raw.report_snapshot(id, status);
    }

    /// Hands leadership to `to` (a revoked leader steps down this way).
    pub fn transfer_leader(&mut self, to: u64) {
        self.raw.transfer_leader(to);
    }

    /// The voter a stepping-down leader should hand over to: the most up to date one (highest
    /// `Progress.matched`, the lowest id on a tie) other than this member; `None` when this
    /// member is not the leader or is the only voter.
    pub fn transfer_target(&self) -> Option<u64> {
        if self.role() != StateRole::Leader {
            return None;
        }
        let me = self.id();
        let voters = self.raw.store().members().voters();
        let prs = self.raw.raft.prs();
        voters
            .iter()
            .filter(|id| **id != me)
            .filter_map(|id| prs.get(*id).map(|p| (p.matched, *id)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
            .map(|(_, id)| id)
    }

    /// `raft_addPeer`: proposes a new voter with node key `key`; returns its raft id (one
    /// above every id ever used).
    ///
    /// # Errors
    /// As [`Self::propose_membership`].
    pub fn add_peer(&mut self, key: &PublicKey) -> Result<u64> {
        self.add(key, ConfChangeType::AddNode)
    }

    /// `raft_addLearner`: proposes a new learner; returns its raft id.
    ///
    /// # Errors
    /// As [`Self::propose_membership`].
    pub fn add_learner(&mut self, key: &PublicKey) -> Result<u64> {
        self.add(key, ConfChangeType::AddLearnerNode)
    }

    /// `raft_promoteToPeer`: proposes that learner `id` votes.
    ///
    /// # Errors
    /// [`RaftRule::Membership`] when `id` is not a learner; as [`Self::propose_membership`].
    pub fn promote(&mut self, id: u64) -> Result<()> {
        if self.raw.store().members().role(id) != Some(Role::Learner) {
            return Err(RaftRule::Membership(format!("raft id {id} is not a learner")).into());
        }
        self.propose_membership(ConfChangeType::AddNode, id, None)
    }

    /// `raft_removePeer`: proposes that member `id` leaves for ever.
    ///
    /// # Errors
    /// [`RaftRule::Membership`] when `id` is not a member; as [`Self::propose_membership`].
    pub fn remove(&mut self, id: u64) -> Result<()> {
        if self.raw.store().members().role(id).is_none() {
            return Err(RaftRule::Membership(format!("raft id {id} is not a member")).into());
        }
        self.propose_membership(ConfChangeType::RemoveNode, id, None)
    }

    fn add(&mut self, key: &PublicKey, kind: ConfChangeType) -> Result<u64> {
        let members = self.raw.store().members();
        if let Some(raft_id) = members.id_of(key) {
            return Err(RaftRule::KeyInUse { raft_id }.into());
        }
        let id = members.next_id();
        if id > wire::MAX_RAFT_ID {
            return Err(RaftRule::Membership("no raft id left below 65536".into()).into());
        }
        self.propose_membership(kind, id, Some(key))?;
        Ok(id)
    }

    /// Proposes one (v1, single-step) conf change on the leader; the node key rides in the
    /// context as the 64-byte node id.
    ///
    /// # Errors
    /// [`RaftRule::NotLeader`]; [`RaftRule::Membership`] while another change is pending;
    /// [`Error::Raft`].
    pub fn propose_membership(
        &mut self,
        kind: ConfChangeType,
        id: u64,
        key: Option<&PublicKey>,
    ) -> Result<()> {
        if self.role() != StateRole::Leader {
            return Err(RaftRule::NotLeader {
                raft_id: self.id(),
                leader: self.leader(),
            }
            .into());
        }
        if self.raw.raft.has_pending_conf() {
            return Err(RaftRule::Membership(
                "another membership change is not yet applied".into(),
            )
            .into());
        }
        let mut cc = ConfChange::default();
        cc.set_change_type(kind);
        cc.node_id = id;
        if let Some(k) = key {
            cc.context = Bytes::copy_from_slice(&k.serialize_uncompressed()[1..]);
        }
        let mut e = Entry::default();
        e.set_entry_type(EntryType::EntryConfChange);
        // Our encoding, so every member decodes it with the strict decoder.
        e.data = wire::encode_conf_change(&cc).into();
        let mut m = Message::default();
        m.set_msg_type(MessageType::MsgPropose);
        m.from = self.id();
        m.entries = vec![e].into();
        let before = self.last_index();
        self.raw
            .raft
            .step(m)
            .map_err(Error::raft("propose a membership change"))?;
        if self.last_index() != before + 1 {
            return Err(Error::Internal("the leader did not append its conf change"));
        }
        Ok(())
    }

    /// Records that the node applied (durably) everything up to `index`: a restart resumes
    /// after it.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn applied(&mut self, index: u64) -> Result<()> {
        let index = index.min(self.delivered);
        self.raw.mut_store().write(Batch {
            applied: Some(index),
            ..Batch::default()
        })
    }

    /// Compacts the log up to `index` (at most the applied index) into a snapshot holding
    /// `data` (the node's: membership and head hash). GoQuorum does it every 250 entries and
    /// at every membership change.
    ///
    /// # Errors
    /// As [`RedbStorage::compact`].
    pub fn compact(&mut self, index: u64, data: &[u8]) -> Result<()> {
        self.raw.mut_store().compact(index, data)
    }

    /// What to send and apply now, after storing everything raft-rs asked to store (one
    /// write transaction, and one more for a new commit index), or `None` when there is
    /// nothing. The node sends `messages` and carries out `events` in order before calling
    /// again (it must not mint until it has).
    ///
    /// # Errors
    /// [`Error::Store`] (nothing was sent; the node must stop), [`Error::Raft`].
    pub fn ready(&mut self) -> Result<Option<Ready>> {
        self.note_self_leader();
        if !self.raw.has_ready() {
            return Ok(self.role_event().map(|e| Ready {
                messages: Vec::new(),
                events: vec![e],
            }));
        }
        let mut rd = self.raw.ready();
        let mut out = Ready::default();
        let snapshot = rd.snapshot().clone();
        let has_snapshot = !snapshot.is_empty();
        let batch = Batch {
            snapshot: has_snapshot.then(|| snapshot.clone()),
            entries: rd.take_entries(),
            hard_state: rd.hs().cloned(),
            term_leaders: std::mem::take(&mut self.pending_leaders),
            ..Batch::default()
        };
        let mut messages = rd.take_messages();
        let mut committed = rd.take_committed_entries();
        let persisted = rd.take_persisted_messages();
        // Persist before anything leaves (raft-rs's contract for persisted messages; the
        // leader's own messages wait too, which costs nothing in safety).
        self.raw.mut_store().write(batch)?;
        messages.extend(persisted);
        let mut light = self.raw.advance(rd);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().write(Batch {
                commit: Some(commit),
                ..Batch::default()
            })?;
        }
        messages.extend(light.take_messages());
        committed.extend(light.take_committed_entries());

        if has_snapshot {
            let meta = snapshot.get_metadata();
            self.delivered = self.delivered.max(meta.index);
            if let Some(o) = self.outstanding.filter(|o| o.index <= meta.index) {
                // It will not come through the log; the chain sync to the snapshot's head
                // brings it if it was committed.
                self.outstanding = None;
                out.events.push(Event::Discarded { hash: o.hash });
            }
            // Checked when stepped; stored above.
            let app = snapshot::decode(&snapshot.data)
                .map(|d| d.app)
                .unwrap_or_default();
            out.events.push(Event::Snapshot {
                index: meta.index,
                term: meta.term,
                data: app.into(),
            });
        }
        for e in committed {
            self.apply_entry(e, &mut out.events)?;
        }
        self.raw.advance_apply_to(self.delivered);
        self.check_outstanding(&mut out.events);
        if let Some(e) = self.role_event() {
            out.events.push(e);
        }
        out.messages = messages;
        Ok(Some(out))
    }

    fn apply_entry(&mut self, e: Entry, events: &mut Vec<Event>) -> Result<()> {
        if e.index <= self.delivered {
            return Ok(());
        }
        self.delivered = e.index;
        if let Some(o) = self.outstanding
            && o.index == e.index
        {
            self.outstanding = None;
            if o.term != e.term {
                events.push(Event::Discarded { hash: o.hash });
            }
        }
        match e.get_entry_type() {
            EntryType::EntryNormal if e.data.is_empty() => {}
            EntryType::EntryNormal => {
                let leader = self.leader_of(e.term);
                let members = self.raw.store().members();
                match rules::check_committed(e.index, e.term, &e.data, members, leader) {
                    Ok(block) => {
                        if leader.is_none() {
                            self.note_leader(e.term, block.minter);
                        }
                        events.push(Event::Block {
                            index: e.index,
                            term: e.term,
                            data: e.data.clone(),
                            block: Box::new(block),
                        });
                    }
                    Err(rule) => events.push(Event::Refused {
                        index: e.index,
                        term: e.term,
                        rule,
                    }),
                }
            }
            EntryType::EntryConfChange => {
                let change = self.apply_conf_change(&e)?;
                events.push(Event::Membership {
                    index: e.index,
                    change,
                });
            }
            EntryType::EntryConfChangeV2 => events.push(Event::Membership {
                index: e.index,
                change: MembershipChange::Ignored {
                    rule: RaftRule::Membership("joint-consensus (v2) changes are not used".into()),
                },
            }),
        }
        Ok(())
    }

    fn apply_conf_change(&mut self, e: &Entry) -> Result<MembershipChange> {
        let ignored = |rule| Ok(MembershipChange::Ignored { rule });
        let cc = match wire::decode_conf_change(&e.data) {
            Ok(cc) => cc,
            Err(err) => {
                return ignored(RaftRule::Unreadable {
                    index: e.index,
                    reason: err.to_string(),
                });
            }
        };
        let id = cc.node_id;
        let mut members = self.raw.store().members().clone();
        let kind = cc.get_change_type();
        let change = match kind {
            ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
                if members.removed().contains(&id) {
                    return ignored(RaftRule::RemovedId { raft_id: id });
                }
                let key = if cc.context.is_empty() {
                    members.key(id).copied()
                } else {
                    node_key(&cc.context)
                };
                let Some(key) = key else {
                    return ignored(RaftRule::Membership(format!(
                        "the change adding raft id {id} carries no valid node key"
                    )));
                };
                if let Some(holder) = members.id_of(&key)
                    && holder != id
                {
                    return ignored(RaftRule::KeyInUse { raft_id: holder });
                }
                if members.key(id).is_some_and(|k| *k != key) {
                    return ignored(RaftRule::Membership(format!(
                        "raft id {id} already has another node key"
                    )));
                }
                let was = members.role(id);
                members.set_key(id, key);
                let role = if kind == ConfChangeType::AddNode {
                    Role::Voter
                } else {
                    Role::Learner
                };
                if was == Some(Role::Learner) && role == Role::Voter {
                    MembershipChange::Promoted { id }
                } else {
                    MembershipChange::Added { id, key, role }
                }
            }
            ConfChangeType::RemoveNode => {
                members.tombstone(id);
                MembershipChange::Removed { id }
            }
        };
        let cs = self
            .raw
            .apply_conf_change(&cc)
            .map_err(Error::raft("apply a membership change"))?;
        members.set_roles(cs.voters.iter().copied(), cs.learners.iter().copied());
        if kind == ConfChangeType::RemoveNode {
            members.tombstone(id);
        }
        self.raw.mut_store().write(Batch {
            members: Some((cs, members)),
            ..Batch::default()
        })?;
        Ok(change)
    }

    fn check_outstanding(&mut self, events: &mut Vec<Event>) {
        let Some(o) = self.outstanding else {
            return;
        };
        // Overwritten by another leader's entry, or cut off the log.
        let term = self.raw.raft.raft_log.term(o.index).unwrap_or(0);
        if term != o.term {
            self.outstanding = None;
            events.push(Event::Discarded { hash: o.hash });
        }
    }

    fn note_self_leader(&mut self) {
        if self.role() == StateRole::Leader {
            self.note_leader(self.term(), self.id());
        }
    }

    fn note_leader(&mut self, term: u64, id: u64) {
        if self.leader_of(term).is_none() {
            self.leaders.insert(term, id);
            self.pending_leaders.push((term, id));
        }
    }

    fn role_event(&mut self) -> Option<Event> {
        let now = (self.role(), self.leader(), self.term());
        (now != self.last_role).then(|| {
            self.last_role = now;
            Event::Role {
                role: now.0,
                leader: now.1,
                term: now.2,
            }
        })
    }
}

fn is_block(e: &Entry) -> bool {
    e.get_entry_type() == EntryType::EntryNormal && !e.data.is_empty()
}

fn node_key(id: &[u8]) -> Option<PublicKey> {
    let mut full = Vec::with_capacity(65);
    full.push(4u8);
    full.extend_from_slice(id);
    (id.len() == 64)
        .then(|| PublicKey::from_slice(&full).ok())
        .flatten()
}

/// The header of a block RLP (for the node's parent check).
///
/// # Errors
/// The block's decode error.
pub fn block_header(
    block_rlp: &[u8],
) -> std::result::Result<Header, cachet_primitives::DecodeError> {
    let (h, _) = cachet_primitives::block::split_block(block_rlp)?;
    Header::decode(&h)
}
