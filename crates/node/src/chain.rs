//! [`Chain`]: the verified chain: store + genesis + the clique snapshot per recent block.
//!
//! Every block enters through [`Chain::import`], sealed locally or received from a peer: the
//! header rules against the parent, the clique rules against the parent's snapshot (signer
//! authorised, not recently signed, difficulty, checkpoint signer list, seal recovery), and an
//! empty body. A block whose total difficulty beats the head's becomes the head (the store
//! rewrites the canonical index back to the common ancestor).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use alloy_primitives::{Address, B256, U256, keccak256};
use cachet_genesis::{Engine, Fork, Genesis};
use cachet_seal::Header;
use cachet_seal::clique::Snapshot;
use tokio::sync::watch;

use crate::block::{self, EMPTY_ROOT_HASH};
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

/// Clique parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliqueParams {
    /// Seconds between blocks.
    pub period: u64,
    /// Blocks per epoch.
    pub epoch: u64,
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
    clique: CliqueParams,
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
    /// Opens the chain on `store`: stores the genesis (or checks it), then replays the
    /// canonical chain to rebuild the clique snapshot at the head, verifying every block.
    ///
    /// # Errors
    /// [`Error::UnsupportedEngine`] for non-clique genesis files, store errors, or a stored
    /// block that no longer verifies ([`Error::Seal`]).
    pub fn open(store: ChainStore, genesis: Genesis) -> Result<Self> {
        let clique = match genesis.engine() {
            Engine::Clique { period, epoch } => CliqueParams {
                period: *period,
                epoch: if *epoch == 0 {
                    cachet_genesis::DEFAULT_EPOCH
                } else {
                    *epoch
                },
            },
            Engine::Ibft { .. } => return Err(Error::UnsupportedEngine("ibft")),
            Engine::Qbft { .. } => return Err(Error::UnsupportedEngine("qbft")),
            Engine::Raft => return Err(Error::UnsupportedEngine("raft")),
            _ => return Err(Error::UnsupportedEngine("unknown")),
        };
        let genesis_hash = store.init_genesis(&genesis)?;
        let genesis_rlp = genesis.header().rlp();
        let genesis_header = decode_header(&genesis_rlp)?;
        let mut snap = Snapshot::from_checkpoint(&genesis_header, clique.epoch)
            .map_err(|source| Error::Seal { number: 0, source })?;
        let head = store.head()?.ok_or_else(|| Error::Corrupt {
            path: store.path().to_owned(),
            what: "no head after storing the genesis".into(),
        })?;
        let mut header = genesis_header;
        let mut snapshots = HashMap::new();
        for n in 1..=head.number {
            let rlp = store.header_by_number(n)?.ok_or_else(|| Error::Corrupt {
                path: store.path().to_owned(),
                what: format!("canonical block {n} missing below head {}", head.number),
            })?;
            header = decode_header(&rlp)?;
            snap.apply(&header)
                .map_err(|source| Error::Seal { number: n, source })?;
            if n + SNAPSHOT_DEPTH >= head.number {
                snapshots.insert(keccak256(&rlp), snap.clone());
            }
        }
        snapshots.insert(head.hash, snap);
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
            clique,
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

    /// Clique parameters.
    pub fn clique(&self) -> CliqueParams {
        self.clique
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

    /// Verifies and stores a block.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::InvalidBlock`], [`Error::Seal`], [`Error::UnknownParent`], or
    /// store errors. Nothing is stored on error.
    pub fn import(&self, header_rlp: &[u8], body_rlp: &[u8]) -> Result<Imported> {
        let hash = keccak256(header_rlp);
        if self.store.block_info(&hash)?.is_some() {
            return Ok(Imported::Known);
        }
        let header = decode_header(header_rlp)?;
        let parent_snap = self.snapshot(&header.parent_hash);
        let parent_rlp = self.store.header_by_hash(&header.parent_hash)?;
        let (Some(mut snap), Some(parent_rlp)) = (parent_snap, parent_rlp) else {
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
        if header.timestamp < parent.timestamp.saturating_add(self.clique.period) {
            return Err(invalid(format!(
                "timestamp {} earlier than parent's + period ({} + {})",
                header.timestamp, parent.timestamp, self.clique.period
            )));
        }
        let london = self.london(header.number, header.timestamp);
        let expected_fee = block::next_base_fee(
            &parent,
            london,
            self.london(parent.number, parent.timestamp),
        );
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
        snap.apply(&header).map_err(|source| Error::Seal {
            number: header.number,
            source,
        })?;
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
        st.snapshots.insert(hash, snap);
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
        reason: e.to_string(),
    })
}
