//! [`Chain`]: the verified chain: store + genesis + the engine's [`ChainRules`].
//!
//! Every block enters through [`Chain::import`], sealed locally or received from a peer: the
//! engine-independent rules against the parent (link, timestamp order, gas, base fee, an empty
//! body), then the engine's own ([`ChainRules::verify`]: clique against the parent's snapshot
//! in [`crate::clique`], IBFT/QBFT in [`crate::bft`], raft in [`crate::raft`]). Blocks are
//! keyed by the engine's block hash ([`ChainRules::hash`]). A block whose total difficulty
//! beats the head's becomes the head (the store rewrites the canonical index back to the
//! common ancestor).

use std::any::Any;
use std::sync::{Mutex, MutexGuard};

use alloy_consensus::ReceiptEnvelope;
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use cachet_execution::{BlockHashes, Executor};
use cachet_genesis::{Engine, Fork, Genesis};
use cachet_seal::clique::Snapshot;
use cachet_seal::{Header, RaftMembers};
use cachet_state::{AccountInfo, ChangeSet, StateError, StateView, WorldState};
use redb::{Durability, WriteTransaction};
use tokio::sync::watch;

use crate::block;
use crate::clique::CliqueRules;
use crate::consensus::ChainRules;
use crate::error::{Error, Result};
use crate::store::{BlockRecord, ChainStore};

/// The head as others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadInfo {
    /// The head header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Total difficulty.
    pub total_difficulty: U256,
}

/// What [`Chain::import`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Already stored.
    Known,
    /// Stored on a side chain.
    Side,
    /// Stored and made the head.
    Head,
}

/// How [`Chain::open_opts`] opens a chain.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The minters a raft chain accepts (ignored by other engines).
    pub raft_members: RaftMembers,
    /// Accept ethash blocks without checking their proof of work (test chains: hive's
    /// `HIVE_SKIP_POW`, ethereum/tests); refused on every other engine.
    pub skip_pow: bool,
}

/// What a [`Chain::import_segment`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentReport {
    /// Blocks stored (head or side chain).
    pub imported: u64,
    /// Blocks already stored.
    pub known: u64,
    /// Transactions executed.
    pub transactions: u64,
    /// Gas used by the imported blocks.
    pub gas: u64,
}

struct State {
    head: HeadInfo,
}

/// A route between two stored blocks: the blocks to revert, newest first, then the blocks to
/// apply, oldest first ([`Chain::reorg_route`]).
type Route = (Vec<B256>, Vec<B256>);

/// How many blocks back from the head (or across to a side chain) the state stays readable at
/// a block (`eth_call`, `eth_getBalance` … at a block number): it is rebuilt from the change
/// sets, at a cost that grows with the distance (decision 431; the issue asks for 128).
pub const STATE_HISTORY: u64 = 256;

/// The verified chain.
pub struct Chain {
    store: ChainStore,
    genesis: Genesis,
    genesis_hash: B256,
    rules: Box<dyn ChainRules>,
    executor: Executor,
    state: Mutex<State>,
    head_tx: watch::Sender<HeadInfo>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("genesis", &self.genesis_hash)
            .finish_non_exhaustive()
    }
}

impl Chain {
    /// Opens the chain on `store` with no raft members (a raft chain opened this way accepts
    /// no minted block; see [`Self::open_opts`]).
    ///
    /// # Errors
    /// As [`Self::open_opts`].
    pub fn open(store: ChainStore, genesis: Genesis) -> Result<Self> {
        Self::open_opts(store, genesis, Options::default())
    }

    /// Opens the chain on `store` accepting the raft minters `raft_members`.
    ///
    /// # Errors
    /// As [`Self::open_opts`].
    pub fn open_with(
        store: ChainStore,
        genesis: Genesis,
        raft_members: RaftMembers,
    ) -> Result<Self> {
        Self::open_opts(
            store,
            genesis,
            Options {
                raft_members,
                ..Options::default()
            },
        )
    }

    /// Opens the chain on `store`: stores the genesis block and loads its state (or checks
    /// them), then lets the engine rebuild its per-block state from the canonical chain
    /// (clique replays it to the head's snapshot, verifying every block; the other engines
    /// keep none and their stored blocks were verified on import).
    ///
    /// # Errors
    /// [`Error::UnsupportedEngine`] for engines this node cannot follow (QBFT validator
    /// contracts), [`Error::Execution`] for execution rules it does not implement, store
    /// errors, or a stored block that no longer verifies ([`Error::Seal`]).
    pub fn open_opts(store: ChainStore, genesis: Genesis, options: Options) -> Result<Self> {
        let rules = crate::consensus::rules(&genesis, options.raft_members, options.skip_pow)?;
        let executor = Executor::new(&genesis)?;
        let genesis_hash = store.init_genesis(&genesis)?;
        let genesis_header = genesis.header();
        init_state(&store, &genesis, &genesis_header, genesis_hash)?;
        let head = store.head()?.ok_or_else(|| Error::Corrupt {
            path: store.path().to_owned(),
            what: "no head after storing the genesis".into(),
        })?;
        let mut canonical = |n: u64| {
            store.header_by_number(n)?.ok_or_else(|| Error::Corrupt {
                path: store.path().to_owned(),
                what: format!("canonical block {n} missing below head {}", head.number),
            })
        };
        rules.replay(&genesis_header, (head.number, head.hash), &mut canonical)?;
        let header = if head.number > 0 {
            decode_header(&canonical(head.number)?)?
        } else {
            genesis_header
        };
        // The stored trie is the head's state (a converted old datadir is checked here too).
        let trie_root = WorldState::trie_root(&store.begin_read()?)?;
        if trie_root != header.state_root {
            return Err(Error::Corrupt {
                path: store.path().to_owned(),
                what: format!(
                    "the state trie's root {trie_root} is not the head's state root {}",
                    header.state_root
                ),
            });
        }
        let info = HeadInfo {
            header,
            hash: head.hash,
            total_difficulty: head.total_difficulty,
        };
        let (head_tx, _) = watch::channel(info.clone());
        let chain = Self {
            store,
            genesis,
            genesis_hash,
            rules,
            executor,
            state: Mutex::new(State { head: info }),
            head_tx,
        };
        chain.build_tx_lookup()?;
        Ok(chain)
    }

    /// Indexes the canonical chain's transactions by hash once, for a store written before the
    /// index existed (a no-op afterwards).
    fn build_tx_lookup(&self) -> Result<()> {
        if self.store.tx_lookup_built()? {
            return Ok(());
        }
        let head = self.head();
        self.store.write(Durability::Immediate, |txn| {
            for number in 1..=head.header.number {
                let Some(hash) = self.store.canonical_hash_in(txn, number)? else {
                    continue;
                };
                let body = self.store.body_in(txn, &hash)?.unwrap_or_default();
                self.index_transactions(txn, &hash, &body)?;
            }
            self.store.mark_tx_lookup_built_in(txn, &head.hash)
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// The genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.genesis.config.chain_id
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.rules.engine()
    }

    /// The engine's rules.
    pub fn rules(&self) -> &dyn ChainRules {
        self.rules.as_ref()
    }

    /// The engine's rules as their concrete type `R` (e.g. [`CliqueRules`]), when the chain
    /// runs that engine.
    pub fn rules_as<R: ChainRules>(&self) -> Option<&R> {
        let rules: &dyn Any = self.rules.as_ref();
        rules.downcast_ref::<R>()
    }

    /// The engine's hash of a header's RLP; keccak of the bytes when they do not decode (such
    /// a header is refused by [`Self::import`] anyway).
    pub fn hash_rlp(&self, header_rlp: &[u8]) -> B256 {
        decode_header(header_rlp)
            .and_then(|h| self.rules.hash(&h))
            .unwrap_or_else(|_| keccak256(header_rlp))
    }

    /// The store (reads).
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// The current head.
    pub fn head(&self) -> HeadInfo {
        self.state().head.clone()
    }

    /// Head changes.
    pub fn subscribe(&self) -> watch::Receiver<HeadInfo> {
        self.head_tx.subscribe()
    }

    /// The clique snapshot after block `hash`, when this is a clique chain and it is kept.
    pub fn snapshot(&self, hash: &B256) -> Option<Snapshot> {
        self.rules_as::<CliqueRules>()?.snapshot(hash)
    }

    /// The addresses that may seal the next block (clique signers, BFT validators; sorted),
    /// empty where the engine has none (raft, ethash).
    pub fn signers(&self) -> Vec<Address> {
        let head = self.state().head.hash;
        self.rules.validators(&head).unwrap_or_default()
    }

    /// True when London is active at block `number` / `timestamp`.
    pub fn london(&self, number: u64, timestamp: u64) -> bool {
        self.genesis
            .config
            .is_active(Fork::London, number, timestamp)
    }

    /// How the gas limit of block `number` at `timestamp` may move from `parent`'s: against
    /// twice the parent's on the first London block (EIP-1559), freely on a GoQuorum chain
    /// (`isQuorum`) before London, within ±1/1024 otherwise.
    pub fn gas_limit_step(
        &self,
        number: u64,
        timestamp: u64,
        parent: &Header,
    ) -> block::GasLimitStep {
        let london = self.london(number, timestamp);
        if london && !self.london(parent.number, parent.timestamp) {
            block::GasLimitStep::LondonFork
        } else if !london && self.genesis.config.is_quorum {
            block::GasLimitStep::Free
        } else {
            block::GasLimitStep::Bounded
        }
    }

    /// The base fee the child of `parent` at `timestamp` must carry (`None` before London).
    pub fn base_fee_after(&self, parent: &Header, timestamp: u64) -> Option<U256> {
        let number = parent.number.saturating_add(1);
        block::next_base_fee(
            parent,
            self.london(number, timestamp),
            self.london(parent.number, parent.timestamp),
        )
    }

    /// An unsealed empty child of `head` (its hash as the parent hash, the base fee this chain
    /// requires); the engine fills difficulty and extraData.
    pub fn empty_child(
        &self,
        head: &HeadInfo,
        timestamp: u64,
        difficulty: U256,
        extra: Vec<u8>,
    ) -> Header {
        let mut child = block::empty_child(
            &head.header,
            head.hash,
            timestamp,
            difficulty,
            extra,
            self.base_fee_after(&head.header, timestamp),
        );
        // EIP-1559: the first London block's gas limit is the parent's times the elasticity.
        if self.gas_limit_step(child.number, timestamp, &head.header)
            == block::GasLimitStep::LondonFork
        {
            child.gas_limit = child.gas_limit.saturating_mul(2);
        }
        child
    }

    /// Verifies, executes and stores a block, durably (on disk when this returns).
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::InvalidBlock`] (naming the rule: a root, the gas used, a
    /// transaction), [`Error::Seal`], [`Error::UnknownParent`], or store errors. Nothing is
    /// stored on error.
    pub fn import(&self, header_rlp: &[u8], body_rlp: &[u8]) -> Result<Imported> {
        let (imported, _) = self.import_one(header_rlp, body_rlp, Durability::Immediate)?;
        if imported == Imported::Head {
            self.announce_head();
        }
        Ok(imported)
    }

    /// Imports `blocks` (header RLP, body RLP) in order as one segment: each verified and
    /// executed exactly as by [`Self::import`]. The blocks that extend the head are read and
    /// written in one write transaction, committed durably once at the end (or before a block
    /// that does not extend the head, which takes the one-block path and is made durable by the
    /// final flush). A block that fails leaves the blocks before it imported; only a store or
    /// state failure in the middle of writing a block drops the segment's open transaction. A
    /// crash mid-segment loses the uncommitted blocks whole (the store keeps its last durable
    /// head and that head's state), never consistency. Head watchers hear of the new head once,
    /// after the commit. `report` counts what was done.
    ///
    /// # Errors
    /// The first block's error, as [`Self::import`]; store errors of the commit.
    pub fn import_segment<'a>(
        &self,
        blocks: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        report: &mut SegmentReport,
    ) -> Result<()> {
        let mut moved = false;
        let mut outcome = Ok(());
        // Blocks that extend the head share one transaction; any other block (a side chain, a
        // reorg) commits it first and takes the one-block path.
        let mut open: Option<WriteTransaction> = None;
        let mut st = self.state();
        for (header_rlp, body_rlp) in blocks {
            let result = match self.extend_head_in(&mut open, &mut st, header_rlp, body_rlp) {
                Ok(Some(done)) => Ok(done),
                Ok(None) => {
                    if let Some(txn) = open.take()
                        && let Err(e) = self.finish_segment(txn, &mut st)
                    {
                        outcome = Err(e);
                        break;
                    }
                    drop(st);
                    let one = self.import_one(header_rlp, body_rlp, Durability::None);
                    st = self.state();
                    one
                }
                Err((e, true)) => Err(e),
                Err((e, false)) => {
                    // Part of the block is written: the segment's transaction is dropped.
                    open = None;
                    self.reload_head(&mut st)?;
                    Err(e)
                }
            };
            match result {
                Ok((Imported::Known, _)) => report.known += 1,
                Ok((imported, stats)) => {
                    moved |= imported == Imported::Head;
                    report.imported += 1;
                    report.transactions += stats.0;
                    report.gas += stats.1;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        if let Some(txn) = open.take() {
            self.finish_segment(txn, &mut st)?;
        }
        drop(st);
        self.store.flush()?;
        if moved {
            self.announce_head();
        }
        outcome
    }

    fn announce_head(&self) {
        let info = self.state().head.clone();
        self.head_tx.send_replace(info);
    }

    /// One block: checks, execution, one write transaction with `durability`. Returns what
    /// happened and (transactions, gas used).
    fn import_one(
        &self,
        header_rlp: &[u8],
        body_rlp: &[u8],
        durability: Durability,
    ) -> Result<(Imported, (u64, u64))> {
        let header = decode_header(header_rlp)?;
        let hash = self.rules.hash(&header)?;
        if self.store.block_info(&hash)?.is_some() {
            return Ok((Imported::Known, (0, 0)));
        }
        let parent_rlp = self.store.header_by_hash(&header.parent_hash)?;
        let (true, Some(parent_rlp)) = (self.rules.knows_parent(&header.parent_hash), parent_rlp)
        else {
            return Err(Error::UnknownParent {
                number: header.number,
                hash,
                parent: header.parent_hash,
            });
        };
        let parent = decode_header(&parent_rlp)?;
        let (body, author, senders) = self.check_block(&header, hash, &parent, body_rlp)?;

        // From here the head must not move under us: the flat state and the trie are the head's.
        let mut st = self.state();
        // Another importer may have stored the block while this one checked it (a BFT block
        // both committed here and received from a peer: the same engine hash, other seals).
        if self.store.block_info(&hash)?.is_some() {
            return Ok((Imported::Known, (0, 0)));
        }
        let on_head = header.parent_hash == st.head.hash;
        let route = if on_head {
            Route::default()
        } else {
            self.reorg_route(st.head.hash, header.parent_hash)?
        };
        let outcome = self.execute_on(&route, &header, &parent, author, &body, &senders)?;
        outcome
            .check_against(&header)
            .map_err(|e| rule_error(header.number, &e))?;
        let parent_td = self
            .store
            .block_info(&header.parent_hash)?
            .map(|i| i.total_difficulty)
            .unwrap_or_default();
        let td = parent_td + header.difficulty;
        // Proof-of-stake blocks (difficulty 0, ethash test chains after the merge) add no
        // difficulty: a child of the head becomes the head.
        let make_head = td > st.head.total_difficulty || (on_head && header.difficulty.is_zero());
        // A side block's root: the trie moved to its parent in a transaction that is dropped.
        let side_root = if make_head {
            None
        } else {
            Some(self.root_on(&route, &parent, &outcome.changes)?)
        };
        let record = record(&header, hash, header_rlp, body_rlp);
        self.store.write(durability, |txn| {
            self.write_block(
                txn,
                &record,
                (&header, &body),
                &parent,
                &outcome,
                &route,
                side_root,
            )
        })?;
        let stats = (body.transactions.len() as u64, header.gas_used);
        if !make_head {
            return Ok((Imported::Side, stats));
        }
        let number = header.number;
        st.head = HeadInfo {
            header,
            hash,
            total_difficulty: td,
        };
        drop(st);
        self.rules.head_changed(number);
        Ok((Imported::Head, stats))
    }

    /// A segment's block that extends the head, read and written entirely in the segment's
    /// transaction (`open`, begun on first use): `Ok(None)` when the block does not extend the
    /// head or needs the one-block path (pre-Byzantium intermediate roots open their own
    /// transactions). An error says whether the transaction is still fit to commit (`true`:
    /// nothing of this block but unreferenced trie nodes was written).
    fn extend_head_in(
        &self,
        open: &mut Option<WriteTransaction>,
        st: &mut State,
        header_rlp: &[u8],
        body_rlp: &[u8],
    ) -> Result<Option<Done>, (Error, bool)> {
        let clean = |e: Error| (e, true);
        let header = decode_header(header_rlp).map_err(clean)?;
        let byzantium =
            self.genesis
                .config
                .is_active(Fork::Byzantium, header.number, header.timestamp);
        if header.parent_hash != st.head.hash || !byzantium {
            return Ok(None);
        }
        let hash = self.rules.hash(&header).map_err(clean)?;
        let txn = match open {
            Some(txn) => txn,
            None => open.insert(
                self.store
                    .begin_write(Durability::Immediate)
                    .map_err(clean)?,
            ),
        };
        if self.store.contains_in(txn, &hash).map_err(clean)? {
            return Ok(Some((Imported::Known, (0, 0))));
        }
        if !self.rules.knows_parent(&header.parent_hash) {
            return Err(clean(Error::UnknownParent {
                number: header.number,
                hash,
                parent: header.parent_hash,
            }));
        }
        let parent = st.head.header.clone();
        let (body, author, senders) = self
            .check_block(&header, hash, &parent, body_rlp)
            .map_err(clean)?;
        let outcome = {
            let view = WorldState::latest_in(txn).map_err(|e| clean(e.into()))?;
            let hashes = CanonicalIn {
                store: &self.store,
                txn,
                parent: parent.number,
            };
            self.executor
                .execute(&header, author, &body, &senders, &view, &hashes)
                .map_err(|e| clean(rule_error(header.number, &e)))?
        };
        outcome
            .check_against(&header)
            .map_err(|e| clean(rule_error(header.number, &e)))?;
        let record = record(&header, hash, header_rlp, body_rlp);
        // `write_block` fails with `InvalidBlock` only at the state root, before it writes
        // anything but the (unreferenced) trie nodes.
        self.write_block(
            txn,
            &record,
            (&header, &body),
            &parent,
            &outcome,
            &Route::default(),
            None,
        )
        .map_err(|e| {
            let fit = matches!(e, Error::InvalidBlock { .. });
            (e, fit)
        })?;
        let stats = (body.transactions.len() as u64, header.gas_used);
        let number = header.number;
        st.head = HeadInfo {
            total_difficulty: st.head.total_difficulty + header.difficulty,
            header,
            hash,
        };
        self.rules.head_changed(number);
        Ok(Some((Imported::Head, stats)))
    }

    /// Commits a segment's transaction; when that fails, the in-memory head (which ran ahead
    /// of it) goes back to the stored one.
    fn finish_segment(&self, txn: WriteTransaction, st: &mut State) -> Result<()> {
        let committed = self.store.commit(txn);
        if committed.is_err() {
            self.reload_head(st)?;
        }
        committed
    }

    /// Sets the in-memory head to the stored one.
    fn reload_head(&self, st: &mut State) -> Result<()> {
        let head = self.store.head()?.ok_or_else(|| Error::Corrupt {
            path: self.store.path().to_owned(),
            what: "no head".into(),
        })?;
        let header_rlp = self
            .store
            .header_by_hash(&head.hash)?
            .ok_or_else(|| Error::Corrupt {
                path: self.store.path().to_owned(),
                what: format!("head {} has no header", head.hash),
            })?;
        st.head = HeadInfo {
            header: decode_header(&header_rlp)?,
            hash: head.hash,
            total_difficulty: head.total_difficulty,
        };
        Ok(())
    }

    /// The checks before execution, on `parent`: header against parent, base fee, body against
    /// header, the engine's seal; returns the body, the block's author and the senders.
    fn check_block(
        &self,
        header: &Header,
        hash: B256,
        parent: &Header,
        body_rlp: &[u8],
    ) -> Result<(cachet_execution::Body, Address, Vec<Address>)> {
        let step = self.gas_limit_step(header.number, header.timestamp, parent);
        block::check_against_parent(header, parent, header.parent_hash, step)?;
        let expected_fee = self.base_fee_after(parent, header.timestamp);
        if header.base_fee_per_gas != expected_fee {
            return Err(Error::InvalidBlock {
                number: header.number,
                rule: format!(
                    "base fee {:?}, expected {:?}",
                    header.base_fee_per_gas, expected_fee
                ),
            });
        }
        let body =
            cachet_execution::decode_body(body_rlp).map_err(|e| rule_error(header.number, &e))?;
        body.check_against(header)
            .map_err(|e| rule_error(header.number, &e))?;
        let author = self.rules.verify(hash, header, parent)?;
        let senders = cachet_execution::recover_senders(&body.transactions)
            .map_err(|e| rule_error(header.number, &e))?;
        Ok((body, author, senders))
    }

    /// Writes an executed block in `txn`. As the head (`side_root` `None`): the trie moved
    /// along `route` (head → parent) and by the block (the state root must be the header's:
    /// the only `InvalidBlock` this returns, and then the trie is left unwritten when `route`
    /// is empty), the change set, the receipts, the block, the flat state moved along the route
    /// and by the block, the transaction index and the head. On a side chain (`side_root`: the
    /// root computed on the parent's state, [`Self::root_on`]): the change set, the receipts
    /// and the block only.
    #[allow(clippy::too_many_arguments)]
    fn write_block(
        &self,
        txn: &WriteTransaction,
        record: &BlockRecord<'_>,
        (header, body): (&Header, &cachet_execution::Body),
        parent: &Header,
        outcome: &cachet_execution::BlockOutcome,
        route: &Route,
        side_root: Option<B256>,
    ) -> Result<()> {
        let unchanged = outcome.changes == ChangeSet::default();
        let make_head = side_root.is_none();
        let root = match side_root {
            Some(root) => root,
            None => {
                if !route.0.is_empty() || !route.1.is_empty() {
                    let moved = WorldState::move_trie(txn, &route.0, &route.1)?;
                    if moved != parent.state_root {
                        return Err(Error::Corrupt {
                            path: self.store.path().to_owned(),
                            what: format!(
                                "the trie moved to block {} has root {moved}, its header says {}",
                                header.parent_hash, parent.state_root
                            ),
                        });
                    }
                }
                if unchanged {
                    parent.state_root
                } else {
                    WorldState::commit_trie_expecting(
                        txn,
                        parent.state_root,
                        &outcome.changes,
                        header.state_root,
                    )?
                }
            }
        };
        if root != header.state_root {
            return Err(Error::InvalidBlock {
                number: header.number,
                rule: format!(
                    "state root {}, executing the block gives {root}",
                    header.state_root
                ),
            });
        }
        WorldState::store_changes(txn, record.hash, (&route.0, &route.1), &outcome.changes)?;
        // A block without transactions has no receipts to keep (`receipts` answers empty).
        if !outcome.receipts.is_empty() {
            let receipts = cachet_execution::encode_receipts(&outcome.receipts);
            self.store.put_receipts_in(txn, &record.hash, &receipts)?;
        }
        if make_head {
            for block in &route.0 {
                WorldState::revert_flat(txn, *block)?;
            }
            for block in &route.1 {
                WorldState::apply_flat(txn, *block)?;
                let body = self.store.body_in(txn, block)?.unwrap_or_default();
                self.index_transactions(txn, block, &body)?;
            }
            if !body.transactions.is_empty() {
                let hashes: Vec<B256> = body.transactions.iter().map(|t| *t.tx_hash()).collect();
                self.store.put_tx_lookups_in(txn, &record.hash, &hashes)?;
            }
            if !unchanged {
                WorldState::apply_flat(txn, record.hash)?;
            }
        }
        self.store.insert_block_in(txn, record, make_head)
    }

    /// The state root of `parent`'s post-state plus `changes`, where `route` leads from the
    /// head to `parent`: computed on the trie moved there in a transaction that is dropped
    /// (no write transaction may be open).
    fn root_on(&self, route: &Route, parent: &Header, changes: &ChangeSet) -> Result<B256> {
        if *changes == ChangeSet::default() {
            return Ok(parent.state_root);
        }
        scratch_root(&self.store, route, parent.state_root, changes)
    }

    /// Records the transactions of `body_rlp` as in canonical block `block` (the hash lookup of
    /// `eth_getTransactionByHash` and receipts).
    fn index_transactions(
        &self,
        txn: &WriteTransaction,
        block: &B256,
        body_rlp: &[u8],
    ) -> Result<()> {
        if body_rlp.is_empty() {
            return Ok(());
        }
        let body = cachet_execution::decode_body(body_rlp).map_err(|e| Error::Decode {
            what: "stored body",
            source: Box::new(e),
        })?;
        if body.transactions.is_empty() {
            return Ok(());
        }
        let hashes: Vec<B256> = body.transactions.iter().map(|t| *t.tx_hash()).collect();
        self.store.put_tx_lookups_in(txn, block, &hashes)
    }

    /// Executes `body` as block `header` on `parent`'s post-state (the flat state moved along
    /// `route`, head → parent; empty when the parent is the head). The caller holds the state
    /// lock.
    fn execute_on(
        &self,
        route: &Route,
        header: &Header,
        parent: &Header,
        author: Address,
        body: &cachet_execution::Body,
        senders: &[Address],
    ) -> Result<cachet_execution::BlockOutcome> {
        self.on_parent_state(route, header, parent, |view, hashes, roots| {
            self.executor
                .execute_with_roots(header, author, body, senders, view, hashes, roots)
        })
    }

    /// Runs `run` (execution or building of block `header`) on `parent`'s post-state with the
    /// block's ancestor hashes and intermediate roots; the caller holds the state lock.
    fn on_parent_state<T>(
        &self,
        route: &Route,
        header: &Header,
        parent: &Header,
        run: impl FnOnce(
            &dyn StateView,
            &dyn BlockHashes,
            &dyn cachet_execution::IntermediateRoots,
        ) -> Result<T, cachet_execution::BlockError>,
    ) -> Result<T> {
        let read = self.store.begin_read()?;
        let on_head = route.0.is_empty() && route.1.is_empty();
        let hashes = Ancestors {
            store: &self.store,
            parent: (parent.number, header.parent_hash),
            on_head,
        };
        let roots = ScratchRoots {
            store: &self.store,
            route,
            parent_root: parent.state_root,
        };
        let result = if on_head {
            run(&WorldState::latest(&read)?, &hashes, &roots)
        } else {
            run(
                &WorldState::at_route(&read, &route.0, &route.1)?,
                &hashes,
                &roots,
            )
        };
        result.map_err(|e| rule_error(header.number, &e))
    }

    /// The stored parent of the unsealed child `header`.
    fn parent_of(&self, header: &Header) -> Result<Header> {
        let parent_rlp =
            self.store
                .header_by_hash(&header.parent_hash)?
                .ok_or(Error::UnknownParent {
                    number: header.number,
                    hash: B256::ZERO,
                    parent: header.parent_hash,
                })?;
        decode_header(&parent_rlp)
    }

    /// Sets what a body and its execution commit to in `header`: transactions root, ommers
    /// hash, withdrawals root, gas used, receipts root, logs bloom and the state root (the
    /// parent's trie plus the changes, computed in a transaction that is dropped).
    fn commit_to(
        &self,
        route: &Route,
        header: &mut Header,
        parent: &Header,
        body: &cachet_execution::Body,
        outcome: &cachet_execution::BlockOutcome,
    ) -> Result<()> {
        header.transactions_root = body.transactions_root();
        header.ommers_hash = body.ommers_hash();
        header.withdrawals_root = body.withdrawals_root();
        header.gas_used = outcome.gas_used;
        header.receipts_root = outcome.receipts_root;
        header.logs_bloom = outcome.logs_bloom;
        header.state_root = self.root_on(route, parent, &outcome.changes)?;
        Ok(())
    }

    /// Completes an unsealed child `header` (parent, number, timestamp, gas limit, base fee,
    /// difficulty, extraData set) for `body_rlp`, authored by `author` (the fee recipient):
    /// fills in the transactions root, ommers hash, withdrawals root, gas used, receipts root,
    /// logs bloom and state root that executing the body on the parent's state gives. Nothing
    /// is stored; the block producers seal the result and import it.
    ///
    /// # Errors
    /// [`Error::UnknownParent`]; [`Error::InvalidBlock`] when the body does not decode or a
    /// transaction cannot be executed; store and state errors.
    pub fn complete_child(
        &self,
        mut header: Header,
        author: Address,
        body_rlp: &[u8],
    ) -> Result<Header> {
        let invalid = |e: &(dyn std::error::Error + 'static)| Error::InvalidBlock {
            number: header.number,
            rule: cachet_primitives::error::Chain(e).to_string(),
        };
        let body = cachet_execution::decode_body(body_rlp).map_err(|e| invalid(&e))?;
        let senders =
            cachet_execution::recover_senders(&body.transactions).map_err(|e| invalid(&e))?;
        let parent = self.parent_of(&header)?;
        let st = self.state();
        let route = self.route_to(&st, header.parent_hash)?;
        let outcome = self.execute_on(&route, &header, &parent, author, &body, &senders)?;
        self.commit_to(&route, &mut header, &parent, &body, &outcome)?;
        drop(st);
        Ok(header)
    }

    /// Builds the body of the unsealed child `header` (as for [`Self::complete_child`]) from
    /// `candidates`, authored by `author` (the fee recipient): executes them in order on the
    /// parent's state, leaving out any that cannot be included with its sender's later ones
    /// and stopping when less than 21000 gas is left ([`Executor::build`]), and fills in the
    /// roots, gas used and bloom of the result. Returns the completed header and the body RLP;
    /// nothing is stored.
    ///
    /// # Errors
    /// [`Error::UnknownParent`]; store and state errors ([`Error::InvalidBlock`] when the
    /// header's base fee does not fit 64 bits); never for a candidate.
    pub fn build_child(
        &self,
        mut header: Header,
        author: Address,
        candidates: &[cachet_execution::Candidate],
    ) -> Result<(Header, Vec<u8>)> {
        let parent = self.parent_of(&header)?;
        let st = self.state();
        let route = self.route_to(&st, header.parent_hash)?;
        let built = self.on_parent_state(&route, &header, &parent, |view, hashes, roots| {
            self.executor
                .build_with_roots(&header, author, candidates, view, hashes, roots)
        })?;
        self.commit_to(&route, &mut header, &parent, &built.body, &built.outcome)?;
        drop(st);
        Ok((header, built.body_rlp()))
    }

    /// The route from the head (`st`) to stored block `to` (empty when `to` is the head).
    fn route_to(&self, st: &State, to: B256) -> Result<Route> {
        if to == st.head.hash {
            Ok(Route::default())
        } else {
            self.reorg_route(st.head.hash, to)
        }
    }

    /// The blocks to take the flat state from `from` (the head) to `to` (a stored block on
    /// another branch): the blocks to revert, newest first, down to the common ancestor, and
    /// the blocks to apply, oldest first, up to `to`.
    pub(crate) fn reorg_route(&self, from: B256, to: B256) -> Result<(Vec<B256>, Vec<B256>)> {
        let info = |hash: B256| {
            self.store.block_info(&hash)?.ok_or_else(|| Error::Corrupt {
                path: self.store.path().to_owned(),
                what: format!("block {hash} on a reorg route has no index entry"),
            })
        };
        let (mut a, mut b) = ((from, info(from)?), (to, info(to)?));
        let (mut back, mut forward) = (Vec::new(), Vec::new());
        while a.0 != b.0 {
            if a.1.number >= b.1.number {
                back.push(a.0);
                a = (a.1.parent_hash, info(a.1.parent_hash)?);
            } else {
                forward.push(b.0);
                b = (b.1.parent_hash, info(b.1.parent_hash)?);
            }
        }
        forward.reverse();
        Ok((back, forward))
    }

    /// Runs `f` on the state after block `at`: the flat state when `at` is the head, else
    /// the flat state moved back (and along a side chain) by the stored change sets, for
    /// blocks at most [`STATE_HISTORY`] blocks from the head (decision 431).
    fn with_state<T>(
        &self,
        at: B256,
        f: impl FnOnce(&dyn StateView) -> Result<T, StateError>,
    ) -> Result<T> {
        let st = self.state();
        let read = self.store.begin_read()?;
        if at == st.head.hash {
            drop(st);
            return Ok(f(&WorldState::latest(&read)?)?);
        }
        let info = self
            .store
            .block_info(&at)?
            .ok_or_else(|| Error::Config(format!("block {at} is not stored")))?;
        let head = st.head.header.number;
        if head.abs_diff(info.number) > STATE_HISTORY {
            return Err(Error::Config(format!(
                "the state of block {} ({at}) is no longer kept: this node keeps the state of \
                 the last {STATE_HISTORY} blocks (head {head})",
                info.number
            )));
        }
        let route = self.reorg_route(st.head.hash, at)?;
        // The read transaction and the route are taken under the lock: they agree.
        drop(st);
        Ok(f(&WorldState::at_route(&read, &route.0, &route.1)?)?)
    }

    /// Runs `f` on the state after stored block `at` (`eth_call` and `eth_estimateGas`).
    ///
    /// # Errors
    /// [`Error::Config`] for a block that is not stored; state and store errors.
    pub fn with_state_at<T>(
        &self,
        at: B256,
        f: impl FnOnce(&dyn StateView) -> Result<T, StateError>,
    ) -> Result<T> {
        self.with_state(at, f)
    }

    /// The executor (calls on a block's state use the chain's fork schedule).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The account `address` after block `at` (`None` when absent).
    ///
    /// # Errors
    /// [`Error::Config`] for a block that is not stored; state and store errors.
    pub fn account(&self, at: B256, address: &Address) -> Result<Option<AccountInfo>> {
        self.with_state(at, |view| view.account(address))
    }

    /// Storage `slot` of `address` after block `at`.
    ///
    /// # Errors
    /// As [`Self::account`].
    pub fn storage(&self, at: B256, address: &Address, slot: U256) -> Result<U256> {
        self.with_state(at, |view| view.storage(address, &slot))
    }

    /// The code of `address` after block `at` (empty for accounts without code).
    ///
    /// # Errors
    /// As [`Self::account`]; [`Error::State`] when the account's code is missing.
    pub fn code(&self, at: B256, address: &Address) -> Result<Bytes> {
        self.with_state(at, |view| {
            let Some(account) = view.account(address)? else {
                return Ok(Bytes::new());
            };
            if account.code_hash == alloy_primitives::KECCAK256_EMPTY {
                return Ok(Bytes::new());
            }
            view.code(&account.code_hash)?
                .ok_or_else(|| StateError::Corrupt {
                    what: format!("code {} of {address} is missing", account.code_hash),
                })
        })
    }

    /// A stored block's receipts; `None` for a block that is not stored.
    ///
    /// # Errors
    /// Store errors; [`Error::Decode`] for stored receipts that do not decode.
    pub fn receipts(&self, block: B256) -> Result<Option<Vec<ReceiptEnvelope>>> {
        match self.store.receipts_by_hash(&block)? {
            Some(bytes) => cachet_execution::decode_receipts(&bytes)
                .map(Some)
                .map_err(|e| Error::Decode {
                    what: "stored receipts",
                    source: Box::new(e),
                }),
            // Blocks without transactions (and those stored before execution) keep none.
            None if self.store.block_info(&block)?.is_some() => Ok(Some(Vec::new())),
            None => Ok(None),
        }
    }

    /// Header RLP by hash.
    ///
    /// # Errors
    /// Store errors.
    pub fn header_rlp_by_hash(&self, hash: &B256) -> Result<Option<Vec<u8>>> {
        self.store.header_by_hash(hash)
    }

    /// Canonical header RLP by number.
    ///
    /// # Errors
    /// Store errors.
    pub fn header_rlp_by_number(&self, number: u64) -> Result<Option<Vec<u8>>> {
        self.store.header_by_number(number)
    }
}

/// Loads the genesis state into a store that has none. A store written before Cachet executed
/// transactions holds only empty blocks, so its head's state is the genesis state: every stored
/// block gets an empty change set and the flat state is the genesis alloc.
fn init_state(
    store: &ChainStore,
    genesis: &Genesis,
    genesis_header: &Header,
    genesis_hash: B256,
) -> Result<()> {
    if WorldState::is_initialised(&store.begin_read()?)? {
        return Ok(());
    }
    let blocks = store.block_hashes()?;
    store.write(Durability::Immediate, |txn| {
        let root = WorldState::load_genesis(txn, &genesis.alloc)?;
        if root != genesis_header.state_root {
            return Err(Error::GenesisState {
                computed: root,
                expected: genesis_header.state_root,
            });
        }
        for hash in blocks.into_iter().filter(|h| *h != genesis_hash) {
            WorldState::store_changes(txn, hash, (&[], &[]), &ChangeSet::default())?;
        }
        Ok(())
    })
}

/// The state root after each transaction of a pre-Byzantium block (its receipts carry it):
/// the parent's trie plus the changes so far, written in a transaction that is aborted.
struct ScratchRoots<'a> {
    store: &'a ChainStore,
    /// From the head to the parent.
    route: &'a Route,
    parent_root: B256,
}

impl cachet_execution::IntermediateRoots for ScratchRoots<'_> {
    fn root_after(&self, changes: &ChangeSet) -> Result<B256, StateError> {
        let root = scratch_root(self.store, self.route, self.parent_root, changes);
        root.map_err(|e| state_error(e, "intermediate state root"))
    }
}

/// The root of the state at `parent_root` (at the end of `route` from the head) plus
/// `changes`, computed on the stored trie in a transaction that is dropped.
fn scratch_root(
    store: &ChainStore,
    route: &Route,
    parent_root: B256,
    changes: &ChangeSet,
) -> Result<B256> {
    store.scratch(|txn| {
        if !route.0.is_empty() || !route.1.is_empty() {
            let moved = WorldState::move_trie(txn, &route.0, &route.1)?;
            if moved != parent_root {
                return Err(Error::Corrupt {
                    path: store.path().to_owned(),
                    what: format!(
                        "the trie moved along a route has root {moved}, the parent's is {parent_root}"
                    ),
                });
            }
        }
        Ok(WorldState::commit_trie(txn, parent_root, changes)?)
    })
}

/// A node error met while execution reads the chain, as the state error execution reports:
/// a state error as it is, anything else as corruption naming `what` was being read.
fn state_error(e: Error, what: &str) -> StateError {
    match e {
        Error::State(e) => e,
        other => StateError::Corrupt {
            what: format!("{what}: {}", cachet_primitives::error::Chain(&other)),
        },
    }
}

/// The store's record of a block.
fn record<'a>(
    header: &Header,
    hash: B256,
    header_rlp: &'a [u8],
    body_rlp: &'a [u8],
) -> BlockRecord<'a> {
    BlockRecord {
        number: header.number,
        hash,
        parent_hash: header.parent_hash,
        difficulty: header.difficulty,
        header_rlp,
        body_rlp,
    }
}

/// What importing one block did: [`Imported`], and (transactions, gas used).
type Done = (Imported, (u64, u64));

/// An error of the execution crate as the rule a block broke.
fn rule_error(number: u64, e: &(dyn std::error::Error + 'static)) -> Error {
    Error::InvalidBlock {
        number,
        rule: cachet_primitives::error::Chain(e).to_string(),
    }
}

/// BLOCKHASH for a block extending the head inside a segment's transaction: the canonical
/// index as that transaction sees it.
struct CanonicalIn<'a> {
    store: &'a ChainStore,
    txn: &'a WriteTransaction,
    parent: u64,
}

impl BlockHashes for CanonicalIn<'_> {
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        if number > self.parent {
            return Ok(None);
        }
        self.store
            .canonical_hash_in(self.txn, number)
            .map_err(|e| state_error(e, &format!("reading ancestor {number}")))
    }
}

/// BLOCKHASH for a block executed on `parent`: canonical hashes when the parent is the head,
/// else parent links walked back (a side chain).
struct Ancestors<'a> {
    store: &'a ChainStore,
    parent: (u64, B256),
    on_head: bool,
}

impl BlockHashes for Ancestors<'_> {
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StateError> {
        let store_err = |e| state_error(e, &format!("reading ancestor {number}"));
        if number > self.parent.0 {
            return Ok(None);
        }
        if self.on_head {
            return self.store.canonical_hash(number).map_err(store_err);
        }
        let (mut n, mut hash) = self.parent;
        while n > number {
            let Some(info) = self.store.block_info(&hash).map_err(store_err)? else {
                return Ok(None);
            };
            (n, hash) = (n - 1, info.parent_hash);
        }
        Ok(Some(hash))
    }
}

/// Decodes header RLP into the seal crate's header.
///
/// # Errors
/// [`Error::Decode`].
pub fn decode_header(rlp: &[u8]) -> Result<Header> {
    Header::decode(rlp).map_err(|e| Error::Decode {
        what: "header",
        source: Box::new(e),
    })
}
