//! IBFT (GoQuorum `istanbul` = Besu IBFT 1.0), Besu IBFT 2.0 and QBFT in the node:
//! [`BftRules`], the chain rules, and [`BftSealer`], the single-validator block producer. The
//! seal formats themselves are `cachet_seal::{ibft, ibft2, qbft}`.
//!
//! **Rules.** The validator set starts as the genesis extraData's list and changes by the
//! validator votes blocks carry (QBFT and GoQuorum IBFT; [`crate::bft_votes`], GoQuorum's
//! rules): a [`VoteSnapshot`] is kept per recent block, as clique's snapshots are. Every block
//! must list in extraData the set it is sealed under (the parent's snapshot's), the
//! Istanbul header fields (`IstanbulDigest` mixHash, difficulty 1, nonce per engine), a
//! timestamp at least `blockperiodseconds` (default 1, as GoQuorum's `DefaultConfig`) after
//! its parent's, a proposer that is a validator and committed seals from distinct validators
//! meeting the threshold: more than F for GoQuorum `istanbul` and QBFT (what GoQuorum
//! imports), at least ceil(2N/3) for Besu `ibft2`. The block hash is the engine's (seals
//! filtered out), not keccak of the stored RLP. A GoQuorum `istanbul` chain with `qbftBlock`
//! switches to QBFT from that block.
//!
//! **Producer.** When the node key's address is the only validator, it builds a child of the
//! head every block period (with the transaction source's transactions, coinbase = proposer on
//! IBFT 2.0/QBFT), signs the proposal and its own committed seal with the
//! node key (as GoQuorum and Besu do) through the seal journal. Round 0 always: with one
//! validator there is no round change. With more validators one node cannot gather ceil(2N/3)
//! committed seals alone; multi-validator BFT messaging is not built yet, so the sealer then
//! stays idle and says so (a multi-validator producer is a new [`BlockProducer`] here).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use cachet_genesis::{Engine, Genesis};
use cachet_keyprovider::NodeKey;
use cachet_seal::bft::{BftFormat, ISTANBUL_DIGEST, Threshold, seals_to_produce};
use cachet_seal::{Header, Sealer, ibft};

use crate::bft_votes::{VoteSnapshot, read_vote};
use crate::block;
use crate::chain::{Chain, HeadInfo};
use crate::consensus::{BlockProducer, ChainRules, Slot};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;
use crate::produce::BuildConfig;

/// GoQuorum's default `BlockPeriod` (consensus/istanbul/config.go `DefaultConfig`) and Besu's
/// default `blockperiodseconds`.
pub const DEFAULT_BLOCK_PERIOD: u64 = 1;

/// How many blocks below the head keep their vote snapshot (as clique's).
const SNAPSHOT_DEPTH: u64 = 256;

/// The round every block is sealed in (single validator: no round changes).
const ROUND: u32 = 0;

/// IBFT / IBFT 2.0 / QBFT parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BftParams {
    /// The engine at genesis ([`Engine::Ibft`], [`Engine::Ibft2`] or [`Engine::Qbft`]).
    pub engine: Engine,
    /// GoQuorum `qbftBlock`: IBFT switches to QBFT from this block.
    pub qbft_block: Option<u64>,
    /// Seconds between blocks.
    pub period: u64,
    /// The genesis validators, byte-sorted (the set changes by votes: [`BftRules::snapshot`]).
    pub validators: Vec<Address>,
    /// Blocks per epoch (pending votes are dropped at every multiple).
    pub epoch: u64,
    /// The committed-seal threshold applied on import.
    pub threshold: Threshold,
}

impl BftParams {
    /// The engine that seals block `number`.
    pub fn engine_at(&self, number: u64) -> Engine {
        match (self.engine, self.qbft_block) {
            (Engine::Ibft, Some(b)) if number >= b => Engine::Qbft,
            (e, _) => e,
        }
    }
}

/// The IBFT family's chain rules (the validator set from the genesis and votes).
#[derive(Debug)]
pub struct BftRules {
    params: BftParams,
    snapshots: Mutex<HashMap<B256, VoteSnapshot>>,
}

fn seal_err(number: u64) -> impl Fn(cachet_seal::Error) -> Error {
    move |source| Error::Seal { number, source }
}

impl BftRules {
    /// The rules of an IBFT, IBFT 2.0 or QBFT `genesis`: its parameters and the validator
    /// list of its extraData.
    ///
    /// # Errors
    /// [`Error::UnsupportedEngine`] for QBFT validator-contract mode or a genesis of another
    /// engine; [`Error::Seal`] when the genesis extraData has no decodable validator list,
    /// [`Error::InvalidBlock`] when it lists none.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self> {
        let engine = genesis.engine();
        let Some(config) = genesis.bft() else {
            return Err(Error::UnsupportedEngine(
                "the BFT rules need an istanbul, ibft2 or qbft genesis",
            ));
        };
        if config.validator_contract.is_some() {
            return Err(Error::UnsupportedEngine(
                "qbft with validatorcontractaddress (validators read from a contract)",
            ));
        }
        let (threshold, qbft_block) = match engine {
            Engine::Ibft2 => (Threshold::BesuTwoThirds, None),
            _ => (Threshold::QuorumMoreThanF, config.qbft_block),
        };
        let mut validators = format(engine)?
            .validators(&genesis.extra_data)
            .map_err(seal_err(0))?;
        validators.sort();
        validators.dedup();
        if validators.is_empty() {
            return Err(Error::InvalidBlock {
                number: 0,
                rule: "the genesis extraData lists no validators".into(),
            });
        }
        Ok(Self {
            params: BftParams {
                engine,
                qbft_block,
                period: config.block_period.unwrap_or(DEFAULT_BLOCK_PERIOD),
                validators,
                epoch: if config.epoch == 0 {
                    cachet_genesis::DEFAULT_EPOCH
                } else {
                    config.epoch
                },
                threshold,
            },
            snapshots: Mutex::default(),
        })
    }

    /// The parameters and genesis validator set.
    pub const fn params(&self) -> &BftParams {
        &self.params
    }

    fn genesis_snapshot(&self) -> VoteSnapshot {
        VoteSnapshot::new(self.params.epoch, 0, self.params.validators.iter().copied())
    }

    /// The validator set and pending votes after block `hash`, when kept (the head and the
    /// 256 blocks below it).
    pub fn snapshot(&self, hash: &B256) -> Option<VoteSnapshot> {
        self.snapshots().get(hash).cloned()
    }

    fn snapshots(&self) -> MutexGuard<'_, HashMap<B256, VoteSnapshot>> {
        self.snapshots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The author (GoQuorum IBFT: the proposer seal's signer; the others: coinbase) and vote
    /// of `header`.
    fn author_and_vote(
        &self,
        header: &Header,
    ) -> Result<(Address, Option<cachet_seal::bft::Vote>)> {
        let number = header.number;
        let engine = self.params.engine_at(number);
        let author = match engine {
            Engine::Ibft => {
                format(engine)?
                    .recover(header)
                    .map_err(seal_err(number))?
                    .proposer
            }
            _ => header.beneficiary,
        };
        Ok((author, self.vote(header)?))
    }

    /// The vote `header` carries; an error for a vote in an IBFT 2.0 block (Cachet does not
    /// apply Besu's IBFT 2.0 votes: decision 463).
    fn vote(&self, header: &Header) -> Result<Option<cachet_seal::bft::Vote>> {
        let number = header.number;
        let engine = self.params.engine_at(number);
        let vote = read_vote(engine, header).map_err(seal_err(number))?;
        if engine == Engine::Ibft2 && vote.is_some() {
            return Err(Error::InvalidBlock {
                number,
                rule: "ibft2 block carries a validator vote: cachet does not apply IBFT 2.0 votes (Besu's tally), only QBFT's and GoQuorum IBFT's".into(),
            });
        }
        Ok(vote)
    }
}

/// The seal format of `engine` (IBFT, IBFT 2.0 or QBFT: the engines [`BftParams`] hold).
fn format(engine: Engine) -> Result<&'static dyn BftFormat> {
    cachet_seal::bft::format(engine).ok_or(Error::UnsupportedEngine(
        "the BFT rules need an istanbul, ibft2 or qbft genesis",
    ))
}

impl ChainRules for BftRules {
    fn engine(&self) -> Engine {
        self.params.engine
    }

    fn hash(&self, header: &Header) -> Result<B256> {
        if header.number == 0 {
            return Ok(header.hash_slow());
        }
        format(self.params.engine_at(header.number))?
            .block_hash(header)
            .map_err(seal_err(header.number))
    }

    /// The author is the proposer the seals name: GoQuorum's IBFT (istanbul) recovers it from
    /// the proposer seal (its coinbase carries votes); IBFT 2.0 and QBFT put it in the coinbase.
    fn verify(&self, hash: B256, header: &Header, parent: &Header) -> Result<Address> {
        let p = &self.params;
        let number = header.number;
        let invalid = |rule: String| Error::InvalidBlock { number, rule };
        if header.timestamp < parent.timestamp.saturating_add(p.period) {
            return Err(invalid(format!(
                "timestamp {} earlier than parent's + block period ({} + {})",
                header.timestamp, parent.timestamp, p.period
            )));
        }
        let engine = p.engine_at(number);
        let f = format(engine)?;
        let mut snap = self
            .snapshot(&header.parent_hash)
            .ok_or(Error::UnknownParent {
                number,
                hash,
                parent: header.parent_hash,
            })?;
        let validators = snap.validator_list();
        let seals = f
            .verify(header, Some(&validators), p.threshold)
            .map_err(seal_err(number))?;
        let mut listed = f.validators(&header.extra_data).map_err(seal_err(number))?;
        listed.sort();
        if listed != validators {
            return Err(invalid(format!(
                "extraData lists validators {listed:?}, the chain's set after block {} is {validators:?}",
                number.saturating_sub(1)
            )));
        }
        let vote = self.vote(header)?;
        snap.apply(number, seals.proposer, vote)
            .map_err(|e| invalid(e.to_string()))?;
        self.snapshots().insert(hash, snap);
        Ok(seals.proposer)
    }

    fn replay(
        &self,
        genesis: &Header,
        head: (u64, B256),
        canonical: &mut dyn FnMut(u64) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let (head_number, head_hash) = head;
        let mut snap = self.genesis_snapshot();
        let mut kept = HashMap::new();
        if head_number <= SNAPSHOT_DEPTH {
            kept.insert(genesis.hash_slow(), snap.clone());
        }
        for n in 1..=head_number {
            let rlp = canonical(n)?;
            let header = crate::chain::decode_header(&rlp)?;
            let (author, vote) = self.author_and_vote(&header)?;
            snap.apply(n, author, vote)
                .map_err(|e| Error::InvalidBlock {
                    number: n,
                    rule: e.to_string(),
                })?;
            if n + SNAPSHOT_DEPTH >= head_number {
                kept.insert(self.hash(&header)?, snap.clone());
            }
        }
        kept.insert(head_hash, snap);
        *self.snapshots() = kept;
        Ok(())
    }

    fn knows_parent(&self, parent: &B256) -> bool {
        self.snapshots().contains_key(parent)
    }

    fn head_changed(&self, number: u64) {
        self.snapshots()
            .retain(|_, s| s.number.saturating_add(SNAPSHOT_DEPTH) >= number);
    }

    fn signers(&self, header: &Header) -> Vec<Address> {
        cachet_seal::signers(self.params.engine_at(header.number), header).unwrap_or_default()
    }

    fn validators(&self, at: &B256) -> Option<Vec<Address>> {
        self.snapshot(at).map(|s| s.validator_list())
    }
}

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
        if chain.rules_as::<BftRules>().is_none() {
            return Err(Error::Config(format!(
                "the BFT sealer cannot seal a {} chain",
                chain.engine()
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
        self.chain.rules_as::<BftRules>().map(BftRules::params)
    }

    /// True when this node alone can seal: it is a validator and one committed seal meets
    /// the threshold (a single validator).
    pub fn can_seal(&self) -> bool {
        self.can_seal_on(&self.chain.signers())
    }

    fn can_seal_on(&self, validators: &[Address]) -> bool {
        validators.contains(&self.address()) && seals_to_produce(validators.len()) == 1
    }

    /// The unsealed child of `head` (timestamp `max(parent + period, now)`), or `None` when
    /// this node cannot seal alone.
    pub fn build(&self, head: &HeadInfo, now: u64) -> Option<Header> {
        let p = self.params()?;
        let validators = self.chain.rules().validators(&head.hash)?;
        if !self.can_seal_on(&validators) {
            return None;
        }
        let number = head.header.number.saturating_add(1);
        let timestamp = head.header.timestamp.saturating_add(p.period).max(now);
        let extra = format(p.engine_at(number))
            .ok()?
            .unsealed_extra(&validators, ROUND);
        let mut header = self
            .chain
            .empty_child(head, timestamp, U256::from(1), extra);
        header.mix_hash = ISTANBUL_DIGEST;
        // IBFT 2.0 and QBFT name the proposer in the coinbase (the seal sets it too); Besu's
        // block reward goes there, so the block is built with it. GoQuorum IBFT keeps it for
        // votes (zero).
        if p.engine_at(number) != Engine::Ibft {
            header.beneficiary = self.address();
        }
        Some(header)
    }

    /// Builds, seals and imports the next block at time `now` without waiting; `None` when
    /// this node cannot seal alone.
    ///
    /// # Errors
    /// As the journal and [`Chain::import`].
    pub fn seal_now(&mut self, now: u64) -> Result<Option<Header>> {
        let chain = self.chain.clone();
        match self.build(&chain.head(), now) {
            Some(h) => crate::produce::produce(self, &chain, &h, &BuildConfig::default()).map(Some),
            None => Ok(None),
        }
    }

    /// Seals the completed `header` of the block with body `body_rlp` (proposal + this
    /// validator's committed seal, round 0) through the journal, without importing it;
    /// returns the sealed header and its body. When a block is pending at this height
    /// (recorded before a crash), that one is sealed instead.
    ///
    /// # Errors
    /// Equivocation or journal I/O ([`Error::Seal`]), or [`Error::Config`] when
    /// `sealing.rlp` cannot be written.
    pub fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)> {
        let (header, body) = self.pending.take_or_record(header, body_rlp)?;
        let sealed = self.seal_header(&header)?;
        Ok((sealed, body))
    }

    fn seal_header(&mut self, header: &Header) -> Result<Header> {
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
}

impl BlockProducer for BftSealer {
    fn address(&self) -> Address {
        Self::address(self)
    }

    fn announce(&self) {
        let engine = self.chain.engine();
        if self.can_seal() {
            tracing::info!(target: "cachet::sealer", validator = %self.address(), %engine, "bft sealer started");
        } else {
            tracing::warn!(target: "cachet::sealer", validator = %self.address(), %engine,
                "not sealing: the node key's address must be the chain's only validator (multi-validator IBFT 2.0 is not built; an IBFT chain that grew to two or more validators runs the IBFT driver after a restart)");
        }
    }

    fn next_slot(&mut self, head: &HeadInfo) -> Option<Slot> {
        let now = block::now_secs();
        let header = self.build(head, now)?;
        let delay = block::until(header.timestamp);
        Some(Slot { header, delay })
    }

    fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)> {
        Self::seal(self, header, body_rlp)
    }

    fn retry_after(&self) -> Duration {
        Duration::from_secs(self.params().map_or(1, |p| p.period.max(1)))
    }

    fn sealed_here(&self, header: &Header) -> Result<bool> {
        let number = header.number;
        let engine = self.params().map_or(Engine::Qbft, |p| p.engine_at(number));
        self.sealer.sealed(engine, header).map_err(seal_err(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_qbft_from_the_qbft_block() {
        let p = BftParams {
            engine: Engine::Ibft,
            qbft_block: Some(10),
            period: 1,
            validators: vec![Address::repeat_byte(1)],
            epoch: 30_000,
            threshold: Threshold::QuorumMoreThanF,
        };
        assert_eq!(p.engine_at(9), Engine::Ibft);
        assert_eq!(p.engine_at(10), Engine::Qbft);
        let q = BftParams {
            engine: Engine::Qbft,
            qbft_block: None,
            ..p
        };
        assert_eq!(q.engine_at(0), Engine::Qbft);
    }
}
