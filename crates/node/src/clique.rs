//! The clique sealer task: builds an empty child of the head when this node may seal, waits
//! for its slot (in turn: the block time; out of turn: plus a random wiggle), signs through the
//! seal journal and imports the block (which announces it).
//!
//! Crash safety: the unsealed header is written to `<datadir>/sealing.rlp` before the journal
//! records its seal hash. After a crash between the journal write and the chain commit, the
//! journal refuses any *other* block at that height; the node then re-signs the header it had
//! recorded (same seal hash, so the journal allows it) instead of stalling.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, U256};
use cachet_keyprovider::SigningKey;
use cachet_seal::clique::{self, NONCE_AUTH, NONCE_DROP, Snapshot};
use cachet_seal::{Header, Sealer};
use rand::Rng as _;
use tokio::sync::watch;

use crate::block::{self, EMPTY_BODY_RLP};
use crate::chain::{Chain, HeadInfo};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;

pub use crate::pending::SEALING_FILE;

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

    /// The unsealed child of `head` this signer would seal, or `None` when it may not seal now
    /// (not a signer, or signed recently).
    pub fn build(&self, head: &HeadInfo, snap: &Snapshot, now: u64) -> Option<Header> {
        let me = self.address();
        let number = head.header.number.saturating_add(1);
        if !snap.signers.contains(&me) || snap.recently_signed(number, &me) {
            return None;
        }
        let period = self.chain.clique().period.max(1);
        let timestamp = head.header.timestamp.saturating_add(period).max(now);
        let checkpoint = number.is_multiple_of(self.chain.clique().epoch);
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

    /// Runs until `allowed` turns false or is dropped.
    pub async fn run(mut self, mut allowed: watch::Receiver<bool>) {
        let mut heads = self.chain.subscribe();
        tracing::info!(target: "cachet::sealer", signer = %self.address(), "clique sealer started");
        loop {
            if !*allowed.borrow() {
                break;
            }
            let head = heads.borrow_and_update().clone();
            let snap = self.chain.snapshot(&head.hash);
            let planned = snap.as_ref().and_then(|s| {
                self.build(&head, s, block::now_secs())
                    .map(|h| (h, s.clone()))
            });
            let Some((header, snap)) = planned else {
                tokio::select! {
                    r = heads.changed() => if r.is_err() { break },
                    r = allowed.changed() => if r.is_err() { break },
                }
                continue;
            };
            let mut delay = Duration::from_secs(header.timestamp.saturating_sub(block::now_secs()));
            let in_turn = header.difficulty == U256::from(clique::DIFF_IN_TURN);
            if !in_turn {
                let wiggle_ms = (snap.signers.len() as u64 / 2 + 1) * 500;
                delay += Duration::from_millis(rand::thread_rng().gen_range(0..wiggle_ms.max(1)));
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                r = heads.changed() => { if r.is_err() { break } continue; }
                r = allowed.changed() => { if r.is_err() { break } continue; }
            }
            if !*allowed.borrow() {
                break;
            }
            if let Err(e) = self.produce(&header) {
                tracing::warn!(target: "cachet::sealer", number = header.number, error = &e as &dyn std::error::Error, "sealing failed; waiting for the next block");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(self.chain.clique().period.max(1))) => {}
                    r = heads.changed() => if r.is_err() { break },
                }
            }
        }
        tracing::info!(target: "cachet::sealer", "clique sealer stopped");
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
        match self.build(&head, &snap, now) {
            Some(h) => self.produce(&h).map(Some),
            None => Ok(None),
        }
    }

    /// Seals and imports one block.
    fn produce(&mut self, header: &Header) -> Result<Header> {
        let header = self.pending.take_or_record(header)?;
        let sealed = self
            .sealer
            .clique(&header, &self.key)
            .map_err(|source| Error::Seal {
                number: header.number,
                source,
            })?;
        let rlp = sealed.encode();
        let imported = self.chain.import(&rlp, &EMPTY_BODY_RLP)?;
        tracing::info!(
            target: "cachet::sealer",
            number = sealed.number,
            hash = %sealed.hash_slow(),
            difficulty = %sealed.difficulty,
            ?imported,
            "sealed block"
        );
        Ok(sealed)
    }
}
