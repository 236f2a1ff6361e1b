//! [`WorldState`]: the state's functions over the node's redb transactions.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount, root};
use redb::{
    Key, ReadTransaction, ReadableTable, TableDefinition, TableError, TableHandle, Value,
    WriteTransaction,
};

use crate::{
    AccountChange, AccountInfo, ChangeSet, SlotChange, StateError, StateView,
    changes::{StoredAccount, StoredChanges},
    tables::{
        ACCOUNTS, CHANGES, CODE, GENESIS, KECCAK_TRIE, META, PREIMAGES, ROW_LEN, Row, STORAGE,
        TRIE, TRIE_ROOT, corrupt, slot_key, slot_of, slot_range, store_err,
    },
    trie::{NewNodes, NodeSource, Trie, storage_range},
};

/// The world state: functions over the node's redb transactions (the node owns them, so a
/// block's state, its change set and the head commit together).
///
/// `docs/dev/state.md` describes the tables, the trie and what each function costs.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorldState;

impl WorldState {
    /// Creates the state tables (called once in the node's open transaction).
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails.
    ///
    /// A datadir written before decision 430 (trie nodes keyed by keccak256, every version
    /// kept) is converted here: the path-keyed trie is built from the flat state (the head's,
    /// O(state) time and memory) and the old node and preimage tables are deleted. The change
    /// sets stay as they are, so reorgs and reads at older blocks keep working; the node
    /// checks at open that the converted trie's root is the head's state root.
    pub fn create_tables(txn: &WriteTransaction) -> Result<(), StateError> {
        let old_layout = txn
            .list_tables()
            .map_err(store_err("list state tables"))?
            .any(|table| table.name() == KECCAK_TRIE);
        create(txn, ACCOUNTS)?;
        create(txn, STORAGE)?;
        create(txn, CODE)?;
        create(txn, TRIE)?;
        create(txn, CHANGES)?;
        create(txn, META)?;
        if old_layout {
            convert_keccak_layout(txn)?;
        }
        Ok(())
    }

    /// The root of the stored trie: the state root of the block the flat state is at (the
    /// canonical head), which the node checks at open.
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails.
    pub fn trie_root(txn: &ReadTransaction) -> Result<B256, StateError> {
        let meta = txn.open_table(META).map_err(store_err("open state meta"))?;
        read_trie_root(&meta)
    }

    /// Loads genesis `alloc` into an empty state (flat tables and trie nodes) and returns the
    /// state root, which the node compares with `Genesis::state_root()` (computed
    /// independently by cachet-genesis with alloy-trie's `HashBuilder`).
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails.
    pub fn load_genesis(
        txn: &WriteTransaction,
        alloc: &BTreeMap<Address, cachet_genesis::GenesisAccount>,
    ) -> Result<B256, StateError> {
        let mut changes = ChangeSet::default();
        for (address, account) in alloc {
            let code_hash = if account.code.is_empty() {
                KECCAK_EMPTY
            } else {
                let hash = keccak256(&account.code);
                changes.codes.insert(hash, account.code.clone());
                hash
            };
            let storage = account
                .storage
                .iter()
                .map(|(slot, value)| (U256::from_be_bytes(slot.0), U256::from_be_bytes(value.0)))
                .filter(|(_, value)| !value.is_zero())
                .map(|(slot, after)| {
                    let change = SlotChange {
                        before: U256::ZERO,
                        after,
                    };
                    (slot, change)
                })
                .collect();
            let info = AccountInfo {
                nonce: account.nonce,
                balance: account.balance,
                code_hash,
            };
            changes.accounts.insert(
                *address,
                AccountChange {
                    before: None,
                    after: Some(info),
                    wiped: false,
                    storage,
                },
            );
        }
        let (root, storage_roots) = commit(txn, EMPTY_ROOT_HASH, &changes, None)?;
        let mut accounts = txn
            .open_table(ACCOUNTS)
            .map_err(store_err("open state accounts"))?;
        let mut storage = txn
            .open_table(STORAGE)
            .map_err(store_err("open state storage"))?;
        for (address, change) in &changes.accounts {
            let Some(info) = change.after else { continue };
            let storage_root = storage_roots
                .get(address)
                .copied()
                .unwrap_or(EMPTY_ROOT_HASH);
            accounts
                .insert(&address.0.0, &Row::new(info, storage_root).encode())
                .map_err(store_err("write state account"))?;
            for (slot, value) in &change.storage {
                storage
                    .insert(&slot_key(address, slot), &value.after.to_be_bytes::<32>())
                    .map_err(store_err("write state storage"))?;
            }
        }
        let mut meta = txn.open_table(META).map_err(store_err("open state meta"))?;
        meta.insert(GENESIS, root.as_slice())
            .map_err(store_err("write state meta"))?;
        Ok(root)
    }

    /// True when the state tables hold a genesis already (restart).
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails.
    pub fn is_initialised(txn: &ReadTransaction) -> Result<bool, StateError> {
        let meta = match txn.open_table(META) {
            Ok(meta) => meta,
            Err(TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(store_err("open state meta")(e)),
        };
        Ok(meta
            .get(GENESIS)
            .map_err(store_err("read state meta"))?
            .is_some())
    }

    /// The flat state: the post-state of the canonical head (one table read per query).
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails.
    pub fn latest(txn: &ReadTransaction) -> Result<impl StateView + '_, StateError> {
        Ok(FlatState {
            accounts: txn
                .open_table(ACCOUNTS)
                .map_err(store_err("open state accounts"))?,
            storage: txn
                .open_table(STORAGE)
                .map_err(store_err("open state storage"))?,
            code: txn.open_table(CODE).map_err(store_err("open state code"))?,
        })
    }

    /// [`Self::latest`] inside a write transaction (it sees the transaction's own writes).
    /// Drop the view before writing the state in `txn`: redb opens a table once at a time.
    ///
    /// # Errors
    /// [`StateError::Store`] when a table cannot be opened.
    pub fn latest_in(txn: &WriteTransaction) -> Result<impl StateView + '_, StateError> {
        Ok(FlatState {
            accounts: txn
                .open_table(ACCOUNTS)
                .map_err(store_err("open state accounts"))?,
            storage: txn
                .open_table(STORAGE)
                .map_err(store_err("open state storage"))?,
            code: txn.open_table(CODE).map_err(store_err("open state code"))?,
        })
    }

    /// The state after another stored block, read from the flat state (the head's) moved by
    /// stored change sets without writing anything: `back` are the blocks to revert, newest
    /// first (from the head down to the common ancestor), `forward` the blocks to apply,
    /// oldest first (up to the block). The cost grows with the changes along the route, so the
    /// node bounds it (the history window, decision 431).
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when a change set on the route is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn at_route<'t>(
        txn: &'t ReadTransaction,
        back: &[B256],
        forward: &[B256],
    ) -> Result<impl StateView + 't, StateError> {
        let flat = Self::latest_flat(txn)?;
        let changes = txn
            .open_table(CHANGES)
            .map_err(store_err("open state changes"))?;
        let mut layered = Layered::new(flat);
        for block in back {
            revert_stored(&mut layered, &read_changes(&changes, block)?)?;
        }
        for block in forward {
            apply_stored(&mut layered, &read_changes(&changes, block)?)?;
        }
        Ok(layered)
    }

    fn latest_flat(txn: &ReadTransaction) -> Result<ReadFlat, StateError> {
        Ok(FlatState {
            accounts: txn
                .open_table(ACCOUNTS)
                .map_err(store_err("open state accounts"))?,
            storage: txn
                .open_table(STORAGE)
                .map_err(store_err("open state storage"))?,
            code: txn.open_table(CODE).map_err(store_err("open state code"))?,
        })
    }

    /// Moves the stored trie along a route of stored blocks (as [`Self::at_route`]: `back`
    /// reverted newest first, then `forward` applied oldest first) and returns its new root.
    /// A side chain's state root is computed by moving the trie in a transaction that is then
    /// dropped; a reorg moves it in the transaction that moves the head.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when a change set is missing or a node on a changed path is
    /// missing or damaged; [`StateError::Store`] when the database fails.
    pub fn move_trie(
        txn: &WriteTransaction,
        back: &[B256],
        forward: &[B256],
    ) -> Result<B256, StateError> {
        let mut root = current_trie_root(txn)?;
        for block in back {
            let inverse = inverse(&stored_changes(txn, block)?);
            root = commit(txn, root, &inverse, None)?.0;
        }
        for block in forward {
            let stored = stored_changes(txn, block)?;
            let changes = ChangeSet {
                accounts: stored
                    .accounts
                    .into_iter()
                    .map(|(address, account)| (address, account.change))
                    .collect(),
                codes: BTreeMap::new(),
            };
            root = commit(txn, root, &changes, None)?.0;
        }
        Ok(root)
    }

    /// Moves the stored trie, which must be at `parent_root`, by `changes`, writes
    /// `changes.codes`, and returns the new root. Loads only the nodes on the changed paths:
    /// the cost grows with the size of `changes` times the trie depth, not with the state.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when the stored trie is not at `parent_root` (move it first,
    /// [`Self::move_trie`]) or a node on a changed path is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn commit_trie(
        txn: &WriteTransaction,
        parent_root: B256,
        changes: &ChangeSet,
    ) -> Result<B256, StateError> {
        Ok(commit(txn, parent_root, changes, None)?.0)
    }

    /// [`Self::commit_trie`] that writes nothing unless the new root is `expected` (a block's
    /// stated root): a block with a wrong root leaves the trie at its parent. Returns the
    /// computed root either way.
    ///
    /// # Errors
    /// As [`Self::commit_trie`].
    pub fn commit_trie_expecting(
        txn: &WriteTransaction,
        parent_root: B256,
        changes: &ChangeSet,
        expected: B256,
    ) -> Result<B256, StateError> {
        Ok(commit(txn, parent_root, changes, Some(expected))?.0)
    }

    /// Stores `changes` as block `block_hash`'s reversible change set, with each account's
    /// storage roots and, for an account whose storage was wiped or which was deleted, every
    /// slot it had before the block, so a revert restores them. The parent's state is the flat
    /// state moved along `route` (`(back, forward)` as in [`Self::at_route`]; both empty when
    /// the flat state is at the parent).
    ///
    /// Call it after [`WorldState::commit_trie`] for the same changes: it then finds the new
    /// storage roots computed there instead of hashing the storage again.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when a change set on the route is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn store_changes(
        txn: &WriteTransaction,
        block_hash: B256,
        route: (&[B256], &[B256]),
        changes: &ChangeSet,
    ) -> Result<(), StateError> {
        let stored = {
            let flat = FlatState {
                accounts: txn
                    .open_table(ACCOUNTS)
                    .map_err(store_err("open state accounts"))?,
                storage: txn
                    .open_table(STORAGE)
                    .map_err(store_err("open state storage"))?,
                code: (),
            };
            let table = txn
                .open_table(CHANGES)
                .map_err(store_err("open state changes"))?;
            let mut parent = Layered::new(flat);
            for block in route.0 {
                revert_stored(&mut parent, &read_changes(&table, block)?)?;
            }
            for block in route.1 {
                apply_stored(&mut parent, &read_changes(&table, block)?)?;
            }
            reversible(&parent, changes)?
        };
        let mut table = txn
            .open_table(CHANGES)
            .map_err(store_err("open state changes"))?;
        table
            .insert(&block_hash.0, stored.encode().as_slice())
            .map_err(store_err("write state change set"))?;
        Ok(())
    }

    /// Moves the flat state forward by block `block_hash`'s stored change set (the flat state
    /// must be at its parent).
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when the change set is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn apply_flat(txn: &WriteTransaction, block_hash: B256) -> Result<(), StateError> {
        let stored = stored_changes(txn, &block_hash)?;
        apply_stored(&mut FlatWriter::open(txn)?, &stored)
    }

    /// Moves the flat state back by block `block_hash`'s stored change set (the flat state must
    /// be at `block_hash`).
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when the change set is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn revert_flat(txn: &WriteTransaction, block_hash: B256) -> Result<(), StateError> {
        let stored = stored_changes(txn, &block_hash)?;
        revert_stored(&mut FlatWriter::open(txn)?, &stored)
    }

    /// The root recomputed from the flat state alone, from scratch with alloy-trie's
    /// `HashBuilder` (crash checks, tests; O(state)).
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails.
    pub fn root_from_flat(txn: &ReadTransaction) -> Result<B256, StateError> {
        let accounts = txn
            .open_table(ACCOUNTS)
            .map_err(store_err("open state accounts"))?;
        let storage = txn
            .open_table(STORAGE)
            .map_err(store_err("open state storage"))?;
        let mut state = Vec::new();
        for entry in accounts.iter().map_err(store_err("read state accounts"))? {
            let (address, row) = entry.map_err(store_err("read state accounts"))?;
            let address = Address::from(*address.value());
            let row = Row::decode(row.value());
            let (first, last) = slot_range(&address);
            let mut slots = Vec::new();
            for slot in storage
                .range::<&[u8; 52]>(&first..=&last)
                .map_err(store_err("read state storage"))?
            {
                let (key, value) = slot.map_err(store_err("read state storage"))?;
                let slot = slot_of(key.value());
                slots.push((B256::from(slot), U256::from_be_bytes(*value.value())));
            }
            let storage_root = root::storage_root_unhashed(slots);
            let info = row.info;
            let account = TrieAccount::new(info.nonce, info.balance, storage_root, info.code_hash);
            state.push((address, account));
        }
        Ok(root::state_root_unhashed(state))
    }
}

/// The flat tables of a read transaction.
type ReadFlat = FlatState<
    redb::ReadOnlyTable<&'static [u8; 20], &'static [u8; ROW_LEN]>,
    redb::ReadOnlyTable<&'static [u8; 52], &'static [u8; 32]>,
    redb::ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
>;

/// The flat tables as a [`StateView`] (tables of a read or of a write transaction).
struct FlatState<A, S, C> {
    accounts: A,
    storage: S,
    code: C,
}

/// Reads of a flat state (the stored one, or one moved in memory by change sets).
trait FlatRead {
    /// The account's row, `None` when absent.
    fn row(&self, address: &Address) -> Result<Option<Row>, StateError>;
    /// One slot (zero when absent).
    fn slot(&self, address: &Address, slot: &U256) -> Result<U256, StateError>;
    /// Every non-zero slot of the account, in slot order.
    fn slots(&self, address: &Address) -> Result<BTreeMap<U256, U256>, StateError>;
}

impl<A, S, C> FlatRead for FlatState<A, S, C>
where
    A: ReadableTable<&'static [u8; 20], &'static [u8; ROW_LEN]>,
    S: ReadableTable<&'static [u8; 52], &'static [u8; 32]>,
{
    fn row(&self, address: &Address) -> Result<Option<Row>, StateError> {
        Ok(self
            .accounts
            .get(&address.0.0)
            .map_err(store_err("read state account"))?
            .map(|row| Row::decode(row.value())))
    }

    fn slot(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self
            .storage
            .get(&slot_key(address, slot))
            .map_err(store_err("read state storage"))?
            .map_or(U256::ZERO, |value| U256::from_be_bytes(*value.value())))
    }

    fn slots(&self, address: &Address) -> Result<BTreeMap<U256, U256>, StateError> {
        let (first, last) = slot_range(address);
        let mut slots = BTreeMap::new();
        for entry in self
            .storage
            .range::<&[u8; 52]>(&first..=&last)
            .map_err(store_err("read state storage"))?
        {
            let (key, value) = entry.map_err(store_err("read state storage"))?;
            slots.insert(slot_of(key.value()), U256::from_be_bytes(*value.value()));
        }
        Ok(slots)
    }
}

impl<A, S, C> StateView for FlatState<A, S, C>
where
    A: ReadableTable<&'static [u8; 20], &'static [u8; ROW_LEN]>,
    S: ReadableTable<&'static [u8; 52], &'static [u8; 32]>,
    C: ReadableTable<&'static [u8; 32], &'static [u8]>,
{
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.row(address)?.map(|row| row.info))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        self.slot(address, slot)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        read_code(&self.code, code_hash)
    }
}

/// Writes of a flat state, in the order change sets make them.
trait FlatMut {
    fn storage_root(&self, address: &Address) -> Result<B256, StateError>;
    fn set_account(&mut self, address: &Address, row: Row) -> Result<(), StateError>;
    fn remove_account(&mut self, address: &Address) -> Result<(), StateError>;
    /// Sets a slot (zero deletes it).
    fn set_slot(&mut self, address: &Address, slot: &U256, value: &U256) -> Result<(), StateError>;
    fn clear_storage(&mut self, address: &Address) -> Result<(), StateError>;
}

/// Moves a flat state forward by a block's stored change set (it must be at the parent).
fn apply_stored(flat: &mut impl FlatMut, stored: &StoredChanges) -> Result<(), StateError> {
    for (address, account) in &stored.accounts {
        let change = &account.change;
        if account.cleared.is_some() || change.wiped || change.after.is_none() {
            flat.clear_storage(address)?;
        }
        let Some(info) = change.after else {
            flat.remove_account(address)?;
            continue;
        };
        for (slot, SlotChange { after, .. }) in &change.storage {
            flat.set_slot(address, slot, after)?;
        }
        let storage_root = match account.roots {
            Some((_, new)) => new,
            None => flat.storage_root(address)?,
        };
        flat.set_account(address, Row::new(info, storage_root))?;
    }
    Ok(())
}

/// Moves a flat state back by a block's stored change set (it must be at the block).
fn revert_stored(flat: &mut impl FlatMut, stored: &StoredChanges) -> Result<(), StateError> {
    for (address, account) in &stored.accounts {
        let change = &account.change;
        if change.after.is_none() || change.wiped {
            flat.clear_storage(address)?;
        } else {
            for slot in change.storage.keys() {
                flat.set_slot(address, slot, &U256::ZERO)?;
            }
        }
        let Some(info) = change.before else {
            flat.remove_account(address)?;
            continue;
        };
        for (slot, value) in account.cleared.iter().flatten() {
            flat.set_slot(address, slot, value)?;
        }
        for (slot, SlotChange { before, .. }) in &change.storage {
            flat.set_slot(address, slot, before)?;
        }
        let storage_root = match account.roots {
            Some((old, _)) => old,
            None => flat.storage_root(address)?,
        };
        flat.set_account(address, Row::new(info, storage_root))?;
    }
    Ok(())
}

/// One account's storage in a [`Layered`] state.
#[derive(Debug, Default)]
struct LayeredStorage {
    /// The flat state's slots of the account no longer count.
    cleared: bool,
    /// Slots set (zero: deleted).
    slots: HashMap<U256, U256>,
}

/// A flat state moved in memory by change sets (history reads, a side chain's parent).
struct Layered<F> {
    flat: F,
    accounts: HashMap<Address, Option<Row>>,
    storage: HashMap<Address, LayeredStorage>,
}

impl<F> Layered<F> {
    fn new(flat: F) -> Self {
        Self {
            flat,
            accounts: HashMap::new(),
            storage: HashMap::new(),
        }
    }
}

impl<F: FlatRead> FlatRead for Layered<F> {
    fn row(&self, address: &Address) -> Result<Option<Row>, StateError> {
        match self.accounts.get(address) {
            Some(row) => Ok(*row),
            None => self.flat.row(address),
        }
    }

    fn slot(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        match self.storage.get(address) {
            Some(layer) => match layer.slots.get(slot) {
                Some(value) => Ok(*value),
                None if layer.cleared => Ok(U256::ZERO),
                None => self.flat.slot(address, slot),
            },
            None => self.flat.slot(address, slot),
        }
    }

    fn slots(&self, address: &Address) -> Result<BTreeMap<U256, U256>, StateError> {
        let Some(layer) = self.storage.get(address) else {
            return self.flat.slots(address);
        };
        let mut slots = if layer.cleared {
            BTreeMap::new()
        } else {
            self.flat.slots(address)?
        };
        for (slot, value) in &layer.slots {
            if value.is_zero() {
                slots.remove(slot);
            } else {
                slots.insert(*slot, *value);
            }
        }
        Ok(slots)
    }
}

impl<F: FlatRead> FlatMut for Layered<F> {
    fn storage_root(&self, address: &Address) -> Result<B256, StateError> {
        Ok(self
            .row(address)?
            .map_or(EMPTY_ROOT_HASH, |row| row.storage_root))
    }

    fn set_account(&mut self, address: &Address, row: Row) -> Result<(), StateError> {
        self.accounts.insert(*address, Some(row));
        Ok(())
    }

    fn remove_account(&mut self, address: &Address) -> Result<(), StateError> {
        self.accounts.insert(*address, None);
        Ok(())
    }

    fn set_slot(&mut self, address: &Address, slot: &U256, value: &U256) -> Result<(), StateError> {
        self.storage
            .entry(*address)
            .or_default()
            .slots
            .insert(*slot, *value);
        Ok(())
    }

    fn clear_storage(&mut self, address: &Address) -> Result<(), StateError> {
        let layer = self.storage.entry(*address).or_default();
        layer.cleared = true;
        layer.slots.clear();
        Ok(())
    }
}

impl<A, S, C> StateView for Layered<FlatState<A, S, C>>
where
    A: ReadableTable<&'static [u8; 20], &'static [u8; ROW_LEN]>,
    S: ReadableTable<&'static [u8; 52], &'static [u8; 32]>,
    C: ReadableTable<&'static [u8; 32], &'static [u8]>,
{
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.row(address)?.map(|row| row.info))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        self.slot(address, slot)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        read_code(&self.flat.code, code_hash)
    }
}

/// The flat tables open for writing.
struct FlatWriter<'t> {
    accounts: redb::Table<'t, &'static [u8; 20], &'static [u8; ROW_LEN]>,
    storage: redb::Table<'t, &'static [u8; 52], &'static [u8; 32]>,
}

impl<'t> FlatWriter<'t> {
    fn open(txn: &'t WriteTransaction) -> Result<Self, StateError> {
        Ok(Self {
            accounts: txn
                .open_table(ACCOUNTS)
                .map_err(store_err("open state accounts"))?,
            storage: txn
                .open_table(STORAGE)
                .map_err(store_err("open state storage"))?,
        })
    }
}

impl FlatMut for FlatWriter<'_> {
    fn storage_root(&self, address: &Address) -> Result<B256, StateError> {
        Ok(self
            .accounts
            .get(&address.0.0)
            .map_err(store_err("read state account"))?
            .map_or(EMPTY_ROOT_HASH, |row| Row::decode(row.value()).storage_root))
    }

    fn set_account(&mut self, address: &Address, row: Row) -> Result<(), StateError> {
        self.accounts
            .insert(&address.0.0, &row.encode())
            .map_err(store_err("write state account"))?;
        Ok(())
    }

    fn remove_account(&mut self, address: &Address) -> Result<(), StateError> {
        self.accounts
            .remove(&address.0.0)
            .map_err(store_err("delete state account"))?;
        Ok(())
    }

    fn set_slot(&mut self, address: &Address, slot: &U256, value: &U256) -> Result<(), StateError> {
        let key = slot_key(address, slot);
        if value.is_zero() {
            self.storage
                .remove(&key)
                .map_err(store_err("delete state storage"))?;
        } else {
            self.storage
                .insert(&key, &value.to_be_bytes::<32>())
                .map_err(store_err("write state storage"))?;
        }
        Ok(())
    }

    fn clear_storage(&mut self, address: &Address) -> Result<(), StateError> {
        let (first, last) = slot_range(address);
        self.storage
            .retain_in::<&[u8; 52], _>(&first..=&last, |_, _| false)
            .map_err(store_err("delete state storage"))?;
        Ok(())
    }
}

fn create<K: Key + 'static, V: Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<'_, K, V>,
) -> Result<(), StateError> {
    txn.open_table(table)
        .map_err(store_err("create state tables"))?;
    Ok(())
}

fn read_trie_root(
    meta: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<B256, StateError> {
    match meta.get(TRIE_ROOT).map_err(store_err("read state meta"))? {
        None => Ok(EMPTY_ROOT_HASH),
        Some(root) => B256::try_from(root.value())
            .map_err(|_| corrupt("the stored trie root is not 32 bytes")),
    }
}

fn current_trie_root(txn: &WriteTransaction) -> Result<B256, StateError> {
    let meta = txn.open_table(META).map_err(store_err("open state meta"))?;
    read_trie_root(&meta)
}

/// Builds the path-keyed trie from the flat state and drops the keccak-keyed tables
/// (see [`WorldState::create_tables`]).
fn convert_keccak_layout(txn: &WriteTransaction) -> Result<(), StateError> {
    let mut changes = ChangeSet::default();
    {
        let flat = FlatState {
            accounts: txn
                .open_table(ACCOUNTS)
                .map_err(store_err("open state accounts"))?,
            storage: txn
                .open_table(STORAGE)
                .map_err(store_err("open state storage"))?,
            code: (),
        };
        for entry in flat
            .accounts
            .iter()
            .map_err(store_err("read state accounts"))?
        {
            let (address, row) = entry.map_err(store_err("read state accounts"))?;
            let address = Address::from(*address.value());
            let info = Row::decode(row.value()).info;
            let storage = flat
                .slots(&address)?
                .into_iter()
                .map(|(slot, after)| {
                    let change = SlotChange {
                        before: U256::ZERO,
                        after,
                    };
                    (slot, change)
                })
                .collect();
            let change = AccountChange {
                before: None,
                after: Some(info),
                wiped: false,
                storage,
            };
            changes.accounts.insert(address, change);
        }
    }
    for name in [KECCAK_TRIE, PREIMAGES] {
        txn.delete_table(TableDefinition::<&[u8], &[u8]>::new(name))
            .map_err(store_err("delete the keccak-keyed trie"))?;
    }
    {
        let mut meta = txn.open_table(META).map_err(store_err("open state meta"))?;
        meta.remove(TRIE_ROOT)
            .map_err(store_err("write state meta"))?;
    }
    commit(txn, EMPTY_ROOT_HASH, &changes, None)?;
    Ok(())
}

/// Applies `changes` to the stored trie, which must be at `parent_root`; unless `expected` is
/// given and differs from the new root, stores the new nodes (deleting the replaced ones), the
/// new root and the code. Returns the new root with the new storage root of every account
/// whose storage was recomputed.
fn commit(
    txn: &WriteTransaction,
    parent_root: B256,
    changes: &ChangeSet,
    expected: Option<B256>,
) -> Result<(B256, BTreeMap<Address, B256>), StateError> {
    let current = current_trie_root(txn)?;
    if current != parent_root {
        return Err(corrupt(format!(
            "the stored trie is at root {current}, not at the parent root {parent_root}"
        )));
    }
    let mut nodes = NewNodes::default();
    let mut storage_roots = BTreeMap::new();
    let mut table = txn.open_table(TRIE).map_err(store_err("open state trie"))?;
    let root = {
        let mut trie = Trie::open(&table, None, parent_root);
        for (address, change) in &changes.accounts {
            let hashed = keccak256(address);
            let old_root = match trie.get(&hashed)? {
                Some(value) => decode_account(&value)?.storage_root,
                None => EMPTY_ROOT_HASH,
            };
            let Some(info) = change.after else {
                if old_root != EMPTY_ROOT_HASH {
                    nodes.wiped.push(hashed);
                }
                trie.remove(&hashed)?;
                continue;
            };
            let storage_root = if change.wiped || !change.storage.is_empty() {
                let base = if change.wiped {
                    if old_root != EMPTY_ROOT_HASH {
                        nodes.wiped.push(hashed);
                    }
                    EMPTY_ROOT_HASH
                } else {
                    old_root
                };
                let root = update_storage(&table, hashed, base, &change.storage, &mut nodes)?;
                storage_roots.insert(*address, root);
                root
            } else {
                old_root
            };
            let account = TrieAccount::new(info.nonce, info.balance, storage_root, info.code_hash);
            trie.insert(&hashed, alloy_rlp::encode(account))?;
        }
        trie.commit(&mut nodes)
    };
    if expected.is_some_and(|expected| expected != root) {
        return Ok((root, storage_roots));
    }
    for owner in &nodes.wiped {
        let (first, last) = storage_range(owner);
        table
            .retain_in::<&[u8], _>(first.as_slice()..last.as_slice(), |_, _| false)
            .map_err(store_err("delete storage trie"))?;
    }
    for key in &nodes.deleted {
        table
            .remove(key.as_slice())
            .map_err(store_err("delete trie node"))?;
    }
    for (key, node) in &nodes.put {
        table
            .insert(key.as_slice(), node.as_slice())
            .map_err(store_err("write trie node"))?;
    }
    drop(table);
    let mut meta = txn.open_table(META).map_err(store_err("open state meta"))?;
    meta.insert(TRIE_ROOT, root.as_slice())
        .map_err(store_err("write state meta"))?;
    let mut table = txn.open_table(CODE).map_err(store_err("open state code"))?;
    for (hash, code) in &changes.codes {
        table
            .insert(&hash.0, code.as_ref())
            .map_err(store_err("write code"))?;
    }
    Ok((root, storage_roots))
}

/// The storage trie of the account whose keccak256 is `owner`, at `base`, with `slots` applied
/// (zero deletes); appends the new nodes to `nodes` and returns the new storage root (and
/// remembers it in the [`memo`]).
fn update_storage<S: NodeSource>(
    source: &S,
    owner: B256,
    base: B256,
    slots: &BTreeMap<U256, SlotChange>,
    nodes: &mut NewNodes,
) -> Result<B256, StateError> {
    let mut trie = Trie::open(source, Some(owner), base);
    for (slot, change) in slots {
        let key = keccak256(slot.to_be_bytes::<32>());
        if change.after.is_zero() {
            trie.remove(&key)?;
        } else {
            trie.insert(&key, alloy_rlp::encode(change.after))?;
        }
    }
    let root = trie.commit(nodes);
    memo::remember(base, slots, root);
    Ok(root)
}

/// The reversible form of `changes` on the state `parent`.
fn reversible(parent: &impl FlatRead, changes: &ChangeSet) -> Result<StoredChanges, StateError> {
    let mut stored = StoredChanges::default();
    for (address, change) in &changes.accounts {
        let clears = change.wiped || change.after.is_none();
        // Otherwise the storage root did not change (a created account starts empty).
        let needs_roots = clears || !change.storage.is_empty();
        let mut account = StoredAccount {
            change: change.clone(),
            roots: None,
            cleared: None,
        };
        if needs_roots {
            let old_root = parent
                .row(address)?
                .map_or(EMPTY_ROOT_HASH, |row| row.storage_root);
            let old_slots = if clears || memo_miss(old_root, change) {
                Some(parent.slots(address)?)
            } else {
                None
            };
            let new_root = match change.after {
                None => EMPTY_ROOT_HASH,
                Some(_) if !change.wiped && change.storage.is_empty() => old_root,
                Some(_) => {
                    let base = if change.wiped {
                        EMPTY_ROOT_HASH
                    } else {
                        old_root
                    };
                    match memo::storage_root(base, &change.storage) {
                        Some(root) => root,
                        None => {
                            // Not computed by a commit in this process: from the slots.
                            let mut slots = if change.wiped {
                                BTreeMap::new()
                            } else {
                                old_slots.clone().unwrap_or_default()
                            };
                            for (slot, SlotChange { after, .. }) in &change.storage {
                                if after.is_zero() {
                                    slots.remove(slot);
                                } else {
                                    slots.insert(*slot, *after);
                                }
                            }
                            root::storage_root_unhashed(
                                slots
                                    .into_iter()
                                    .map(|(slot, value)| (B256::from(slot), value)),
                            )
                        }
                    }
                }
            };
            account.roots = Some((old_root, new_root));
            if clears {
                account.cleared = Some(old_slots.unwrap_or_default().into_iter().collect());
            }
        }
        stored.accounts.insert(*address, account);
    }
    Ok(stored)
}

/// True when the new storage root of `change` (storage written, not wiped) is not in the memo.
fn memo_miss(old_root: B256, change: &AccountChange) -> bool {
    !change.wiped
        && !change.storage.is_empty()
        && change.after.is_some()
        && memo::storage_root(old_root, &change.storage).is_none()
}

/// The change set that undoes a block's stored change set (for the trie: a wiped or deleted
/// account gets back every slot it had).
fn inverse(stored: &StoredChanges) -> ChangeSet {
    let mut changes = ChangeSet::default();
    for (address, account) in &stored.accounts {
        let change = &account.change;
        let undo = match (change.before, &account.cleared) {
            (None, _) => AccountChange {
                before: change.after,
                after: None,
                wiped: false,
                storage: BTreeMap::new(),
            },
            (Some(before), Some(cleared)) => {
                let mut slots: BTreeMap<U256, U256> = cleared.iter().copied().collect();
                for (slot, SlotChange { before, .. }) in &change.storage {
                    slots.insert(*slot, *before);
                }
                AccountChange {
                    before: change.after,
                    after: Some(before),
                    wiped: true,
                    storage: slots
                        .into_iter()
                        .filter(|(_, value)| !value.is_zero())
                        .map(|(slot, after)| {
                            let change = SlotChange {
                                before: U256::ZERO,
                                after,
                            };
                            (slot, change)
                        })
                        .collect(),
                }
            }
            (Some(before), None) => AccountChange {
                before: change.after,
                after: Some(before),
                wiped: false,
                storage: change
                    .storage
                    .iter()
                    .map(|(slot, c)| {
                        let undo = SlotChange {
                            before: c.after,
                            after: c.before,
                        };
                        (*slot, undo)
                    })
                    .collect(),
            },
        };
        changes.accounts.insert(*address, undo);
    }
    changes
}

fn stored_changes(txn: &WriteTransaction, block: &B256) -> Result<StoredChanges, StateError> {
    let table = txn
        .open_table(CHANGES)
        .map_err(store_err("open state changes"))?;
    read_changes(&table, block)
}

fn read_changes(
    table: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    block: &B256,
) -> Result<StoredChanges, StateError> {
    let bytes = table
        .get(&block.0)
        .map_err(store_err("read state change set"))?
        .ok_or_else(|| corrupt(format!("no change set for block {block}")))?;
    StoredChanges::decode(block, bytes.value())
}

fn decode_account(value: &[u8]) -> Result<TrieAccount, StateError> {
    let mut buf = value;
    let account = TrieAccount::decode(&mut buf)
        .map_err(|e| corrupt(format!("account leaf does not decode: {e}")))?;
    if !buf.is_empty() {
        return Err(corrupt("account leaf has trailing bytes"));
    }
    Ok(account)
}

fn read_code(
    table: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    code_hash: &B256,
) -> Result<Option<Bytes>, StateError> {
    if *code_hash == KECCAK_EMPTY {
        return Ok(Some(Bytes::new()));
    }
    Ok(table
        .get(&code_hash.0)
        .map_err(store_err("read code"))?
        .map(|code| Bytes::copy_from_slice(code.value())))
}

/// Storage roots computed by [`WorldState::commit_trie`], for [`WorldState::store_changes`]
/// (which records them in the change set) to find instead of hashing the storage trie again.
///
/// The key is a hash of the inputs (the base storage root and the slot writes), so an entry
/// is a pure function of them: it stays true whatever happens to the transaction that
/// computed it.
mod memo {
    use std::{
        collections::{BTreeMap, HashMap},
        sync::{Mutex, PoisonError},
    };

    use alloy_primitives::{B256, U256, keccak256};

    use crate::SlotChange;

    /// Entries kept before the memo starts over (a few blocks' worth of contracts).
    const CAPACITY: usize = 8_192;

    static ROOTS: Mutex<Option<HashMap<B256, B256>>> = Mutex::new(None);

    fn key(base: B256, slots: &BTreeMap<U256, SlotChange>) -> B256 {
        let mut input = Vec::with_capacity(32 + slots.len() * 64);
        input.extend_from_slice(base.as_slice());
        for (slot, change) in slots {
            input.extend_from_slice(&slot.to_be_bytes::<32>());
            input.extend_from_slice(&change.after.to_be_bytes::<32>());
        }
        keccak256(input)
    }

    /// Remembers that `slots` applied to the storage trie at `base` give `root`.
    pub(super) fn remember(base: B256, slots: &BTreeMap<U256, SlotChange>, root: B256) {
        let key = key(base, slots);
        let mut roots = ROOTS.lock().unwrap_or_else(PoisonError::into_inner);
        let roots = roots.get_or_insert_with(HashMap::new);
        if roots.len() >= CAPACITY {
            roots.clear();
        }
        roots.insert(key, root);
    }

    /// Forgets everything (tests of the path without the memo).
    #[cfg(test)]
    pub(super) fn clear() {
        *ROOTS.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The root `slots` applied to the storage trie at `base` give, if computed recently.
    pub(super) fn storage_root(base: B256, slots: &BTreeMap<U256, SlotChange>) -> Option<B256> {
        let key = key(base, slots);
        let roots = ROOTS.lock().unwrap_or_else(PoisonError::into_inner);
        roots.as_ref()?.get(&key).copied()
    }
}

#[cfg(test)]
mod tests;
