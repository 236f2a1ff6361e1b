//! QBFT, `GoQuorum` and Besu (`seal-formats.md` §2.3): `RLP([vanity, validators, vote, round, seals])`,
//! minimal-scalar round, proposer = coinbase, commit seals over the header with seals emptied.

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_signer::SignerSync;

pub use crate::bft::BftExtra;
use crate::bft::{self, BftSeals, Flavour, Part, Threshold};
use crate::crypto;
use crate::error::{DecodeError, Error, Result};
use crate::header::Header;

const ENGINE: &str = "qbft";

/// Decodes QBFT extraData (vote `0xc0`/`[addr,0x81ff]`/`[addr,0x80]`, minimal round).
///
/// # Errors
/// A [`DecodeError`] naming the part that is wrong.
pub fn decode_extra(extra: &[u8]) -> Result<BftExtra, DecodeError> {
    BftExtra::decode_with(extra, Flavour::Qbft)
}

/// Encodes QBFT extraData.
pub fn encode_extra(extra: &BftExtra) -> Vec<u8> {
    extra.encode_with(Flavour::Qbft, Part::Full)
}

/// The extraData committed seals cover (seals removed; see [`commit_digest`]).
pub fn commit_seal_extra(extra: &BftExtra) -> Vec<u8> {
    extra.encode_with(Flavour::Qbft, Part::ForCommitSeal)
}

/// The extraData the block hash covers (see [`block_hash`]).
pub fn block_hash_extra(extra: &BftExtra) -> Vec<u8> {
    extra.encode_with(Flavour::Qbft, Part::ForBlockHash)
}

/// The digest committers sign: keccak of the header with extraData `[vanity, validators, vote, round, []]`.
///
/// # Errors
/// When extraData does not decode.
pub fn commit_digest(header: &Header) -> Result<B256> {
    let extra = decode_extra(&header.extra_data)?;
    Ok(keccak256(header.encode_with_extra(
        &extra.encode_with(Flavour::Qbft, Part::ForCommitSeal),
    )))
}

/// The block hash: keccak of the header with extraData `[vanity, validators, vote, 0, []]`.
///
/// # Errors
/// When extraData does not decode.
pub fn block_hash(header: &Header) -> Result<B256> {
    let extra = decode_extra(&header.extra_data)?;
    Ok(keccak256(header.encode_with_extra(
        &extra.encode_with(Flavour::Qbft, Part::ForBlockHash),
    )))
}

/// This validator's committed seal for `header` (signs [`commit_digest`] directly).
///
/// # Errors
/// As [`commit_digest`], or [`Error::Signer`].
pub fn sign_commit(header: &Header, signer: &dyn SignerSync) -> Result<[u8; 65]> {
    crypto::sign(signer, &commit_digest(header)?)
}

/// `header` with `seals` as its committed seals.
///
/// # Errors
/// When extraData does not decode.
pub fn with_committed_seals(header: &Header, seals: &[[u8; 65]]) -> Result<Header> {
    let mut extra = decode_extra(&header.extra_data)?;
    extra.committed_seals = seals.to_vec();
    Ok(Header {
        extra_data: Bytes::from(encode_extra(&extra)),
        ..header.clone()
    })
}

/// Recovers proposer (coinbase) and committers.
///
/// # Errors
/// Undecodable extraData or an unrecoverable seal.
pub fn recover(header: &Header) -> Result<BftSeals> {
    let extra = decode_extra(&header.extra_data)?;
    Ok(BftSeals {
        block_hash: block_hash(header)?,
        proposer: header.beneficiary,
        committers: committers_of(header, &extra)?,
    })
}

/// Recovers only the committers, in seal order (one extraData decode, one digest).
///
/// # Errors
/// Undecodable extraData or an unrecoverable seal.
pub fn recover_committers(header: &Header) -> Result<Vec<alloy_primitives::Address>> {
    let extra = decode_extra(&header.extra_data)?;
    committers_of(header, &extra)
}

fn committers_of(header: &Header, extra: &BftExtra) -> Result<Vec<alloy_primitives::Address>> {
    let digest =
        keccak256(header.encode_with_extra(&extra.encode_with(Flavour::Qbft, Part::ForCommitSeal)));
    bft::recover_committers(&digest, &extra.committed_seals)
}

/// Verifies the header rules (`IstanbulDigest`, difficulty 1), the seals,
/// and with `validators` that the proposer is one and the committers meet `threshold`.
///
/// # Errors
/// The first broken rule.
pub fn verify(
    header: &Header,
    validators: Option<&[alloy_primitives::Address]>,
    threshold: Threshold,
) -> Result<BftSeals> {
    bft::verify_common_fields(ENGINE, header, false)?;
    let seals = recover(header)?;
    if let Some(vals) = validators {
        if !vals.contains(&seals.proposer) {
            return Err(Error::Unauthorized {
                engine: ENGINE,
                signer: seals.proposer,
            });
        }
        bft::check_quorum(ENGINE, &seals.committers, vals, threshold)?;
    }
    Ok(seals)
}
