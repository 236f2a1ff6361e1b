//! Signing through [`SignerSync`] and recovery with libsecp256k1.

use alloy_primitives::{Address, B256, keccak256};
use alloy_signer::SignerSync;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SECP256K1};

use crate::error::{Error, Result};

/// Recovers the public key that made the 65-byte `r ‖ s ‖ v` signature (v ∈ {0,1}) over
/// `digest`, as geth's `crypto.Ecrecover` does.
///
/// # Errors
/// [`Error::BadSignature`] when v is not 0 or 1, r or s is out of range, or no key recovers.
pub fn recover_public(digest: &B256, sig: &[u8; 65], what: &'static str) -> Result<PublicKey> {
    let (rs, v) = sig.split_at(64);
    let v = v.first().copied().unwrap_or(0xff);
    let bad = || Error::BadSignature { what, v };
    let id = match v {
        0 => RecoveryId::Zero,
        1 => RecoveryId::One,
        _ => return Err(bad()),
    };
    let rsig = RecoverableSignature::from_compact(rs, id).map_err(|_| bad())?;
    SECP256K1
        .recover_ecdsa(&Message::from_digest(digest.0), &rsig)
        .map_err(|_| bad())
}

/// The Ethereum address of a public key: `keccak(uncompressed[1..65])[12..32]`.
pub fn address_of_public(public: &PublicKey) -> Address {
    let uncompressed = public.serialize_uncompressed();
    let (_, xy) = uncompressed.split_at(1);
    Address::from_word(keccak256(xy))
}

/// Recovers the signer's address.
///
/// # Errors
/// As [`recover_public`].
pub fn recover_address(digest: &B256, sig: &[u8; 65], what: &'static str) -> Result<Address> {
    recover_public(digest, sig, what).map(|p| address_of_public(&p))
}

/// Signs a 32-byte digest as given and returns `r ‖ s ‖ v` with v ∈ {0,1} (every seal and, in
/// `consensus`, every QBFT message signature goes through it).
///
/// # Errors
/// [`Error::Signer`] when the key cannot sign (wiped after revocation, backend failure).
pub fn sign<S: SignerSync + ?Sized>(signer: &S, digest: &B256) -> Result<[u8; 65]> {
    let sig = signer.sign_hash_sync(digest).map_err(Error::Signer)?;
    let mut out = [0u8; 65];
    let (rs, v) = out.split_at_mut(64);
    let (r, s) = rs.split_at_mut(32);
    r.copy_from_slice(&sig.r().to_be_bytes::<32>());
    s.copy_from_slice(&sig.s().to_be_bytes::<32>());
    if let Some(v) = v.first_mut() {
        *v = u8::from(sig.v());
    }
    Ok(out)
}

/// Reads a 65-byte seal from a slice.
pub(crate) fn seal_array(bytes: &[u8], what: &'static str) -> Result<[u8; 65], crate::DecodeError> {
    <[u8; 65]>::try_from(bytes).map_err(|_| crate::DecodeError::WrongLength {
        what,
        expected: 65,
        found: bytes.len(),
    })
}
