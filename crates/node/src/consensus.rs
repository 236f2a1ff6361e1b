//! [`Consensus`]: which engine the genesis selects, how it hashes blocks and how it verifies
//! a block against its parent (clique's snapshot rules live in [`crate::chain`]; the seal
//! formats themselves in `cachet-seal`).
//!
//! - **IBFT / IBFT 2.0 / QBFT**: the validator set is the genesis extraData's list and stays
//!   fixed (votes are refused: Cachet does not apply them yet). Every block must carry the same
//!   set, the Istanbul header fields (`IstanbulDigest` mixHash, difficulty 1, nonce per engine),
//!   a timestamp at least `blockperiodseconds` (default 1, as GoQuorum's `DefaultConfig`) after
//!   its parent's, a proposer that is a validator and committed seals from distinct validators
//!   meeting the threshold: more than F for GoQuorum `istanbul` and QBFT (what GoQuorum
//!   imports), at least ceil(2N/3) for Besu `ibft2`. The block hash is the engine's (seals
//!   filtered out), not keccak of the stored RLP.
//! - **Raft**: the quorum PR 395 signature in extraData must recover to the member with that
//!   raft id (the node's own `--raft-id` and `--raft-members`); nonce and mixHash zero, no
//!   ommers, timestamps in nanoseconds (strictly increasing and at least 10^15, which no
//!   seconds timestamp reaches). Difficulty is not checked (GoQuorum does not either).

use alloy_primitives::{Address, B64, B256, U256};
use cachet_genesis::{Engine, Genesis, IbftFlavour};
use cachet_seal::bft::Threshold;
use cachet_seal::{EMPTY_OMMERS_HASH, Engine as SealEngine, Header, RaftMembers};
use cachet_seal::{ibft, ibft2, qbft, raft};

use crate::error::{Error, Result};

/// GoQuorum's default `BlockPeriod` (consensus/istanbul/config.go `DefaultConfig`) and Besu's
/// default `blockperiodseconds`.
pub const DEFAULT_BLOCK_PERIOD: u64 = 1;

/// The lowest raft timestamp accepted after genesis: 10^15 ns is 11.6 days after the epoch,
/// while 10^15 s is 31 million years away, so a seconds timestamp never passes.
pub const RAFT_MIN_TIMESTAMP_NS: u64 = 1_000_000_000_000_000;

/// ethash's `MinimumDifficulty` (`params/protocol_params.go`), where raft blocks sit.
pub const RAFT_MIN_DIFFICULTY: u64 = 131_072;

/// Clique parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliqueParams {
    /// Seconds between blocks.
    pub period: u64,
    /// Blocks per epoch.
    pub epoch: u64,
}

/// IBFT / IBFT 2.0 / QBFT parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BftParams {
    /// The engine at genesis ([`SealEngine::Ibft`], [`SealEngine::Ibft2`] or [`SealEngine::Qbft`]).
    pub engine: SealEngine,
    /// GoQuorum `qbftBlock`: IBFT switches to QBFT from this block.
    pub qbft_block: Option<u64>,
    /// Seconds between blocks.
    pub period: u64,
    /// The validators, byte-sorted.
    pub validators: Vec<Address>,
    /// The committed-seal threshold applied on import.
    pub threshold: Threshold,
}

impl BftParams {
    /// The engine that seals block `number`.
    pub fn engine_at(&self, number: u64) -> SealEngine {
        match (self.engine, self.qbft_block) {
            (SealEngine::Ibft, Some(b)) if number >= b => SealEngine::Qbft,
            (e, _) => e,
        }
    }
}

/// Quorum Raft parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftParams {
    /// Raft id → enode public key of every member whose blocks this node accepts.
    pub members: RaftMembers,
}

/// The chain's consensus engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consensus {
    /// Clique (EIP-225).
    Clique(CliqueParams),
    /// IBFT, IBFT 2.0 or QBFT with a fixed validator set.
    Bft(BftParams),
    /// Quorum Raft.
    Raft(RaftParams),
    /// An `ethash` genesis: Cachet verifies no proof of work, so it seals nothing and refuses
    /// every block; the node still runs discovery, eth Status and RPC at genesis (what hive's
    /// discovery suites need).
    Ethash,
}

fn seal_err(number: u64) -> impl Fn(cachet_seal::Error) -> Error {
    move |source| Error::Seal { number, source }
}

impl Consensus {
    /// The engine `genesis` selects; `raft_members` are the raft blocks' accepted minters.
    ///
    /// # Errors
    /// [`Error::UnsupportedEngine`] for QBFT validator-contract mode or an unknown engine;
    /// [`Error::Seal`] when the genesis extraData has no decodable validator list.
    pub fn from_genesis(genesis: &Genesis, raft_members: RaftMembers) -> Result<Self> {
        let extra = &genesis.extra_data;
        let no_validators = |e: cachet_seal::Error| Error::Seal {
            number: 0,
            source: e,
        };
        let bft = |engine: SealEngine, period: Option<u64>, qbft_block, threshold| {
            let validators = match engine {
                SealEngine::Ibft => ibft::IstanbulExtra::decode(extra).map(|e| e.validators),
                SealEngine::Ibft2 => ibft2::decode_extra(extra).map(|e| e.validators),
                _ => qbft::decode_extra(extra).map(|e| e.validators),
            }
            .map_err(|e| no_validators(e.into()))?;
            let mut validators = validators;
            validators.sort();
            validators.dedup();
            if validators.is_empty() {
                return Err(Error::InvalidBlock {
                    number: 0,
                    rule: "the genesis extraData lists no validators".into(),
                });
            }
            Ok(Self::Bft(BftParams {
                engine,
                qbft_block,
                period: period.unwrap_or(DEFAULT_BLOCK_PERIOD),
                validators,
                threshold,
            }))
        };
        match genesis.engine() {
            Engine::Clique { period, epoch } => Ok(Self::Clique(CliqueParams {
                period: *period,
                epoch: if *epoch == 0 {
                    cachet_genesis::DEFAULT_EPOCH
                } else {
                    *epoch
                },
            })),
            Engine::Ibft {
                flavour: IbftFlavour::QuorumIstanbul,
                block_period,
                qbft_block,
                ..
            } => bft(
                SealEngine::Ibft,
                *block_period,
                *qbft_block,
                Threshold::QuorumMoreThanF,
            ),
            Engine::Ibft {
                flavour: IbftFlavour::Besu,
                block_period,
                ..
            } => bft(
                SealEngine::Ibft2,
                *block_period,
                None,
                Threshold::BesuTwoThirds,
            ),
            Engine::Qbft {
                validator_contract: Some(_),
                ..
            } => Err(Error::UnsupportedEngine(
                "qbft with validatorcontractaddress (validators read from a contract)",
            )),
            Engine::Qbft { block_period, .. } => bft(
                SealEngine::Qbft,
                *block_period,
                None,
                Threshold::QuorumMoreThanF,
            ),
            Engine::Raft => Ok(Self::Raft(RaftParams {
                members: raft_members,
            })),
            Engine::Ethash => Ok(Self::Ethash),
            _ => Err(Error::UnsupportedEngine("unknown")),
        }
    }

    /// The engine's name (`clique`, `ibft`, `ibft2`, `qbft`, `raft`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Clique(_) => "clique",
            Self::Bft(p) => p.engine.name(),
            Self::Raft(_) => "raft",
            Self::Ethash => "ethash",
        }
    }

    /// The block hash as the engine defines it: keccak of the RLP for clique, raft and every
    /// genesis block; the seal-filtered header hash for IBFT/IBFT 2.0/QBFT.
    ///
    /// # Errors
    /// [`Error::Seal`] when a BFT extraData does not decode.
    pub fn hash(&self, header: &Header) -> Result<B256> {
        let Self::Bft(p) = self else {
            return Ok(header.hash_slow());
        };
        if header.number == 0 {
            return Ok(header.hash_slow());
        }
        match p.engine_at(header.number) {
            SealEngine::Ibft => ibft::block_hash(header),
            SealEngine::Ibft2 => ibft2::block_hash(header),
            _ => qbft::block_hash(header),
        }
        .map_err(seal_err(header.number))
    }

    /// Checks the engine's rules for `header` on `parent` (BFT and raft; clique is checked
    /// against its snapshot by the chain).
    ///
    /// # Errors
    /// [`Error::Seal`] for a bad seal, [`Error::InvalidBlock`] for a broken header rule.
    pub fn verify(&self, header: &Header, parent: &Header) -> Result<()> {
        match self {
            Self::Clique(_) => Ok(()),
            Self::Bft(p) => verify_bft(p, header, parent),
            Self::Raft(p) => verify_raft(p, header),
            Self::Ethash => Err(Error::InvalidBlock {
                number: header.number,
                rule: "cachet does not verify ethash proof-of-work blocks (an ethash genesis runs a node that stays at genesis)".into(),
            }),
        }
    }
}

fn verify_bft(p: &BftParams, header: &Header, parent: &Header) -> Result<()> {
    let number = header.number;
    let invalid = |rule: String| Error::InvalidBlock { number, rule };
    if header.timestamp < parent.timestamp.saturating_add(p.period) {
        return Err(invalid(format!(
            "timestamp {} earlier than parent's + block period ({} + {})",
            header.timestamp, parent.timestamp, p.period
        )));
    }
    let vals = Some(p.validators.as_slice());
    let engine = p.engine_at(number);
    let (mut listed, vote) = match engine {
        SealEngine::Ibft => {
            ibft::verify(header, vals, p.threshold).map_err(seal_err(number))?;
            let extra = ibft::IstanbulExtra::decode(&header.extra_data)
                .map_err(|e| seal_err(number)(e.into()))?;
            let vote = header.nonce != B64::ZERO || header.beneficiary != Address::ZERO;
            (extra.validators, vote)
        }
        SealEngine::Ibft2 => {
            ibft2::verify(header, vals, p.threshold).map_err(seal_err(number))?;
            let extra =
                ibft2::decode_extra(&header.extra_data).map_err(|e| seal_err(number)(e.into()))?;
            (extra.validators, extra.vote.is_some())
        }
        _ => {
            qbft::verify(header, vals, p.threshold).map_err(seal_err(number))?;
            let extra =
                qbft::decode_extra(&header.extra_data).map_err(|e| seal_err(number)(e.into()))?;
            (extra.validators, extra.vote.is_some())
        }
    };
    if vote {
        return Err(invalid(format!(
            "{engine} block carries a validator vote: cachet keeps the genesis validator set fixed and cannot apply votes yet"
        )));
    }
    listed.sort();
    if listed != p.validators {
        return Err(invalid(format!(
            "extraData lists validators {listed:?}, the chain's set is {:?}",
            p.validators
        )));
    }
    Ok(())
}

fn verify_raft(p: &RaftParams, header: &Header) -> Result<()> {
    let number = header.number;
    let invalid = |rule: String| Error::InvalidBlock { number, rule };
    if header.timestamp < RAFT_MIN_TIMESTAMP_NS {
        return Err(invalid(format!(
            "raft timestamp {} is not in nanoseconds (below 10^15)",
            header.timestamp
        )));
    }
    if header.nonce != B64::ZERO || header.mix_hash != B256::ZERO {
        return Err(invalid("raft blocks have nonce 0 and mixHash 0".into()));
    }
    if header.ommers_hash != EMPTY_OMMERS_HASH {
        return Err(invalid("raft blocks have no ommers".into()));
    }
    raft::verify(header, &p.members).map_err(|source| match source {
        cachet_seal::Error::UnknownRaftMember { raft_id } => invalid(format!(
            "minted by raft id {raft_id}, which is not a known member: pass --raft-members with the cluster's raft ids and enodes"
        )),
        source => Error::Seal { number, source },
    })?;
    Ok(())
}

/// The difficulty a raft minter writes: ethash's Byzantium adjustment with a nanosecond
/// time delta, which always saturates at `-99`: `max(parent - parent/2048*99, 131072)` (the
/// difficulty bomb is left out; GoQuorum does not check the value).
pub fn raft_difficulty(parent: &Header) -> U256 {
    let step = parent.difficulty / U256::from(2048) * U256::from(99);
    parent
        .difficulty
        .saturating_sub(step)
        .max(U256::from(RAFT_MIN_DIFFICULTY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_raft_difficulty_saturating_at_the_ethash_minimum() {
        // GoQuorum 7nodes raft genesis: difficulty 0 → the first block sits at 131072.
        let genesis = Header::default();
        assert_eq!(raft_difficulty(&genesis), U256::from(RAFT_MIN_DIFFICULTY));
        // Above the minimum the ns delta saturates the adjustment at -99/2048.
        let parent = Header {
            difficulty: U256::from(2048u64 * 1000),
            ..Header::default()
        };
        assert_eq!(
            raft_difficulty(&parent),
            U256::from(2048u64 * 1000 - 99_000)
        );
    }

    #[test]
    fn accepts_qbft_from_the_qbft_block() {
        let p = BftParams {
            engine: SealEngine::Ibft,
            qbft_block: Some(10),
            period: 1,
            validators: vec![Address::repeat_byte(1)],
            threshold: Threshold::QuorumMoreThanF,
        };
        assert_eq!(p.engine_at(9), SealEngine::Ibft);
        assert_eq!(p.engine_at(10), SealEngine::Qbft);
        let q = BftParams {
            engine: SealEngine::Qbft,
            qbft_block: None,
            ..p
        };
        assert_eq!(q.engine_at(0), SealEngine::Qbft);
    }
}
