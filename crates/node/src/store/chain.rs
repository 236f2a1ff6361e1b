//! [`ChainStore`]: opening, inserting blocks and reading them back.

use std::path::{Path, PathBuf};

use alloy_primitives::{B256, U256};
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    WriteTransaction,
};

use super::tables::{
    BLOCKS, BODIES, CANONICAL, HEAD, HEADERS, POINTERS, RECEIPTS, TX_LOOKUP, TX_LOOKUP_BUILT,
    decode_info, decode_tx_location, encode_info, encode_tx_location,
};
use crate::error::{Error, Result};

/// The chain database of one node (`<datadir>/chain.redb`).
#[derive(Debug)]
pub struct ChainStore {
    db: Database,
    path: PathBuf,
}

/// A block to store: its raw RLP and the fields the index needs, decoded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct BlockRecord<'a> {
    /// Block number.
    pub number: u64,
    /// Block hash (keccak256 of `header_rlp`, or the engine's block hash for IBFT/QBFT).
    pub hash: B256,
    /// Parent hash; ignored for block 0.
    pub parent_hash: B256,
    /// Header difficulty (added to the parent's total difficulty).
    pub difficulty: U256,
    /// The header's RLP.
    pub header_rlp: &'a [u8],
    /// The body's RLP (transactions and ommers, as eth/68 `BlockBodies` carries it).
    pub body_rlp: &'a [u8],
}

/// The canonical head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Total difficulty up to and including this block.
    pub total_difficulty: U256,
}

/// What the store knows about a block besides its RLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Block number.
    pub number: u64,
    /// Parent hash.
    pub parent_hash: B256,
    /// Total difficulty up to and including this block.
    pub total_difficulty: U256,
}

impl ChainStore {
    /// Opens the store at `path`, creating it (and its tables) if absent.
    ///
    /// # Errors
    /// [`Error::Store`] if the file cannot be opened or created, e.g. another process holds it.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path).map_err(|e| store_error(path, "open", e))?;
        let store = Self {
            db,
            path: path.to_owned(),
        };
        let txn = store
            .db
            .begin_write()
            .map_err(|e| store.err("begin write", e))?;
        {
            // Creating the tables up front lets readers open them without special cases.
            txn.open_table(HEADERS)
                .map_err(|e| store.err("create tables", e))?;
            txn.open_table(BODIES)
                .map_err(|e| store.err("create tables", e))?;
            txn.open_table(BLOCKS)
                .map_err(|e| store.err("create tables", e))?;
            txn.open_table(CANONICAL)
                .map_err(|e| store.err("create tables", e))?;
            txn.open_table(POINTERS)
                .map_err(|e| store.err("create tables", e))?;
            txn.open_table(RECEIPTS)
                .map_err(|e| store.err("create tables", e))?;
            txn.open_table(TX_LOOKUP)
                .map_err(|e| store.err("create tables", e))?;
            cachet_state::WorldState::create_tables(&txn)?;
        }
        txn.commit().map_err(|e| store.err("commit", e))?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a block and, if `make_canonical`, makes it the head: the canonical index is
    /// rewritten back to the common ancestor and entries above the new head are removed.
    /// Everything commits in one durable transaction. Storing a block already present with
    /// the same contents is a no-op apart from `make_canonical`.
    ///
    /// Block 0 is the genesis; a store whose canonical block 0 differs rejects it.
    ///
    /// # Errors
    /// [`Error::UnknownParent`], [`Error::NumberMismatch`], [`Error::GenesisMismatch`],
    /// [`Error::ConflictingBlock`], or [`Error::Store`].
    pub fn insert_block(&self, block: &BlockRecord<'_>, make_canonical: bool) -> Result<()> {
        self.write(Durability::Immediate, |txn| {
            self.insert_block_in(txn, block, make_canonical)
        })
    }

    /// Runs `f` in one write transaction and commits it with `durability` (`Immediate`: on
    /// disk when this returns; `None`: made durable by the next `Immediate` commit, and lost
    /// whole, never torn, by a crash before it). An error from `f` aborts the transaction:
    /// nothing it wrote is kept.
    ///
    /// # Errors
    /// What `f` returns, or [`Error::Store`].
    pub fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&WriteTransaction) -> Result<T>,
    ) -> Result<T> {
        let txn = self.begin_write(durability)?;
        let value = f(&txn)?;
        self.commit(txn)?;
        Ok(value)
    }

    /// Runs `f` in a write transaction that is then aborted: nothing it writes is kept (the
    /// state root of a block being built is computed this way).
    ///
    /// # Errors
    /// What `f` returns, or [`Error::Store`].
    pub fn scratch<T>(&self, f: impl FnOnce(&WriteTransaction) -> Result<T>) -> Result<T> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| self.err("begin write", e))?;
        let value = f(&txn);
        txn.abort().map_err(|e| self.err("abort", e))?;
        value
    }

    /// Makes every commit so far durable (an empty `Immediate` commit ends an import segment).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn flush(&self) -> Result<()> {
        self.write(Durability::Immediate, |_| Ok(()))
    }

    /// A read transaction on the whole database (the chain and the world state).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        self.db.begin_read().map_err(|e| self.err("begin read", e))
    }

    /// [`Self::insert_block`] inside the caller's transaction `txn`.
    ///
    /// # Errors
    /// As [`Self::insert_block`].
    pub fn insert_block_in(
        &self,
        txn: &WriteTransaction,
        block: &BlockRecord<'_>,
        make_canonical: bool,
    ) -> Result<()> {
        {
            let mut headers = txn
                .open_table(HEADERS)
                .map_err(|e| self.err("open headers", e))?;
            let mut bodies = txn
                .open_table(BODIES)
                .map_err(|e| self.err("open bodies", e))?;
            let mut blocks = txn
                .open_table(BLOCKS)
                .map_err(|e| self.err("open blocks", e))?;
            let mut canonical = txn
                .open_table(CANONICAL)
                .map_err(|e| self.err("open canonical", e))?;
            let mut pointers = txn
                .open_table(POINTERS)
                .map_err(|e| self.err("open pointers", e))?;
            let key = block.hash.0;

            let parent_td = if block.number == 0 {
                if let Some(stored) = canonical.get(0).map_err(|e| self.err("read", e))? {
                    let stored = B256::from(*stored.value());
                    if stored != block.hash {
                        return Err(Error::GenesisMismatch {
                            stored,
                            given: block.hash,
                        });
                    }
                }
                U256::ZERO
            } else {
                let parent = blocks
                    .get(&block.parent_hash.0)
                    .map_err(|e| self.err("read", e))?
                    .map(|v| decode_info(v.value()))
                    .ok_or(Error::UnknownParent {
                        number: block.number,
                        hash: block.hash,
                        parent: block.parent_hash,
                    })?;
                if parent.0.checked_add(1) != Some(block.number) {
                    return Err(Error::NumberMismatch {
                        hash: block.hash,
                        number: block.number,
                        parent_number: parent.0,
                    });
                }
                parent.2
            };
            let parent_hash = if block.number == 0 {
                B256::ZERO
            } else {
                block.parent_hash
            };
            let td = parent_td.saturating_add(block.difficulty);
            let info = encode_info(block.number, parent_hash, td);

            let existing = blocks
                .get(&key)
                .map_err(|e| self.err("read", e))?
                .map(|v| *v.value());
            match existing {
                Some(stored) => {
                    let same_header = headers
                        .get(&key)
                        .map_err(|e| self.err("read", e))?
                        .is_some_and(|h| h.value() == block.header_rlp);
                    if stored != info || !same_header {
                        return Err(Error::ConflictingBlock { hash: block.hash });
                    }
                }
                None => {
                    headers
                        .insert(&key, block.header_rlp)
                        .map_err(|e| self.err("write", e))?;
                    bodies
                        .insert(&key, block.body_rlp)
                        .map_err(|e| self.err("write", e))?;
                    blocks
                        .insert(&key, &info)
                        .map_err(|e| self.err("write", e))?;
                }
            }

            if make_canonical {
                // Remove canonical entries above the new head (reorg to a shorter chain).
                let above: Vec<u64> = canonical
                    .range(block.number.saturating_add(1)..)
                    .map_err(|e| self.err("read", e))?
                    .map(|entry| entry.map(|(k, _)| k.value()))
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.err("read", e))?;
                for n in above {
                    canonical.remove(n).map_err(|e| self.err("write", e))?;
                }
                // Point the index at the new chain back to the common ancestor.
                let (mut number, mut hash) = (block.number, block.hash);
                loop {
                    let current = canonical.get(number).map_err(|e| self.err("read", e))?;
                    if current.map(|v| B256::from(*v.value())) == Some(hash) {
                        break;
                    }
                    canonical
                        .insert(number, &hash.0)
                        .map_err(|e| self.err("write", e))?;
                    if number == 0 {
                        break;
                    }
                    let info = blocks
                        .get(&hash.0)
                        .map_err(|e| self.err("read", e))?
                        .map(|v| decode_info(v.value()))
                        .ok_or_else(|| self.corrupt(format!("block {hash} has no index entry")))?;
                    (number, hash) = (number - 1, info.1);
                }
                pointers
                    .insert(HEAD, &block.hash.0)
                    .map_err(|e| self.err("write", e))?;
            }
        }
        Ok(())
    }

    /// Stores block `hash`'s receipts in `txn`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn put_receipts_in(
        &self,
        txn: &WriteTransaction,
        hash: &B256,
        receipts: &[u8],
    ) -> Result<()> {
        txn.open_table(RECEIPTS)
            .map_err(|e| self.err("open receipts", e))?
            .insert(&hash.0, receipts)
            .map_err(|e| self.err("write", e))?;
        Ok(())
    }

    /// Records that transactions `txs` (hashes, in body order) are in canonical block `block`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn put_tx_lookups_in(
        &self,
        txn: &WriteTransaction,
        block: &B256,
        txs: &[B256],
    ) -> Result<()> {
        let mut table = txn
            .open_table(TX_LOOKUP)
            .map_err(|e| self.err("open tx lookup", e))?;
        for (index, tx) in txs.iter().enumerate() {
            table
                .insert(&tx.0, &encode_tx_location(*block, index as u64))
                .map_err(|e| self.err("write", e))?;
        }
        Ok(())
    }

    /// The block and index last recorded for transaction `hash` (the caller checks the block is
    /// still canonical).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn tx_lookup(&self, hash: &B256) -> Result<Option<(B256, u64)>> {
        self.read_one(TX_LOOKUP, &hash.0, decode_tx_location)
    }

    /// Whether the transaction index covers the canonical chain (false for a store written
    /// before the index existed).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn tx_lookup_built(&self) -> Result<bool> {
        Ok(self.read_one(POINTERS, TX_LOOKUP_BUILT, |_| ())?.is_some())
    }

    /// Marks the transaction index as covering the canonical chain up to `head`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn mark_tx_lookup_built_in(&self, txn: &WriteTransaction, head: &B256) -> Result<()> {
        txn.open_table(POINTERS)
            .map_err(|e| self.err("open pointers", e))?
            .insert(TX_LOOKUP_BUILT, &head.0)
            .map_err(|e| self.err("write", e))?;
        Ok(())
    }

    /// A body's RLP as `txn` sees it (its own writes included).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn body_in(&self, txn: &WriteTransaction, hash: &B256) -> Result<Option<Vec<u8>>> {
        let bodies = txn
            .open_table(BODIES)
            .map_err(|e| self.err("open bodies", e))?;
        Ok(bodies
            .get(&hash.0)
            .map_err(|e| self.err("read", e))?
            .map(|v| v.value().to_vec()))
    }

    /// A block's stored receipts (encoded), `None` for a block stored before Cachet executed
    /// transactions or not stored at all.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn receipts_by_hash(&self, hash: &B256) -> Result<Option<Vec<u8>>> {
        self.read_one(RECEIPTS, &hash.0, <[u8]>::to_vec)
    }

    /// Every stored block's hash (canonical and side), for one-time migrations.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn block_hashes(&self) -> Result<Vec<B256>> {
        let txn = self.begin_read()?;
        let blocks = txn
            .open_table(BLOCKS)
            .map_err(|e| self.err("open blocks", e))?;
        let mut hashes = Vec::new();
        for entry in blocks.iter().map_err(|e| self.err("read", e))? {
            let (key, _) = entry.map_err(|e| self.err("read", e))?;
            hashes.push(B256::from(*key.value()));
        }
        Ok(hashes)
    }

    /// Stores the genesis block of `genesis` as block 0 and head of an empty store; on a
    /// store that already has it, checks it is the same. Returns the genesis hash.
    ///
    /// # Errors
    /// [`Error::GenesisMismatch`] if the store was created for another genesis, or
    /// [`Error::Store`].
    pub fn init_genesis(&self, genesis: &cachet_genesis::Genesis) -> Result<B256> {
        let header = genesis.header();
        let header_rlp = header.encode();
        let hash = alloy_primitives::keccak256(&header_rlp);
        let record = BlockRecord {
            number: 0,
            hash,
            parent_hash: B256::ZERO,
            difficulty: header.difficulty,
            header_rlp: &header_rlp,
            body_rlp: &cachet_genesis::genesis_body_rlp(&header),
        };
        // Only an empty store gets a head here: a restart must not move an existing head.
        let empty = self.head()?.is_none();
        self.insert_block(&record, empty)?;
        Ok(hash)
    }

    /// The canonical head, or `None` for an empty store.
    ///
    /// # Errors
    /// [`Error::Store`], or [`Error::Corrupt`] if the head names an unknown block.
    pub fn head(&self) -> Result<Option<Head>> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let pointers = txn
            .open_table(POINTERS)
            .map_err(|e| self.err("open pointers", e))?;
        let Some(hash) = pointers.get(HEAD).map_err(|e| self.err("read", e))? else {
            return Ok(None);
        };
        let hash = B256::from(*hash.value());
        let info = self
            .block_info(&hash)?
            .ok_or_else(|| self.corrupt(format!("head {hash} has no index entry")))?;
        Ok(Some(Head {
            number: info.number,
            hash,
            total_difficulty: info.total_difficulty,
        }))
    }

    /// The index entry of a stored block.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn block_info(&self, hash: &B256) -> Result<Option<BlockInfo>> {
        self.read_one(BLOCKS, &hash.0, |v| {
            let (number, parent_hash, total_difficulty) = decode_info(v);
            BlockInfo {
                number,
                parent_hash,
                total_difficulty,
            }
        })
    }

    /// Whether block `hash` is stored, as `txn` sees it (its own writes included).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn contains_in(&self, txn: &WriteTransaction, hash: &B256) -> Result<bool> {
        let blocks = txn
            .open_table(BLOCKS)
            .map_err(|e| self.err("open blocks", e))?;
        Ok(blocks
            .get(&hash.0)
            .map_err(|e| self.err("read", e))?
            .is_some())
    }

    /// The canonical block hash at `number` as `txn` sees it (its own writes included).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn canonical_hash_in(&self, txn: &WriteTransaction, number: u64) -> Result<Option<B256>> {
        let canonical = txn
            .open_table(CANONICAL)
            .map_err(|e| self.err("open canonical", e))?;
        Ok(canonical
            .get(number)
            .map_err(|e| self.err("read", e))?
            .map(|v| B256::from(*v.value())))
    }

    /// Begins a write transaction that commits with `durability` (an import segment).
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn begin_write(&self, durability: Durability) -> Result<WriteTransaction> {
        let mut txn = self
            .db
            .begin_write()
            .map_err(|e| self.err("begin write", e))?;
        txn.set_durability(durability)
            .map_err(|e| self.err("set durability", e))?;
        Ok(txn)
    }

    /// Commits a transaction from [`Self::begin_write`].
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn commit(&self, txn: WriteTransaction) -> Result<()> {
        txn.commit().map_err(|e| self.err("commit", e))
    }

    /// One value from `table` in its own read transaction, mapped while it is borrowed.
    fn read_one<'k, K, V, T>(
        &self,
        table: redb::TableDefinition<'_, K, V>,
        key: impl std::borrow::Borrow<K::SelfType<'k>>,
        map: impl FnOnce(V::SelfType<'_>) -> T,
    ) -> Result<Option<T>>
    where
        K: redb::Key + 'static,
        V: redb::Value + 'static,
    {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let t = txn
            .open_table(table)
            .map_err(|e| self.err("open table", e))?;
        let found = t.get(key).map_err(|e| self.err("read", e))?;
        Ok(found.map(|guard| map(guard.value())))
    }

    /// A header's RLP by block hash.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn header_by_hash(&self, hash: &B256) -> Result<Option<Vec<u8>>> {
        self.read_one(HEADERS, &hash.0, <[u8]>::to_vec)
    }

    /// The canonical header's RLP at `number`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn header_by_number(&self, number: u64) -> Result<Option<Vec<u8>>> {
        match self.canonical_hash(number)? {
            Some(hash) => self.header_by_hash(&hash),
            None => Ok(None),
        }
    }

    /// A body's RLP by block hash.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn body_by_hash(&self, hash: &B256) -> Result<Option<Vec<u8>>> {
        self.read_one(BODIES, &hash.0, <[u8]>::to_vec)
    }

    /// The canonical block hash at `number`.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub fn canonical_hash(&self, number: u64) -> Result<Option<B256>> {
        self.read_one(CANONICAL, number, |v| B256::from(*v))
    }

    /// Checks the store's invariants from one snapshot: the head's block is present; every
    /// canonical number 0..=head has a header, a body and an index entry with that number;
    /// each links to the previous by parent hash; nothing is canonical above the head.
    /// Returns the head (`None` for an empty store). Cost: one pass over the canonical chain.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming the first broken invariant, or [`Error::Store`].
    pub fn check(&self) -> Result<Option<Head>> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.err("begin read", e))?;
        let headers = txn
            .open_table(HEADERS)
            .map_err(|e| self.err("open headers", e))?;
        let bodies = txn
            .open_table(BODIES)
            .map_err(|e| self.err("open bodies", e))?;
        let blocks = txn
            .open_table(BLOCKS)
            .map_err(|e| self.err("open blocks", e))?;
        let canonical = txn
            .open_table(CANONICAL)
            .map_err(|e| self.err("open canonical", e))?;
        let pointers = txn
            .open_table(POINTERS)
            .map_err(|e| self.err("open pointers", e))?;
        let Some(head) = pointers.get(HEAD).map_err(|e| self.err("read", e))? else {
            let entries = canonical.len().map_err(|e| self.err("read", e))?;
            if entries != 0 {
                return Err(self.corrupt(format!("no head but {entries} canonical entries")));
            }
            return Ok(None);
        };
        let head_hash = B256::from(*head.value());
        let (head_number, _, head_td) = blocks
            .get(&head_hash.0)
            .map_err(|e| self.err("read", e))?
            .map(|v| decode_info(v.value()))
            .ok_or_else(|| self.corrupt(format!("head {head_hash} has no index entry")))?;
        let entries = canonical.len().map_err(|e| self.err("read", e))?;
        if entries != head_number.saturating_add(1) {
            return Err(self.corrupt(format!(
                "{entries} canonical entries for head number {head_number}"
            )));
        }
        let mut expected_parent = B256::ZERO;
        for number in 0..=head_number {
            let hash = canonical
                .get(number)
                .map_err(|e| self.err("read", e))?
                .map(|v| B256::from(*v.value()))
                .ok_or_else(|| self.corrupt(format!("no canonical block {number}")))?;
            let (stored_number, parent, _) = blocks
                .get(&hash.0)
                .map_err(|e| self.err("read", e))?
                .map(|v| decode_info(v.value()))
                .ok_or_else(|| {
                    self.corrupt(format!(
                        "canonical block {number} ({hash}) has no index entry"
                    ))
                })?;
            if stored_number != number || parent != expected_parent {
                return Err(self.corrupt(format!(
                    "canonical block {number} ({hash}) is indexed as number {stored_number} with parent {parent}"
                )));
            }
            if headers
                .get(&hash.0)
                .map_err(|e| self.err("read", e))?
                .is_none()
                || bodies
                    .get(&hash.0)
                    .map_err(|e| self.err("read", e))?
                    .is_none()
            {
                return Err(self.corrupt(format!(
                    "canonical block {number} ({hash}) lacks its header or body"
                )));
            }
            expected_parent = hash;
        }
        if expected_parent != head_hash {
            return Err(self.corrupt(format!(
                "canonical tip is {expected_parent}, head is {head_hash}"
            )));
        }
        Ok(Some(Head {
            number: head_number,
            hash: head_hash,
            total_difficulty: head_td,
        }))
    }

    fn err(&self, operation: &'static str, source: impl Into<redb::Error>) -> Error {
        store_error(&self.path, operation, source)
    }

    fn corrupt(&self, what: String) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            what,
        }
    }
}

fn store_error(path: &Path, operation: &'static str, source: impl Into<redb::Error>) -> Error {
    Error::Store {
        path: path.to_owned(),
        operation,
        source: Box::new(source.into()),
    }
}
