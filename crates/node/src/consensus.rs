//! The engine interface of the node: [`ChainRules`], what the chain asks of its engine when it
//! hashes and verifies a block, and [`BlockProducer`], what the one driver loop
//! ([`crate::produce::run`]) asks of it to produce blocks. Each engine implements both in its
//! own module, next to the seal formats of `cachet-seal`:
//!
//! | engine | rules | producer |
//! |---|---|---|
//! | clique | [`crate::clique::CliqueRules`] (snapshot per recent block) | [`crate::clique::CliqueSealer`] |
//! | IBFT, IBFT 2.0, QBFT | [`crate::bft::BftRules`] (validator set per block from votes) | [`crate::bft::BftSealer`] (single validator) |
//! | Quorum Raft | [`crate::raft::RaftRules`] (minter = raft member) | [`crate::raft::RaftMinter`] (single node) |
//! | ethash | [`EthashRules`] (refuses every block) | none |
//!
//! Producers fill their blocks from a [`TxSource`] (the transaction pool; tests:
//! [`crate::testing::VecTxSource`]), which the driver is given ([`crate::produce::BuildConfig`]).
//!
//! [`rules`] and [`producer`] are the only places the node chooses by [`Engine`]: a new engine
//! (multi-validator QBFT, a Raft cluster) is one module implementing the two traits plus one
//! line in each.

use std::any::Any;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use cachet_execution::Candidate;
use cachet_genesis::{Engine, Genesis};
use cachet_keyprovider::UnlockedKeys;
use cachet_seal::{Header, RaftMembers};

use crate::bft::{BftRules, BftSealer};
use crate::chain::{Chain, HeadInfo};
use crate::clique::{CliqueRules, CliqueSealer, Proposals};
use crate::error::{Error, Result};
use crate::raft::{RaftMinter, RaftRules};

/// What the chain asks of its engine. [`Chain::import`] checks the engine-independent rules
/// (parent link, timestamp order, gas, base fee, empty body) and then [`Self::verify`].
pub trait ChainRules: Any + Send + Sync + fmt::Debug {
    /// The engine (at genesis: an IBFT chain may switch to QBFT at its `qbftBlock`).
    fn engine(&self) -> Engine;

    /// The block hash as the engine defines it: keccak of the header RLP unless the engine
    /// says otherwise (IBFT/QBFT filter their seals out).
    ///
    /// # Errors
    /// [`Error::Seal`] when the engine's extraData does not decode.
    fn hash(&self, header: &Header) -> Result<B256> {
        Ok(header.hash_slow())
    }

    /// Rebuilds the engine's per-block state when the chain opens, reading the stored
    /// canonical header RLP of blocks `1..=head.0` through `canonical`; `head.1` is the head's
    /// hash. Engines without per-block state keep this default (nothing to do).
    ///
    /// # Errors
    /// A stored block that no longer verifies ([`Error::Seal`]), store errors.
    fn replay(
        &self,
        genesis: &Header,
        head: (u64, B256),
        canonical: &mut dyn FnMut(u64) -> Result<Vec<u8>>,
    ) -> Result<()> {
        let _ = (genesis, head, canonical);
        Ok(())
    }

    /// True when the engine can verify a child of block `parent` (clique: the parent's
    /// snapshot is kept). A child of an unknown parent is refused as
    /// [`Error::UnknownParent`].
    fn knows_parent(&self, parent: &B256) -> bool {
        let _ = parent;
        true
    }

    /// Verifies `header`, whose engine hash is `hash`, on `parent`, keeps the state the engine
    /// derives for it (clique: its snapshot), and returns the block's author as the engine
    /// defines it: the fee recipient and what COINBASE returns when the block executes (clique:
    /// the signer its seal recovers to, as geth's clique `Author`; GoQuorum IBFT: the proposer;
    /// the other engines: the header's beneficiary).
    ///
    /// # Errors
    /// [`Error::Seal`] for a bad seal, [`Error::InvalidBlock`] for a broken engine rule.
    fn verify(&self, hash: B256, header: &Header, parent: &Header) -> Result<Address>;

    /// Block `number` became the head: the engine may drop state kept for blocks far below.
    fn head_changed(&self, number: u64) {
        let _ = number;
    }

    /// The addresses whose keys signed `header` (clique: the seal's signer; IBFT: the proposer
    /// seal's and committed seals' signers; IBFT 2.0/QBFT: the committed seals' signers; raft:
    /// the minter's), recovered from the seals alone; empty when none recover. The
    /// doppelganger check looks for our own address here.
    fn signers(&self, header: &Header) -> Vec<Address> {
        cachet_seal::signers(self.engine(), header).unwrap_or_default()
    }

    /// The addresses that may seal the child of block `at` (clique signers, BFT validators),
    /// sorted; `None` where the engine has no such set or keeps none for `at`.
    fn validators(&self, at: &B256) -> Option<Vec<Address>> {
        let _ = at;
        None
    }
}

/// A block this node produces and when: the driver waits `delay`, then has it sealed and
/// imports it (unless a new head or a stop comes first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The unsealed header.
    pub header: Header,
    /// How long to wait before sealing it.
    pub delay: Duration,
}

/// Where block producers take transactions from (the pool implements it; tests use
/// [`crate::testing::VecTxSource`]).
pub trait TxSource: Send + Sync + fmt::Debug {
    /// Candidates for a child of the head whose base fee is `base_fee` (`None` before London):
    /// each sender's transactions in nonce order, senders interleaved best effective tip first.
    /// The producer executes them in this order, skips any that fails (and all later ones of
    /// that sender), stops when the block's gas is used up.
    fn best(&self, base_fee: Option<u64>) -> Vec<Candidate>;

    /// True when at least one transaction is ready to include (raft mints only then).
    fn has_pending(&self) -> bool;

    /// Wakes when a transaction becomes ready (raft's minter waits on this instead of a timer).
    fn subscribe_ready(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// What the node needs to produce blocks on one engine; [`crate::produce::run`] drives any
/// of them (one loop for every engine).
pub trait BlockProducer: Send + fmt::Debug {
    /// The address that seals (clique: the sealing key's; the others: the node key's).
    fn address(&self) -> Address;

    /// Logs, once when the driver starts, what this producer will do.
    fn announce(&self) {
        tracing::info!(target: "cachet::sealer", address = %self.address(), "block producer started");
    }

    /// The fee recipient of the blocks this producer seals, what [`ChainRules::verify`]
    /// returns for them: clique's signer, the BFT proposer, the raft minter (its coinbase).
    fn author(&self) -> Address {
        self.address()
    }

    /// True when this engine produces a block only when transactions are pending (Quorum
    /// Raft): the driver then waits for [`TxSource::subscribe_ready`] and drops a slot whose
    /// built block is empty.
    fn needs_transactions(&self) -> bool {
        false
    }

    /// The child of `head` this node produces and when, or `None` when it produces none on
    /// this head (not a signer, signed recently, not the only validator): the driver then
    /// waits for the next head.
    fn next_slot(&mut self, head: &HeadInfo) -> Option<Slot>;

    /// Seals the completed `header` of the block with body `body_rlp` through the seal
    /// journal; returns the sealed header and its body. When a block is pending at this height
    /// (recorded in `sealing.rlp` before a crash), that one is sealed instead.
    ///
    /// # Errors
    /// Equivocation, journal I/O or signing ([`Error::Seal`]), or [`Error::Config`] when
    /// `sealing.rlp` cannot be written.
    fn seal(&mut self, header: &Header, body_rlp: &[u8]) -> Result<(Header, Vec<u8>)>;

    /// How long to wait after a failed slot before planning again (a new head ends the wait).
    fn retry_after(&self) -> Duration;

    /// One block period, the unit of `--doppelganger-periods` (clique, BFT: the genesis
    /// period, at least a second; raft: see [`crate::raft::RaftMinter`]).
    fn block_period(&self) -> Duration {
        self.retry_after()
    }

    /// True when this producer's seal journal records sealing `header` (the doppelganger
    /// check: a block signed by our key that it did not seal is another node's).
    ///
    /// # Errors
    /// [`Error::Seal`] when the header's extraData does not decode.
    fn sealed_here(&self, header: &Header) -> Result<bool>;
}

/// Largest ethash extraData (geth `params.MaximumExtraDataSize`).
const MAX_ETHASH_EXTRA: usize = 32;

/// An `ethash` genesis: Cachet verifies no proof of work, so it seals nothing and, unless told
/// to skip the proof of work (`skip_pow`: test chains, hive's `HIVE_SKIP_POW`, ethereum/tests),
/// refuses every block; the node still runs discovery, eth Status and RPC at genesis (what
/// hive's discovery suites need). With `skip_pow` a block is checked like any other (parent,
/// gas, roots, execution) except its seal and the ethash difficulty formula.
#[derive(Debug, Clone, Copy, Default)]
pub struct EthashRules {
    /// Accept blocks without checking their proof of work.
    pub skip_pow: bool,
}

impl ChainRules for EthashRules {
    fn engine(&self) -> Engine {
        Engine::Ethash
    }

    fn verify(&self, _hash: B256, header: &Header, _parent: &Header) -> Result<Address> {
        if self.skip_pow {
            // The ethash header rule besides the seal (geth `MaximumExtraDataSize`).
            if header.extra_data.len() > MAX_ETHASH_EXTRA {
                return Err(Error::InvalidBlock {
                    number: header.number,
                    rule: format!(
                        "extraData is {} bytes; ethash allows {MAX_ETHASH_EXTRA}",
                        header.extra_data.len()
                    ),
                });
            }
            return Ok(header.beneficiary);
        }
        Err(Error::InvalidBlock {
            number: header.number,
            rule: "cachet does not verify ethash proof of work (an ethash genesis runs a node that stays at genesis; test chains: --skip-pow)".into(),
        })
    }
}

/// The rules of the engine `genesis` selects; `raft_members` are the raft blocks' accepted
/// minters (ignored by the other engines).
///
/// # Errors
/// [`Error::UnsupportedEngine`] for QBFT validator-contract mode; [`Error::Seal`] or
/// [`Error::InvalidBlock`] when a BFT genesis extraData lists no validators.
pub fn rules(
    genesis: &Genesis,
    raft_members: RaftMembers,
    skip_pow: bool,
) -> Result<Box<dyn ChainRules>> {
    if skip_pow && genesis.engine() != Engine::Ethash {
        return Err(Error::Config(format!(
            "--skip-pow is for ethash test chains; this genesis runs {}",
            genesis.engine()
        )));
    }
    let rules: Box<dyn ChainRules> = match genesis.engine() {
        Engine::Clique => Box::new(CliqueRules::from_genesis(genesis)),
        Engine::Ibft | Engine::Ibft2 | Engine::Qbft => Box::new(BftRules::from_genesis(genesis)?),
        Engine::Raft => Box::new(RaftRules::new(raft_members)),
        Engine::Ethash => Box::new(EthashRules { skip_pow }),
    };
    Ok(rules)
}

/// What [`producer`] needs besides the chain.
#[derive(Debug)]
pub struct ProducerConfig<'a> {
    /// The data directory (seal journal, `sealing.rlp`).
    pub datadir: &'a Path,
    /// Clique `clique_propose` votes (shared with RPC).
    pub proposals: Proposals,
    /// Clique vanity (`--miner.extradata`).
    pub extra_data: &'a [u8],
    /// This node's raft id (raft).
    pub raft_id: Option<u16>,
    /// Raft minting interval.
    pub raft_block_time: Duration,
}

/// The block producer for `chain`'s engine, signing with `keys` (clique: the sealing key; the
/// others: the node key); `None` on an ethash chain.
///
/// # Errors
/// [`Error::Config`] for a raft chain without a raft id or a bad vanity, [`Error::Journal`]
/// when the seal journal cannot be opened.
pub fn producer(
    chain: &Arc<Chain>,
    keys: &UnlockedKeys,
    config: ProducerConfig<'_>,
) -> Result<Option<Box<dyn BlockProducer>>> {
    let chain = chain.clone();
    let producer: Box<dyn BlockProducer> = match chain.engine() {
        Engine::Clique => Box::new(
            CliqueSealer::new(chain, config.datadir, keys.sealing_key(), config.proposals)?
                .with_vanity(config.extra_data)?,
        ),
        Engine::Ibft | Engine::Ibft2 | Engine::Qbft => {
            Box::new(BftSealer::new(chain, config.datadir, keys.node_key())?)
        }
        Engine::Raft => {
            let raft_id = config.raft_id.ok_or_else(|| {
                Error::Config("minting on a raft chain (--mine) needs --raft-id".into())
            })?;
            Box::new(RaftMinter::new(
                chain,
                config.datadir,
                keys.node_key(),
                raft_id,
                config.raft_block_time,
            )?)
        }
        Engine::Ethash => return Ok(None),
    };
    Ok(Some(producer))
}
