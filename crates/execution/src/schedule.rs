//! The genesis fork schedule as revm specs per block, the engine's block rewards and the
//! permissioned-network limits; everything Cachet does not execute is refused here, at startup.

use alloy_primitives::Address;
use cachet_genesis::{ChainConfig, Engine, Fork, ForkCondition, Genesis};
use revm::primitives::hardfork::SpecId;

use crate::error::Unsupported;

/// EIP-170's contract size limit (revm's default), bytes.
pub(crate) const EIP170_CODE_SIZE: usize = 24_576;
/// GoQuorum's default `txnSizeLimit` (KiB), `core/genesis.go`.
const QUORUM_DEFAULT_TXN_SIZE_KIB: u64 = 64;
/// geth's txpool `txMaxSize` (4 × 32 KiB slots), bytes; the limit on chains that are not
/// GoQuorum's.
const GETH_TX_MAX_SIZE: usize = 4 * 32 * 1024;
/// 1 ether in wei.
const ETHER: u128 = 1_000_000_000_000_000_000;

/// The block forks that must come in this order (geth's `CheckConfigForkOrder`; the DAO
/// fork and the difficulty-bomb delays are optional and left out).
const ORDERED_BLOCK_FORKS: [Fork; 10] = [
    Fork::Homestead,
    Fork::Eip150,
    Fork::Eip155,
    Fork::Eip158,
    Fork::Byzantium,
    Fork::Constantinople,
    Fork::Petersburg,
    Fork::Istanbul,
    Fork::Berlin,
    Fork::London,
];

/// Who gets what at the end of a block, beyond transaction fees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewards {
    /// Clique, IBFT, QBFT, raft without a block reward.
    None,
    /// Ethash: 5/3/2 ether by fork plus ommer and nephew rewards (not after the merge).
    Ethash,
    /// Besu IBFT 2.0 / QBFT `blockreward` to `miningbeneficiary` (else the block's
    /// beneficiary), as Besu's BFT protocol schedule does.
    Bft {
        /// Wei per block.
        amount: u128,
        /// `miningbeneficiary`, when set.
        beneficiary: Option<Address>,
    },
}

/// The executor's view of the genesis config.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) chain_id: u64,
    pub(crate) engine: Engine,
    pub(crate) is_quorum: bool,
    config: ChainConfig,
    /// Petersburg's activation: `petersburgBlock`, or Constantinople's when absent (geth).
    petersburg: Option<u64>,
    pub(crate) rewards: Rewards,
    /// `(from block, limit in bytes)`, ascending; before the first entry EIP-170 applies.
    code_size_limits: Vec<(u64, usize)>,
    /// `(from block, limit in bytes)`, ascending; before the first entry `base_txn_size`.
    txn_size_limits: Vec<(u64, usize)>,
    base_txn_size: usize,
    /// GoQuorum `transitions[].gasPriceEnabled`, `(from block, enabled)` in file order.
    gas_price_transitions: Vec<(u64, bool)>,
}

impl Schedule {
    pub(crate) fn new(genesis: &Genesis) -> Result<Self, Unsupported> {
        let config = &genesis.config;
        let params = &config.execution;
        let engine = config.consensus.engine();
        check_fork_order(config)?;
        for (fork, key, name) in [
            (Fork::Cancun, "cancunTime", "Cancun"),
            (Fork::Prague, "pragueTime", "Prague"),
            (Fork::Osaka, "osakaTime", "Osaka"),
        ] {
            if config.fork(fork).is_some() {
                return Err(Unsupported::Fork {
                    key,
                    fork: name,
                    remedy: "cachet executes Frontier through Shanghai; remove the key if the chain never reaches it",
                });
            }
        }
        let petersburg = match (
            block_of(config, Fork::Constantinople),
            block_of(config, Fork::Petersburg),
        ) {
            (Some(c), Some(p)) if p > c => {
                return Err(Unsupported::Fork {
                    key: "constantinopleBlock",
                    fork: "Constantinople without Petersburg (EIP-1283 net gas metering)",
                    remedy: "revm has no EIP-1283 ruleset; set petersburgBlock equal to constantinopleBlock",
                });
            }
            (Some(c), None) => Some(c),
            (_, p) => p,
        };
        if config.fork(Fork::Shanghai).is_some() {
            let geth_family =
                matches!(engine, Engine::Clique | Engine::Ibft | Engine::Raft) || config.is_quorum;
            if geth_family {
                return Err(Unsupported::Fork {
                    key: "shanghaiTime",
                    fork: "Shanghai on a geth-family proof-of-authority chain",
                    remedy: "geth and GoQuorum apply Shanghai only after the merge (never on clique/IBFT/raft) while Besu applies it by timestamp; remove shanghaiTime",
                });
            }
        }
        if config.fork(Fork::DaoFork).is_some() && params.dao_fork_support {
            return Err(Unsupported::Key {
                key: "config.daoForkSupport".into(),
                remedy: "the DAO fork's irregular state change is mainnet history; set daoForkSupport to false",
            });
        }
        if params.zero_base_fee {
            return Err(Unsupported::Key {
                key: "config.zeroBaseFee".into(),
                remedy: "Besu's zero base fee market is not implemented; run the chain with a base fee",
            });
        }
        if let Some(key) = params.transition_reward_keys.first() {
            return Err(Unsupported::Key {
                key: key.clone(),
                remedy: "transitions that change block rewards or fee beneficiaries are not implemented",
            });
        }
        if config.fork(Fork::PrivacyPrecompile).is_some() {
            return Err(Unsupported::Key {
                key: "config.privacyPrecompileBlock".into(),
                remedy: "GoQuorum privacy marker transactions run a precompile cachet does not have",
            });
        }
        if engine == Engine::Ethash && config.is_quorum {
            return Err(Unsupported::Key {
                key: "config.isQuorum".into(),
                remedy: "GoQuorum's ethash pays block rewards to 0x0 until gas price is enabled; cachet implements GoQuorum's PoA engines only",
            });
        }
        let rewards = match (engine, params.bft_block_reward) {
            (Engine::Ethash, _) => Rewards::Ethash,
            (_, Some(amount)) if amount.is_zero() => Rewards::None,
            (Engine::Ibft2 | Engine::Qbft, Some(amount)) if !config.is_quorum => Rewards::Bft {
                amount: u128::try_from(amount).map_err(|_| Unsupported::Key {
                    key: "config.ibft2.blockreward / config.qbft.blockreward".into(),
                    remedy: "a block reward above 2^128 wei is not supported",
                })?,
                beneficiary: params.bft_mining_beneficiary,
            },
            (_, Some(_)) => {
                return Err(Unsupported::Key {
                    key: "config.qbft.blockReward".into(),
                    remedy: "GoQuorum's QBFT block rewards (beneficiary modes) are not implemented",
                });
            }
            (_, None) => Rewards::None,
        };
        let (code_size_limits, txn_size_limits, base_txn_size) = limits(config)?;
        Ok(Self {
            chain_id: config.chain_id,
            engine,
            is_quorum: config.is_quorum,
            config: config.clone(),
            petersburg,
            rewards,
            code_size_limits,
            txn_size_limits,
            base_txn_size,
            gas_price_transitions: params.transition_gas_price_enabled.clone(),
        })
    }

    /// Whether `fork` is active at this block.
    pub(crate) fn is_active(&self, fork: Fork, number: u64, timestamp: u64) -> bool {
        self.config.is_active(fork, number, timestamp)
    }

    /// The revm spec of a block. `post_merge` says whether the block is a proof-of-stake block
    /// (ethash chains only: difficulty 0 from London on, as geth decides it).
    pub(crate) fn spec(&self, number: u64, timestamp: u64, post_merge: bool) -> SpecId {
        let active = |fork| self.is_active(fork, number, timestamp);
        if active(Fork::London) {
            if post_merge || self.engine != Engine::Ethash {
                if active(Fork::Shanghai) {
                    return SpecId::SHANGHAI;
                }
                if post_merge {
                    return SpecId::MERGE;
                }
            }
            return SpecId::LONDON;
        }
        if active(Fork::Berlin) {
            SpecId::BERLIN
        } else if active(Fork::Istanbul) {
            SpecId::ISTANBUL
        } else if self.petersburg.is_some_and(|p| number >= p) {
            SpecId::PETERSBURG
        } else if active(Fork::Byzantium) {
            SpecId::BYZANTIUM
        } else if active(Fork::Eip158) {
            SpecId::SPURIOUS_DRAGON
        } else if active(Fork::Eip150) {
            SpecId::TANGERINE
        } else if active(Fork::Homestead) {
            SpecId::HOMESTEAD
        } else {
            SpecId::FRONTIER
        }
    }

    /// The ethash block reward of a block with this spec (wei).
    pub(crate) fn ethash_reward(spec: SpecId) -> u128 {
        if spec.is_enabled_in(SpecId::PETERSBURG) {
            2 * ETHER
        } else if spec.is_enabled_in(SpecId::BYZANTIUM) {
            3 * ETHER
        } else {
            5 * ETHER
        }
    }

    /// Whether a transaction may pay a non-zero gas price at block `number`: always, except
    /// on GoQuorum chains (`isQuorum`) before `enableGasPriceBlock` or a `transitions` entry
    /// with `gasPriceEnabled` (GoQuorum `IsGasPriceEnabled`).
    pub(crate) fn gas_price_enabled(&self, number: u64) -> bool {
        if !self.is_quorum || self.is_active(Fork::EnableGasPrice, number, 0) {
            return true;
        }
        self.gas_price_transitions
            .iter()
            .take_while(|(from, _)| *from <= number)
            .last()
            .is_some_and(|(_, enabled)| *enabled)
    }

    /// The contract code size limit (bytes) at block `number`.
    pub(crate) fn code_size_limit(&self, number: u64) -> usize {
        at_block(&self.code_size_limits, number).unwrap_or(EIP170_CODE_SIZE)
    }

    /// The transaction size limit (bytes) at block `number`.
    pub(crate) fn txn_size_limit(&self, number: u64) -> usize {
        at_block(&self.txn_size_limits, number).unwrap_or(self.base_txn_size)
    }
}

fn block_of(config: &ChainConfig, fork: Fork) -> Option<u64> {
    match config.fork(fork) {
        Some(ForkCondition::Block(b)) => Some(b),
        _ => None,
    }
}

fn at_block(limits: &[(u64, usize)], number: u64) -> Option<usize> {
    limits
        .iter()
        .take_while(|(from, _)| *from <= number)
        .last()
        .map(|(_, limit)| *limit)
}

/// The scheduled block forks must not go backwards (a later fork at an earlier block than an
/// earlier fork: geth refuses it, and it is a typo). Absent earlier forks are allowed, as in
/// Besu, whose genesis files often give only `berlinBlock: 0`: revm's specs are cumulative,
/// so a later fork includes every earlier one from its block on, as Besu's milestones do.
/// Shanghai needs London scheduled.
fn check_fork_order(config: &ChainConfig) -> Result<(), Unsupported> {
    let mut last: Option<(Fork, u64)> = None;
    for fork in ORDERED_BLOCK_FORKS {
        let Some(at) = block_of(config, fork) else {
            continue;
        };
        if let Some((prev, prev_at)) = last
            && prev_at > at
        {
            return Err(Unsupported::ForkOrder {
                earlier: prev.json_key(),
                later: fork.json_key(),
                problem: "comes after it",
            });
        }
        last = Some((fork, at));
    }
    if config.fork(Fork::Shanghai).is_some() && block_of(config, Fork::London).is_none() {
        return Err(Unsupported::ForkOrder {
            earlier: Fork::London.json_key(),
            later: Fork::Shanghai.json_key(),
            problem: "is missing",
        });
    }
    Ok(())
}

type Limits = (Vec<(u64, usize)>, Vec<(u64, usize)>, usize);

/// Code and transaction size limits from GoQuorum's and Besu's keys.
fn limits(config: &ChainConfig) -> Result<Limits, Unsupported> {
    let params = &config.execution;
    let kib = |k: u64| usize::try_from(k.saturating_mul(1024)).unwrap_or(usize::MAX);
    let mut code: Vec<(u64, usize)> = Vec::new();
    if let Some(bytes) = params.contract_size_limit {
        // Besu: one limit for the whole chain.
        code.push((0, usize::try_from(bytes).unwrap_or(usize::MAX)));
    }
    if !params.max_code_size_config.is_empty() {
        if params.max_code_size.is_some() {
            return Err(Unsupported::Invalid {
                key: "config.maxCodeSize",
                reason: "GoQuorum refuses maxCodeSize together with maxCodeSizeConfig; keep maxCodeSizeConfig",
            });
        }
        let mut prev = 0;
        for (block, size) in &params.max_code_size_config {
            if *block < prev {
                return Err(Unsupported::Invalid {
                    key: "config.maxCodeSizeConfig",
                    reason: "entries must be in ascending block order (GoQuorum)",
                });
            }
            prev = *block;
            check_code_kib("config.maxCodeSizeConfig[].size", *size)?;
            code.push((*block, kib(*size)));
        }
    } else if let Some(size) = params.max_code_size {
        check_code_kib("config.maxCodeSize", size)?;
        code.push((params.max_code_size_change_block.unwrap_or(0), kib(size)));
    }
    for (block, size) in &params.transition_contract_size_limits {
        check_code_kib("config.transitions[].contractsizelimit", *size)?;
        code.push((*block, kib(*size)));
    }
    code.sort_by_key(|(block, _)| *block);

    let quorum_sizes = config.is_quorum || params.txn_size_limit.is_some();
    let base_txn = if quorum_sizes {
        let size = params.txn_size_limit.unwrap_or(QUORUM_DEFAULT_TXN_SIZE_KIB);
        check_txn_kib("config.txnSizeLimit", size)?;
        kib(size)
    } else {
        GETH_TX_MAX_SIZE
    };
    let mut txn = Vec::new();
    for (block, size) in &params.transition_txn_size_limits {
        check_txn_kib("config.transitions[].transactionSizeLimit", *size)?;
        txn.push((*block, kib(*size)));
    }
    txn.sort_by_key(|(block, _)| *block);
    Ok((code, txn, base_txn))
}

fn check_code_kib(key: &'static str, size: u64) -> Result<(), Unsupported> {
    if (24..=128).contains(&size) {
        Ok(())
    } else {
        Err(Unsupported::OutOfRange {
            key,
            value: size,
            range: "24..=128 KiB (GoQuorum)",
        })
    }
}

fn check_txn_kib(key: &'static str, size: u64) -> Result<(), Unsupported> {
    if (32..=128).contains(&size) {
        Ok(())
    } else {
        Err(Unsupported::OutOfRange {
            key,
            value: size,
            range: "32..=128 KiB (GoQuorum)",
        })
    }
}
