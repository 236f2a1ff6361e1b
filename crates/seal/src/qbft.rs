//! QBFT, `GoQuorum` and Besu (`seal-formats.md` §2.3): `RLP([vanity, validators, vote, round, seals])`,
//! minimal-scalar round, proposer = coinbase, commit seals over the header with seals emptied.

use alloy_primitives::{Address, B256};
use alloy_signer::SignerSync;

pub use crate::bft::BftExtra;
use crate::bft::{BftSeals, Flavour, Part, Threshold};
use crate::crypto;
use crate::error::{DecodeError, Result};
use crate::header::Header;

const FLAVOUR: Flavour = Flavour::Qbft;

/// Decodes QBFT extraData (vote `0xc0`/`[addr,0x81ff]`/`[addr,0x80]`, minimal round).
///
/// # Errors
/// A [`DecodeError`] naming the part that is wrong.
pub fn decode_extra(extra: &[u8]) -> Result<BftExtra, DecodeError> {
    BftExtra::decode_with(extra, FLAVOUR)
}

/// Encodes QBFT extraData.
pub fn encode_extra(extra: &BftExtra) -> Vec<u8> {
    extra.encode_with(FLAVOUR, Part::Full)
}

/// The extraData committed seals cover (seals removed; see [`commit_digest`]).
pub fn commit_seal_extra(extra: &BftExtra) -> Vec<u8> {
    extra.encode_with(FLAVOUR, Part::ForCommitSeal)
}

/// The extraData the block hash covers (see [`block_hash`]).
pub fn block_hash_extra(extra: &BftExtra) -> Vec<u8> {
    extra.encode_with(FLAVOUR, Part::ForBlockHash)
}

/// The digest committers sign: keccak of the header with extraData `[vanity, validators, vote, round, []]`.
///
/// # Errors
/// When extraData does not decode.
pub fn commit_digest(header: &Header) -> Result<B256> {
    FLAVOUR.commit_digest(header)
}

/// The block hash: keccak of the header with extraData `[vanity, validators, vote, 0, []]`.
///
/// # Errors
/// When extraData does not decode.
pub fn block_hash(header: &Header) -> Result<B256> {
    FLAVOUR.block_hash(header)
}

/// This validator's committed seal for `header` (signs [`commit_digest`] directly).
///
/// # Errors
/// As [`commit_digest`], or [`crate::Error::Signer`].
pub fn sign_commit(header: &Header, signer: &dyn SignerSync) -> Result<[u8; 65]> {
    crypto::sign(signer, &commit_digest(header)?)
}

/// `header` with `seals` as its committed seals.
///
/// # Errors
/// When extraData does not decode.
pub fn with_committed_seals(header: &Header, seals: &[[u8; 65]]) -> Result<Header> {
    FLAVOUR.with_committed_seals(header, seals)
}

/// Recovers proposer (coinbase) and committers.
///
/// # Errors
/// Undecodable extraData or an unrecoverable seal.
pub fn recover(header: &Header) -> Result<BftSeals> {
    FLAVOUR.recover(header)
}

/// Recovers only the committers, in seal order (one extraData decode, one digest).
///
/// # Errors
/// Undecodable extraData or an unrecoverable seal.
pub fn recover_committers(header: &Header) -> Result<Vec<Address>> {
    FLAVOUR.recover_committers(header)
}

/// Verifies the header rules (`IstanbulDigest`, difficulty 1), the seals, and with `validators` that the proposer is
/// one and the committers meet `threshold`.
///
/// # Errors
/// The first broken rule.
pub fn verify(
    header: &Header,
    validators: Option<&[Address]>,
    threshold: Threshold,
) -> Result<BftSeals> {
    FLAVOUR.verify(header, validators, threshold)
}
