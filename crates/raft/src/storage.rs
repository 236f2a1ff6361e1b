//! raft-rs's [`Storage`] on redb: the log, hard state, conf state, the last snapshot, the
//! applied index, the members' keys, removed ids and who led each term.
//!
//! Tables (every value in [`crate::wire`]'s encoding where it is a raft type):
//!
//! | table | key | value |
//! |---|---|---|
//! | `raft_log` | index (u64) | encoded `Entry` |
//! | `raft_meta` | name | `hard_state`, `conf_state`, `snapshot_meta` (encoded), `snapshot_data` ([`crate::snapshot`]: members, removed ids, the node's bytes), `applied` (u64 BE) |
//! | `raft_keys` | raft id | 64-byte node id (public key without `04`) |
//! | `raft_removed` | raft id | empty |
//! | `raft_term_leaders` | term | raft id |
//!
//! The log holds exactly the indexes `(snapshot index, last index]`. Each [`Batch`] is one write
//! transaction (redb fsyncs it on commit): a crash leaves either all of a `Ready` or none.

use std::sync::Arc;

use raft::eraftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use secp256k1::PublicKey;

use crate::error::{Error, Result};
use crate::rules::Members;
use crate::{snapshot, wire};

const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("raft_log");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("raft_meta");
const KEYS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("raft_keys");
const REMOVED: TableDefinition<'_, u64, ()> = TableDefinition::new("raft_removed");
const TERM_LEADERS: TableDefinition<'_, u64, u64> = TableDefinition::new("raft_term_leaders");

const HARD_STATE: &str = "hard_state";
const CONF_STATE: &str = "conf_state";
const SNAPSHOT_META: &str = "snapshot_meta";
const SNAPSHOT_DATA: &str = "snapshot_data";
const APPLIED: &str = "applied";

/// What one write transaction stores (the parts of a `Ready`, a compaction, a conf change).
#[derive(Debug, Default)]
pub struct Batch {
    /// A snapshot received from the leader: replaces the log.
    pub snapshot: Option<Snapshot>,
    /// Entries to append (those at and above the first one's index are replaced).
    pub entries: Vec<Entry>,
    /// The new hard state.
    pub hard_state: Option<HardState>,
    /// A new commit index only (a `LightReady`).
    pub commit: Option<u64>,
    /// A new conf state (an applied conf change) with the members it leaves.
    pub members: Option<(ConfState, Members)>,
    /// Leaders learnt: (term, raft id).
    pub term_leaders: Vec<(u64, u64)>,
    /// The index the node has applied.
    pub applied: Option<u64>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none()
            && self.entries.is_empty()
            && self.hard_state.is_none()
            && self.commit.is_none()
            && self.members.is_none()
            && self.term_leaders.is_empty()
            && self.applied.is_none()
    }
}

/// raft-rs storage on a redb database (the node's store or one of its own).
#[derive(Debug)]
pub struct RedbStorage {
    db: Arc<Database>,
    durability: Durability,
    hard_state: HardState,
    conf_state: ConfState,
    snapshot: SnapshotMetadata,
    last_index: u64,
    applied: u64,
    members: Members,
    term_leaders: std::collections::BTreeMap<u64, u64>,
}

impl RedbStorage {
    /// Opens the raft tables in `db` (creating them) and loads the state they hold.
    ///
    /// # Errors
    /// [`Error::Store`], or [`Error::Corrupt`] when a stored value does not decode.
    pub fn open(db: Arc<Database>) -> Result<Self> {
        let tx = db.begin_write().map_err(Error::store("begin write"))?;
        {
            tx.open_table(LOG).map_err(Error::store("open raft_log"))?;
            tx.open_table(META)
                .map_err(Error::store("open raft_meta"))?;
            tx.open_table(KEYS)
                .map_err(Error::store("open raft_keys"))?;
            tx.open_table(REMOVED)
                .map_err(Error::store("open raft_removed"))?;
            tx.open_table(TERM_LEADERS)
                .map_err(Error::store("open raft_term_leaders"))?;
        }
        tx.commit().map_err(Error::store("commit"))?;

        let rx = db.begin_read().map_err(Error::store("begin read"))?;
        let meta = rx
            .open_table(META)
            .map_err(Error::store("open raft_meta"))?;
        let get = |name: &str| -> Result<Option<Vec<u8>>> {
            Ok(meta
                .get(name)
                .map_err(Error::store("read raft_meta"))?
                .map(|v| v.value().to_vec()))
        };
        let corrupt = |what| move |source| Error::Corrupt { what, source };
        let hard_state = match get(HARD_STATE)? {
            Some(b) => wire::decode_hard_state(&b).map_err(corrupt("hard state"))?,
            None => HardState::default(),
        };
        let conf_state = match get(CONF_STATE)? {
            Some(b) => wire::decode_conf_state(&b).map_err(corrupt("conf state"))?,
            None => ConfState::default(),
        };
        let snapshot = match get(SNAPSHOT_META)? {
            Some(b) => wire::decode_snapshot_metadata(&b).map_err(corrupt("snapshot metadata"))?,
            None => SnapshotMetadata::default(),
        };
        let applied = match get(APPLIED)? {
            Some(b) => u64::from_be_bytes(b.as_slice().try_into().map_err(|_| Error::Corrupt {
                what: "applied index",
                source: crate::error::DecodeError::Truncated {
                    what: "applied index",
                },
            })?),
            None => 0,
        };
        let log = rx.open_table(LOG).map_err(Error::store("open raft_log"))?;
        let last_index = match log.last().map_err(Error::store("read raft_log"))? {
            Some((k, _)) => k.value(),
            None => snapshot.index,
        };
        let mut keys = std::collections::BTreeMap::new();
        let kt = rx
            .open_table(KEYS)
            .map_err(Error::store("open raft_keys"))?;
        for row in kt.iter().map_err(Error::store("read raft_keys"))? {
            let (k, v) = row.map_err(Error::store("read raft_keys"))?;
            keys.insert(
                k.value(),
                node_key(v.value()).map_err(corrupt("member key"))?,
            );
        }
        let rt = rx
            .open_table(REMOVED)
            .map_err(Error::store("open raft_removed"))?;
        let mut removed = Vec::new();
        for row in rt.iter().map_err(Error::store("read raft_removed"))? {
            removed.push(row.map_err(Error::store("read raft_removed"))?.0.value());
        }
        let members = Members::new(
            keys,
            conf_state.voters.iter().copied(),
            conf_state.learners.iter().copied(),
            removed,
        );
        let tt = rx
            .open_table(TERM_LEADERS)
            .map_err(Error::store("open raft_term_leaders"))?;
        let mut term_leaders = std::collections::BTreeMap::new();
        for row in tt.iter().map_err(Error::store("read raft_term_leaders"))? {
            let (k, v) = row.map_err(Error::store("read raft_term_leaders"))?;
            term_leaders.insert(k.value(), v.value());
        }
        drop((meta, log, kt, rt, tt, rx));
        Ok(Self {
            db,
            durability: Durability::Immediate,
            hard_state,
            conf_state,
            snapshot,
            last_index,
            applied,
            members,
            term_leaders,
        })
    }

    /// Commits without fsync (simulations and tests on an in-memory backend only: a real node
    /// keeps the default, durable on commit).
    pub const fn set_durability_for_tests(&mut self, durable: bool) {
        self.durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
    }

    /// Whether the store holds a cluster (a conf state or a snapshot).
    pub fn is_initialized(&self) -> bool {
        self.conf_state != ConfState::default() || self.snapshot.index > 0
    }

    /// Starts a new cluster: a snapshot at index 1, term 1 holding the initial voters (`keys`)
    /// and `data` (the node's snapshot bytes: membership and head). Every founding member
    /// writes the same, so their logs agree from the start, and a member added later receives
    /// this snapshot first.
    ///
    /// # Errors
    /// [`Error::AlreadyInitialized`]; [`Error::Store`].
    pub fn initialize(&mut self, keys: &[(u64, PublicKey)], data: &[u8]) -> Result<()> {
        if self.is_initialized() {
            return Err(Error::AlreadyInitialized);
        }
        let voters: Vec<u64> = keys.iter().map(|(id, _)| *id).collect();
        let conf_state = ConfState::from((voters.clone(), Vec::<u64>::new()));
        let mut meta = SnapshotMetadata {
            index: 1,
            term: 1,
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(conf_state.clone());
        let mut members = Members::default();
        for (id, key) in keys {
            members.set_key(*id, *key);
        }
        members.set_roles(voters, []);
        let mut snapshot = Snapshot {
            data: snapshot::encode(&members, data).into(),
            ..Snapshot::default()
        };
        snapshot.set_metadata(meta);
        self.write(Batch {
            snapshot: Some(snapshot),
            members: Some((conf_state, members)),
            applied: Some(1),
            ..Batch::default()
        })
    }

    /// Writes `batch` in one transaction and updates the cached state.
    ///
    /// # Errors
    /// [`Error::Store`]; nothing of the batch is stored then.
    pub fn write(&mut self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut hard_state = self.hard_state.clone();
        let mut conf_state = self.conf_state.clone();
        let mut snapshot_meta = self.snapshot.clone();
        let mut last_index = self.last_index;
        let mut applied = self.applied;
        let mut members = self.members.clone();

        let mut tx = self.db.begin_write().map_err(Error::store("begin write"))?;
        tx.set_durability(self.durability)
            .map_err(|_| Error::Internal("set_durability refused on a fresh transaction"))?;
        {
            let mut log = tx.open_table(LOG).map_err(Error::store("open raft_log"))?;
            let mut meta = tx
                .open_table(META)
                .map_err(Error::store("open raft_meta"))?;
            if let Some(snap) = &batch.snapshot {
                let m = snap.get_metadata();
                // The snapshot replaces the whole log.
                log.retain(|_, _| false)
                    .map_err(Error::store("clear raft_log"))?;
                meta.insert(SNAPSHOT_META, wire::encode_snapshot_metadata(m).as_slice())
                    .map_err(Error::store("write snapshot"))?;
                meta.insert(SNAPSHOT_DATA, &snap.data[..])
                    .map_err(Error::store("write snapshot"))?;
                snapshot_meta = m.clone();
                last_index = m.index;
                conf_state = m.get_conf_state().clone();
                let carried = snapshot::decode(&snap.data).map_err(|source| Error::Corrupt {
                    what: "received snapshot",
                    source,
                })?;
                for (id, key) in carried.keys {
                    members.set_key(id, key);
                }
                for id in carried.removed {
                    members.tombstone(id);
                }
                members.set_roles(
                    conf_state.voters.iter().copied(),
                    conf_state.learners.iter().copied(),
                );
                hard_state.term = hard_state.term.max(m.term);
                hard_state.commit = hard_state.commit.max(m.index);
                applied = applied.max(m.index);
            }
            if let Some(first) = batch.entries.first() {
                // Entries from `first.index` on replace what the log had there.
                let from = first.index;
                log.retain_in(from.., |_, _| false)
                    .map_err(Error::store("truncate raft_log"))?;
                for e in &batch.entries {
                    log.insert(e.index, wire::encode_entry(e).as_slice())
                        .map_err(Error::store("append raft_log"))?;
                }
                last_index = batch.entries.last().map_or(last_index, |e| e.index);
            }
            if let Some(hs) = &batch.hard_state {
                hard_state = hs.clone();
            }
            if let Some(c) = batch.commit {
                hard_state.commit = hard_state.commit.max(c);
            }
            if batch.hard_state.is_some() || batch.commit.is_some() || batch.snapshot.is_some() {
                meta.insert(HARD_STATE, wire::encode_hard_state(&hard_state).as_slice())
                    .map_err(Error::store("write hard state"))?;
            }
            if let Some((cs, m)) = &batch.members {
                conf_state = cs.clone();
                members = m.clone();
                let mut keys = tx
                    .open_table(KEYS)
                    .map_err(Error::store("open raft_keys"))?;
                for (id, key) in m.keys() {
                    keys.insert(*id, &key.serialize_uncompressed()[1..])
                        .map_err(Error::store("write raft_keys"))?;
                }
                let mut removed = tx
                    .open_table(REMOVED)
                    .map_err(Error::store("open raft_removed"))?;
                for id in m.removed() {
                    removed
                        .insert(*id, ())
                        .map_err(Error::store("write raft_removed"))?;
                }
            }
            if batch.members.is_some() || batch.snapshot.is_some() {
                meta.insert(CONF_STATE, wire::encode_conf_state(&conf_state).as_slice())
                    .map_err(Error::store("write conf state"))?;
            }
            if !batch.term_leaders.is_empty() {
                let mut t = tx
                    .open_table(TERM_LEADERS)
                    .map_err(Error::store("open raft_term_leaders"))?;
                for (term, id) in &batch.term_leaders {
                    t.insert(*term, *id)
                        .map_err(Error::store("write raft_term_leaders"))?;
                }
            }
            if let Some(a) = batch.applied {
                applied = applied.max(a);
            }
            if batch.applied.is_some() || batch.snapshot.is_some() {
                meta.insert(APPLIED, &applied.to_be_bytes()[..])
                    .map_err(Error::store("write applied"))?;
            }
        }
        tx.commit().map_err(Error::store("commit"))?;
        self.hard_state = hard_state;
        self.conf_state = conf_state;
        self.snapshot = snapshot_meta;
        self.last_index = last_index;
        self.applied = applied;
        self.members = members;
        self.term_leaders.extend(batch.term_leaders.iter().copied());
        Ok(())
    }

    /// Compacts the log: a snapshot at `index` (at most the applied index) with the current
    /// conf state and `data` (the node's bytes), and the entries up to it deleted.
    ///
    /// # Errors
    /// [`Error::CompactBeyondApplied`] when `index` is above the applied index;
    /// [`Error::Store`].
    pub fn compact(&mut self, index: u64, app: &[u8]) -> Result<()> {
        let data = snapshot::encode(&self.members, app);
        let data = data.as_slice();
        if index > self.applied || index > self.last_index {
            return Err(Error::CompactBeyondApplied {
                index,
                applied: self.applied,
            });
        }
        if index <= self.snapshot.index {
            return Ok(());
        }
        let term = self.term(index).map_err(Error::raft("read term"))?;
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..SnapshotMetadata::default()
        };
        meta.set_conf_state(self.conf_state.clone());
        let mut tx = self.db.begin_write().map_err(Error::store("begin write"))?;
        tx.set_durability(self.durability)
            .map_err(|_| Error::Internal("set_durability refused on a fresh transaction"))?;
        {
            let mut log = tx.open_table(LOG).map_err(Error::store("open raft_log"))?;
            log.retain_in(..=index, |_, _| false)
                .map_err(Error::store("compact raft_log"))?;
            let mut m = tx
                .open_table(META)
                .map_err(Error::store("open raft_meta"))?;
            m.insert(
                SNAPSHOT_META,
                wire::encode_snapshot_metadata(&meta).as_slice(),
            )
            .map_err(Error::store("write snapshot"))?;
            m.insert(SNAPSHOT_DATA, data)
                .map_err(Error::store("write snapshot"))?;
        }
        tx.commit().map_err(Error::store("commit"))?;
        self.snapshot = meta;
        Ok(())
    }

    /// The hard state.
    pub const fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// The conf state.
    pub const fn conf_state(&self) -> &ConfState {
        &self.conf_state
    }

    /// The members (keys, roles, removed ids).
    pub const fn members(&self) -> &Members {
        &self.members
    }

    /// The index the node has applied (what a restart resumes after).
    pub const fn applied(&self) -> u64 {
        self.applied
    }

    /// The last snapshot's metadata.
    pub const fn snapshot_metadata(&self) -> &SnapshotMetadata {
        &self.snapshot
    }

    /// Who led `term`, as this node learnt it (stored).
    pub fn term_leader(&self, term: u64) -> Option<u64> {
        self.term_leaders.get(&term).copied()
    }

    /// The node's bytes in the last snapshot (empty before any): at startup the node syncs its
    /// chain to the head they name when it is behind (a crash can fall between storing a
    /// received snapshot and installing it).
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::Corrupt`].
    pub fn snapshot_data(&self) -> Result<Vec<u8>> {
        let raw = self.raw_snapshot_data()?;
        if raw.is_empty() {
            return Ok(raw);
        }
        snapshot::decode(&raw)
            .map(|d| d.app)
            .map_err(|source| Error::Corrupt {
                what: "snapshot data",
                source,
            })
    }

    fn raw_snapshot_data(&self) -> Result<Vec<u8>> {
        let rx = self.db.begin_read().map_err(Error::store("begin read"))?;
        let t = rx
            .open_table(META)
            .map_err(Error::store("open raft_meta"))?;
        Ok(t.get(SNAPSHOT_DATA)
            .map_err(Error::store("read snapshot"))?
            .map(|v| v.value().to_vec())
            .unwrap_or_default())
    }

    fn read_entries(&self, low: u64, high: u64, max_size: Option<u64>) -> Result<Vec<Entry>> {
        let rx = self.db.begin_read().map_err(Error::store("begin read"))?;
        let log = rx.open_table(LOG).map_err(Error::store("open raft_log"))?;
        let mut out = Vec::new();
        let mut size = 0u64;
        for row in log
            .range(low..high)
            .map_err(Error::store("read raft_log"))?
        {
            let (_, v) = row.map_err(Error::store("read raft_log"))?;
            let bytes = v.value();
            size += bytes.len() as u64;
            // raft-rs's rule: at least one entry, then stop before exceeding the limit.
            if !out.is_empty() && max_size.is_some_and(|m| size > m) {
                break;
            }
            out.push(wire::decode_entry(bytes).map_err(|source| Error::Corrupt {
                what: "log entry",
                source,
            })?);
        }
        Ok(out)
    }
}

fn node_key(bytes: &[u8]) -> Result<PublicKey, crate::error::DecodeError> {
    let mut full = [0u8; 65];
    full[0] = 4;
    let tail = full
        .get_mut(1..)
        .filter(|_| bytes.len() == 64)
        .ok_or(crate::error::DecodeError::Truncated { what: "node key" })?;
    tail.copy_from_slice(bytes);
    PublicKey::from_slice(&full)
        .map_err(|_| crate::error::DecodeError::Truncated { what: "node key" })
}

fn to_raft(e: Error) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(e)))
}

impl Storage for RedbStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState::new(
            self.hard_state.clone(),
            self.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.snapshot.index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let out = self
            .read_entries(low, high, max_size.into())
            .map_err(to_raft)?;
        if out.is_empty() && low < high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.snapshot.index {
            return Ok(self.snapshot.term);
        }
        if idx < self.snapshot.index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last_index {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let e = self.read_entries(idx, idx + 1, None).map_err(to_raft)?;
        e.first()
            .map(|e| e.term)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snapshot.index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        if self.snapshot.index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut s = Snapshot {
            data: self.raw_snapshot_data().map_err(to_raft)?.into(),
            ..Snapshot::default()
        };
        s.set_metadata(self.snapshot.clone());
        Ok(s)
    }
}

#[cfg(test)]
mod tests;
