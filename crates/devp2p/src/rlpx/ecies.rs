//! ECIES as RLPx uses it: secp256k1, NIST SP 800-56 concat-KDF over SHA-256, AES-128-CTR and
//! HMAC-SHA256 (devp2p `rlpx.md`, "ECIES Encryption").
//!
//! A message is `R ‖ iv ‖ c ‖ d`: the sender's one-time public key (65 bytes, uncompressed), a
//! random 16-byte IV, the AES-128-CTR ciphertext and `d = HMAC-SHA256(sha256(kM), iv ‖ c ‖
//! auth_data)`, where `kE ‖ kM = KDF(S, 32)` and `S` is the x coordinate of the ECDH point.

use aes::cipher::{KeyIvInit, StreamCipher};
use cachet_primitives::Ecdh;
use hmac::{Hmac, Mac};
use secp256k1::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::cursor::Cursor;
use crate::rlpx::EphemeralKey;
use crate::{DecodeError, Error};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Bytes ECIES adds to a plaintext: `R` (65) + IV (16) + HMAC-SHA256 tag (32).
pub(crate) const OVERHEAD: usize = 65 + 16 + 32;

/// Encrypts `plaintext` to `remote`, binding `auth_data` into the tag (EIP-8's size prefix).
pub(crate) fn encrypt(remote: &PublicKey, plaintext: &[u8], auth_data: &[u8]) -> Vec<u8> {
    let r = EphemeralKey::random();
    let mut iv = [0u8; 16];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut iv);
    encrypt_with(&r, iv, remote, plaintext, auth_data)
}

/// [`encrypt`] with a given one-time key and IV (tests and benchmarks).
pub(crate) fn encrypt_with(
    r: &EphemeralKey,
    iv: [u8; 16],
    remote: &PublicKey,
    plaintext: &[u8],
    auth_data: &[u8],
) -> Vec<u8> {
    let shared = r.ecdh_x(remote);
    let (ke, km) = derive_keys(&shared);
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.extend_from_slice(&r.public().serialize_uncompressed());
    out.extend_from_slice(&iv);
    let c_start = out.len();
    out.extend_from_slice(plaintext);
    if let Some(c) = out.get_mut(c_start..) {
        Aes128Ctr::new((&*ke).into(), (&iv).into()).apply_keystream(c);
    }
    let tag = tag(&km, out.get(65..).unwrap_or_default(), auth_data);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts a message addressed to `key`, checking its tag over `auth_data`.
///
/// # Errors
/// [`DecodeError`] (wrapped for `peer`) when the message is short, `R` is not a curve point or
/// the tag does not match; [`Error::NodeKey`] when the node key was wiped.
pub(crate) fn decrypt(
    key: &dyn Ecdh,
    msg: &[u8],
    auth_data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EciesError> {
    let mut cur = Cursor::new(msg, "ecies message");
    let r = cur.array::<65>()?;
    let iv = cur.array::<16>()?;
    let body = cur.rest();
    let c_len = body.len().checked_sub(32).ok_or(DecodeError::Truncated {
        what: "ecies message",
    })?;
    let (c, d) = body.split_at_checked(c_len).ok_or(DecodeError::Truncated {
        what: "ecies message",
    })?;
    let r = PublicKey::from_slice(&r).map_err(|_| DecodeError::InvalidPublicKey {
        what: "ecies ephemeral key",
    })?;
    let shared = key.ecdh_x(&r).map_err(EciesError::NodeKey)?;
    let (ke, km) = derive_keys(&shared);
    let mut mac = hmac(&km);
    mac.update(&iv);
    mac.update(c);
    mac.update(auth_data);
    mac.verify_slice(d).map_err(|_| DecodeError::EciesMac)?;
    let mut plain = Zeroizing::new(c.to_vec());
    Aes128Ctr::new((&*ke).into(), (&iv).into()).apply_keystream(&mut plain);
    Ok(plain)
}

/// Why [`decrypt`] failed: the peer's bytes, or our key.
#[derive(Debug)]
pub(crate) enum EciesError {
    /// Bad bytes from the peer.
    Decode(DecodeError),
    /// The node key is unusable.
    NodeKey(cachet_primitives::KeyError),
    /// HMAC refused a 32-byte key (cannot happen).
    Internal,
}

impl From<DecodeError> for EciesError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl EciesError {
    /// As a crate error about `peer`.
    pub(crate) fn into_error(self, peer: crate::PeerLabel) -> Error {
        match self {
            Self::Decode(e) => Error::decode(peer, e),
            Self::NodeKey(e) => Error::NodeKey(e),
            Self::Internal => Error::Internal("hmac rejected a 32-byte key"),
        }
    }
}

/// `kE` (AES-128 key) and `sha256(kM)` (the HMAC key) from the shared x coordinate.
fn derive_keys(shared: &[u8; 32]) -> (Zeroizing<[u8; 16]>, Zeroizing<[u8; 32]>) {
    // Concat-KDF with one 32-bit big-endian counter block (32 bytes needed = one SHA-256 output)
    // and empty shared info.
    let mut kdf = Sha256::new();
    kdf.update(1u32.to_be_bytes());
    kdf.update(shared);
    let k = Zeroizing::new(<[u8; 32]>::from(kdf.finalize()));
    let (e, m) = k.split_at(16);
    let mut ke = Zeroizing::new([0u8; 16]);
    ke.copy_from_slice(e);
    let km = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(m)));
    (ke, km)
}

fn tag(km: &[u8; 32], iv_and_c: &[u8], auth_data: &[u8]) -> [u8; 32] {
    let mut mac = hmac(km);
    mac.update(iv_and_c);
    mac.update(auth_data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 keyed with `km`. A key shorter than the 64-byte block is zero-padded by HMAC's
/// definition, so padding it here is the same MAC and keeps construction infallible.
fn hmac(km: &[u8; 32]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    for (b, k) in block.iter_mut().zip(km) {
        *b = *k;
    }
    <Hmac<Sha256> as hmac::digest::KeyInit>::new(&(*block).into())
}

/// The x coordinate of `secret · point` for our own one-time keys.
pub(crate) fn ecdh_x(secret: &SecretKey, point: &PublicKey) -> Zeroizing<[u8; 32]> {
    let p = Zeroizing::new(secp256k1::ecdh::shared_secret_point(point, secret));
    let mut x = Zeroizing::new([0u8; 32]);
    if let Some(head) = p.first_chunk::<32>() {
        x.copy_from_slice(head);
    }
    x
}

#[cfg(test)]
mod tests {
    use cachet_primitives::testing::TestNodeKey;

    use super::*;

    #[test]
    fn round_trips_with_auth_data() {
        let node = TestNodeKey::generate();
        let msg = encrypt(&node.public_key(), b"hello ecies", b"\x01\x02");
        assert_eq!(msg.len(), OVERHEAD + 11);
        assert_eq!(&*decrypt(&node, &msg, b"\x01\x02").unwrap(), b"hello ecies");
        assert!(matches!(
            decrypt(&node, &msg, b"\x01\x03"),
            Err(EciesError::Decode(DecodeError::EciesMac))
        ));
    }

    #[test]
    fn rejects_every_truncation_and_bit_flip() {
        let node = TestNodeKey::generate();
        let msg = encrypt(&node.public_key(), b"abc", b"");
        for n in 0..msg.len() {
            assert!(decrypt(&node, &msg[..n], b"").is_err(), "prefix {n}");
        }
        for i in 0..msg.len() {
            let mut m = msg.clone();
            m[i] ^= 1;
            assert!(decrypt(&node, &m, b"").is_err(), "flip {i}");
        }
    }
}
