//! `genesis.json`'s `config` object: chain id, fork schedule, consensus engine.

use alloy_primitives::{Address, U256};
use serde_json::Value;

use crate::engine::{ConsensusConfig, RaftMarker};
use crate::error::{Error, Result};
use crate::fork::{Fork, ForkCondition};
use crate::json::{Obj, invalid};

/// The chain configuration (geth's `ChainConfig`, the parts Cachet uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// `chainId` (EIP-155); also the default network id.
    pub chain_id: u64,
    /// Every fork the file schedules, in [`Fork::ALL`] order.
    pub forks: Vec<(Fork, ForkCondition)>,
    /// Quorum's `isQuorum` flag.
    pub is_quorum: bool,
    /// The consensus engine and its parameters.
    pub consensus: ConsensusConfig,
    /// Keys that change how blocks execute (permissioned-network specifics).
    pub execution: ExecutionParams,
}

/// The `config` keys that change execution beyond the fork schedule: GoQuorum's and Besu's
/// permissioned-network settings, the DAO fork flag, BFT block rewards. Execution decides which
/// it implements and refuses the rest; this only reads them (paths in errors).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecutionParams {
    /// GoQuorum `maxCodeSize` (KiB; 0 or absent: the EIP-170 default).
    pub max_code_size: Option<u64>,
    /// GoQuorum `maxCodeSizeChangeBlock`: from here `maxCodeSize` applies (absent: always).
    pub max_code_size_change_block: Option<u64>,
    /// GoQuorum `maxCodeSizeConfig`: `(block, size in KiB)` entries, in file order.
    pub max_code_size_config: Vec<(u64, u64)>,
    /// GoQuorum `transitions[]` entries that set `contractsizelimit` (KiB): `(block, size)`.
    pub transition_contract_size_limits: Vec<(u64, u64)>,
    /// GoQuorum `transitions[]` entries that set `transactionSizeLimit` (KiB): `(block, size)`.
    pub transition_txn_size_limits: Vec<(u64, u64)>,
    /// GoQuorum `transitions[]` entries that set `gasPriceEnabled`: `(block, enabled)`.
    pub transition_gas_price_enabled: Vec<(u64, bool)>,
    /// Paths of GoQuorum / Besu `transitions` keys that move fees or rewards
    /// (`blockReward`, `beneficiaryMode`, `miningBeneficiary`, …), for a refusal naming them.
    pub transition_reward_keys: Vec<String>,
    /// GoQuorum `txnSizeLimit` (KiB; 0 or absent: GoQuorum's default 64).
    pub txn_size_limit: Option<u64>,
    /// Besu `contractSizeLimit` (bytes).
    pub contract_size_limit: Option<u64>,
    /// Besu `zeroBaseFee`.
    pub zero_base_fee: bool,
    /// `daoForkSupport`.
    pub dao_fork_support: bool,
    /// Besu `ibft2.blockreward` / `qbft.blockreward` (wei), or GoQuorum `qbft.blockReward`.
    pub bft_block_reward: Option<U256>,
    /// Besu `ibft2.miningbeneficiary` / `qbft.miningbeneficiary`.
    pub bft_mining_beneficiary: Option<Address>,
}

impl ExecutionParams {
    /// Reads the execution keys of `config`.
    fn from_json(config: &Obj<'_>) -> Result<Self> {
        let mut params = Self {
            max_code_size: config.u64("maxCodeSize")?.filter(|s| *s != 0),
            max_code_size_change_block: config.u64("maxCodeSizeChangeBlock")?,
            txn_size_limit: config.u64("txnSizeLimit")?.filter(|s| *s != 0),
            contract_size_limit: config.u64("contractSizeLimit")?,
            zero_base_fee: config.bool("zeroBaseFee")?.unwrap_or(false),
            dao_fork_support: config.bool("daoForkSupport")?.unwrap_or(false),
            ..Self::default()
        };
        if let Some(entries) = config.get("maxCodeSizeConfig") {
            let path = config.path_of("maxCodeSizeConfig");
            let Value::Array(entries) = entries else {
                return Err(invalid(&path, "expected an array of {block, size} objects"));
            };
            for (i, entry) in entries.iter().enumerate() {
                let entry_path = format!("{path}[{i}]");
                let entry = Obj::new(&entry_path, entry)?;
                let block = entry.u64("block")?.ok_or_else(|| Error::MissingField {
                    field: entry.path_of("block"),
                })?;
                let size = entry.u64("size")?.ok_or_else(|| Error::MissingField {
                    field: entry.path_of("size"),
                })?;
                params.max_code_size_config.push((block, size));
            }
        }
        for section in ["ibft2", "qbft"] {
            if let Some(value) = config.get(section) {
                let path = config.path_of(section);
                let bft = Obj::new(&path, value)?;
                if let Some(reward) = bft.u256("blockreward")? {
                    params.bft_block_reward = Some(reward);
                }
                if let Some(beneficiary) = bft.address("miningbeneficiary")? {
                    params.bft_mining_beneficiary = Some(beneficiary);
                }
                if bft.has("beneficiaryMode") {
                    params
                        .transition_reward_keys
                        .push(bft.path_of("beneficiaryMode"));
                }
            }
        }
        if let Some(transitions) = config.get("transitions") {
            params.read_transitions(&config.path_of("transitions"), transitions)?;
        }
        Ok(params)
    }

    /// GoQuorum's `transitions` array or Besu's `transitions` object of per-engine arrays.
    fn read_transitions(&mut self, path: &str, transitions: &Value) -> Result<()> {
        const REWARD_KEYS: [&str; 4] = [
            "blockReward",
            "beneficiaryMode",
            "miningBeneficiary",
            "blockRewardBeneficiary",
        ];
        let mut lists: Vec<(String, &Vec<Value>)> = Vec::new();
        match transitions {
            Value::Array(list) => lists.push((path.to_owned(), list)),
            Value::Object(map) => {
                for (engine, list) in map {
                    if let Value::Array(list) = list {
                        lists.push((format!("{path}.{engine}"), list));
                    }
                }
            }
            _ => return Err(invalid(path, "expected an array or an object")),
        }
        for (list_path, list) in lists {
            for (i, entry) in list.iter().enumerate() {
                let entry_path = format!("{list_path}[{i}]");
                let entry = Obj::new(&entry_path, entry)?;
                for key in REWARD_KEYS {
                    if entry.has(key) {
                        self.transition_reward_keys.push(entry.path_of(key));
                    }
                }
                let block = entry.u64("block")?;
                let contract = entry.u64("contractsizelimit")?.filter(|s| *s != 0);
                let txn = entry.u64("transactionSizeLimit")?.filter(|s| *s != 0);
                let gas_price = entry.bool("gasPriceEnabled")?;
                if contract.is_some() || txn.is_some() || gas_price.is_some() {
                    let block = block.ok_or_else(|| Error::MissingField {
                        field: entry.path_of("block"),
                    })?;
                    if let Some(size) = contract {
                        self.transition_contract_size_limits.push((block, size));
                    }
                    if let Some(size) = txn {
                        self.transition_txn_size_limits.push((block, size));
                    }
                    if let Some(enabled) = gas_price {
                        self.transition_gas_price_enabled.push((block, enabled));
                    }
                }
            }
        }
        Ok(())
    }
}

impl ChainConfig {
    /// Reads `config`; `raft` says whether `--raft` was given.
    pub(crate) fn from_json(config: &Obj<'_>, raft: RaftMarker) -> Result<Self> {
        let chain_id = config.u64("chainId")?.ok_or_else(|| Error::MissingField {
            field: config.path_of("chainId"),
        })?;
        let mut forks = Vec::new();
        for fork in Fork::ALL {
            if let Some(at) = config.u64(fork.json_key())? {
                let condition = if fork.is_timestamp_based() {
                    ForkCondition::Timestamp(at)
                } else {
                    ForkCondition::Block(at)
                };
                forks.push((fork, condition));
            }
        }
        Ok(Self {
            chain_id,
            forks,
            is_quorum: config.bool("isQuorum")?.unwrap_or(false),
            consensus: ConsensusConfig::from_config(config, raft)?,
            execution: ExecutionParams::from_json(config)?,
        })
    }

    /// When `fork` activates, if the config schedules it.
    pub fn fork(&self, fork: Fork) -> Option<ForkCondition> {
        self.forks.iter().find(|(f, _)| *f == fork).map(|(_, c)| *c)
    }

    /// Whether `fork` is active in a block with this number and timestamp.
    pub fn is_active(&self, fork: Fork, number: u64, timestamp: u64) -> bool {
        match self.fork(fork) {
            Some(ForkCondition::Block(at)) => number >= at,
            Some(ForkCondition::Timestamp(at)) => timestamp >= at,
            None => false,
        }
    }

    /// Block numbers of the forks in the fork id, sorted, deduplicated, without 0.
    pub fn fork_id_blocks(&self) -> Vec<u64> {
        let mut blocks: Vec<u64> = self
            .forks
            .iter()
            .filter(|(f, _)| f.in_fork_id())
            .filter_map(|(_, c)| match c {
                ForkCondition::Block(b) if *b > 0 => Some(*b),
                _ => None,
            })
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        blocks
    }

    /// Timestamps of the forks in the fork id, sorted, deduplicated, only those after
    /// `genesis_time` (a fork active at genesis is the genesis ruleset, not a fork).
    pub fn fork_id_times(&self, genesis_time: u64) -> Vec<u64> {
        let mut times: Vec<u64> = self
            .forks
            .iter()
            .filter(|(f, _)| f.in_fork_id())
            .filter_map(|(_, c)| match c {
                ForkCondition::Timestamp(t) if *t > genesis_time => Some(*t),
                _ => None,
            })
            .collect();
        times.sort_unstable();
        times.dedup();
        times
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(config: Value) -> Result<ExecutionParams> {
        ExecutionParams::from_json(&Obj::new("config", &config).unwrap())
    }

    #[test]
    fn reads_nothing_from_a_plain_config() {
        assert_eq!(
            params(json!({"chainId": 1})).unwrap(),
            ExecutionParams::default()
        );
    }

    #[test]
    fn reads_quorum_size_limits() {
        let p = params(json!({
            "maxCodeSize": 35, "maxCodeSizeChangeBlock": "0x10", "txnSizeLimit": 128,
            "maxCodeSizeConfig": [{"block": 0, "size": 32}, {"block": "100", "size": 48}],
            "transitions": [
                {"block": 5, "contractsizelimit": 64},
                {"block": 6, "transactionSizeLimit": 96, "blockReward": "0x1"},
                {"block": 7, "gasPriceEnabled": true}
            ]
        }))
        .unwrap();
        assert_eq!(p.max_code_size, Some(35));
        assert_eq!(p.max_code_size_change_block, Some(16));
        assert_eq!(p.txn_size_limit, Some(128));
        assert_eq!(p.max_code_size_config, vec![(0, 32), (100, 48)]);
        assert_eq!(p.transition_contract_size_limits, vec![(5, 64)]);
        assert_eq!(p.transition_txn_size_limits, vec![(6, 96)]);
        assert_eq!(p.transition_gas_price_enabled, vec![(7, true)]);
        assert_eq!(
            p.transition_reward_keys,
            vec!["config.transitions[1].blockReward"]
        );
    }

    #[test]
    fn reads_besu_keys_and_bft_rewards() {
        let p = params(json!({
            "contractSizeLimit": 2147483647, "zeroBaseFee": true, "daoForkSupport": true,
            "qbft": {"blockreward": "0xde0b6b3a7640000",
                     "miningbeneficiary": "0x00000000000000000000000000000000000000aa"},
            "transitions": {"qbft": [{"block": 10, "miningbeneficiary": "0x01"}]}
        }))
        .unwrap();
        assert_eq!(p.contract_size_limit, Some(2_147_483_647));
        assert!(p.zero_base_fee && p.dao_fork_support);
        assert_eq!(
            p.bft_block_reward,
            Some(U256::from(1_000_000_000_000_000_000u64))
        );
        assert_eq!(
            p.bft_mining_beneficiary,
            Some(Address::with_last_byte(0xaa))
        );
        assert_eq!(
            p.transition_reward_keys,
            vec!["config.transitions.qbft[0].miningBeneficiary"]
        );
    }

    #[test]
    fn rejects_bad_values_naming_the_path() {
        for (config, path) in [
            (
                json!({"maxCodeSizeConfig": [{"block": 1}]}),
                "config.maxCodeSizeConfig[0].size",
            ),
            (
                json!({"maxCodeSizeConfig": {"block": 1}}),
                "config.maxCodeSizeConfig",
            ),
            (json!({"zeroBaseFee": "yes"}), "config.zeroBaseFee"),
            (
                json!({"ibft2": {"blockreward": "0xzz"}}),
                "config.ibft2.blockreward",
            ),
            (
                json!({"transitions": [{"contractsizelimit": 64}]}),
                "config.transitions[0].block",
            ),
            (json!({"txnSizeLimit": -1}), "config.txnSizeLimit"),
        ] {
            let err = params(config).unwrap_err();
            let field = match &err {
                Error::MissingField { field } | Error::InvalidField { field, .. } => field.clone(),
                other => panic!("unexpected error {other}"),
            };
            assert_eq!(field, path, "{err}");
        }
    }
}
