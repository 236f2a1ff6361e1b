//! Engine-generic recovery and verification, as `cachet seal recover|verify` print them.

use alloy_primitives::{Address, B256};
use cachet_primitives::Engine;

use crate::bft::{self, BftFormat, BftSeals, Threshold};
use crate::error::{DecodeError, Error, Result};
use crate::header::Header;
use crate::members::RaftMembers;
use crate::{clique, raft};

/// What a sealed header says about who sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The engine.
    pub engine: &'static str,
    /// The block hash as the engine defines it.
    pub block_hash: B256,
    /// Clique signer, IBFT proposer, IBFT 2.0/QBFT proposer (coinbase), raft minter.
    pub signer: Address,
    /// BFT committers in seal order (empty for clique and raft).
    pub committers: Vec<Address>,
    /// The raft id (raft only).
    pub raft_id: Option<u16>,
}

impl Recovered {
    /// The JSON `cachet seal recover` prints: `engine`, `block_hash`, `signer`, `committers`
    /// (BFT) and `raft_id` (raft), hex lowercase with `0x`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "engine": self.engine,
            "block_hash": format!("{:?}", self.block_hash),
            "signer": format!("{:?}", self.signer),
        });
        if let Some(obj) = v.as_object_mut() {
            if self.engine != "clique" && self.engine != "raft" {
                let c: Vec<String> = self.committers.iter().map(|a| format!("{a:?}")).collect();
                obj.insert("committers".into(), c.into());
            }
            if let Some(id) = self.raft_id {
                obj.insert("raft_id".into(), id.into());
            }
        }
        v
    }
}

/// Verification context.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions<'a> {
    /// The validator / signer set; enables proposer, signer and quorum checks.
    pub validators: Option<&'a [Address]>,
    /// The raft-id → enode map (required for raft).
    pub raft_members: Option<&'a RaftMembers>,
    /// The committed-seal threshold for BFT engines.
    pub threshold: Threshold,
    /// The clique epoch (0 = 30000).
    pub epoch: u64,
}

/// Decodes a header given as RLP hex (optional `0x`) or as `eth_getBlockByNumber` JSON.
///
/// # Errors
/// A [`DecodeError`] saying what is wrong with the input.
pub fn parse_header_input(text: &str) -> Result<Header, DecodeError> {
    let t = text.trim();
    if t.starts_with('{') {
        return crate::json::header_from_json(t);
    }
    let h = t.strip_prefix("0x").unwrap_or(t);
    let bytes = hex::decode(h).map_err(|source| DecodeError::Hex {
        what: "header rlp",
        source,
    })?;
    Header::decode(&bytes)
}

fn from_bft(engine: Engine, s: BftSeals) -> Recovered {
    Recovered {
        engine: engine.name(),
        block_hash: s.block_hash,
        signer: s.proposer,
        committers: s.committers,
        raft_id: None,
    }
}

/// Recovers signer(s) without judging validity beyond what recovery needs.
///
/// # Errors
/// Undecodable extraData, an unsealed header or an unrecoverable signature.
pub fn recover(engine: Engine, header: &Header) -> Result<Recovered> {
    Ok(match engine {
        Engine::Clique => Recovered {
            engine: engine.name(),
            block_hash: header.hash_slow(),
            signer: clique::recover_signer(header)?,
            committers: Vec::new(),
            raft_id: None,
        },
        Engine::Ibft | Engine::Ibft2 | Engine::Qbft => {
            from_bft(engine, bft_format(engine)?.recover(header)?)
        }
        Engine::Raft => {
            let s = raft::recover(header)?;
            Recovered {
                engine: engine.name(),
                block_hash: header.hash_slow(),
                signer: s.address,
                committers: Vec::new(),
                raft_id: Some(s.raft_id),
            }
        }
        Engine::Ethash => return Err(not_sealed(engine)),
    })
}

/// The addresses whose keys signed `header`: the clique signer, the IBFT 1.0 proposer seal's
/// and committed seals' signers, the IBFT 2.0/QBFT committed seals' signers (their proposer
/// is only named, in the coinbase), the raft minter; deduplicated, in that order.
///
/// # Errors
/// As [`recover`].
pub fn signers(engine: Engine, header: &Header) -> Result<Vec<Address>> {
    let r = recover(engine, header)?;
    let mut out = match engine {
        Engine::Ibft2 | Engine::Qbft => Vec::new(),
        _ => vec![r.signer],
    };
    for c in r.committers {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    Ok(out)
}

/// Verifies the seal and header rules, and with validators the signer set and quorum.
///
/// # Errors
/// The first broken rule; [`Error::UnknownRaftMember`] for raft without a member map.
pub fn verify(engine: Engine, header: &Header, opts: &VerifyOptions<'_>) -> Result<Recovered> {
    match engine {
        Engine::Clique => {
            clique::verify_header_fields(header, opts.epoch)?;
            let r = recover(engine, header)?;
            if let Some(vals) = opts.validators {
                if !vals.contains(&r.signer) {
                    return Err(Error::Unauthorized {
                        engine: "clique",
                        signer: r.signer,
                    });
                }
                let snap = clique::Snapshot {
                    epoch: opts.epoch,
                    number: header.number.saturating_sub(1),
                    signers: vals.iter().copied().collect(),
                    recents: Default::default(),
                    votes: Default::default(),
                    tally: Default::default(),
                };
                let want = snap.difficulty(header.number, &r.signer);
                if header.number > 0 && header.difficulty != want {
                    return Err(Error::HeaderRule {
                        engine: "clique",
                        rule: format!(
                            "difficulty {} but {} is {} at {}",
                            header.difficulty,
                            r.signer,
                            if want == alloy_primitives::U256::from(2) {
                                "in turn"
                            } else {
                                "out of turn"
                            },
                            header.number
                        ),
                    });
                }
            }
            Ok(r)
        }
        Engine::Ibft | Engine::Ibft2 | Engine::Qbft => Ok(from_bft(
            engine,
            bft_format(engine)?.verify(header, opts.validators, opts.threshold)?,
        )),
        Engine::Raft => {
            let members = opts.raft_members.ok_or(Error::MissingRaftMembers)?;
            let s = raft::verify(header, members)?;
            Ok(Recovered {
                engine: engine.name(),
                block_hash: header.hash_slow(),
                signer: s.address,
                committers: Vec::new(),
                raft_id: Some(s.raft_id),
            })
        }
        Engine::Ethash => Err(not_sealed(engine)),
    }
}

/// The IBFT-family format of `engine` (called for IBFT, IBFT 2.0 and QBFT only).
fn bft_format(engine: Engine) -> Result<&'static dyn BftFormat> {
    bft::format(engine).ok_or(Error::Internal(
        "an IBFT-family engine without a seal format",
    ))
}

/// An engine whose blocks carry no seal Cachet knows ([`Engine::Ethash`]).
fn not_sealed(engine: Engine) -> Error {
    Error::HeaderRule {
        engine: engine.name(),
        rule: "proof-of-work blocks carry no seal cachet recovers or verifies".into(),
    }
}
