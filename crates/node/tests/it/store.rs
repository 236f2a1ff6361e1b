//! Chain store behaviour: insert, canonical index, reorgs, errors.

use alloy_primitives::{B256, U256, keccak256};
use cachet_node::Error;
use cachet_node::store::{BlockRecord, ChainStore};

struct Chain {
    _dir: tempfile::TempDir,
    store: ChainStore,
}

fn open() -> Chain {
    let dir = tempfile::tempdir().unwrap();
    let store = ChainStore::open(&dir.path().join("chain.redb")).unwrap();
    Chain { _dir: dir, store }
}

fn header(number: u64, parent: B256, tag: u8) -> Vec<u8> {
    let mut h = number.to_be_bytes().to_vec();
    h.extend_from_slice(parent.as_slice());
    h.push(tag);
    h
}

/// Inserts a block whose hash is keccak256 of its stand-in header; returns the hash.
fn put(store: &ChainStore, number: u64, parent: B256, tag: u8, canonical: bool) -> B256 {
    let h = header(number, parent, tag);
    let hash = keccak256(&h);
    store
        .insert_block(
            &BlockRecord {
                number,
                hash,
                parent_hash: parent,
                difficulty: U256::from(tag as u64 + 1),
                header_rlp: &h,
                body_rlp: &[0xc2, 0xc0, 0xc0],
            },
            canonical,
        )
        .unwrap();
    hash
}

#[test]
fn accepts_a_linear_chain_and_reads_it_back() {
    let c = open();
    assert_eq!(c.store.head().unwrap(), None);
    assert_eq!(c.store.check().unwrap(), None);
    let mut parent = put(&c.store, 0, B256::ZERO, 0, true);
    let genesis = parent;
    for n in 1..=10 {
        parent = put(&c.store, n, parent, 0, true);
    }
    let head = c.store.head().unwrap().unwrap();
    assert_eq!(
        (head.number, head.hash, head.total_difficulty),
        (10, parent, U256::from(11))
    );
    assert_eq!(c.store.canonical_hash(0).unwrap(), Some(genesis));
    assert_eq!(
        c.store.header_by_number(10).unwrap(),
        Some(header(
            10,
            c.store.block_info(&parent).unwrap().unwrap().parent_hash,
            0
        ))
    );
    assert_eq!(
        c.store.body_by_hash(&parent).unwrap(),
        Some(vec![0xc2, 0xc0, 0xc0])
    );
    assert_eq!(c.store.header_by_number(11).unwrap(), None);
    assert_eq!(c.store.check().unwrap(), Some(head));
}

#[test]
fn accepts_reorg_to_a_side_chain_and_to_a_shorter_one() {
    let c = open();
    let g = put(&c.store, 0, B256::ZERO, 0, true);
    let a1 = put(&c.store, 1, g, 0, true);
    let a2 = put(&c.store, 2, a1, 0, true);
    let a3 = put(&c.store, 3, a2, 0, true);
    // A side branch stored without becoming canonical.
    let b2 = put(&c.store, 2, a1, 1, false);
    assert_eq!(c.store.canonical_hash(2).unwrap(), Some(a2));
    assert!(c.store.header_by_hash(&b2).unwrap().is_some());
    // Making the shorter branch canonical drops block 3 from the index.
    c.store
        .insert_block(
            &BlockRecord {
                number: 2,
                hash: b2,
                parent_hash: a1,
                difficulty: U256::from(2),
                header_rlp: &header(2, a1, 1),
                body_rlp: &[0xc2, 0xc0, 0xc0],
            },
            true,
        )
        .unwrap();
    assert_eq!(c.store.canonical_hash(2).unwrap(), Some(b2));
    assert_eq!(c.store.canonical_hash(3).unwrap(), None);
    assert_eq!(c.store.head().unwrap().unwrap().hash, b2);
    // Back to the longer branch: the index is rewritten down to the common ancestor.
    let a4 = put(&c.store, 4, a3, 0, true);
    assert_eq!(c.store.canonical_hash(2).unwrap(), Some(a2));
    assert_eq!(c.store.check().unwrap().unwrap().hash, a4);
}

#[test]
fn rejects_unknown_parent_wrong_number_and_other_genesis() {
    let c = open();
    let g = put(&c.store, 0, B256::ZERO, 0, true);
    let h = header(2, g, 0);
    let record = BlockRecord {
        number: 2,
        hash: keccak256(&h),
        parent_hash: g,
        difficulty: U256::from(1),
        header_rlp: &h,
        body_rlp: &[],
    };
    assert!(matches!(
        c.store.insert_block(&record, true),
        Err(Error::NumberMismatch {
            number: 2,
            parent_number: 0,
            ..
        })
    ));
    let orphan = BlockRecord {
        number: 1,
        parent_hash: B256::repeat_byte(9),
        ..record
    };
    assert!(matches!(
        c.store.insert_block(&orphan, true),
        Err(Error::UnknownParent { .. })
    ));
    let other = header(0, B256::ZERO, 7);
    let other_genesis = BlockRecord {
        number: 0,
        hash: keccak256(&other),
        parent_hash: B256::ZERO,
        difficulty: U256::from(1),
        header_rlp: &other,
        body_rlp: &[],
    };
    assert!(matches!(
        c.store.insert_block(&other_genesis, true),
        Err(Error::GenesisMismatch { .. })
    ));
    // Same hash, other header: a caller bug, refused.
    let conflicting = BlockRecord {
        hash: g,
        ..other_genesis
    };
    assert!(matches!(
        c.store.insert_block(&conflicting, true),
        Err(Error::ConflictingBlock { .. })
    ));
    // Nothing of the failed inserts was committed.
    assert_eq!(c.store.check().unwrap().unwrap().number, 0);
}

#[test]
fn accepts_reinsert_of_the_same_block_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let g;
    {
        let store = ChainStore::open(&path).unwrap();
        g = put(&store, 0, B256::ZERO, 0, true);
        put(&store, 0, B256::ZERO, 0, true);
        put(&store, 1, g, 0, true);
    }
    let store = ChainStore::open(&path).unwrap();
    assert_eq!(store.check().unwrap().unwrap().number, 1);
    assert_eq!(store.canonical_hash(0).unwrap(), Some(g));
}

#[test]
fn rejects_a_second_open_of_the_same_file() {
    let c = open();
    let err = ChainStore::open(c.store.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Store {
                operation: "open",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn error_messages_say_what_to_check() {
    let h = B256::repeat_byte(1);
    let p = B256::repeat_byte(2);
    let cases: Vec<(Error, String)> = vec![
        (Error::UnknownParent { number: 5, hash: h, parent: p }, format!("block 5 ({h}) has unknown parent {p}: import its ancestors first")),
        (Error::NumberMismatch { hash: h, number: 5, parent_number: 7 }, format!("block {h} claims number 5 but its parent is block 7: the block is invalid")),
        (Error::GenesisMismatch { stored: h, given: p }, format!("chain database holds genesis {h}, not {p}: this datadir belongs to another chain; use a fresh datadir or the right genesis file")),
        (Error::ConflictingBlock { hash: h }, format!("block {h} is already stored with a different header, body or number: the caller computed the hash wrongly (this is a bug in cachet)")),
        (Error::Corrupt { path: "/d/chain.redb".into(), what: "no canonical block 3".into() }, "chain database /d/chain.redb is inconsistent: no canonical block 3; restore the datadir from a backup or resync".into()),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
    let c = open();
    let err = ChainStore::open(c.store.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "chain database {}: open failed: check the disk, its free space and that no other cachet process uses this datadir",
            c.store.path().display()
        )
    );
}

#[test]
fn accepts_genesis_once_and_rejects_another_chain() {
    use cachet_genesis::{Genesis, RaftMarker};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/genesis");
    let goerli = Genesis::from_file(&root.join("goerli.json"), RaftMarker::FromGenesis).unwrap();
    let rinkeby = Genesis::from_file(&root.join("rinkeby.json"), RaftMarker::FromGenesis).unwrap();
    let c = open();
    let hash = c.store.init_genesis(&goerli).unwrap();
    assert_eq!(hash, goerli.hash());
    let head = c.store.check().unwrap().unwrap();
    assert_eq!(
        (head.number, head.hash, head.total_difficulty),
        (0, hash, U256::from(1))
    );
    assert_eq!(
        c.store.header_by_number(0).unwrap(),
        Some(goerli.header().encode())
    );
    // A child moves the head; init_genesis again (a restart) leaves it there.
    let child = put(&c.store, 1, hash, 0, true);
    assert_eq!(c.store.init_genesis(&goerli).unwrap(), hash);
    assert_eq!(c.store.head().unwrap().unwrap().hash, child);
    assert!(matches!(
        c.store.init_genesis(&rinkeby),
        Err(Error::GenesisMismatch { .. })
    ));
}
