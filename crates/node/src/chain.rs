//! [`Chain`]: the verified chain: store + genesis + the consensus engine (and, on clique, the
//! snapshot per recent block).
//!
//! Every block enters through [`Chain::import`], sealed locally or received from a peer: the
//! header rules against the parent, the engine's rules (clique: against the parent's snapshot
//! — signer authorised, not recently signed, difficulty, checkpoint signer list, seal recovery;
//! IBFT/QBFT/Raft: see [`crate::consensus`]), and an empty body. Blocks are keyed by the
//! engine's block hash ([`Consensus::hash`]). A block whose total difficulty beats the head's
//! becomes the head (the store rewrites the canonical index back to the common ancestor).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use alloy_primitives::{Address, B256, U256, keccak256};
use cachet_genesis::{Fork, Genesis};
use cachet_seal::clique::Snapshot;
use cachet_seal::{Header, RaftMembers};
use tokio::sync::watch;

use crate::block::{self, EMPTY_ROOT_HASH};
pub use crate::consensus::CliqueParams;
use crate::consensus::Consensus;
use crate::error::{Error, Result};
use crate::store::{BlockRecord, ChainStore};

/// Snapshots kept for blocks this far below the head (side chains deeper than this are refused).
const SNAPSHOT_DEPTH: u64 = 256;

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
    snapshots: HashMap<B256, Snapshot>,
}

/// The verified chain.
pub struct Chain {
    store: ChainStore,
    genesis: Genesis,
    genesis_hash: B256,
    consensus: Consensus,
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

    /// Opens the chain on `store`: stores the genesis (or checks it), then, on clique, replays
    /// the canonical chain to rebuild the snapshot at the head, verifying every block (the
    /// other engines keep no per-block state; their stored blocks were verified on import).
    /// `raft_members` are the minters a raft chain accepts (ignored by other engines).
    ///
    /// # Errors
    /// [`Error::UnsupportedEngine`] for engines this node cannot follow (QBFT validator
    /// contracts), store errors, or a stored block that no longer verifies ([`Error::Seal`]).
    pub fn open_with(
        store: ChainStore,
        genesis: Genesis,
        raft_members: RaftMembers,
    ) -> Result<Self> {
        let consensus = Consensus::from_genesis(&genesis, raft_members)?;
        let genesis_hash = store.init_genesis(&genesis)?;
        let genesis_header = genesis.header();
        let head = store.head()?.ok_or_else(|| Error::Corrupt {
            path: store.path().to_owned(),
            what: "no head after storing the genesis".into(),
        })?;
        let canonical = |n: u64| {
            store.header_by_number(n)?.ok_or_else(|| Error::Corrupt {
                path: store.path().to_owned(),
                what: format!("canonical block {n} missing below head {}", head.number),
            })
        };
        let mut header = genesis_header;
        let mut snapshots = HashMap::new();
        if let Consensus::Clique(clique) = &consensus {
            let mut snap = Snapshot::from_checkpoint(&header, clique.epoch)
                .map_err(|source| Error::Seal { number: 0, source })?;
            for n in 1..=head.number {
                let rlp = canonical(n)?;
                header = decode_header(&rlp)?;
                snap.apply(&header)
                    .map_err(|source| Error::Seal { number: n, source })?;
                if n + SNAPSHOT_DEPTH >= head.number {
                    snapshots.insert(keccak256(&rlp), snap.clone());
                }
            }
            snapshots.insert(head.hash, snap);
        } else if head.number > 0 {
            header = decode_header(&canonical(head.number)?)?;
        }
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
            consensus,
            state: Mutex::new(State {
                head: info,
                snapshots,
            }),
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

    /// Clique parameters (on other engines: period 0 and the default epoch; meaningful only
    /// on clique chains).
    pub fn clique(&self) -> CliqueParams {
        match &self.consensus {
            Consensus::Clique(p) => *p,
            _ => CliqueParams {
                period: 0,
                epoch: cachet_genesis::DEFAULT_EPOCH,
            },
        }
    }

    /// The consensus engine.
    pub fn consensus(&self) -> &Consensus {
        &self.consensus
    }

    /// The engine's hash of a header's RLP; keccak of the bytes when they do not decode (such
    /// a header is refused by [`Self::import`] anyway).
    pub fn hash_rlp(&self, header_rlp: &[u8]) -> B256 {
        decode_header(header_rlp)
            .and_then(|h| self.consensus.hash(&h))
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

    /// The clique snapshot after block `hash`, when kept.
    pub fn snapshot(&self, hash: &B256) -> Option<Snapshot> {
        self.state().snapshots.get(hash).cloned()
    }

    /// The signers at the head (sorted).
    pub fn signers(&self) -> Vec<Address> {
        let st = self.state();
        st.snapshots
            .get(&st.head.hash)
            .map(|s| s.signers.iter().copied().collect())
            .unwrap_or_default()
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
        let hash = self.consensus.hash(&header)?;
        if self.store.block_info(&hash)?.is_some() {
            return Ok(Imported::Known);
        }
        let clique = matches!(self.consensus, Consensus::Clique(_));
        // Clique needs the parent's snapshot (kept SNAPSHOT_DEPTH blocks deep); the other
        // engines only the parent header.
        let parent_snap = self.snapshot(&header.parent_hash);
        let parent_rlp = self.store.header_by_hash(&header.parent_hash)?;
        let (true, Some(parent_rlp)) = (!clique || parent_snap.is_some(), parent_rlp) else {
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
        let period = self.clique().period;
        if clique && header.timestamp < parent.timestamp.saturating_add(period) {
            return Err(invalid(format!(
                "timestamp {} earlier than parent's + period ({} + {})",
                header.timestamp, parent.timestamp, period
            )));
        }
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
        let snap = match parent_snap {
            Some(mut snap) => {
                snap.apply(&header).map_err(|source| Error::Seal {
                    number: header.number,
                    source,
                })?;
                Some(snap)
            }
            None => {
                self.consensus.verify(&header, &parent)?;
                None
            }
        };
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
        if let Some(snap) = snap {
            st.snapshots.insert(hash, snap);
        }
        if !make_head {
            return Ok(Imported::Side);
        }
        let number = header.number;
        st.head = HeadInfo {
            header,
            hash,
            total_difficulty: td,
        };
        st.snapshots
            .retain(|_, s| s.number.saturating_add(SNAPSHOT_DEPTH) >= number);
        let info = st.head.clone();
        drop(st);
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
