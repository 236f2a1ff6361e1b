//! The single-validator IBFT / IBFT 2.0 / QBFT sealer: when the node key's address is the
//! only validator, it builds an empty child of the head every block period, signs the
//! proposal and its own committed seal with the node key (as GoQuorum and Besu do) through the
//! seal journal, and imports the block (which announces it).
//!
//! Round 0 always: with one validator there is no round change. With more validators one node
//! cannot gather ceil(2N/3) committed seals alone; multi-validator BFT messaging is not built
//! yet, so the sealer then stays idle and says so. Crash safety as for clique (`<datadir>/sealing.rlp`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, U256};
use cachet_keyprovider::NodeKey;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST, seals_to_produce};
use cachet_seal::{Engine, Header, Sealer, ibft, ibft2, qbft};
use tokio::sync::watch;

use crate::block::{self, EMPTY_BODY_RLP};
use crate::chain::{Chain, HeadInfo};
use crate::consensus::{BftParams, Consensus};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;

/// The round every block is sealed in (single validator: no round changes).
const ROUND: u32 = 0;

/// IBFT / IBFT 2.0 / QBFT block producer for a single validator.
pub struct BftSealer {
    chain: Arc<Chain>,
    sealer: Sealer,
    key: NodeKey,
    pending: PendingHeader,
}

impl std::fmt::Debug for BftSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BftSealer")
            .field("validator", &self.address())
            .finish_non_exhaustive()
    }
}

impl BftSealer {
    /// A sealer signing with the node key, journalling in `datadir`.
    ///
    /// # Errors
    /// [`Error::Config`] when the chain is not a BFT chain, [`Error::Journal`] when the seal
    /// journal cannot be opened.
    pub fn new(chain: Arc<Chain>, datadir: &Path, key: NodeKey) -> Result<Self> {
        if !matches!(chain.consensus(), Consensus::Bft(_)) {
            return Err(Error::Config(format!(
                "the BFT sealer cannot seal a {} chain",
                chain.consensus().name()
            )));
        }
        let sealer = Sealer::open(datadir).map_err(Error::Journal)?;
        Ok(Self {
            chain,
            sealer,
            key,
            pending: PendingHeader::new(datadir),
        })
    }

    /// The validator address (the node key's).
    pub fn address(&self) -> Address {
        self.key.signer().address()
    }

    fn params(&self) -> Option<&BftParams> {
        match self.chain.consensus() {
            Consensus::Bft(p) => Some(p),
            _ => None,
        }
    }

    /// True when this node alone can seal: it is a validator and one committed seal meets
    /// the threshold (a single validator).
    pub fn can_seal(&self) -> bool {
        self.params().is_some_and(|p| {
            p.validators.contains(&self.address()) && seals_to_produce(p.validators.len()) == 1
        })
    }

    /// The unsealed child of `head` (timestamp `max(parent + period, now)`), or `None` when
    /// this node cannot seal alone.
    pub fn build(&self, head: &HeadInfo, now: u64) -> Option<Header> {
        let p = self.params()?;
        if !self.can_seal() {
            return None;
        }
        let number = head.header.number.saturating_add(1);
        let timestamp = head.header.timestamp.saturating_add(p.period).max(now);
        let engine = p.engine_at(number);
        let extra = match engine {
            Engine::Ibft => ibft::IstanbulExtra {
                vanity: [0u8; ibft::EXTRA_VANITY],
                validators: p.validators.clone(),
                seal: Vec::new(),
                committed_seals: Vec::new(),
            }
            .encode(),
            _ => {
                let extra = BftExtra {
                    vanity: vec![0u8; 32],
                    validators: p.validators.clone(),
                    vote: None,
                    round: ROUND,
                    committed_seals: Vec::new(),
                };
                if engine == Engine::Ibft2 {
                    ibft2::encode_extra(&extra)
                } else {
                    qbft::encode_extra(&extra)
                }
            }
        };
        let mut header = self
            .chain
            .empty_child(head, timestamp, U256::from(1), extra);
        header.mix_hash = ISTANBUL_DIGEST;
        Some(header)
    }

    /// Runs until `allowed` turns false or is dropped.
    pub async fn run(mut self, mut allowed: watch::Receiver<bool>) {
        let mut heads = self.chain.subscribe();
        let engine = self.chain.consensus().name();
        if self.can_seal() {
            tracing::info!(target: "cachet::sealer", validator = %self.address(), engine, "bft sealer started");
        } else {
            tracing::warn!(target: "cachet::sealer", validator = %self.address(), engine,
                "not sealing: the node key's address must be the chain's only validator (multi-validator BFT is not built yet)");
        }
        loop {
            if !*allowed.borrow() {
                break;
            }
            let head = heads.borrow_and_update().clone();
            let Some(header) = self.build(&head, block::now_secs()) else {
                tokio::select! {
                    r = heads.changed() => if r.is_err() { break },
                    r = allowed.changed() => if r.is_err() { break },
                }
                continue;
            };
            let delay = Duration::from_secs(header.timestamp.saturating_sub(block::now_secs()));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                r = heads.changed() => { if r.is_err() { break } continue; }
                r = allowed.changed() => { if r.is_err() { break } continue; }
            }
            if !*allowed.borrow() {
                break;
            }
            if let Err(e) = self.produce(&header) {
                tracing::warn!(target: "cachet::sealer", number = header.number, error = &e as &dyn std::error::Error, "sealing failed; retrying after a block period");
                let wait = self.params().map_or(1, |p| p.period.max(1));
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(wait)) => {}
                    r = heads.changed() => if r.is_err() { break },
                }
            }
        }
        tracing::info!(target: "cachet::sealer", "bft sealer stopped");
    }

    /// Builds, seals and imports the next block at time `now` without waiting; `None` when
    /// this node cannot seal alone.
    ///
    /// # Errors
    /// As the journal and [`Chain::import`].
    pub fn seal_now(&mut self, now: u64) -> Result<Option<Header>> {
        let head = self.chain.head();
        match self.build(&head, now) {
            Some(h) => self.produce(&h).map(Some),
            None => Ok(None),
        }
    }

    /// Seals `header` (proposal + this validator's committed seal, round 0) through the
    /// journal, without importing it. When a header is pending at this height (recorded
    /// before a crash), that one is sealed instead.
    ///
    /// # Errors
    /// Equivocation or journal I/O ([`Error::Seal`]), or [`Error::Config`] when
    /// `sealing.rlp` cannot be written.
    pub fn seal(&mut self, header: &Header) -> Result<Header> {
        let header = &self.pending.take_or_record(header)?;
        let number = header.number;
        let err = |source| Error::Seal { number, source };
        let signer = self.key.signer();
        let engine = self.params().map_or(Engine::Qbft, |p| p.engine_at(number));
        match engine {
            Engine::Ibft => {
                let proposal = self
                    .sealer
                    .ibft_propose(header, ROUND, signer)
                    .map_err(err)?;
                let commit = self
                    .sealer
                    .ibft_commit(&proposal, ROUND, signer)
                    .map_err(err)?;
                ibft::with_committed_seals(&proposal, &[commit]).map_err(err)
            }
            _ => {
                let me = signer.address();
                self.sealer
                    .bft_propose(engine, header, ROUND, me, signer)
                    .map_err(err)
            }
        }
    }

    /// Seals and imports one block.
    fn produce(&mut self, header: &Header) -> Result<Header> {
        let sealed = self.seal(header)?;
        let imported = self.chain.import(&sealed.encode(), &EMPTY_BODY_RLP)?;
        tracing::info!(
            target: "cachet::sealer",
            number = sealed.number,
            hash = %self.chain.consensus().hash(&sealed).unwrap_or_default(),
            ?imported,
            "sealed block"
        );
        Ok(sealed)
    }
}
