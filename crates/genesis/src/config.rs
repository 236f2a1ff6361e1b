//! `genesis.json`'s `config` object: chain id, fork schedule, consensus engine.

use crate::engine::{ConsensusConfig, RaftMarker};
use crate::error::{Error, Result};
use crate::fork::{Fork, ForkCondition};
use crate::json::Obj;

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
