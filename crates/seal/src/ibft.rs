//! Quorum IBFT ("istanbul") = Besu IBFT 1.0 (`seal-formats.md` §2.1):
//! `extraData = vanity(32) ‖ RLP([validators, seal, committedSeals])`, a double-hashed proposer
//! seal and committed seals over `keccak(blockHash ‖ 0x02)`.

use alloy_primitives::{Address, B64, B256, Bytes, keccak256};
use alloy_signer::SignerSync;
use cachet_primitives::Engine;

use crate::bft::{self, BftFormat, BftSeals, Threshold};
use crate::crypto;
use crate::error::{DecodeError, Error, Result};
use crate::header::Header;
use crate::rlp;

const ENGINE: &str = "ibft";
const WHAT: &str = "ibft extraData";
/// Vanity length.
pub const EXTRA_VANITY: usize = 32;
/// The commit message code appended to the block hash before hashing.
pub const MSG_COMMIT: u8 = 0x02;

/// Decoded IBFT 1.0 extraData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IstanbulExtra {
    /// The 32-byte vanity.
    pub vanity: [u8; 32],
    /// The validators, in the order found.
    pub validators: Vec<Address>,
    /// The proposer seal: empty when unsealed, else 65 bytes (genesis files may carry 65 zeros).
    pub seal: Vec<u8>,
    /// The committed seals, in order.
    pub committed_seals: Vec<[u8; 65]>,
}

impl IstanbulExtra {
    /// Decodes IBFT 1.0 extraData.
    ///
    /// # Errors
    /// [`DecodeError::ExtraTooShort`] below 32 bytes, or a [`DecodeError`] for the RLP part.
    pub fn decode(extra: &[u8]) -> Result<Self, DecodeError> {
        let (vanity, rest) =
            extra
                .split_first_chunk::<EXTRA_VANITY>()
                .ok_or(DecodeError::ExtraTooShort {
                    engine: ENGINE,
                    min: EXTRA_VANITY,
                    found: extra.len(),
                })?;
        let mut r = rlp::single_list(rest, WHAT)?;
        let count = r.count(WHAT)?;
        if count != 3 {
            return Err(DecodeError::WrongItemCount {
                what: WHAT,
                expected: "3",
                found: count,
            });
        }
        let validators = bft::decode_addresses(&mut r, "ibft extraData validators")?;
        let seal = r.bytes("ibft extraData proposer seal")?;
        if !seal.is_empty() && seal.len() != 65 {
            return Err(DecodeError::WrongLength {
                what: "ibft extraData proposer seal",
                expected: 65,
                found: seal.len(),
            });
        }
        let committed_seals = bft::decode_seals(&mut r, "ibft extraData committed seals")?;
        r.finish(WHAT)?;
        Ok(Self {
            vanity: *vanity,
            validators,
            seal: seal.to_vec(),
            committed_seals,
        })
    }

    /// Encodes the extraData.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_parts(&self.seal, &self.committed_seals)
    }

    fn encode_parts(&self, seal: &[u8], committed: &[[u8; 65]]) -> Vec<u8> {
        let mut p = Vec::with_capacity(21 * self.validators.len() + 67 * (committed.len() + 1) + 8);
        bft::put_addresses(&mut p, &self.validators);
        rlp::put_bytes(&mut p, seal);
        bft::put_seals(&mut p, committed);
        let mut out = self.vanity.to_vec();
        rlp::put_list(&mut out, &p);
        out
    }
}

/// The extraData the proposer's sigHash covers: `vanity ‖ RLP([validators, 0x80, 0xc0])`.
pub fn proposer_seal_extra(extra: &IstanbulExtra) -> Vec<u8> {
    extra.encode_parts(&[], &[])
}

/// The extraData the block hash covers: `vanity ‖ RLP([validators, seal, 0xc0])`.
pub fn block_hash_extra(extra: &IstanbulExtra) -> Vec<u8> {
    extra.encode_parts(&extra.seal, &[])
}

/// The proposer's sigHash: keccak of the header with extraData `vanity ‖ RLP([validators, 0x80, 0xc0])`.
/// The proposer signs `keccak(sigHash)`.
///
/// # Errors
/// When extraData does not decode.
pub fn proposer_sig_hash(header: &Header) -> Result<B256> {
    let extra = IstanbulExtra::decode(&header.extra_data)?;
    Ok(keccak256(
        header.encode_with_extra(&extra.encode_parts(&[], &[])),
    ))
}

/// The block hash: keccak of the header with extraData `vanity ‖ RLP([validators, seal, 0xc0])`.
///
/// # Errors
/// When extraData does not decode.
pub fn block_hash(header: &Header) -> Result<B256> {
    let extra = IstanbulExtra::decode(&header.extra_data)?;
    Ok(keccak256(
        header.encode_with_extra(&extra.encode_parts(&extra.seal, &[])),
    ))
}

/// The digest a committer signs: `keccak(blockHash ‖ 0x02)`.
pub fn commit_digest(block_hash: &B256) -> B256 {
    let mut pre = [0u8; 33];
    let (h, code) = pre.split_at_mut(32);
    h.copy_from_slice(block_hash.as_slice());
    if let Some(c) = code.first_mut() {
        *c = MSG_COMMIT;
    }
    keccak256(pre)
}

/// Seals a proposal: signs `keccak(proposer_sig_hash)` and writes the seal, clearing committed seals.
///
/// # Errors
/// As [`proposer_sig_hash`], or [`Error::Signer`].
pub fn sign_proposal(header: &Header, signer: &dyn SignerSync) -> Result<Header> {
    let digest = keccak256(proposer_sig_hash(header)?);
    let sig = crypto::sign(signer, &digest)?;
    let mut extra = IstanbulExtra::decode(&header.extra_data)?;
    extra.seal = sig.to_vec();
    extra.committed_seals.clear();
    Ok(Header {
        extra_data: Bytes::from(extra.encode()),
        ..header.clone()
    })
}

/// This validator's committed seal for a proposal that carries its proposer seal.
///
/// # Errors
/// As [`block_hash`], or [`Error::Signer`].
pub fn sign_commit(header: &Header, signer: &dyn SignerSync) -> Result<[u8; 65]> {
    crypto::sign(signer, &commit_digest(&block_hash(header)?))
}

/// `header` with `seals` as its committed seals.
///
/// # Errors
/// When extraData does not decode.
pub fn with_committed_seals(header: &Header, seals: &[[u8; 65]]) -> Result<Header> {
    let mut extra = IstanbulExtra::decode(&header.extra_data)?;
    extra.committed_seals = seals.to_vec();
    Ok(Header {
        extra_data: Bytes::from(extra.encode()),
        ..header.clone()
    })
}

/// Recovers the proposer from the proposer seal.
///
/// # Errors
/// [`Error::Unsealed`] without a seal (or with the all-zero genesis seal), else a recovery error.
pub fn recover_proposer(header: &Header) -> Result<Address> {
    let extra = IstanbulExtra::decode(&header.extra_data)?;
    let seal = <[u8; 65]>::try_from(extra.seal.as_slice()).map_err(|_| Error::Unsealed {
        what: "ibft proposer seal",
    })?;
    if seal == [0; 65] {
        return Err(Error::Unsealed {
            what: "ibft proposer seal",
        });
    }
    let sig_hash = keccak256(header.encode_with_extra(&extra.encode_parts(&[], &[])));
    crypto::recover_address(&keccak256(sig_hash), &seal, "ibft proposer seal")
}

/// Recovers proposer and committers.
///
/// # Errors
/// Undecodable extraData or an unrecoverable seal.
pub fn recover(header: &Header) -> Result<BftSeals> {
    let extra = IstanbulExtra::decode(&header.extra_data)?;
    let hash = block_hash(header)?;
    Ok(BftSeals {
        block_hash: hash,
        proposer: recover_proposer(header)?,
        committers: bft::recover_committers(&commit_digest(&hash), &extra.committed_seals)?,
    })
}

/// Verifies header rules (`IstanbulDigest`, difficulty 1, empty ommers, vote nonce), the seals, and
/// with `validators` that the proposer is one and the committers meet `threshold`.
///
/// # Errors
/// The first broken rule.
pub fn verify(
    header: &Header,
    validators: Option<&[Address]>,
    threshold: Threshold,
) -> Result<BftSeals> {
    bft::verify_common_fields(ENGINE, header, true)?;
    if header.nonce != B64::ZERO && header.nonce != B64::new([0xff; 8]) {
        return Err(Error::HeaderRule {
            engine: ENGINE,
            rule: format!("nonce {} is not a vote", header.nonce),
        });
    }
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

/// IBFT 1.0 as a [`BftFormat`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Format;

impl BftFormat for Format {
    fn engine(&self) -> Engine {
        Engine::Ibft
    }

    fn block_hash(&self, header: &Header) -> Result<B256> {
        block_hash(header)
    }

    fn recover(&self, header: &Header) -> Result<BftSeals> {
        recover(header)
    }

    fn verify(
        &self,
        header: &Header,
        validators: Option<&[Address]>,
        threshold: Threshold,
    ) -> Result<BftSeals> {
        verify(header, validators, threshold)
    }

    fn validators(&self, extra: &[u8]) -> Result<Vec<Address>> {
        Ok(IstanbulExtra::decode(extra)?.validators)
    }

    fn has_vote(&self, header: &Header) -> Result<bool> {
        Ok(header.nonce != B64::ZERO || header.beneficiary != Address::ZERO)
    }

    fn unsealed_extra(&self, validators: &[Address], _round: u32) -> Vec<u8> {
        IstanbulExtra {
            vanity: [0u8; EXTRA_VANITY],
            validators: validators.to_vec(),
            seal: Vec::new(),
            committed_seals: Vec::new(),
        }
        .encode()
    }
}
