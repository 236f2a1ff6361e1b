//! What one height needs from the chain: the state machine's configuration read from the parent
//! ([`plan`] for QBFT's [`Config`], [`ibft_plan`] for legacy IBFT's) and the chain's verification
//! of a proposal ([`ChainCheck`], the state machines' [`BlockCheck`]).

use std::cell::RefCell;
use std::collections::HashSet;

use alloy_primitives::{Address, B256};
use cachet_consensus::ibft;
use cachet_consensus::qbft::validators::ProposerPolicy;
use cachet_consensus::qbft::{Block, BlockCheck, Config};
use cachet_genesis::{BftConfig, Engine};
use cachet_seal::qbft as seal;

use crate::bft::{BftRules, DEFAULT_BLOCK_PERIOD};
use crate::block;
use crate::chain::{Chain, HeadInfo};

/// GoQuorum's default `requesttimeoutseconds` (`consensus/istanbul/config.go` `DefaultConfig`,
/// 10 000 ms) when the genesis does not say.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 10;

/// How far ahead of our clock a proposal's timestamp may be (clock skew between validators).
pub const MAX_FUTURE_SECS: u64 = 5;

/// One height as the driver runs it; `C` is the state machine's configuration (QBFT's
/// [`Config`], legacy IBFT's [`ibft::Config`]).
#[derive(Debug, Clone)]
pub struct HeightPlan<C = Config> {
    /// The height (the head's number + 1).
    pub height: u64,
    /// The engine sealing the height ([`Engine::Qbft`] or [`Engine::Ibft`]).
    pub engine: Engine,
    /// The state machine's configuration.
    pub config: C,
    /// `blockperiodseconds`.
    pub period: u64,
    /// The parent (the head).
    pub parent: HeadInfo,
}

impl<C> HeightPlan<C> {
    /// The earliest timestamp of the child: the parent's plus the block period, and at least
    /// one second later (timestamps strictly increase, `block::check_against_parent`; a
    /// period of 0 runs as 1: decision 422).
    pub fn earliest(&self) -> u64 {
        self.parent
            .header
            .timestamp
            .saturating_add(self.period.max(1))
    }
}

/// Why a height is not run by the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRun {
    /// The chain does not run the driver's engine at this height (for QBFT: IBFT, IBFT 2.0,
    /// before `qbftBlock`, other engines; for IBFT: from `qbftBlock` on, other engines).
    OtherEngine,
    /// The parent's extraData does not decode.
    BadParent(String),
    /// This node is not among the height's validators.
    NotValidator,
}

/// The plan of the child of `head` for validator `me`: validators of the chain's vote snapshot
/// after the parent (`BftRules::snapshot`: the genesis list changed by votes, sorted by
/// address bytes), last proposer = the parent's coinbase (zero on the
/// genesis), policy, `requesttimeoutseconds` and `blockperiodseconds` from the genesis.
///
/// # Errors
/// [`NotRun`] when the driver has nothing to do at this height.
pub fn plan(chain: &Chain, head: &HeadInfo, me: Address) -> Result<HeightPlan, NotRun> {
    plan_for(chain, head, me, Engine::Qbft, |validators, bft| {
        let last_proposer = if head.header.number == 0 {
            Address::ZERO
        } else {
            head.header.beneficiary
        };
        Ok(Config {
            validators,
            last_proposer,
            policy: policy(bft),
            request_timeout_ms: request_timeout_ms(bft),
            max_request_timeout_ms: 0,
        })
    })
}

/// The plan of the legacy IBFT child of `head` for validator `me`: validators of the vote
/// snapshot after the parent in IBFT's proposer order (`ibft::sort_validators`), last proposer
/// = the signer of the parent's proposer seal (zero on the genesis), the quorum rule from
/// `ceil2Nby3Block` (⌈2N/3⌉ from it on, 2F+1 below it or without it: `bft-wire.md` §5), policy,
/// `requesttimeoutseconds` and `blockperiodseconds` from the genesis.
///
/// # Errors
/// [`NotRun`] when the driver has nothing to do at this height.
pub fn ibft_plan(
    chain: &Chain,
    head: &HeadInfo,
    me: Address,
) -> Result<HeightPlan<ibft::Config>, NotRun> {
    let height = head.header.number.saturating_add(1);
    plan_for(chain, head, me, Engine::Ibft, |mut validators, bft| {
        let last_proposer = if head.header.number == 0 {
            Address::ZERO
        } else {
            cachet_seal::ibft::recover_proposer(&head.header)
                .map_err(|e| NotRun::BadParent(e.to_string()))?
        };
        ibft::sort_validators(&mut validators);
        let quorum = match bft.and_then(|b| b.ceil2nby3_block) {
            Some(b) if height >= b => ibft::QuorumRule::TwoThirds,
            _ => ibft::QuorumRule::TwoFPlusOne,
        };
        Ok(ibft::Config {
            validators,
            last_proposer,
            policy: policy(bft),
            request_timeout_ms: request_timeout_ms(bft),
            quorum,
        })
    })
}

fn policy(bft: Option<&BftConfig>) -> ProposerPolicy {
    match bft.map(|b| b.policy) {
        Some(1) => ProposerPolicy::Sticky,
        _ => ProposerPolicy::RoundRobin,
    }
}

fn request_timeout_ms(bft: Option<&BftConfig>) -> u64 {
    bft.and_then(|b| b.request_timeout)
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS)
        .saturating_mul(1000)
}

/// The plan of the child of `head` when `engine` seals it (and sealed the parent, or the
/// parent is the genesis) and `me` is among the snapshot's validators (byte-sorted), with the
/// configuration `config` makes of them and the genesis's BFT section.
fn plan_for<C>(
    chain: &Chain,
    head: &HeadInfo,
    me: Address,
    engine: Engine,
    config: impl FnOnce(Vec<Address>, Option<&BftConfig>) -> Result<C, NotRun>,
) -> Result<HeightPlan<C>, NotRun> {
    let rules = chain.rules_as::<BftRules>().ok_or(NotRun::OtherEngine)?;
    let height = head.header.number.saturating_add(1);
    let params = rules.params();
    if params.engine_at(height) != engine || params.engine_at(head.header.number) != engine {
        return Err(NotRun::OtherEngine);
    }
    let validators = rules
        .snapshot(&head.hash)
        .map(|s| s.validator_list())
        .ok_or_else(|| {
            NotRun::BadParent(format!(
                "no validator snapshot kept for block {} ({})",
                head.header.number, head.hash
            ))
        })?;
    if !validators.contains(&me) {
        return Err(NotRun::NotValidator);
    }
    let bft = chain.genesis().bft();
    Ok(HeightPlan {
        height,
        engine,
        config: config(validators, bft)?,
        period: bft
            .and_then(|b| b.block_period)
            .unwrap_or(DEFAULT_BLOCK_PERIOD),
        parent: head.clone(),
    })
}

/// The chain's verification of a proposal against its parent, everything [`Chain::import`]
/// checks except the committed seals: the header against the parent (number, link, timestamp
/// order and block period, gas limit, base fee), the Istanbul fields, the validators in
/// extraData, a decodable vote, and the body executed on the parent's state giving exactly the
/// proposal's roots, gas used and bloom. Proposals already checked (re-proposals, our own
/// block) are not executed again.
#[derive(Debug)]
pub struct ChainCheck<'a, C = Config> {
    chain: &'a Chain,
    plan: &'a HeightPlan<C>,
    passed: RefCell<HashSet<B256>>,
}

impl<'a, C> ChainCheck<'a, C> {
    /// The check of proposals for `plan`'s height.
    pub fn new(chain: &'a Chain, plan: &'a HeightPlan<C>) -> Self {
        Self {
            chain,
            plan,
            passed: RefCell::default(),
        }
    }

    /// The height checked.
    pub const fn height(&self) -> u64 {
        self.plan.height
    }

    /// Marks `digest` as checked (the block this node built itself).
    pub fn trust(&self, digest: B256) {
        self.passed.borrow_mut().insert(digest);
    }

    fn verify(&self, height: u64, block: &Block) -> Result<(), String> {
        let header = block.header();
        let parent = &self.plan.parent;
        if height != self.plan.height || header.parent_hash != parent.hash {
            return Err(format!(
                "block {} on {} is not a child of our head {} ({})",
                header.number, header.parent_hash, parent.header.number, parent.hash
            ));
        }
        let now = block::now_secs();
        if header.timestamp > now.saturating_add(MAX_FUTURE_SECS) {
            return Err(format!(
                "timestamp {} is more than {MAX_FUTURE_SECS} s ahead of our clock ({now})",
                header.timestamp
            ));
        }
        if header.timestamp < self.plan.earliest() {
            return Err(format!(
                "timestamp {} earlier than parent's + block period ({} + {})",
                header.timestamp, parent.header.timestamp, self.plan.period
            ));
        }
        let chain = self.chain;
        let step = chain.gas_limit_step(header.number, header.timestamp, &parent.header);
        block::check_against_parent(header, &parent.header, parent.hash, step)
            .map_err(|e| e.to_string())?;
        let fee = chain.base_fee_after(&parent.header, header.timestamp);
        if header.base_fee_per_gas != fee {
            return Err(format!(
                "base fee {:?}, expected {fee:?}",
                header.base_fee_per_gas
            ));
        }
        // The vote (any, or none) decodes; it is applied when the block is imported. The fee
        // recipient is the block's author as import defines it (`Rules::verify`): the
        // coinbase for QBFT, the proposer seal's signer for legacy IBFT.
        let author = if self.plan.engine == Engine::Ibft {
            cachet_seal::bft::verify_common_fields("ibft", header, true)
                .map_err(|e| e.to_string())?;
            crate::bft_votes::read_vote(Engine::Ibft, header).map_err(|e| e.to_string())?;
            cachet_seal::ibft::recover_proposer(header).map_err(|e| e.to_string())?
        } else {
            cachet_seal::bft::verify_common_fields("qbft", header, false)
                .map_err(|e| e.to_string())?;
            seal::decode_extra(&header.extra_data).map_err(|e| e.to_string())?;
            header.beneficiary
        };
        let (_, body) = block::split_block(block.rlp()).map_err(|e| e.to_string())?;
        let expected = chain
            .complete_child(header.clone(), author, &body)
            .map_err(|e| e.to_string())?;
        if expected != *header {
            return Err(format!(
                "executing the body gives state root {}, receipts root {}, gas used {}; the proposal says {}, {}, {}",
                expected.state_root,
                expected.receipts_root,
                expected.gas_used,
                header.state_root,
                header.receipts_root,
                header.gas_used
            ));
        }
        Ok(())
    }
}

impl<C> BlockCheck for ChainCheck<'_, C> {
    fn check(&self, height: u64, block: &Block) -> Result<(), String> {
        if self.passed.borrow().contains(&block.digest()) {
            return Ok(());
        }
        self.verify(height, block)?;
        self.passed.borrow_mut().insert(block.digest());
        Ok(())
    }
}
