//! One-time secp256k1 keys the handshake generates for itself (never the node key).

use std::fmt;

use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use zeroize::Zeroizing;

/// A one-time key: the ECIES `r` of one message, or the handshake's ephemeral key.
/// Erased on drop; its `Debug` shows only the public key.
pub(crate) struct EphemeralKey {
    secret: SecretKey,
    public: PublicKey,
}

impl EphemeralKey {
    /// A fresh key from the OS CSPRNG.
    pub(crate) fn random() -> Self {
        Self::from_secret(SecretKey::new(&mut rand::rngs::OsRng))
    }

    /// A key from given bytes (known-answer tests and benchmarks), `None` if not a valid key.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "used by tests and the fuzzing module")
    )]
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        SecretKey::from_byte_array(bytes)
            .ok()
            .map(Self::from_secret)
    }

    fn from_secret(secret: SecretKey) -> Self {
        Self {
            public: secret.public_key(SECP256K1),
            secret,
        }
    }

    /// The public half.
    pub(crate) fn public(&self) -> PublicKey {
        self.public
    }

    /// The x coordinate of `self · point`.
    pub(crate) fn ecdh_x(&self, point: &PublicKey) -> Zeroizing<[u8; 32]> {
        super::ecies::ecdh_x(&self.secret, point)
    }

    /// A recoverable signature `r ‖ s ‖ v` (v ∈ {0, 1}) over a 32-byte digest.
    pub(crate) fn sign(&self, digest: &[u8; 32]) -> [u8; 65] {
        let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(*digest), &self.secret);
        let (id, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        let (head, tail) = out.split_at_mut(64);
        head.copy_from_slice(&rs);
        tail.copy_from_slice(&[i32::from(id) as u8]);
        out
    }
}

impl Drop for EphemeralKey {
    fn drop(&mut self) {
        self.secret.non_secure_erase();
    }
}

impl fmt::Debug for EphemeralKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EphemeralKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}
