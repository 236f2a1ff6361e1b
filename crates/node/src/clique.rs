//! Clique (EIP-225) in the node: [`CliqueRules`], the chain rules (the snapshot per recent
//! block: signer authorised, not recently signed, difficulty, checkpoint signer list, votes,
//! seal recovery, and the block period), and [`CliqueSealer`], the block producer (in turn: the
//! block time; out of turn: plus a random wiggle; `clique_propose` votes; epoch checkpoints).
//! The seal format itself is `cachet_seal::clique`.
//!
//! Crash safety as for every producer ([`crate::produce`]): the unsealed header is written to
//! `<datadir>/sealing.rlp` before the journal records its seal hash, and re-signed after a
//! crash between the journal write and the chain commit.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256, keccak256};
use cachet_genesis::{Engine, Genesis};
use cachet_keyprovider::SigningKey;
use cachet_seal::clique::{self, NONCE_AUTH, NONCE_DROP, Snapshot};
use cachet_seal::{Header, Sealer};
use rand::Rng as _;

use crate::block;
use crate::chain::{Chain, HeadInfo, decode_header};
use crate::consensus::{BlockProducer, ChainRules, Slot};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;
use crate::produce::BuildConfig;

pub use crate::pending::SEALING_FILE;

/// Snapshots kept for blocks this far below the head (side chains deeper than this are refused).
const SNAPSHOT_DEPTH: u64 = 256;

/// Clique parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliqueParams {
    /// Seconds between blocks.
    pub period: u64,
    /// Blocks per epoch.
    pub epoch: u64,
}

impl Default for CliqueParams {
    /// Period 0 and the default epoch (30000).
    fn default() -> Self {
        Self {
            period: 0,
            epoch: cachet_genesis::DEFAULT_EPOCH,
        }
    }
}

/// Clique's chain rules: the snapshot after every recent block (kept 256 blocks
/// below the head), each verified from its parent's.
#[derive(Debug)]
pub struct CliqueRules {
    params: CliqueParams,
    snapshots: Mutex<HashMap<B256, Snapshot>>,
}

impl CliqueRules {
    /// The rules of a clique `genesis` (period 0 and the default epoch when it has no clique
    /// section).
    pub fn from_genesis(genesis: &Genesis) -> Self {
        let params = genesis
            .clique()
            .map_or_else(CliqueParams::default, |c| CliqueParams {
                period: c.period,
                epoch: if c.epoch == 0 {
                    cachet_genesis::DEFAULT_EPOCH
                } else {
                    c.epoch
                },
            });
        Self {
            params,
            snapshots: Mutex::default(),
        }
    }

    /// Period and epoch.
    pub const fn params(&self) -> CliqueParams {
        self.params
    }

    /// The snapshot after block `hash`, when kept.
    pub fn snapshot(&self, hash: &B256) -> Option<Snapshot> {
        self.snapshots().get(hash).cloned()
    }

    fn snapshots(&self) -> MutexGuard<'_, HashMap<B256, Snapshot>> {
        self.snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ChainRules for CliqueRules {
    fn engine(&self) -> Engine {
        Engine::Clique
    }

    fn replay(
        &self,
        genesis: &Header,
        head: (u64, B256),
        canonical: &mut dyn FnMut(u64) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let (head_number, head_hash) = head;
        let mut snap = Snapshot::from_checkpoint(genesis, self.params.epoch)
            .map_err(|source| Error::Seal { number: 0, source })?;
        let mut kept = HashMap::new();
        for n in 1..=head_number {
            let rlp = canonical(n)?;
            let header = decode_header(&rlp)?;
            snap.apply(&header)
                .map_err(|source| Error::Seal { number: n, source })?;
            if n + SNAPSHOT_DEPTH >= head_number {
                kept.insert(keccak256(&rlp), snap.clone());
            }
        }
        kept.insert(head_hash, snap);
        *self.snapshots() = kept;
        Ok(())
    }

    fn knows_parent(&self, parent: &B256) -> bool {
        self.snapshots().contains_key(parent)
    }

    fn verify(&self, hash: B256, header: &Header, parent: &Header) -> Result<Address> {
        let number = header.number;
        let period = self.params.period;
        if header.timestamp < parent.timestamp.saturating_add(period) {
            return Err(Error::InvalidBlock {
                number,
                rule: format!(
                    "timestamp {} earlier than parent's + period ({} + {})",
                    header.timestamp, parent.timestamp, period
                ),
            });
        }
        let mut snap = self
            .snapshot(&header.parent_hash)
            .ok_or(Error::UnknownParent {
                number,
                hash,
                parent: header.parent_hash,
            })?;
        let signer = snap
            .apply(header)
            .map_err(|source| Error::Seal { number, source })?;
        self.snapshots().insert(hash, snap);
        Ok(signer)
    }

    fn head_changed(&self, number: u64) {
        self.snapshots()
            .retain(|_, s| s.number.saturating_add(SNAPSHOT_DEPTH) >= number);
    }

    fn validators(&self, at: &B256) -> Option<Vec<Address>> {
        self.snapshot(at)
            .map(|s| s.signers.iter().copied().collect())
    }
}

/// Pending `clique_propose` votes: target → authorize.
pub type Proposals = Arc<Mutex<HashMap<Address, bool>>>;

/// Clique block producer for one signer.
pub struct CliqueSealer {
    chain: Arc<Chain>,
    sealer: Sealer,
    key: SigningKey,
    proposals: Proposals,
    pending: PendingHeader,
    vanity: [u8; clique::EXTRA_VANITY],
}

impl std::fmt::Debug for CliqueSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliqueSealer")
            .field("signer", &self.key.address())
            .finish_non_exhaustive()
    }
}

impl CliqueSealer {
    /// A sealer signing with `key`, journalling in `datadir`.
    ///
    /// # Errors
    /// [`Error::Journal`] when the seal journal cannot be opened.
    pub fn new(
        chain: Arc<Chain>,
        datadir: &Path,
        key: SigningKey,
        proposals: Proposals,
    ) -> Result<Self> {
        let sealer = Sealer::open(datadir).map_err(Error::Journal)?;
        Ok(Self {
            chain,
            sealer,
            key,
            proposals,
            pending: PendingHeader::new(datadir),
            vanity: [0; clique::EXTRA_VANITY],
        })
    }

    /// Sets the 32-byte vanity that starts every sealed block's extraData (`--miner.extradata`,
    /// zero-padded as geth pads it).
    ///
    /// # Errors
    /// [`Error::Config`] when `extra` is longer than 32 bytes.
    pub fn with_vanity(mut self, extra: &[u8]) -> Result<Self> {
        let slot = self.vanity.get_mut(..extra.len()).ok_or_else(|| {
            Error::Config(format!(
                "--miner.extradata is {} bytes; clique allows {}",
                extra.len(),
                clique::EXTRA_VANITY
            ))
        })?;
        slot.copy_from_slice(extra);
        Ok(self)
    }

    /// The signer address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The chain's clique parameters (a non-clique chain: period 0, the default epoch; such a
    /// chain keeps no snapshot, so this sealer never seals on it).
    fn params(&self) -> CliqueParams {
        self.chain
            .rules_as::<CliqueRules>()
            .map_or_else(CliqueParams::default, CliqueRules::params)
    }

    /// The unsealed child of `head` this signer would seal, or `None` when it may not seal now
    /// (not a signer, or signed recently).
    pub fn build(&self, head: &HeadInfo, snap: &Snapshot, now: u64) -> Option<Header> {
        let me = self.address();
        let number = head.header.number.saturating_add(1);
        if !snap.signers.contains(&me) || snap.recently_signed(number, &me) {
            return None;
        }
        let params = self.params();
        let timestamp = head
            .header
            .timestamp
            .saturating_add(params.period.max(1))
            .max(now);
        let checkpoint = number.is_multiple_of(params.epoch);
        let mut extra = self.vanity.to_vec();
        if checkpoint {
            for s in &snap.signers {
                extra.extend_from_slice(s.as_slice());
            }
        }
        extra.extend_from_slice(&[0u8; clique::EXTRA_SEAL]);
        let mut header =
            self.chain
                .empty_child(head, timestamp, snap.difficulty(number, &me), extra);
        if !checkpoint {
            let proposals = self
                .proposals
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let open: Vec<(Address, bool)> = proposals
                .iter()
                .filter(|(a, auth)| snap.signers.contains(*a) != **auth)
                .map(|(a, b)| (*a, *b))
                .collect();
            if !open.is_empty() {
                let (target, auth) = open[rand::thread_rng().gen_range(0..open.len())];
                header.beneficiary = target;
                header.nonce = if auth { NONCE_AUTH } else { NONCE_DROP };
            }
        }
        Some(header)
    }

    /// Builds, seals and imports the next block at time `now` without waiting; `None` when
    /// this signer may not seal the next block.
    ///
    /// # Errors
    /// As the journal and [`Chain::import`].
    pub fn seal_now(&mut self, now: u64) -> Result<Option<Header>> {
        let head = self.chain.head();
        let Some(snap) = self.chain.snapshot(&head.hash) else {
            return Ok(None);
        };
        let chain = self.chain.clone();
        match self.build(&head, &snap, now) {
            Some(h) => crate::produce::produce(self, &chain, &h, &BuildConfig::default()).map(Some),
            None => Ok(None),
        }
    }

    /// Seals the completed `header` of the block with body `body_rlp` with the sealing key
    /// through the journal, without importing it; returns the sealed header and its body.
    /// When a block is pending at this height (recorded before a crash), that one is sealed
    /// instead.
    ///
    /// # Errors
    /// Equivocation, journal I/O or signing ([`Error::Seal`]), or [`Error::Config`] when
    /// `sealing.rlp` cannot be written.
    pub fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)> {
        let (header, body) = self.pending.take_or_record(header, body_rlp)?;
        let sealed = self
            .sealer
            .clique(&header, &self.key)
            .map_err(|source| Error::Seal {
                number: header.number,
                source,
            })?;
        Ok((sealed, body))
    }
}

impl BlockProducer for CliqueSealer {
    fn address(&self) -> Address {
        self.key.address()
    }

    fn next_slot(&mut self, head: &HeadInfo) -> Option<Slot> {
        let snap = self.chain.snapshot(&head.hash)?;
        let now = block::now_secs();
        let header = self.build(head, &snap, now)?;
        let mut delay = block::until(header.timestamp);
        if header.difficulty != U256::from(clique::DIFF_IN_TURN) {
            // Out of turn: a random wiggle, so that the in-turn signer's block usually wins.
            let wiggle_ms = (snap.signers.len() as u64 / 2 + 1) * 500;
            delay += Duration::from_millis(rand::thread_rng().gen_range(0..wiggle_ms.max(1)));
        }
        Some(Slot { header, delay })
    }

    fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)> {
        Self::seal(self, header, body_rlp)
    }

    fn retry_after(&self) -> Duration {
        Duration::from_secs(self.params().period.max(1))
    }

    fn sealed_here(&self, header: &Header) -> Result<bool> {
        self.sealer
            .sealed(Engine::Clique, header)
            .map_err(|source| Error::Seal {
                number: header.number,
                source,
            })
    }
}
