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

use alloy_primitives::{Address, B256, U256, keccak256};
use cachet_genesis::{Engine, Fork, Genesis};
use cachet_seal::clique::Snapshot;
use cachet_seal::{Header, RaftMembers};
use tokio::sync::watch;

use crate::block::{self, EMPTY_ROOT_HASH};
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

struct State {
    head: HeadInfo,
}

/// The verified chain.
pub struct Chain {
    store: ChainStore,
    genesis: Genesis,
    genesis_hash: B256,
    rules: Box<dyn ChainRules>,
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
    /// no minted block; see [`Self::open_with`]).
    ///
    /// # Errors
    /// As [`Self::open_with`].
    pub fn open(store: ChainStore, genesis: Genesis) -> Result<Self> {
        Self::open_with(store, genesis, RaftMembers::new())
    }

    /// Opens the chain on `store`: stores the genesis (or checks it), then lets the engine
    /// rebuild its per-block state from the canonical chain (clique replays it to the head's
    /// snapshot, verifying every block; the other engines keep none and their stored blocks
    /// were verified on import). `raft_members` are the minters a raft chain accepts (ignored
    /// by other engines).
    ///
    /// # Errors
    /// [`Error::UnsupportedEngine`] for engines this node cannot follow (QBFT validator
    /// contracts), store errors, or a stored block that no longer verifies ([`Error::Seal`]).
    pub fn open_with(
        store: ChainStore,
        genesis: Genesis,
        raft_members: RaftMembers,
    ) -> Result<Self> {
        let rules = crate::consensus::rules(&genesis, raft_members)?;
        let genesis_hash = store.init_genesis(&genesis)?;
        let genesis_header = genesis.header();
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
        let info = HeadInfo {
            header,
            hash: head.hash,
            total_difficulty: head.total_difficulty,
        };
        let (head_tx, _) = watch::channel(info.clone());
        Ok(Self {
            store,
            genesis,
            genesis_hash,
            rules,
            state: Mutex::new(State { head: info }),
            head_tx,
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
        block::empty_child(
            &head.header,
            head.hash,
            timestamp,
            difficulty,
            extra,
            self.base_fee_after(&head.header, timestamp),
        )
    }

    /// Verifies and stores a block.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::InvalidBlock`], [`Error::Seal`], [`Error::UnknownParent`], or
    /// store errors. Nothing is stored on error.
    pub fn import(&self, header_rlp: &[u8], body_rlp: &[u8]) -> Result<Imported> {
        let header = decode_header(header_rlp)?;
        let hash = self.rules.hash(&header)?;
        if self.store.block_info(&hash)?.is_some() {
            return Ok(Imported::Known);
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
        block::check_against_parent(&header, &parent, header.parent_hash)?;
        let invalid = |rule: String| Error::InvalidBlock {
            number: header.number,
            rule,
        };
        let expected_fee = self.base_fee_after(&parent, header.timestamp);
        if header.base_fee_per_gas != expected_fee {
            return Err(invalid(format!(
                "base fee {:?}, expected {:?}",
                header.base_fee_per_gas, expected_fee
            )));
        }
        if !block::body_is_empty(body_rlp)
            || header.transactions_root != EMPTY_ROOT_HASH
            || header.receipts_root != EMPTY_ROOT_HASH
            || header.gas_used != 0
        {
            return Err(invalid(
                "blocks with transactions are not supported yet (cachet executes no transactions)"
                    .into(),
            ));
        }
        if header.state_root != parent.state_root {
            return Err(invalid(
                "an empty block must keep its parent's state root".into(),
            ));
        }
        self.rules.verify(hash, &header, &parent)?;
        let mut st = self.state();
        let parent_td = self
            .store
            .block_info(&header.parent_hash)?
            .map(|i| i.total_difficulty)
            .unwrap_or_default();
        let td = parent_td + header.difficulty;
        let make_head = td > st.head.total_difficulty;
        self.store.insert_block(
            &BlockRecord {
                number: header.number,
                hash,
                parent_hash: header.parent_hash,
                difficulty: header.difficulty,
                header_rlp,
                body_rlp,
            },
            make_head,
        )?;
        if !make_head {
            return Ok(Imported::Side);
        }
        let number = header.number;
        st.head = HeadInfo {
            header,
            hash,
            total_difficulty: td,
        };
        let info = st.head.clone();
        drop(st);
        self.rules.head_changed(number);
        self.head_tx.send_replace(info);
        Ok(Imported::Head)
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
