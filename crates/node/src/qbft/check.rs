//! What one height needs from the chain: the state machine's [`Config`] read from the parent
//! ([`plan`]) and the chain's verification of a proposal ([`ChainCheck`], the state machine's
//! [`BlockCheck`]).

use std::cell::RefCell;
use std::collections::HashSet;

use alloy_primitives::{Address, B256, U256};
use cachet_consensus::qbft::validators::ProposerPolicy;
use cachet_consensus::qbft::{Block, BlockCheck, Config};
use cachet_genesis::Engine;
use cachet_seal::Header;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST, Vote};
use cachet_seal::qbft as seal;

use crate::bft::{BftRules, DEFAULT_BLOCK_PERIOD};
use crate::block;
use crate::chain::{Chain, HeadInfo};

/// GoQuorum's default `requesttimeoutseconds` (`consensus/istanbul/config.go` `DefaultConfig`,
/// 10 000 ms) when the genesis does not say.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 10;

/// How far ahead of our clock a proposal's timestamp may be (clock skew between validators).
pub const MAX_FUTURE_SECS: u64 = 5;

/// One height as the driver runs it.
#[derive(Debug, Clone)]
pub struct HeightPlan {
    /// The height (the head's number + 1).
    pub height: u64,
    /// The state machine's configuration.
    pub config: Config,
    /// `blockperiodseconds`.
    pub period: u64,
    /// The parent (the head).
    pub parent: HeadInfo,
}

impl HeightPlan {
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
    /// Not a QBFT chain at this height (IBFT, IBFT 2.0, before `qbftBlock`, other engines).
    NotQbft,
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
    let rules = chain.rules_as::<BftRules>().ok_or(NotRun::NotQbft)?;
    let height = head.header.number.saturating_add(1);
    let params = rules.params();
    if params.engine_at(height) != Engine::Qbft
        || params.engine_at(head.header.number) != Engine::Qbft
    {
        return Err(NotRun::NotQbft);
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
    let policy = match bft.map(|b| b.policy) {
        Some(1) => ProposerPolicy::Sticky,
        _ => ProposerPolicy::RoundRobin,
    };
    let timeout = bft
        .and_then(|b| b.request_timeout)
        .filter(|t| *t > 0)
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS);
    let last_proposer = if head.header.number == 0 {
        Address::ZERO
    } else {
        head.header.beneficiary
    };
    Ok(HeightPlan {
        height,
        config: Config {
            validators,
            last_proposer,
            policy,
            request_timeout_ms: timeout.saturating_mul(1000),
            max_request_timeout_ms: 0,
        },
        period: bft
            .and_then(|b| b.block_period)
            .unwrap_or(DEFAULT_BLOCK_PERIOD),
        parent: head.clone(),
    })
}

/// The unsealed QBFT child of the plan's parent proposed by `me` at `timestamp` carrying
/// `vote`: round 0 in extraData (GoQuorum's proposals, also when proposing at a later round:
/// decision 411), coinbase = proposer, the Istanbul header fields.
pub fn unsealed_child(
    chain: &Chain,
    plan: &HeightPlan,
    me: Address,
    timestamp: u64,
    vote: Option<Vote>,
) -> Header {
    let extra = seal::encode_extra(&BftExtra {
        vanity: vec![0; 32],
        validators: plan.config.validators.clone(),
        vote,
        ..BftExtra::default()
    });
    let mut header = chain.empty_child(&plan.parent, timestamp, U256::from(1), extra);
    header.mix_hash = ISTANBUL_DIGEST;
    header.beneficiary = me;
    header
}

/// The chain's verification of a proposal against its parent, everything [`Chain::import`]
/// checks except the committed seals: the header against the parent (number, link, timestamp
/// order and block period, gas limit, base fee), the Istanbul fields, the validators in
/// extraData, a decodable vote, and the body executed on the parent's state giving exactly the
/// proposal's roots, gas used and bloom. Proposals already checked (re-proposals, our own
/// block) are not executed again.
#[derive(Debug)]
pub struct ChainCheck<'a> {
    chain: &'a Chain,
    plan: &'a HeightPlan,
    passed: RefCell<HashSet<B256>>,
}

impl<'a> ChainCheck<'a> {
    /// The check of proposals for `plan`'s height.
    pub fn new(chain: &'a Chain, plan: &'a HeightPlan) -> Self {
        Self {
            chain,
            plan,
            passed: RefCell::default(),
        }
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
        cachet_seal::bft::verify_common_fields("qbft", header, false).map_err(|e| e.to_string())?;
        // The vote (any, or none) decodes; it is applied when the block is imported.
        seal::decode_extra(&header.extra_data).map_err(|e| e.to_string())?;
        let (_, body) = block::split_block(block.rlp()).map_err(|e| e.to_string())?;
        let expected = chain
            .complete_child(header.clone(), header.beneficiary, &body)
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

impl BlockCheck for ChainCheck<'_> {
    fn check(&self, height: u64, block: &Block) -> Result<(), String> {
        if self.passed.borrow().contains(&block.digest()) {
            return Ok(());
        }
        self.verify(height, block)?;
        self.passed.borrow_mut().insert(block.digest());
        Ok(())
    }
}
