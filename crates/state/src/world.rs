//! [`WorldState`]: the state's functions over the node's redb transactions.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, PoisonError},
};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount, root};
use redb::{
    Key, ReadTransaction, ReadableTable, TableDefinition, TableError, Value, WriteTransaction,
};

use crate::{
    AccountChange, AccountInfo, ChangeSet, SlotChange, StateError, StateView,
    changes::{StoredAccount, StoredChanges},
    tables::{
        ACCOUNTS, CHANGES, CODE, GENESIS, META, PREIMAGES, ROW_LEN, Row, STORAGE, TRIE, corrupt,
        slot_key, slot_of, slot_range, store_err,
    },
    trie::{NewNodes, NodeSource, Trie},
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
    pub fn create_tables(txn: &WriteTransaction) -> Result<(), StateError> {
        create(txn, ACCOUNTS)?;
        create(txn, STORAGE)?;
        create(txn, CODE)?;
        create(txn, TRIE)?;
        create(txn, PREIMAGES)?;
        create(txn, CHANGES)?;
        create(txn, META)
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
        let (root, storage_roots) = commit(txn, EMPTY_ROOT_HASH, &changes)?;
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

    /// [`Self::at_root`] inside a write transaction; drop it before writing, as
    /// [`Self::latest_in`].
    ///
    /// # Errors
    /// [`StateError::Store`] when a table cannot be opened.
    pub fn at_root_in(
        txn: &WriteTransaction,
        root: B256,
    ) -> Result<impl StateView + '_, StateError> {
        Ok(TrieState {
            trie: txn.open_table(TRIE).map_err(store_err("open state trie"))?,
            code: txn.open_table(CODE).map_err(store_err("open state code"))?,
            root,
            accounts: Mutex::default(),
        })
    }

    /// The state whose root is `root`, read through the trie (the post-state of any stored
    /// block: side chains, history at a block number).
    ///
    /// # Errors
    /// [`StateError::Store`] when the database fails; the view's reads fail with
    /// [`StateError::Corrupt`] when `root` or a node below it is not stored.
    pub fn at_root(txn: &ReadTransaction, root: B256) -> Result<impl StateView + '_, StateError> {
        Ok(TrieState {
            trie: txn.open_table(TRIE).map_err(store_err("open state trie"))?,
            code: txn.open_table(CODE).map_err(store_err("open state code"))?,
            root,
            accounts: Mutex::default(),
        })
    }

    /// Writes the trie nodes of (state at `parent_root`) + `changes`, and `changes.codes`, and
    /// returns the new root. Loads only the nodes on the changed paths: the cost grows with the
    /// size of `changes` times the trie depth, not with the state.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when a node on a changed path is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn commit_trie(
        txn: &WriteTransaction,
        parent_root: B256,
        changes: &ChangeSet,
    ) -> Result<B256, StateError> {
        Ok(commit(txn, parent_root, changes)?.0)
    }

    /// Stores `changes` as block `block_hash`'s reversible change set, with each account's
    /// storage roots and, for an account whose storage was wiped or which was deleted, every
    /// slot it had at `parent_root` (read from the trie), so a revert restores them.
    ///
    /// Call it after [`WorldState::commit_trie`] for the same changes: it then finds the new
    /// storage roots computed there instead of hashing the storage tries again.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when a node at `parent_root` is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn store_changes(
        txn: &WriteTransaction,
        block_hash: B256,
        parent_root: B256,
        changes: &ChangeSet,
    ) -> Result<(), StateError> {
        let stored = {
            let trie = txn.open_table(TRIE).map_err(store_err("open state trie"))?;
            let preimages = txn
                .open_table(PREIMAGES)
                .map_err(store_err("open state preimages"))?;
            reversible(&trie, &preimages, parent_root, changes)?
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
        let mut flat = FlatWriter::open(txn)?;
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

    /// Moves the flat state back by block `block_hash`'s stored change set (the flat state must
    /// be at `block_hash`).
    ///
    /// # Errors
    /// [`StateError::Corrupt`] when the change set is missing or does not decode;
    /// [`StateError::Store`] when the database fails.
    pub fn revert_flat(txn: &WriteTransaction, block_hash: B256) -> Result<(), StateError> {
        let stored = stored_changes(txn, &block_hash)?;
        let mut flat = FlatWriter::open(txn)?;
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

/// The flat tables as a [`StateView`] (tables of a read or of a write transaction).
struct FlatState<A, S, C> {
    accounts: A,
    storage: S,
    code: C,
}

impl<A, S, C> StateView for FlatState<A, S, C>
where
    A: ReadableTable<&'static [u8; 20], &'static [u8; ROW_LEN]>,
    S: ReadableTable<&'static [u8; 52], &'static [u8; 32]>,
    C: ReadableTable<&'static [u8; 32], &'static [u8]>,
{
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self
            .accounts
            .get(&address.0.0)
            .map_err(store_err("read state account"))?
            .map(|row| Row::decode(row.value()).info))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        Ok(self
            .storage
            .get(&slot_key(address, slot))
            .map_err(store_err("read state storage"))?
            .map_or(U256::ZERO, |value| U256::from_be_bytes(*value.value())))
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        read_code(&self.code, code_hash)
    }
}

/// The state at one root, read through the trie.
struct TrieState<T, C> {
    trie: T,
    code: C,
    root: B256,
    /// Accounts read so far (the root is fixed, so they never change): execution reads a
    /// contract's slots one by one, and each needs the account's storage root.
    accounts: Mutex<HashMap<Address, Option<TrieAccount>>>,
}

impl<T, C> TrieState<T, C>
where
    T: ReadableTable<&'static [u8; 32], &'static [u8]>,
{
    fn trie_account(&self, address: &Address) -> Result<Option<TrieAccount>, StateError> {
        let cached = self
            .accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(address)
            .copied();
        if let Some(account) = cached {
            return Ok(account);
        }
        let account = trie_account(&mut Trie::open(&self.trie, self.root), address)?;
        self.accounts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(*address, account);
        Ok(account)
    }
}

impl<T, C> StateView for TrieState<T, C>
where
    T: ReadableTable<&'static [u8; 32], &'static [u8]>,
    C: ReadableTable<&'static [u8; 32], &'static [u8]>,
{
    fn account(&self, address: &Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.trie_account(address)?.map(|account| AccountInfo {
            nonce: account.nonce,
            balance: account.balance,
            code_hash: account.code_hash,
        }))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StateError> {
        let Some(account) = self.trie_account(address)? else {
            return Ok(U256::ZERO);
        };
        let key = keccak256(slot.to_be_bytes::<32>());
        match Trie::open(&self.trie, account.storage_root).get(&key)? {
            Some(value) => decode_slot(&value),
            None => Ok(U256::ZERO),
        }
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StateError> {
        read_code(&self.code, code_hash)
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

/// Applies `changes` to the trie at `parent_root`, stores the new nodes, the slot preimages
/// and the code, and returns the new root with the new storage root of every account whose
/// storage was recomputed.
fn commit(
    txn: &WriteTransaction,
    parent_root: B256,
    changes: &ChangeSet,
) -> Result<(B256, BTreeMap<Address, B256>), StateError> {
    let mut nodes = NewNodes::new();
    let mut preimages = Vec::new();
    let mut storage_roots = BTreeMap::new();
    let mut table = txn.open_table(TRIE).map_err(store_err("open state trie"))?;
    let root = {
        let mut trie = Trie::open(&table, parent_root);
        for (address, change) in &changes.accounts {
            let hashed = keccak256(address);
            let Some(info) = change.after else {
                trie.remove(&hashed)?;
                continue;
            };
            let old_root = match trie.get(&hashed)? {
                Some(value) => decode_account(&value)?.storage_root,
                None => EMPTY_ROOT_HASH,
            };
            let storage_root = if change.wiped || !change.storage.is_empty() {
                let base = if change.wiped {
                    EMPTY_ROOT_HASH
                } else {
                    old_root
                };
                let root = update_storage(&table, base, &change.storage, &mut nodes)?;
                preimages.extend(change.storage.keys().copied());
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
    for (hash, node) in &nodes {
        table
            .insert(&hash.0, node.as_slice())
            .map_err(store_err("write trie node"))?;
    }
    let mut table = txn
        .open_table(PREIMAGES)
        .map_err(store_err("open state preimages"))?;
    for slot in preimages {
        let slot = slot.to_be_bytes::<32>();
        table
            .insert(&keccak256(slot).0, &slot)
            .map_err(store_err("write slot preimage"))?;
    }
    let mut table = txn.open_table(CODE).map_err(store_err("open state code"))?;
    for (hash, code) in &changes.codes {
        table
            .insert(&hash.0, code.as_ref())
            .map_err(store_err("write code"))?;
    }
    Ok((root, storage_roots))
}

/// The storage trie at `base` with `slots` applied (zero deletes); appends the new nodes to
/// `nodes` and returns the new storage root (and remembers it in the [`memo`]).
fn update_storage<S: NodeSource>(
    source: &S,
    base: B256,
    slots: &BTreeMap<U256, SlotChange>,
    nodes: &mut NewNodes,
) -> Result<B256, StateError> {
    let mut trie = Trie::open(source, base);
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

/// The reversible form of `changes` on the state at `parent_root`.
fn reversible<S, P>(
    trie: &S,
    preimages: &P,
    parent_root: B256,
    changes: &ChangeSet,
) -> Result<StoredChanges, StateError>
where
    S: NodeSource,
    P: ReadableTable<&'static [u8; 32], &'static [u8; 32]>,
{
    let mut accounts = Trie::open(trie, parent_root);
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
            let old_root = trie_account(&mut accounts, address)?
                .map_or(EMPTY_ROOT_HASH, |account| account.storage_root);
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
                        None => update_storage(trie, base, &change.storage, &mut NewNodes::new())?,
                    }
                }
            };
            account.roots = Some((old_root, new_root));
            if clears {
                let mut cleared = Vec::new();
                for (hashed, value) in Trie::open(trie, old_root).entries()? {
                    let slot = preimages
                        .get(&hashed.0)
                        .map_err(store_err("read slot preimage"))?
                        .map(|slot| U256::from_be_bytes(*slot.value()))
                        .ok_or_else(|| corrupt(format!("no preimage of storage key {hashed}")))?;
                    cleared.push((slot, decode_slot(&value)?));
                }
                account.cleared = Some(cleared);
            }
        }
        stored.accounts.insert(*address, account);
    }
    Ok(stored)
}

fn stored_changes(txn: &WriteTransaction, block: &B256) -> Result<StoredChanges, StateError> {
    let table = txn
        .open_table(CHANGES)
        .map_err(store_err("open state changes"))?;
    let bytes = table
        .get(&block.0)
        .map_err(store_err("read state change set"))?
        .ok_or_else(|| corrupt(format!("no change set for block {block}")))?;
    StoredChanges::decode(block, bytes.value())
}

fn trie_account<S: NodeSource>(
    trie: &mut Trie<'_, S>,
    address: &Address,
) -> Result<Option<TrieAccount>, StateError> {
    trie.get(&keccak256(address))?
        .map(|value| decode_account(&value))
        .transpose()
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

fn decode_slot(value: &[u8]) -> Result<U256, StateError> {
    let mut buf = value;
    let slot = U256::decode(&mut buf)
        .map_err(|e| corrupt(format!("storage leaf does not decode: {e}")))?;
    if !buf.is_empty() {
        return Err(corrupt("storage leaf has trailing bytes"));
    }
    Ok(slot)
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
