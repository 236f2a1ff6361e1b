//! [`Pool`]: validation against the head, per-sender nonce lists split into pending (ready)
//! and queued (gapped), replacement by price bump, bounded by geth's limits.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::{Decodable2718, Eip2718Error, Encodable2718};
use alloy_primitives::{Address, B256, U256};
use cachet_execution::{Candidate, Executor};
use tokio::sync::{broadcast, watch};

use crate::error::{PoolError, from_tx_error};

/// The largest transaction any chain Cachet runs accepts (geth's `txMaxSize`, GoQuorum's
/// largest `txnSizeLimit`): raw bytes above it are refused before decoding.
pub const MAX_TX_SIZE: usize = 128 * 1024;

/// geth's `txSlotSize`: a transaction takes one slot of the pool's capacity per started
/// 32 KiB, so the capacity bounds memory (6,144 slots ≈ 192 MiB at most), not only a count.
pub const TX_SLOT_SIZE: usize = 32 * 1024;

/// Capacity of the new-pending-hash channel; a receiver that falls further behind gets
/// `Lagged` rather than the pool buffering without bound.
const NEW_TX_CHANNEL: usize = 4096;

/// The pool's price bump and limits; the defaults are geth's (`legacypool.DefaultConfig`) with
/// a minimum gas price of 0, as permissioned networks commonly run without fees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Minimum tip (legacy: gas price) in wei a transaction must pay (`--miner.gasprice`).
    pub min_gas_price: u128,
    /// A replacement must raise both the fee cap and the tip by at least this percentage.
    pub price_bump_percent: u64,
    /// Pending transactions per sender that fairness eviction never takes away.
    pub account_slots: usize,
    /// Pending transactions above which senders beyond `account_slots` lose their newest.
    pub global_slots: usize,
    /// Queued (gapped) transactions per sender.
    pub account_queue: usize,
    /// Queued transactions in all.
    pub global_queue: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            min_gas_price: 0,
            price_bump_percent: 10,
            account_slots: 16,
            global_slots: 4096 + 1024,
            account_queue: 64,
            global_queue: 1024,
        }
    }
}

impl PoolConfig {
    /// The pool's capacity in slots ([`TX_SLOT_SIZE`]): `global_slots + global_queue`.
    pub const fn capacity(&self) -> usize {
        self.global_slots.saturating_add(self.global_queue)
    }
}

/// What the pool reads from the head state.
pub trait AccountState {
    /// The account's nonce and balance (zero for an account that does not exist).
    ///
    /// # Errors
    /// The store's error, as text.
    fn account(&self, address: &Address) -> Result<(u64, U256), String>;
}

/// The head the pool validates against: the fork rules of this block, its gas limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadContext {
    /// Block number.
    pub number: u64,
    /// Block timestamp.
    pub timestamp: u64,
    /// Block gas limit; no transaction may ask for more.
    pub gas_limit: u64,
    /// Base fee (None before London).
    pub base_fee: Option<u64>,
}

/// The pool's transactions by sender and nonce, for `txpool_content`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolContent {
    /// Ready transactions: nonces contiguous from the account's nonce.
    pub pending: BTreeMap<Address, BTreeMap<u64, TxEnvelope>>,
    /// Transactions behind a nonce gap.
    pub queued: BTreeMap<Address, BTreeMap<u64, TxEnvelope>>,
}

/// Eviction order: lowest tip, then lowest fee cap, then the most recent first.
type PriceKey = (u128, u128, Reverse<u64>, Address, u64);

#[derive(Debug)]
struct PooledTx {
    tx: TxEnvelope,
    hash: B256,
    cost: U256,
    seq: u64,
    slots: usize,
    pending: bool,
}

impl PooledTx {
    fn key(&self, sender: Address) -> PriceKey {
        (
            self.tx.priority_fee_or_price(),
            self.tx.max_fee_per_gas(),
            Reverse(self.seq),
            sender,
            self.tx.nonce(),
        )
    }
}

#[derive(Debug, Default)]
struct Account {
    /// The account's nonce at the last state read.
    nonce: u64,
    /// The head number of that read.
    read_at: u64,
    /// Its balance then.
    balance: U256,
    txs: BTreeMap<u64, PooledTx>,
    /// How many transactions from `nonce` on are contiguous (pending).
    pending: usize,
}

impl Account {
    fn queued(&self) -> usize {
        self.txs.len() - self.pending
    }
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<Address, Account>,
    by_hash: HashMap<B256, (Address, u64)>,
    /// Every transaction, cheapest first.
    priced: BTreeSet<PriceKey>,
    /// Queued transactions, cheapest first.
    queued_priced: BTreeSet<PriceKey>,
    pending_total: usize,
    /// Slots taken by all transactions.
    slots: usize,
    seq: u64,
    /// Hashes that became pending since the last notification.
    promoted: Vec<B256>,
}

/// A validated transaction with its sender, before it meets the pool's state.
struct Checked {
    tx: TxEnvelope,
    hash: B256,
    sender: Address,
    cost: U256,
}

/// The transaction pool. `Send + Sync`: one mutex guards the lists; signature recovery and
/// the stateless checks run outside it.
#[derive(Debug)]
pub struct Pool {
    config: PoolConfig,
    executor: Executor,
    inner: Mutex<Inner>,
    ready: watch::Sender<u64>,
    new_txs: broadcast::Sender<B256>,
}

impl Pool {
    /// An empty pool validating with `executor`'s fork rules.
    pub fn new(config: PoolConfig, executor: Executor) -> Self {
        let (ready, _) = watch::channel(0);
        let (new_txs, _) = broadcast::channel(NEW_TX_CHANNEL);
        Self {
            config,
            executor,
            inner: Mutex::new(Inner::default()),
            ready,
            new_txs,
        }
    }

    /// The pool's configuration.
    pub const fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Decodes `raw` (EIP-2718 bytes, as `eth_sendRawTransaction` receives them), recovers the
    /// sender, validates against `head` and `state`, inserts. Returns the transaction hash.
    ///
    /// # Errors
    /// [`PoolError`] with geth's message; a refused transaction changes nothing in the pool.
    pub fn add_raw(
        &self,
        raw: &[u8],
        head: &HeadContext,
        state: &dyn AccountState,
    ) -> Result<B256, PoolError> {
        self.add(decode(raw)?, head, state)
    }

    /// Recovers the sender, validates against `head` and `state`, inserts.
    ///
    /// # Errors
    /// As [`Pool::add_raw`].
    pub fn add(
        &self,
        tx: TxEnvelope,
        head: &HeadContext,
        state: &dyn AccountState,
    ) -> Result<B256, PoolError> {
        if self.contains(tx.tx_hash()) {
            return Err(PoolError::AlreadyKnown);
        }
        let checked = self.check(tx, head)?;
        let account = state
            .account(&checked.sender)
            .map_err(|reason| PoolError::State {
                address: checked.sender,
                reason,
            })?;
        let result = self
            .lock()
            .insert(&self.config, checked, account, head.number);
        self.notify();
        result
    }

    /// [`Pool::add`] for many transactions (gossip); one result per transaction, in order.
    pub fn add_many(
        &self,
        txs: Vec<TxEnvelope>,
        head: &HeadContext,
        state: &dyn AccountState,
    ) -> Vec<Result<B256, PoolError>> {
        txs.into_iter()
            .map(|tx| self.add(tx, head, state))
            .collect()
    }

    /// Candidates for a child of the head whose base fee is `base_fee` (None before London):
    /// each sender's pending transactions in nonce order (up to the first whose fee cap is
    /// below the base fee), senders interleaved by the effective tip of their next
    /// transaction, highest first (earlier arrival first among equals).
    pub fn best(&self, base_fee: Option<u64>) -> Vec<Candidate> {
        let inner = self.lock();
        let mut lists: Vec<(Address, Vec<&PooledTx>)> = Vec::new();
        for (sender, account) in &inner.accounts {
            let list: Vec<&PooledTx> = account
                .txs
                .values()
                .take(account.pending)
                .take_while(|p| base_fee.is_none_or(|b| p.tx.max_fee_per_gas() >= u128::from(b)))
                .collect();
            if !list.is_empty() {
                lists.push((*sender, list));
            }
        }
        let tip = |p: &PooledTx| match base_fee {
            None => p.tx.priority_fee_or_price(),
            Some(b) => p.tx.effective_tip_per_gas(b).unwrap_or(0),
        };
        let mut heap: BinaryHeap<(u128, Reverse<u64>, usize, usize)> = lists
            .iter()
            .enumerate()
            .filter_map(|(i, (_, list))| list.first().map(|p| (tip(p), Reverse(p.seq), i, 0)))
            .collect();
        let mut out = Vec::with_capacity(inner.pending_total);
        while let Some((_, _, i, at)) = heap.pop() {
            let Some((sender, list)) = lists.get(i) else {
                continue;
            };
            if let Some(p) = list.get(at) {
                out.push(Candidate {
                    tx: p.tx.clone(),
                    sender: *sender,
                });
            }
            if let Some(next) = list.get(at + 1) {
                heap.push((tip(next), Reverse(next.seq), i, at + 1));
            }
        }
        out
    }

    /// True when at least one transaction is ready to include.
    pub fn has_pending(&self) -> bool {
        self.lock().pending_total > 0
    }

    /// Changes (a counter) whenever transactions become ready.
    pub fn subscribe_ready(&self) -> watch::Receiver<u64> {
        self.ready.subscribe()
    }

    /// Hashes of transactions as they become pending (for newPendingTransactions, filters,
    /// gossip). A receiver more than 4096 behind gets `Lagged`.
    pub fn subscribe_new(&self) -> broadcast::Receiver<B256> {
        self.new_txs.subscribe()
    }

    /// A new canonical head: drops the `included` transactions and those whose nonce the
    /// state has passed, re-validates the transactions of blocks a reorg dropped
    /// (`reorged_out`) against the new head, drops those that no longer fit (cost above the
    /// balance, gas above the block gas limit) and demotes the ones behind them to queued.
    pub fn on_new_head(
        &self,
        head: &HeadContext,
        included: &[TxEnvelope],
        reorged_out: Vec<TxEnvelope>,
        state: &dyn AccountState,
    ) {
        let senders: Vec<Address> = {
            let mut inner = self.lock();
            for tx in included {
                inner.remove_included(tx.tx_hash());
            }
            inner.accounts.keys().copied().collect()
        };
        // State reads outside the lock; an account that cannot be read keeps its lists.
        let reads: Vec<(Address, (u64, U256))> = senders
            .into_iter()
            .filter_map(|a| state.account(&a).ok().map(|s| (a, s)))
            .collect();
        {
            let mut inner = self.lock();
            for (address, (nonce, balance)) in reads {
                inner.refresh(address, (nonce, balance), head.number, head.gas_limit);
            }
            inner.enforce(&self.config, None);
        }
        let included: HashSet<&B256> = included.iter().map(TxEnvelope::tx_hash).collect();
        for tx in reorged_out {
            if included.contains(tx.tx_hash()) {
                continue;
            }
            // Refusals are expected (nonce reused on the new branch, fee too low now).
            let _ = self.add(tx, head, state);
        }
        self.notify();
    }

    /// The pooled transaction with this hash.
    pub fn get(&self, hash: &B256) -> Option<TxEnvelope> {
        let inner = self.lock();
        let (sender, nonce) = inner.by_hash.get(hash)?;
        inner
            .accounts
            .get(sender)
            .and_then(|a| a.txs.get(nonce))
            .map(|p| p.tx.clone())
    }

    /// Whether the pool holds this hash.
    pub fn contains(&self, hash: &B256) -> bool {
        self.lock().by_hash.contains_key(hash)
    }

    /// The nonce after this sender's pending transactions; None when it has none pending.
    pub fn pending_nonce(&self, address: &Address) -> Option<u64> {
        let inner = self.lock();
        let account = inner.accounts.get(address)?;
        (account.pending > 0).then(|| account.nonce.saturating_add(account.pending as u64))
    }

    /// (pending, queued) transaction counts.
    pub fn status(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.pending_total, inner.queued_priced.len())
    }

    /// Every pooled transaction by sender and nonce.
    pub fn content(&self) -> PoolContent {
        let inner = self.lock();
        let mut content = PoolContent::default();
        for (sender, account) in &inner.accounts {
            for (nonce, p) in &account.txs {
                let side = if p.pending {
                    &mut content.pending
                } else {
                    &mut content.queued
                };
                side.entry(*sender)
                    .or_default()
                    .insert(*nonce, p.tx.clone());
            }
        }
        content
    }

    /// The checks that need no state, in geth's order (`txpool.ValidateTransaction`), and
    /// the sender.
    fn check(&self, tx: TxEnvelope, head: &HeadContext) -> Result<Checked, PoolError> {
        self.executor
            .check_transaction(&tx, head.number, head.timestamp)
            .map_err(from_tx_error)?;
        if tx.gas_limit() > head.gas_limit {
            return Err(PoolError::GasLimit);
        }
        if let Some(tip) = tx.max_priority_fee_per_gas()
            && tip > tx.max_fee_per_gas()
        {
            return Err(PoolError::TipAboveFeeCap);
        }
        // alloy's recovery refuses s above secp256k1n/2 (EIP-2), as geth's signer does.
        let sender = tx.recover_signer().map_err(|_| PoolError::InvalidSender {
            reason: "invalid transaction v, r, s values".to_owned(),
        })?;
        if tx.nonce() == u64::MAX {
            return Err(PoolError::NonceMax);
        }
        let needed = self
            .executor
            .intrinsic_gas(&tx, head.number, head.timestamp);
        if tx.gas_limit() < needed {
            return Err(PoolError::IntrinsicGas {
                gas: tx.gas_limit(),
                needed,
            });
        }
        let tip = tx.priority_fee_or_price();
        if tip < self.config.min_gas_price {
            return Err(PoolError::TipTooLow {
                tip,
                minimum: self.config.min_gas_price,
            });
        }
        Ok(Checked {
            cost: cost(&tx),
            hash: *tx.tx_hash(),
            tx,
            sender,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The lists stay consistent between statements; a panic elsewhere must not stop the pool.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells subscribers about transactions that became pending.
    fn notify(&self) {
        let promoted = std::mem::take(&mut self.lock().promoted);
        if promoted.is_empty() {
            return;
        }
        for hash in promoted {
            // No receiver is not an error.
            let _ = self.new_txs.send(hash);
        }
        self.ready.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// value + gas limit × fee cap (geth's `tx.Cost()` without blob gas).
fn cost(tx: &TxEnvelope) -> U256 {
    U256::from(tx.gas_limit())
        .saturating_mul(U256::from(tx.max_fee_per_gas()))
        .saturating_add(tx.value())
}

/// EIP-2718 bytes to a transaction, with geth's decoder wording where it has one.
fn decode(raw: &[u8]) -> Result<TxEnvelope, PoolError> {
    if raw.len() > MAX_TX_SIZE {
        return Err(PoolError::OversizedData {
            size: raw.len(),
            limit: MAX_TX_SIZE,
        });
    }
    let reason = match raw.first() {
        None => "typed transaction too short".to_owned(),
        Some(&ty) if ty <= 0x7f && raw.len() <= 1 => "typed transaction too short".to_owned(),
        Some(&ty) if ty <= 0x7f && !(1..=4).contains(&ty) => {
            "transaction type not supported".to_owned()
        }
        Some(_) => match TxEnvelope::decode_2718_exact(raw) {
            Ok(tx) => return Ok(tx),
            Err(Eip2718Error::UnexpectedType(_)) if raw.first().is_some_and(|t| *t <= 0x7f) => {
                "transaction type not supported".to_owned()
            }
            Err(e) => format!("rlp: {e}"),
        },
    };
    Err(PoolError::Decode { reason })
}

impl Inner {
    /// Inserts a checked transaction after the checks against the sender's account and the
    /// pool (nonce, funds, replacement, capacity), then restores the limits.
    fn insert(
        &mut self,
        config: &PoolConfig,
        checked: Checked,
        read: (u64, U256),
        read_at: u64,
    ) -> Result<B256, PoolError> {
        let Checked {
            tx,
            hash,
            sender,
            cost,
        } = checked;
        if self.by_hash.contains_key(&hash) {
            return Err(PoolError::AlreadyKnown);
        }
        // A read at an older head than the account's last (a new head arrived meanwhile)
        // gives way to it; a newer one is taken first, dropping what it shows included.
        let (nonce, balance) = match self.accounts.get(&sender) {
            Some(a) if a.read_at > read_at => (a.nonce, a.balance),
            _ => {
                self.refresh(sender, read, read_at, u64::MAX);
                read
            }
        };
        let tx_nonce = tx.nonce();
        if tx_nonce < nonce {
            return Err(PoolError::NonceTooLow {
                next: nonce,
                nonce: tx_nonce,
            });
        }
        if balance < cost {
            return Err(PoolError::InsufficientFunds { balance, cost });
        }
        if let Some(account) = self.accounts.get(&sender) {
            // What the sender's other pending transactions already commit (geth's
            // ExistingExpenditure; the one replaced does not count).
            let queued = account
                .txs
                .range(nonce..)
                .take(account.pending)
                .filter(|(n, _)| **n != tx_nonce)
                .fold(U256::ZERO, |sum, (_, p)| sum.saturating_add(p.cost));
            if queued.saturating_add(cost) > balance {
                return Err(PoolError::InsufficientFundsQueued {
                    balance,
                    queued,
                    cost,
                });
            }
        }
        let replaced_slots = self
            .accounts
            .get(&sender)
            .and_then(|a| a.txs.get(&tx_nonce))
            .map(|p| p.slots);
        let replaces = replaced_slots.is_some();
        let slots = tx.encode_2718_len().div_ceil(TX_SLOT_SIZE).max(1);
        let overflow = (self.slots + slots)
            .saturating_sub(replaced_slots.unwrap_or(0))
            .saturating_sub(config.capacity());
        if overflow > 0 {
            // Room only by evicting strictly cheaper transactions (geth's `priced.Discard`);
            // decided before anything is removed, so a refusal loses nothing.
            let new_key = (tx.priority_fee_or_price(), tx.max_fee_per_gas());
            let mut freed = 0;
            for key in &self.priced {
                if freed >= overflow || (key.0, key.1) >= new_key {
                    break;
                }
                freed += self.slots_of(key);
            }
            if freed < overflow {
                return Err(PoolError::Underpriced);
            }
        }
        if let Some(old) = self
            .accounts
            .get(&sender)
            .and_then(|a| a.txs.get(&tx_nonce))
            && !bumped(&old.tx, &tx, config.price_bump_percent)
        {
            return Err(PoolError::ReplaceUnderpriced);
        }
        self.seq += 1;
        let pooled = PooledTx {
            tx,
            hash,
            cost,
            seq: self.seq,
            slots,
            pending: false,
        };
        if replaces {
            self.remove_nonce(sender, tx_nonce);
        }
        self.priced.insert(pooled.key(sender));
        self.queued_priced.insert(pooled.key(sender));
        self.by_hash.insert(hash, (sender, tx_nonce));
        self.slots += slots;
        let account = self.accounts.entry(sender).or_insert_with(|| Account {
            nonce,
            balance,
            read_at,
            ..Account::default()
        });
        account.txs.insert(tx_nonce, pooled);
        self.reclassify(sender);
        self.enforce_account_queue(config, sender);
        if !self.by_hash.contains_key(&hash) {
            let pooled = self.accounts.get(&sender).map_or(0, |a| a.txs.len());
            return Err(PoolError::AccountLimitExceeded { pooled });
        }
        self.enforce(config, Some(hash));
        if !self.by_hash.contains_key(&hash) {
            return Err(PoolError::TxPoolFull);
        }
        Ok(hash)
    }

    /// Takes a fresh state read of `address`: drops transactions below its nonce and those
    /// that cost more than its balance or ask for more gas than `gas_limit`, then recomputes
    /// which are pending.
    fn refresh(
        &mut self,
        address: Address,
        (nonce, balance): (u64, U256),
        read_at: u64,
        gas_limit: u64,
    ) {
        let Some(account) = self.accounts.get_mut(&address) else {
            return;
        };
        account.nonce = nonce;
        account.balance = balance;
        account.read_at = read_at;
        let stale: Vec<u64> = account
            .txs
            .iter()
            .filter(|(n, p)| **n < nonce || p.cost > balance || p.tx.gas_limit() > gas_limit)
            .map(|(n, _)| *n)
            .collect();
        for n in stale {
            self.remove_nonce(address, n);
        }
        self.reclassify(address);
    }

    /// Recomputes which of the account's transactions are pending (contiguous from its nonce)
    /// and moves those that changed between the pending count and the queued index.
    fn reclassify(&mut self, address: Address) {
        let Some(account) = self.accounts.get_mut(&address) else {
            return;
        };
        let mut expected = account.nonce;
        let mut pending = 0;
        for (n, p) in &mut account.txs {
            let now = *n == expected;
            if now {
                expected = expected.saturating_add(1);
                pending += 1;
            }
            if now != p.pending {
                p.pending = now;
                if now {
                    self.queued_priced.remove(&p.key(address));
                    self.pending_total += 1;
                    self.promoted.push(p.hash);
                } else {
                    self.queued_priced.insert(p.key(address));
                    self.pending_total -= 1;
                }
            }
        }
        account.pending = pending;
        if account.txs.is_empty() {
            self.accounts.remove(&address);
        }
    }

    /// Removes one transaction from every index (without reclassifying its account).
    fn remove_nonce(&mut self, address: Address, nonce: u64) {
        let Some(account) = self.accounts.get_mut(&address) else {
            return;
        };
        let Some(p) = account.txs.remove(&nonce) else {
            return;
        };
        let key = p.key(address);
        self.priced.remove(&key);
        if p.pending {
            self.pending_total -= 1;
            account.pending = account.pending.saturating_sub(1);
        } else {
            self.queued_priced.remove(&key);
        }
        self.by_hash.remove(&p.hash);
        self.slots -= p.slots;
    }

    fn slots_of(&self, key: &PriceKey) -> usize {
        self.accounts
            .get(&key.3)
            .and_then(|a| a.txs.get(&key.4))
            .map_or(0, |p| p.slots)
    }

    /// Removes one transaction by hash and reclassifies its account.
    /// Removes a transaction a new block included. Its sender's nonce is now past it, so the
    /// sender's later transactions stay pending until the state read confirms the nonce:
    /// reclassified against the old nonce they would be queued, and a transaction added
    /// before that read could evict them as excess queue, leaving nonce gaps.
    fn remove_included(&mut self, hash: &B256) {
        if let Some((address, nonce)) = self.by_hash.get(hash).copied() {
            self.remove_nonce(address, nonce);
            if let Some(account) = self.accounts.get_mut(&address) {
                account.nonce = account.nonce.max(nonce.saturating_add(1));
            }
            self.reclassify(address);
        }
    }

    /// At most `account_queue` queued transactions per sender: the highest nonces go.
    fn enforce_account_queue(&mut self, config: &PoolConfig, address: Address) {
        loop {
            let Some(account) = self.accounts.get(&address) else {
                return;
            };
            if account.queued() <= config.account_queue {
                return;
            }
            let Some(highest) = account.txs.keys().next_back().copied() else {
                return;
            };
            self.remove_nonce(address, highest);
            self.reclassify(address);
        }
    }

    /// Restores the global limits: pending above `global_slots` loses the newest
    /// transactions of the senders with the most pending above `account_slots`; then the
    /// whole pool above capacity (in slots) and the queue above `global_queue` lose their
    /// cheapest (most recent first among equals). `new` (the transaction being added) goes
    /// only as the first eviction, which restores the pool as it was; once others went for
    /// it, it stays.
    fn enforce(&mut self, config: &PoolConfig, new: Option<B256>) {
        let mut evicted = false;
        while self.pending_total > config.global_slots {
            let offender = self
                .accounts
                .iter()
                .filter(|(_, a)| a.pending > config.account_slots)
                .max_by_key(|(_, a)| a.pending)
                .map(|(address, a)| (*address, a.nonce + a.pending as u64 - 1));
            let Some((address, last)) = offender else {
                break;
            };
            self.remove_nonce(address, last);
            self.reclassify(address);
            evicted = true;
        }
        let protected = new.and_then(|h| self.by_hash.get(&h).copied());
        loop {
            let skip = if evicted { protected } else { None };
            let spare = |key: &&PriceKey| Some((key.3, key.4)) != skip;
            let victim = if self.slots > config.capacity() {
                self.priced.iter().find(spare).copied()
            } else if self.queued_priced.len() > config.global_queue {
                self.queued_priced.iter().find(spare).copied()
            } else {
                None
            };
            let Some((_, _, _, address, nonce)) = victim else {
                return;
            };
            self.remove_nonce(address, nonce);
            self.reclassify(address);
            evicted = true;
        }
    }
}

/// geth's replacement rule (`legacypool.list.Add`): both the fee cap and the tip strictly
/// higher, and each at least `bump`% above the old one (integer division, as geth).
fn bumped(old: &TxEnvelope, new: &TxEnvelope, bump: u64) -> bool {
    let (old_cap, old_tip) = (old.max_fee_per_gas(), old.priority_fee_or_price());
    let (new_cap, new_tip) = (new.max_fee_per_gas(), new.priority_fee_or_price());
    if new_cap <= old_cap || new_tip <= old_tip {
        return false;
    }
    let factor = U256::from(100u64.saturating_add(bump));
    let threshold = |old: u128| U256::from(old).saturating_mul(factor) / U256::from(100u64);
    U256::from(new_cap) >= threshold(old_cap) && U256::from(new_tip) >= threshold(old_tip)
}
