//! The consensus engine a genesis config selects.

use alloy_primitives::Address;

use crate::error::{Error, Result};
use crate::json::Obj;

/// Epoch length used when a config leaves it out or sets 0 (geth's clique and Quorum's
/// istanbul default, Besu's `epochlength` default).
pub const DEFAULT_EPOCH: u64 = 30_000;

/// Which IBFT family a config describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IbftFlavour {
    /// `GoQuorum` `istanbul` (IBFT 1.0, legacy in Besu).
    QuorumIstanbul,
    /// Besu `ibft2` (IBFT 2.0).
    Besu,
}

/// The consensus engine and its parameters, as the genesis config states them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// Clique proof of authority (EIP-225), `config.clique`.
    Clique {
        /// Seconds between blocks (`period`; Besu: `blockperiodseconds`).
        period: u64,
        /// Blocks per epoch (`epoch`; Besu: `epochlength`); 0 in the file means 30000.
        epoch: u64,
    },
    /// IBFT: Quorum `config.istanbul` or Besu `config.ibft2`.
    Ibft {
        /// Which IBFT.
        flavour: IbftFlavour,
        /// Blocks per epoch (`epoch` / `epochlength`); 0 in the file means 30000.
        epoch: u64,
        /// Proposer policy (Quorum `policy`: 0 round robin, 1 sticky).
        policy: u64,
        /// Seconds between blocks (Besu `blockperiodseconds`), when stated.
        block_period: Option<u64>,
        /// Round timeout in seconds (Besu `requesttimeoutseconds`), when stated.
        request_timeout: Option<u64>,
        /// Quorum `ceil2Nby3Block`: from here the quorum is ceil(2N/3) instead of 2F+1.
        ceil2nby3_block: Option<u64>,
        /// Quorum `qbftBlock` / `testQBFTBlock`: the block from which QBFT replaces IBFT.
        qbft_block: Option<u64>,
    },
    /// QBFT: `config.qbft` (Besu and Quorum), or Quorum `istanbul` with `qbftBlock: 0`.
    Qbft {
        /// Blocks per epoch (`epochlength`, or istanbul `epoch`); 0 in the file means 30000.
        epoch: u64,
        /// Proposer policy (Quorum `policy`).
        policy: u64,
        /// Seconds between blocks (`blockperiodseconds`), when stated.
        block_period: Option<u64>,
        /// Round timeout in seconds (`requesttimeoutseconds`), when stated.
        request_timeout: Option<u64>,
        /// Validator-contract mode (`validatorcontractaddress`), when stated.
        validator_contract: Option<Address>,
    },
    /// Quorum Raft: no consensus section; marked by `"raft": true` in `config` or `--raft`.
    Raft,
    /// `config.ethash` and no PoA section: a proof-of-work (or test) chain. Cachet seals and
    /// imports nothing on it; a node still runs discovery and answers eth Status (what hive's
    /// discovery suites need).
    Ethash,
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

impl Engine {
    /// Derives the engine from a genesis `config` object.
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
                [] if config.has("ethash") => Ok(Self::Ethash),
                _ => Err(Error::NoEngine),
            };
        };
        match *only {
            "clique" => clique(&section(config, "clique")?),
            "istanbul" => istanbul(&section(config, "istanbul")?),
            "ibft2" => ibft2(&section(config, "ibft2")?),
            "qbft" => qbft(&section(config, "qbft")?),
            _ => Ok(Self::Raft),
        }
    }

    /// The engine's name as the config spells its section (`clique`, `ibft`, `qbft`, `raft`).
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Clique { .. } => "clique",
            Self::Ibft { .. } => "ibft",
            Self::Qbft { .. } => "qbft",
            Self::Raft => "raft",
            Self::Ethash => "ethash",
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

fn clique(o: &Obj<'_>) -> Result<Engine> {
    let period = match o.u64("period")? {
        Some(p) => p,
        None => o.u64("blockperiodseconds")?.unwrap_or(0),
    };
    let epoch = match o.u64("epoch")? {
        Some(e) => Some(e),
        None => o.u64("epochlength")?,
    };
    Ok(Engine::Clique {
        period,
        epoch: epoch_or_default(epoch),
    })
}

fn istanbul(o: &Obj<'_>) -> Result<Engine> {
    let epoch = epoch_or_default(o.u64("epoch")?);
    let policy = o.u64("policy")?.unwrap_or(0);
    let qbft_block = match o.u64("qbftBlock")? {
        Some(b) => Some(b),
        None => o.u64("testQBFTBlock")?,
    };
    let block_period = o.u64("blockperiodseconds")?;
    let request_timeout = o.u64("requesttimeoutseconds")?;
    if qbft_block == Some(0) {
        return Ok(Engine::Qbft {
            epoch,
            policy,
            block_period,
            request_timeout,
            validator_contract: None,
        });
    }
    Ok(Engine::Ibft {
        flavour: IbftFlavour::QuorumIstanbul,
        epoch,
        policy,
        block_period,
        request_timeout,
        ceil2nby3_block: o.u64("ceil2Nby3Block")?,
        qbft_block,
    })
}

fn ibft2(o: &Obj<'_>) -> Result<Engine> {
    Ok(Engine::Ibft {
        flavour: IbftFlavour::Besu,
        epoch: epoch_or_default(o.u64("epochlength")?),
        policy: 0,
        block_period: o.u64("blockperiodseconds")?,
        request_timeout: o.u64("requesttimeoutseconds")?,
        ceil2nby3_block: None,
        qbft_block: None,
    })
}

fn qbft(o: &Obj<'_>) -> Result<Engine> {
    let epoch = match o.u64("epochlength")? {
        Some(e) => Some(e),
        None => o.u64("epoch")?,
    };
    Ok(Engine::Qbft {
        epoch: epoch_or_default(epoch),
        policy: o.u64("policy")?.unwrap_or(0),
        block_period: o.u64("blockperiodseconds")?,
        request_timeout: o.u64("requesttimeoutseconds")?,
        validator_contract: o.address("validatorcontractaddress")?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn engine(config: Value, raft: RaftMarker) -> Result<Engine> {
        Engine::from_config(&Obj::new("config", &config).unwrap(), raft)
    }

    #[test]
    fn accepts_ethash_only_without_a_poa_section() {
        let pow = engine(json!({"ethash": {}}), RaftMarker::FromGenesis);
        assert_eq!(pow.unwrap(), Engine::Ethash);
        let both = engine(
            json!({"ethash": {}, "clique": {"period": 1}}),
            RaftMarker::FromGenesis,
        );
        assert_eq!(both.unwrap().name(), "clique");
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
        );
        assert_eq!(
            geth.unwrap(),
            Engine::Clique {
                period: 2,
                epoch: DEFAULT_EPOCH
            }
        );
        let besu = engine(
            json!({"clique": {"blockperiodseconds": 15, "epochlength": 100}}),
            RaftMarker::FromGenesis,
        );
        assert_eq!(
            besu.unwrap(),
            Engine::Clique {
                period: 15,
                epoch: 100
            }
        );
    }

    #[test]
    fn accepts_istanbul_as_ibft_until_qbft_block() {
        let ibft = engine(
            json!({"istanbul": {"epoch": 30000, "policy": 0, "ceil2Nby3Block": 0, "qbftBlock": 100}}),
            RaftMarker::FromGenesis,
        )
        .unwrap();
        assert!(matches!(
            ibft,
            Engine::Ibft {
                flavour: IbftFlavour::QuorumIstanbul,
                qbft_block: Some(100),
                ceil2nby3_block: Some(0),
                ..
            }
        ));
        let qbft = engine(
            json!({"istanbul": {"testQBFTBlock": 0}}),
            RaftMarker::FromGenesis,
        );
        assert!(matches!(
            qbft.unwrap(),
            Engine::Qbft {
                epoch: DEFAULT_EPOCH,
                ..
            }
        ));
    }

    #[test]
    fn accepts_besu_ibft2_and_qbft() {
        let ibft2 = engine(
            json!({"ibft2": {"blockperiodseconds": 2, "epochlength": 30000, "requesttimeoutseconds": 4}}),
            RaftMarker::FromGenesis,
        )
        .unwrap();
        assert!(matches!(
            ibft2,
            Engine::Ibft {
                flavour: IbftFlavour::Besu,
                block_period: Some(2),
                request_timeout: Some(4),
                ..
            }
        ));
        let qbft = engine(
            json!({"qbft": {"blockperiodseconds": 5, "epochlength": 10, "requesttimeoutseconds": 10,
                "validatorcontractaddress": "0x0000000000000000000000000000000000008888"}}),
            RaftMarker::FromGenesis,
        )
        .unwrap();
        assert!(matches!(
            qbft,
            Engine::Qbft {
                epoch: 10,
                block_period: Some(5),
                validator_contract: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn accepts_raft_marker_or_flag() {
        assert_eq!(
            engine(json!({"raft": true}), RaftMarker::FromGenesis).unwrap(),
            Engine::Raft
        );
        assert_eq!(
            engine(json!({"isQuorum": true}), RaftMarker::Flag).unwrap(),
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
