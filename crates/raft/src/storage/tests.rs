#![allow(
    clippy::field_reassign_with_default,
    reason = "raft-rs's protobuf structs are built field by field"
)]

use std::path::Path;

use raft::eraftpb::EntryType;
use secp256k1::{SECP256K1, SecretKey};

use super::*;

fn key(i: u8) -> PublicKey {
    PublicKey::from_secret_key(SECP256K1, &SecretKey::from_slice(&[i; 32]).unwrap())
}

fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
    let mut e = Entry::default();
    e.set_entry_type(EntryType::EntryNormal);
    e.index = index;
    e.term = term;
    e.data = bytes::Bytes::copy_from_slice(data);
    e
}

fn open(path: &Path) -> RedbStorage {
    let db = Arc::new(Database::create(path).unwrap());
    RedbStorage::open(db).unwrap()
}

fn founded(path: &Path) -> RedbStorage {
    let mut s = open(path);
    s.initialize(&[(1, key(1)), (2, key(2)), (3, key(3))], b"genesis")
        .unwrap();
    s
}

fn hs(term: u64, vote: u64, commit: u64) -> HardState {
    let mut h = HardState::default();
    h.term = term;
    h.vote = vote;
    h.commit = commit;
    h
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

#[test]
fn initializes_a_cluster_at_index_1_term_1() {
    let dir = tempfile::tempdir().unwrap();
    let s = founded(&dir.path().join("raft.redb"));
    assert_eq!(s.first_index().unwrap(), 2);
    assert_eq!(s.last_index().unwrap(), 1);
    assert_eq!(s.term(1).unwrap(), 1);
    assert_eq!(s.conf_state().voters, vec![1, 2, 3]);
    assert_eq!(s.hard_state().commit, 1);
    assert_eq!(s.applied(), 1);
    assert_eq!(s.snapshot_data().unwrap(), b"genesis");
    // What a joining member receives carries the founders' keys.
    let carried = snapshot::decode(&s.snapshot(0, 2).unwrap().data).unwrap();
    assert_eq!(carried.keys, vec![(1, key(1)), (2, key(2)), (3, key(3))]);
    assert_eq!(s.members().key(2), Some(&key(2)));
    let mut again = s;
    assert!(matches!(
        again.initialize(&[(1, key(1))], b""),
        Err(Error::AlreadyInitialized)
    ));
}

#[test]
fn reopens_with_everything_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft.redb");
    {
        let mut s = founded(&path);
        s.write(Batch {
            entries: vec![entry(2, 2, b"a"), entry(3, 2, b"b"), entry(4, 3, b"c")],
            hard_state: Some(hs(3, 2, 3)),
            term_leaders: vec![(2, 2), (3, 1)],
            ..Batch::default()
        })
        .unwrap();
        s.write(Batch {
            applied: Some(3),
            commit: Some(4),
            ..Batch::default()
        })
        .unwrap();
    }
    let s = open(&path);
    assert_eq!(s.last_index().unwrap(), 4);
    assert_eq!(s.hard_state(), &hs(3, 2, 4));
    assert_eq!(s.applied(), 3);
    assert_eq!(s.term(3).unwrap(), 2);
    assert_eq!(s.term_leader(2), Some(2));
    assert_eq!(s.term_leader(3), Some(1));
    assert_eq!(s.term_leader(4), None);
    let es = s.entries(2, 5, None, ctx()).unwrap();
    assert_eq!(
        es.iter().map(|e| e.data.to_vec()).collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(s.conf_state().voters, vec![1, 2, 3]);
    assert_eq!(s.members().key(3), Some(&key(3)));
}

#[test]
fn replaces_conflicting_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = founded(&dir.path().join("raft.redb"));
    s.write(Batch {
        entries: vec![entry(2, 2, b"a"), entry(3, 2, b"b"), entry(4, 2, b"c")],
        ..Batch::default()
    })
    .unwrap();
    // A new leader's entry at 3 cuts the old 3 and 4.
    s.write(Batch {
        entries: vec![entry(3, 3, b"x")],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(s.last_index().unwrap(), 3);
    assert_eq!(s.term(3).unwrap(), 3);
    assert!(matches!(
        s.term(4),
        Err(raft::Error::Store(StorageError::Unavailable))
    ));
}

#[test]
fn compacts_to_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft.redb");
    {
        let mut s = founded(&path);
        let es: Vec<Entry> = (2..=10).map(|i| entry(i, 2, &[i as u8])).collect();
        s.write(Batch {
            entries: es,
            hard_state: Some(hs(2, 1, 10)),
            applied: Some(8),
            ..Batch::default()
        })
        .unwrap();
        // Above the applied index: refused.
        assert!(matches!(
            s.compact(9, b"x"),
            Err(Error::CompactBeyondApplied {
                index: 9,
                applied: 8
            })
        ));
        s.compact(6, b"head at 6").unwrap();
        assert_eq!(s.first_index().unwrap(), 7);
        assert_eq!(s.term(6).unwrap(), 2);
        assert!(matches!(
            s.entries(5, 8, None, ctx()),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
        assert!(matches!(
            s.term(5),
            Err(raft::Error::Store(StorageError::Compacted))
        ));
    }
    let s = open(&path);
    assert_eq!(s.first_index().unwrap(), 7);
    assert_eq!(s.last_index().unwrap(), 10);
    let snap = s.snapshot(0, 2).unwrap();
    assert_eq!(snap.get_metadata().index, 6);
    assert_eq!(snap.get_metadata().term, 2);
    assert_eq!(snap.get_metadata().get_conf_state().voters, vec![1, 2, 3]);
    assert_eq!(s.snapshot_data().unwrap(), b"head at 6");
    assert_eq!(snapshot::decode(&snap.data).unwrap().app, b"head at 6");
    assert_eq!(s.entries(7, 11, None, ctx()).unwrap().len(), 4);
    // The size limit still returns one entry, then stops.
    assert_eq!(s.entries(7, 11, Some(0), ctx()).unwrap().len(), 1);
    // A snapshot newer than the stored one is not available yet.
    assert!(matches!(
        s.snapshot(7, 2),
        Err(raft::Error::Store(
            StorageError::SnapshotTemporarilyUnavailable
        ))
    ));
}

#[test]
fn a_received_snapshot_replaces_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = founded(&dir.path().join("raft.redb"));
    s.write(Batch {
        entries: vec![entry(2, 2, b"a"), entry(3, 2, b"b")],
        ..Batch::default()
    })
    .unwrap();
    let mut meta = SnapshotMetadata {
        index: 20,
        term: 4,
        ..SnapshotMetadata::default()
    };
    meta.set_conf_state(ConfState::from((vec![1, 2, 3, 4], Vec::<u64>::new())));
    let keys: std::collections::BTreeMap<u64, PublicKey> =
        (1..=4).map(|i| (i, key(i as u8))).collect();
    let leader_members = Members::new(keys, [1, 3, 4], [], [2]);
    let mut snap = Snapshot {
        data: snapshot::encode(&leader_members, b"leader head").into(),
        ..Snapshot::default()
    };
    snap.set_metadata(meta);
    s.write(Batch {
        snapshot: Some(snap),
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(s.first_index().unwrap(), 21);
    assert_eq!(s.last_index().unwrap(), 20);
    assert_eq!(s.hard_state().commit, 20);
    assert_eq!(s.hard_state().term, 4);
    assert_eq!(s.applied(), 20);
    assert_eq!(s.conf_state().voters, vec![1, 2, 3, 4]);
    assert_eq!(s.snapshot_data().unwrap(), b"leader head");
    // The keys and tombstones came with it.
    assert_eq!(s.members().key(4), Some(&key(4)));
    assert!(s.members().removed().contains(&2));
    assert!(s.entries(21, 21, None, ctx()).unwrap().is_empty());
}

#[test]
fn a_torn_restart_restores_the_last_committed_ready() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft.redb");
    let image = dir.path().join("crash-image.redb");
    let db = Arc::new(Database::create(&path).unwrap());
    let mut s = RedbStorage::open(db.clone()).unwrap();
    s.initialize(&[(1, key(1)), (2, key(2)), (3, key(3))], b"g")
        .unwrap();
    s.write(Batch {
        entries: vec![entry(2, 2, b"durable")],
        hard_state: Some(hs(2, 1, 2)),
        ..Batch::default()
    })
    .unwrap();
    // A Ready committed without fsync, then a write transaction cut off half-way: what is on
    // disk at that moment is what a crash leaves.
    s.set_durability_for_tests(false);
    s.write(Batch {
        entries: vec![entry(3, 2, b"not synced"), entry(4, 2, b"not synced")],
        hard_state: Some(hs(2, 1, 4)),
        ..Batch::default()
    })
    .unwrap();
    {
        let tx = db.begin_write().unwrap();
        {
            let mut log = tx.open_table(LOG).unwrap();
            log.insert(5, [0xffu8; 7].as_slice()).unwrap();
        }
        std::fs::copy(&path, &image).unwrap();
        // Dropped without commit: aborted.
        drop(tx);
    }
    drop(s);
    drop(db);
    let s = open(&image);
    // Either the durable Ready alone or with the unsynced one, never part of one and never
    // the aborted transaction.
    let last = s.last_index().unwrap();
    assert!(last == 2 || last == 4, "last index {last}");
    assert_eq!(s.hard_state().commit, last);
    let es = s.entries(2, last + 1, None, ctx()).unwrap();
    assert_eq!(es.len() as u64, last - 1);
    assert_eq!(es[0].data.as_ref(), b"durable");
    // The live file after a clean close holds everything committed, nothing aborted.
    let s = open(&path);
    assert_eq!(s.last_index().unwrap(), 4);
    assert_eq!(s.hard_state().commit, 4);
}

#[test]
fn reports_a_corrupt_stored_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raft.redb");
    {
        let db = Arc::new(Database::create(&path).unwrap());
        drop(RedbStorage::open(db.clone()).unwrap());
        let tx = db.begin_write().unwrap();
        {
            let mut m = tx.open_table(META).unwrap();
            m.insert(HARD_STATE, [0x08u8, 0x00].as_slice()).unwrap();
        }
        tx.commit().unwrap();
    }
    let db = Arc::new(Database::open(&path).unwrap());
    let err = RedbStorage::open(db).unwrap_err();
    assert_eq!(
        err.to_string(),
        "raft store: hard state is corrupt: restore the data directory or rejoin the cluster"
    );
}
