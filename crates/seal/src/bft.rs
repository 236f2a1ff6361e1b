//! What the Istanbul-family engines share: the mixHash digest, votes, committed-seal thresholds
//! and the common header rules (`seal-formats.md` §2).

use std::fmt;

use alloy_primitives::{Address, B256, U256, b256};
use cachet_primitives::Engine;

use crate::crypto;
use crate::error::{DecodeError, Error, Result};
use crate::header::{EMPTY_OMMERS_HASH, Header};
use crate::rlp::{self, Reader};

/// mixHash of every Istanbul-family block: "Istanbul practical byzantine fault tolerance".
pub const ISTANBUL_DIGEST: B256 =
    b256!("63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365");

/// One IBFT-family engine's seal format, for callers that hold an [`Engine`] rather than a
/// module: [`format()`] is the one place mapping the engine to it, and each engine's module
/// implements it over its own functions ([`crate::ibft::Format`]; IBFT 2.0 and QBFT share one
/// implementation over their single-list codec, parameterised by the crate's `Flavour`).
pub trait BftFormat: Sync + fmt::Debug {
    /// The engine.
    fn engine(&self) -> Engine;

    /// The block hash: the header hash with the seals filtered out of extraData.
    ///
    /// # Errors
    /// Undecodable extraData.
    fn block_hash(&self, header: &Header) -> Result<B256>;

    /// Recovers proposer and committers.
    ///
    /// # Errors
    /// Undecodable extraData or an unrecoverable seal.
    fn recover(&self, header: &Header) -> Result<BftSeals>;

    /// Verifies the header rules and the seals, and with `validators` that the proposer is one
    /// and the committers meet `threshold`.
    ///
    /// # Errors
    /// The first broken rule.
    fn verify(
        &self,
        header: &Header,
        validators: Option<&[Address]>,
        threshold: Threshold,
    ) -> Result<BftSeals>;

    /// The validators an extraData lists, in the order found.
    ///
    /// # Errors
    /// Undecodable extraData.
    fn validators(&self, extra: &[u8]) -> Result<Vec<Address>>;

    /// True when `header` carries a validator vote (IBFT 1.0: in coinbase and nonce; IBFT 2.0
    /// and QBFT: in extraData).
    ///
    /// # Errors
    /// Undecodable extraData.
    fn has_vote(&self, header: &Header) -> Result<bool>;

    /// The extraData of an unsealed proposal: 32 zero bytes of vanity, `validators`, no vote,
    /// `round` (IBFT 1.0 carries none) and no seals.
    fn unsealed_extra(&self, validators: &[Address], round: u32) -> Vec<u8>;
}

/// The seal format of `engine`; `None` outside the IBFT family.
pub fn format(engine: Engine) -> Option<&'static dyn BftFormat> {
    match engine {
        Engine::Ibft => Some(&crate::ibft::Format),
        Engine::Ibft2 => Some(&Flavour::Ibft2),
        Engine::Qbft => Some(&Flavour::Qbft),
        Engine::Clique | Engine::Raft | Engine::Ethash => None,
    }
}

/// A validator vote carried in IBFT 2.0 / QBFT extraData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The validator voted on.
    pub recipient: Address,
    /// True to add, false to drop.
    pub authorize: bool,
}

/// Which committed-seal threshold a verifier applies (§6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Threshold {
    /// `GoQuorum` import: more than `F = ceil(N/3) - 1` distinct committers.
    QuorumMoreThanF,
    /// Besu import (and what Cachet produces): at least `ceil(2N/3)`.
    #[default]
    BesuTwoThirds,
}

impl Threshold {
    /// Committers required for `n` validators.
    pub const fn required(self, n: usize) -> usize {
        match self {
            Self::QuorumMoreThanF => f(n) + 1,
            Self::BesuTwoThirds => (2 * n).div_ceil(3),
        }
    }

    /// A name for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::QuorumMoreThanF => "quorum: more than F",
            Self::BesuTwoThirds => "besu: at least ceil(2N/3)",
        }
    }
}

/// Quorum's fault tolerance `F = ceil(N/3) - 1` (0 for an empty set).
pub const fn f(n: usize) -> usize {
    n.div_ceil(3).saturating_sub(1)
}

/// How many committed seals Cachet gathers before finalising: `ceil(2N/3)`, which satisfies
/// both Besu and Quorum importers.
pub const fn seals_to_produce(n: usize) -> usize {
    (2 * n).div_ceil(3)
}

/// Recovers each committer from `seals` over `digest`, in seal order.
///
/// # Errors
/// [`Error::BadSignature`] for a seal that does not recover.
pub fn recover_committers(digest: &B256, seals: &[[u8; 65]]) -> Result<Vec<Address>> {
    seals
        .iter()
        .map(|s| crypto::recover_address(digest, s, "committed seal"))
        .collect()
}

/// Checks that `committers` are distinct validators and meet `threshold`.
///
/// # Errors
/// [`Error::Unauthorized`], [`Error::DuplicateCommitter`] or [`Error::InsufficientSeals`].
pub fn check_quorum(
    engine: &'static str,
    committers: &[Address],
    validators: &[Address],
    threshold: Threshold,
) -> Result<()> {
    let mut seen: Vec<Address> = Vec::with_capacity(committers.len());
    for c in committers {
        if !validators.contains(c) {
            return Err(Error::Unauthorized { engine, signer: *c });
        }
        if seen.contains(c) {
            return Err(Error::DuplicateCommitter { engine, signer: *c });
        }
        seen.push(*c);
    }
    let required = threshold.required(validators.len());
    if seen.len() < required {
        return Err(Error::InsufficientSeals {
            engine,
            found: seen.len(),
            required,
            policy: threshold.name(),
        });
    }
    Ok(())
}

/// Common header rules: `IstanbulDigest` mixHash and difficulty 1; with `strict_ommers`, the empty
/// ommers hash too (IBFT 1.0/2.0).
///
/// # Errors
/// [`Error::HeaderRule`].
pub fn verify_common_fields(
    engine: &'static str,
    header: &Header,
    strict_ommers: bool,
) -> Result<()> {
    let rule = |r: String| Err(Error::HeaderRule { engine, rule: r });
    if header.mix_hash != ISTANBUL_DIGEST {
        return rule(format!(
            "mixHash must be the IstanbulDigest, found {}",
            header.mix_hash
        ));
    }
    if header.difficulty != U256::from(1) {
        return rule(format!("difficulty must be 1, found {}", header.difficulty));
    }
    if strict_ommers && header.ommers_hash != EMPTY_OMMERS_HASH {
        return rule(format!(
            "sha3Uncles must be the empty-list hash, found {}",
            header.ommers_hash
        ));
    }
    Ok(())
}

pub(crate) fn decode_addresses(
    list: &mut Reader<'_>,
    what: &'static str,
) -> Result<Vec<Address>, DecodeError> {
    let mut l = list.list(what)?;
    let mut out = Vec::new();
    while !l.is_empty() {
        out.push(Address::from(l.array::<20>(what)?));
    }
    Ok(out)
}

pub(crate) fn put_addresses(out: &mut Vec<u8>, addrs: &[Address]) {
    let mut p = Vec::with_capacity(21 * addrs.len());
    for a in addrs {
        rlp::put_bytes(&mut p, a.as_slice());
    }
    rlp::put_list(out, &p);
}

pub(crate) fn decode_seals(
    list: &mut Reader<'_>,
    what: &'static str,
) -> Result<Vec<[u8; 65]>, DecodeError> {
    let mut l = list.list(what)?;
    let mut out = Vec::new();
    while !l.is_empty() {
        out.push(l.array::<65>(what)?);
    }
    Ok(out)
}

pub(crate) fn put_seals(out: &mut Vec<u8>, seals: &[[u8; 65]]) {
    let mut p = Vec::with_capacity(67 * seals.len());
    for s in seals {
        rlp::put_bytes(&mut p, s);
    }
    rlp::put_list(out, &p);
}

/// Decodes a vote item `[addr, byte]`; `empty` tells whether the no-vote form was seen.
pub(crate) fn decode_vote_list(
    item: rlp::Item<'_>,
    what: &'static str,
    allowed: &'static str,
    drop: &[u8],
) -> Result<Vote, DecodeError> {
    let bad = || DecodeError::InvalidVote { what, allowed };
    let rlp::Item::List(payload) = item else {
        return Err(bad());
    };
    let mut l = Reader::new(payload);
    let recipient = Address::from(l.array::<20>(what)?);
    let b = l.bytes(what)?;
    l.finish(what)?;
    let authorize = match b {
        [0xff] => true,
        _ if b == drop => false,
        _ => return Err(bad()),
    };
    Ok(Vote {
        recipient,
        authorize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_thresholds() {
        // N = 6: Quorum accepts > F = 1, i.e. 2; Besu needs 4.
        assert_eq!(Threshold::QuorumMoreThanF.required(6), 2);
        assert_eq!(Threshold::BesuTwoThirds.required(6), 4);
        assert_eq!(Threshold::QuorumMoreThanF.required(4), 2);
        assert_eq!(Threshold::BesuTwoThirds.required(4), 3);
        assert_eq!(Threshold::BesuTwoThirds.required(1), 1);
        assert_eq!(f(1), 0);
        assert_eq!(f(7), 2);
        assert_eq!(seals_to_produce(7), 5);
    }

    #[test]
    fn accepts_one_format_per_ibft_family_engine() {
        let vals = [Address::repeat_byte(1), Address::repeat_byte(2)];
        for engine in Engine::SEALING {
            let Some(f) = format(engine) else {
                assert!(!engine.has_rounds(), "{engine} has no format");
                continue;
            };
            assert_eq!(f.engine(), engine);
            let extra = f.unsealed_extra(&vals, 3);
            assert_eq!(f.validators(&extra).unwrap(), vals, "{engine}");
            let header = Header {
                extra_data: extra.clone().into(),
                ..Header::default()
            };
            assert!(!f.has_vote(&header).unwrap(), "{engine}");
            // The engine module's own decoder reads the same extraData.
            match engine {
                Engine::Ibft => {
                    let e = crate::ibft::IstanbulExtra::decode(&extra).unwrap();
                    assert_eq!(e.vanity, [0; 32]);
                    assert!(e.seal.is_empty() && e.committed_seals.is_empty());
                }
                Engine::Ibft2 => assert_eq!(crate::ibft2::decode_extra(&extra).unwrap().round, 3),
                _ => assert_eq!(crate::qbft::decode_extra(&extra).unwrap().round, 3),
            }
        }
        assert!(format(Engine::Ethash).is_none());
        assert!(format(Engine::Clique).is_none());
    }
}

/// What a verifier learns from a BFT block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BftSeals {
    /// The block hash as the engine defines it.
    pub block_hash: B256,
    /// The proposer (IBFT 1.0: recovered from the proposer seal; IBFT 2.0/QBFT: coinbase).
    pub proposer: Address,
    /// The committers, in seal order.
    pub committers: Vec<Address>,
}

/// Decoded IBFT 2.0 / QBFT extraData: `RLP([vanity, validators, vote, round, seals])`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BftExtra {
    /// The vanity (32 bytes when Cachet produces it; decoders accept any length).
    pub vanity: Vec<u8>,
    /// The validators, in the order found.
    pub validators: Vec<Address>,
    /// The vote, if any.
    pub vote: Option<Vote>,
    /// The round.
    pub round: u32,
    /// The committed seals, in order.
    pub committed_seals: Vec<[u8; 65]>,
}

/// The two single-list encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Ibft2,
    Qbft,
}

/// Which parts of the extraData an encoding includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Everything (the on-chain form).
    Full,
    /// Without seals (IBFT 2.0: 4 items; QBFT: 5 items, empty seals).
    ForCommitSeal,
    /// Without seals and round (IBFT 2.0: 3 items; QBFT: 5 items, round 0, empty seals).
    ForBlockHash,
}

impl Flavour {
    /// The single-list encoding of `engine`; `None` for IBFT 1.0 and the other engines.
    pub(crate) const fn of(engine: Engine) -> Option<Self> {
        match engine {
            Engine::Ibft2 => Some(Self::Ibft2),
            Engine::Qbft => Some(Self::Qbft),
            _ => None,
        }
    }

    const fn what(self) -> &'static str {
        match self {
            Self::Ibft2 => "ibft2 extraData",
            Self::Qbft => "qbft extraData",
        }
    }
}

impl BftExtra {
    pub(crate) fn decode_with(extra: &[u8], flavour: Flavour) -> Result<Self, DecodeError> {
        let what = flavour.what();
        let mut r = rlp::single_list(extra, what)?;
        let count = r.count(what)?;
        if count != 5 {
            return Err(DecodeError::WrongItemCount {
                what,
                expected: "5",
                found: count,
            });
        }
        let vanity = r.bytes("bft extraData vanity")?.to_vec();
        let validators = decode_addresses(&mut r, "bft extraData validators")?;
        let item = r.item("bft extraData vote")?;
        let vote = match (flavour, item) {
            (Flavour::Ibft2, rlp::Item::Str([])) | (Flavour::Qbft, rlp::Item::List([])) => None,
            (Flavour::Ibft2, _) => Some(decode_vote_list(
                item,
                "ibft2 extraData vote",
                "0x80, [addr, 0x81ff] or [addr, 0x00]",
                &[0x00],
            )?),
            (Flavour::Qbft, _) => Some(decode_vote_list(
                item,
                "qbft extraData vote",
                "0xc0, [addr, 0x81ff] or [addr, 0x80]",
                &[],
            )?),
        };
        let round = match flavour {
            Flavour::Ibft2 => u32::from_be_bytes(r.array::<4>("ibft2 extraData round")?),
            Flavour::Qbft => {
                let v = r.u64("qbft extraData round")?;
                u32::try_from(v).map_err(|_| DecodeError::IntegerOverflow {
                    what: "qbft extraData round",
                    max_bytes: 4,
                })?
            }
        };
        let committed_seals = decode_seals(&mut r, "bft extraData committed seals")?;
        r.finish(what)?;
        Ok(Self {
            vanity,
            validators,
            vote,
            round,
            committed_seals,
        })
    }

    pub(crate) fn encode_with(&self, flavour: Flavour, part: Part) -> Vec<u8> {
        let mut p =
            Vec::with_capacity(64 + 21 * self.validators.len() + 67 * self.committed_seals.len());
        rlp::put_bytes(&mut p, &self.vanity);
        put_addresses(&mut p, &self.validators);
        match (self.vote, flavour) {
            (None, Flavour::Ibft2) => p.push(0x80),
            (None, Flavour::Qbft) => p.push(0xc0),
            (Some(v), _) => {
                let mut l = Vec::with_capacity(23);
                rlp::put_bytes(&mut l, v.recipient.as_slice());
                l.push(match (v.authorize, flavour) {
                    (true, _) => 0xff,
                    (false, Flavour::Ibft2) => 0x00,
                    (false, Flavour::Qbft) => 0x80,
                });
                if v.authorize {
                    // 0xff is not its own encoding: prefix it as a one-byte string.
                    let last = l.pop().unwrap_or(0xff);
                    l.extend_from_slice(&[0x81, last]);
                }
                rlp::put_list(&mut p, &l);
            }
        }
        let round = match part {
            Part::ForBlockHash => 0,
            _ => self.round,
        };
        match (flavour, part) {
            (Flavour::Ibft2, Part::ForBlockHash) => return rlp::list(&p),
            (Flavour::Ibft2, _) => rlp::put_bytes(&mut p, &round.to_be_bytes()),
            (Flavour::Qbft, _) => rlp::put_u64(&mut p, u64::from(round)),
        }
        match (flavour, part) {
            (_, Part::Full) => put_seals(&mut p, &self.committed_seals),
            (Flavour::Ibft2, _) => {}
            (Flavour::Qbft, _) => p.push(0xc0),
        }
        rlp::list(&p)
    }
}
