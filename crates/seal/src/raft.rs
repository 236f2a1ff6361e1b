//! The Quorum Raft block signature (quorum PR 395, `seal-formats.md` §3):
//! `extraData = 32 zero bytes ‖ RLP([raftIdAsciiHex, sig65])`, the signature taken over the
//! header hash with ommers/tx/receipt roots zeroed, zero bloom and empty extraData.

use alloy_primitives::{Address, B256, Bloom, Bytes};
use alloy_signer::SignerSync;
use secp256k1::PublicKey;

use crate::crypto;
use crate::error::{DecodeError, Error, Result};
use crate::header::Header;
use crate::members::RaftMembers;
use crate::rlp;

/// Vanity length (left blank by Quorum).
pub const EXTRA_VANITY: usize = 32;
const WHAT: &str = "raft extraData seal";

/// The seal inside raft extraData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftSeal {
    /// The minter's raft id.
    pub raft_id: u16,
    /// `r ‖ s ‖ v`, v ∈ {0,1}.
    pub signature: [u8; 65],
}

/// Who minted a raft block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftSigner {
    /// The raft id in the block.
    pub raft_id: u16,
    /// The recovered minter address.
    pub address: Address,
    /// The recovered public key (the enode id is its 64 uncompressed bytes).
    pub public_key: PublicKey,
}

/// The ASCII form of a raft id: lowercase hex, no `0x`, no leading zeros (`hexutil.EncodeUint64(id)[2:]`).
pub fn raft_id_ascii(raft_id: u16) -> String {
    format!("{raft_id:x}")
}

fn parse_raft_id(bytes: &[u8]) -> Result<u16, DecodeError> {
    let bad = || DecodeError::InvalidRaftId {
        found: String::from_utf8_lossy(bytes).into_owned(),
    };
    let ok_digits = bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let leading_zero = bytes.len() > 1 && bytes.first() == Some(&b'0');
    if bytes.is_empty() || bytes.len() > 4 || !ok_digits || leading_zero {
        return Err(bad());
    }
    let s = std::str::from_utf8(bytes).map_err(|_| bad())?;
    u16::from_str_radix(s, 16).map_err(|_| bad())
}

impl RaftSeal {
    /// Decodes raft extraData.
    ///
    /// # Errors
    /// [`DecodeError::ExtraTooShort`], a malformed RLP list, or [`DecodeError::InvalidRaftId`].
    pub fn decode(extra: &[u8]) -> Result<Self, DecodeError> {
        let (_, rest) =
            extra
                .split_first_chunk::<EXTRA_VANITY>()
                .ok_or(DecodeError::ExtraTooShort {
                    engine: "raft",
                    min: EXTRA_VANITY,
                    found: extra.len(),
                })?;
        let mut r = rlp::single_list(rest, WHAT)?;
        let count = r.count(WHAT)?;
        if count != 2 {
            return Err(DecodeError::WrongItemCount {
                what: WHAT,
                expected: "2",
                found: count,
            });
        }
        let raft_id = parse_raft_id(r.bytes("raft extraData raft id")?)?;
        let signature = r.array::<65>("raft extraData signature")?;
        r.finish(WHAT)?;
        Ok(Self { raft_id, signature })
    }

    /// Encodes the extraData (32 zero bytes then the RLP seal).
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(72);
        rlp::put_bytes(&mut p, raft_id_ascii(self.raft_id).as_bytes());
        rlp::put_bytes(&mut p, &self.signature);
        let mut out = vec![0u8; EXTRA_VANITY];
        rlp::put_list(&mut out, &p);
        out
    }
}

/// The digest the minter signs: keccak of the header with sha3Uncles, transactionsRoot and
/// receiptsRoot zeroed, a zero logsBloom and empty extraData (every other field kept, the
/// timestamp in nanoseconds).
pub fn signing_hash(header: &Header) -> B256 {
    let h = Header {
        ommers_hash: B256::ZERO,
        transactions_root: B256::ZERO,
        receipts_root: B256::ZERO,
        logs_bloom: Bloom::ZERO,
        extra_data: Bytes::new(),
        ..header.clone()
    };
    h.hash_slow()
}

/// Recovers the minter of a raft block.
///
/// # Errors
/// Undecodable extraData or an unrecoverable signature.
pub fn recover(header: &Header) -> Result<RaftSigner> {
    let seal = RaftSeal::decode(&header.extra_data)?;
    let public_key =
        crypto::recover_public(&signing_hash(header), &seal.signature, "raft signature")?;
    Ok(RaftSigner {
        raft_id: seal.raft_id,
        address: crypto::address_of_public(&public_key),
        public_key,
    })
}

/// Verifies a (final) raft block against the raft-id → enode map.
///
/// # Errors
/// [`Error::UnknownRaftMember`] or [`Error::RaftSignerMismatch`], or a recovery error.
pub fn verify(header: &Header, members: &RaftMembers) -> Result<RaftSigner> {
    let signer = recover(header)?;
    let expected = members
        .get(signer.raft_id)
        .ok_or(Error::UnknownRaftMember {
            raft_id: signer.raft_id,
        })?;
    if *expected != signer.public_key {
        return Err(Error::RaftSignerMismatch {
            raft_id: signer.raft_id,
            recovered: signer.address,
            expected: crypto::address_of_public(expected),
        });
    }
    Ok(signer)
}

/// Signs `header` as minter `raft_id` and returns it with the raft extraData. The header may
/// carry its final roots and bloom: they are zeroed for hashing. The result is verified against
/// `members` before it is returned; a block that fails is never emitted.
///
/// # Errors
/// [`Error::Signer`], or [`Error::RaftSelfCheck`] when the fresh signature fails verification.
pub fn sign_block(
    header: &Header,
    raft_id: u16,
    signer: &dyn SignerSync,
    members: &RaftMembers,
) -> Result<Header> {
    let signature = crypto::sign(signer, &signing_hash(header))?;
    let sealed = Header {
        extra_data: Bytes::from(RaftSeal { raft_id, signature }.encode()),
        ..header.clone()
    };
    verify(&sealed, members).map_err(|e| Error::RaftSelfCheck {
        raft_id,
        source: Box::new(e),
    })?;
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_raft_id_forms() {
        assert_eq!(parse_raft_id(b"1"), Ok(1));
        assert_eq!(parse_raft_id(b"a"), Ok(10));
        assert_eq!(parse_raft_id(b"ffff"), Ok(0xffff));
        assert_eq!(raft_id_ascii(65535), "ffff");
    }

    #[test]
    fn rejects_bad_raft_ids() {
        for bad in [&b""[..], b"01", b"A", b"10000", b"0x1", b"g", b" 1"] {
            assert!(
                matches!(parse_raft_id(bad), Err(DecodeError::InvalidRaftId { .. })),
                "{bad:?}"
            );
        }
    }
}
