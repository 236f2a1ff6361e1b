//! The consensus engine a genesis config selects ([`Engine`], the one engine type) and its
//! per-engine parameters ([`CliqueConfig`], [`BftConfig`]).

use alloy_primitives::Address;
pub use cachet_primitives::Engine;

use crate::error::{Error, Result};
use crate::json::Obj;

/// Epoch length used when a config leaves it out or sets 0 (geth's clique and Quorum's
/// istanbul default, Besu's `epochlength` default).
pub const DEFAULT_EPOCH: u64 = 30_000;

/// Clique's parameters (`config.clique`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CliqueConfig {
    /// Seconds between blocks (`period`; Besu: `blockperiodseconds`).
    pub period: u64,
    /// Blocks per epoch (`epoch`; Besu: `epochlength`); 0 in the file means 30000.
    pub epoch: u64,
}

/// The IBFT family's parameters: Quorum `config.istanbul`, Besu `config.ibft2` or
/// `config.qbft`. A field a section does not have stays at its default (`None`, policy 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BftConfig {
    /// Blocks per epoch (`epoch` / `epochlength`); 0 in the file means 30000.
    pub epoch: u64,
    /// Proposer policy (Quorum `policy`: 0 round robin, 1 sticky).
    pub policy: u64,
    /// Seconds between blocks (`blockperiodseconds`), when stated.
    pub block_period: Option<u64>,
    /// Round timeout in seconds (`requesttimeoutseconds`), when stated.
    pub request_timeout: Option<u64>,
    /// Quorum `ceil2Nby3Block` (istanbul): from here the quorum is ceil(2N/3) instead of 2F+1.
    pub ceil2nby3_block: Option<u64>,
    /// Quorum `qbftBlock` / `testQBFTBlock` (istanbul): the block from which QBFT replaces IBFT.
    pub qbft_block: Option<u64>,
    /// QBFT validator-contract mode (`validatorcontractaddress`), when stated.
    pub validator_contract: Option<Address>,
}

/// The consensus section of a genesis config: which [`Engine`] and that engine's parameters
/// (clique's in [`CliqueConfig`], the IBFT family's in [`BftConfig`]; raft and ethash have
/// none in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsensusConfig {
    engine: Engine,
    clique: Option<CliqueConfig>,
    bft: Option<BftConfig>,
}

impl ConsensusConfig {
    /// The engine.
    pub const fn engine(&self) -> Engine {
        self.engine
    }

    /// Clique's parameters; `Some` exactly when the engine is [`Engine::Clique`].
    pub const fn clique(&self) -> Option<&CliqueConfig> {
        self.clique.as_ref()
    }

    /// The IBFT family's parameters; `Some` exactly when the engine has rounds (IBFT, IBFT 2.0,
    /// QBFT).
    pub const fn bft(&self) -> Option<&BftConfig> {
        self.bft.as_ref()
    }

    const fn plain(engine: Engine) -> Self {
        Self {
            engine,
            clique: None,
            bft: None,
        }
    }

    const fn with_bft(engine: Engine, bft: BftConfig) -> Self {
        Self {
            engine,
            clique: None,
            bft: Some(bft),
        }
    }
}

/// How the caller marks a Raft network whose genesis has no `"raft": true` (GoQuorum selects
/// Raft with its `--raft` flag, not in the genesis file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RaftMarker {
    /// Use only what the genesis says.
    #[default]
    FromGenesis,
    /// The operator passed `--raft`: the genesis must have no other consensus section.
    Flag,
}

impl RaftMarker {
    /// [`Self::Flag`] when the operator passed `--raft`, else [`Self::FromGenesis`].
    pub const fn from_flag(raft_flag: bool) -> Self {
        if raft_flag {
            Self::Flag
        } else {
            Self::FromGenesis
        }
    }
}

impl ConsensusConfig {
    /// Derives the engine and its parameters from a genesis `config` object.
    pub(crate) fn from_config(config: &Obj<'_>, raft: RaftMarker) -> Result<Self> {
        let mut found: Vec<&'static str> = Vec::new();
        for key in ["clique", "istanbul", "ibft2", "qbft"] {
            if config.has(key) {
                found.push(key);
            }
        }
        let raft_in_file = config.bool("raft")?.unwrap_or(false);
        if raft_in_file || raft == RaftMarker::Flag {
            found.push("raft");
        }
        let [only] = found.as_slice() else {
            return match found.as_slice() {
                [first, second, ..] => Err(Error::ConflictingEngines { first, second }),
                [] if config.has("ethash") => Ok(Self::plain(Engine::Ethash)),
                _ => Err(Error::NoEngine),
            };
        };
        match *only {
            "clique" => clique(&section(config, "clique")?),
            "istanbul" => istanbul(&section(config, "istanbul")?),
            "ibft2" => ibft2(&section(config, "ibft2")?),
            "qbft" => qbft(&section(config, "qbft")?),
            _ => Ok(Self::plain(Engine::Raft)),
        }
    }
}

fn section<'a>(config: &Obj<'a>, key: &str) -> Result<Obj<'a>> {
    // `has(key)` was checked by the caller; a missing value here is a bug, reported as invalid.
    let value = config.get(key).ok_or_else(|| Error::MissingField {
        field: config.path_of(key),
    })?;
    let path: &'a str = match key {
        "clique" => "config.clique",
        "istanbul" => "config.istanbul",
        "ibft2" => "config.ibft2",
        _ => "config.qbft",
    };
    Obj::new(path, value)
}

fn epoch_or_default(epoch: Option<u64>) -> u64 {
    match epoch {
        None | Some(0) => DEFAULT_EPOCH,
        Some(e) => e,
    }
}

fn clique(o: &Obj<'_>) -> Result<ConsensusConfig> {
    let period = match o.u64("period")? {
        Some(p) => p,
        None => o.u64("blockperiodseconds")?.unwrap_or(0),
    };
    let epoch = match o.u64("epoch")? {
        Some(e) => Some(e),
        None => o.u64("epochlength")?,
    };
    Ok(ConsensusConfig {
        engine: Engine::Clique,
        clique: Some(CliqueConfig {
            period,
            epoch: epoch_or_default(epoch),
        }),
        bft: None,
    })
}

fn istanbul(o: &Obj<'_>) -> Result<ConsensusConfig> {
    let qbft_block = match o.u64("qbftBlock")? {
        Some(b) => Some(b),
        None => o.u64("testQBFTBlock")?,
    };
    let mut bft = BftConfig {
        epoch: epoch_or_default(o.u64("epoch")?),
        policy: o.u64("policy")?.unwrap_or(0),
        block_period: o.u64("blockperiodseconds")?,
        request_timeout: o.u64("requesttimeoutseconds")?,
        ceil2nby3_block: None,
        qbft_block: None,
        validator_contract: None,
    };
    if qbft_block == Some(0) {
        return Ok(ConsensusConfig::with_bft(Engine::Qbft, bft));
    }
    bft.ceil2nby3_block = o.u64("ceil2Nby3Block")?;
    bft.qbft_block = qbft_block;
    Ok(ConsensusConfig::with_bft(Engine::Ibft, bft))
}

fn ibft2(o: &Obj<'_>) -> Result<ConsensusConfig> {
    let bft = BftConfig {
        epoch: epoch_or_default(o.u64("epochlength")?),
        policy: 0,
        block_period: o.u64("blockperiodseconds")?,
        request_timeout: o.u64("requesttimeoutseconds")?,
        ceil2nby3_block: None,
        qbft_block: None,
        validator_contract: None,
    };
    Ok(ConsensusConfig::with_bft(Engine::Ibft2, bft))
}

fn qbft(o: &Obj<'_>) -> Result<ConsensusConfig> {
    let epoch = match o.u64("epochlength")? {
        Some(e) => Some(e),
        None => o.u64("epoch")?,
    };
    let bft = BftConfig {
        epoch: epoch_or_default(epoch),
        policy: o.u64("policy")?.unwrap_or(0),
        block_period: o.u64("blockperiodseconds")?,
        request_timeout: o.u64("requesttimeoutseconds")?,
        ceil2nby3_block: None,
        qbft_block: None,
        validator_contract: o.address("validatorcontractaddress")?,
    };
    Ok(ConsensusConfig::with_bft(Engine::Qbft, bft))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn engine(config: Value, raft: RaftMarker) -> Result<ConsensusConfig> {
        ConsensusConfig::from_config(&Obj::new("config", &config).unwrap(), raft)
    }

    fn bft(config: Value) -> (Engine, BftConfig) {
        let c = engine(config, RaftMarker::FromGenesis).unwrap();
        assert_eq!(c.clique(), None);
        (c.engine(), *c.bft().expect("an IBFT-family section"))
    }

    #[test]
    fn accepts_ethash_only_without_a_poa_section() {
        let pow = engine(json!({"ethash": {}}), RaftMarker::FromGenesis);
        assert_eq!(pow.unwrap().engine(), Engine::Ethash);
        let both = engine(
            json!({"ethash": {}, "clique": {"period": 1}}),
            RaftMarker::FromGenesis,
        );
        assert_eq!(both.unwrap().engine().name(), "clique");
        assert!(matches!(
            engine(json!({}), RaftMarker::FromGenesis),
            Err(Error::NoEngine)
        ));
    }

    #[test]
    fn accepts_clique_geth_and_besu_keys() {
        let geth = engine(
            json!({"clique": {"period": 2, "epoch": 0}}),
            RaftMarker::FromGenesis,
        )
        .unwrap();
        assert_eq!(geth.engine(), Engine::Clique);
        assert_eq!(
            geth.clique(),
            Some(&CliqueConfig {
                period: 2,
                epoch: DEFAULT_EPOCH
            })
        );
        assert_eq!(geth.bft(), None);
        let besu = engine(
            json!({"clique": {"blockperiodseconds": 15, "epochlength": 100}}),
            RaftMarker::FromGenesis,
        )
        .unwrap();
        assert_eq!(
            besu.clique(),
            Some(&CliqueConfig {
                period: 15,
                epoch: 100
            })
        );
    }

    #[test]
    fn accepts_istanbul_as_ibft_until_qbft_block() {
        let (kind, ibft) = bft(
            json!({"istanbul": {"epoch": 30000, "policy": 0, "ceil2Nby3Block": 0, "qbftBlock": 100}}),
        );
        assert_eq!(kind, Engine::Ibft);
        assert_eq!(ibft.qbft_block, Some(100));
        assert_eq!(ibft.ceil2nby3_block, Some(0));
        let (kind, qbft) = bft(json!({"istanbul": {"testQBFTBlock": 0}}));
        assert_eq!(kind, Engine::Qbft);
        assert_eq!(qbft.epoch, DEFAULT_EPOCH);
    }

    #[test]
    fn accepts_besu_ibft2_and_qbft() {
        let (kind, ibft2) = bft(
            json!({"ibft2": {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4}}),
        );
        assert_eq!(kind, Engine::Ibft2);
        assert_eq!(ibft2.block_period, Some(2));
        assert_eq!(ibft2.request_timeout, Some(4));
        let (kind, qbft) = bft(
            json!({"qbft": {"blockperiodseconds": 5, "epochlength": 10, "requesttimeoutseconds": 10,
                "validatorcontractaddress": "0x0000000000000000000000000000000000008888"}}),
        );
        assert_eq!(kind, Engine::Qbft);
        assert_eq!(qbft.epoch, 10);
        assert_eq!(qbft.block_period, Some(5));
        assert!(qbft.validator_contract.is_some());
    }

    #[test]
    fn accepts_raft_marker_or_flag() {
        let file = engine(json!({"raft": true}), RaftMarker::FromGenesis).unwrap();
        assert_eq!(file.engine(), Engine::Raft);
        assert_eq!((file.clique(), file.bft()), (None, None));
        assert_eq!(
            engine(json!({"isQuorum": true}), RaftMarker::Flag)
                .unwrap()
                .engine(),
            Engine::Raft
        );
    }

    #[test]
    fn rejects_no_engine_and_two_engines() {
        let none = engine(json!({"isQuorum": true}), RaftMarker::FromGenesis);
        assert!(matches!(none, Err(Error::NoEngine)));
        let two = engine(
            json!({"clique": {}, "istanbul": {}}),
            RaftMarker::FromGenesis,
        );
        assert!(matches!(
            two,
            Err(Error::ConflictingEngines {
                first: "clique",
                second: "istanbul"
            })
        ));
        let flag = engine(json!({"clique": {}}), RaftMarker::Flag);
        assert!(matches!(
            flag,
            Err(Error::ConflictingEngines {
                first: "clique",
                second: "raft"
            })
        ));
    }

    #[test]
    fn rejects_bad_engine_fields_naming_them() {
        let err = engine(
            json!({"clique": {"period": "soon"}}),
            RaftMarker::FromGenesis,
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidField { field, .. } if field == "config.clique.period"),
            "{err}"
        );
    }
}
