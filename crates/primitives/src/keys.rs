//! The small capability traits through which networking uses the node key: [`Ecdh`] (RLPx
//! ECIES) and [`NodeSigner`] (discv4 packets, the ENR). `keyprovider` implements them on its
//! KMS-unlocked `NodeKey`; `devp2p` and `discovery` take them, never key bytes.

use secp256k1::PublicKey;
use zeroize::Zeroizing;

use crate::enode::NodeId;

/// The key behind a capability cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key set was wiped (revocation or shutdown).
    #[error("the node key was wiped (revocation or shutdown): restart the node")]
    Wiped,
}

/// Elliptic-curve Diffie-Hellman with a secret that stays inside its owner (RLPx ECIES).
pub trait Ecdh: Send + Sync {
    /// The public key matching the secret.
    fn public_key(&self) -> PublicKey;

    /// The x coordinate of `secret · peer` (unhashed, as RLPx ECIES uses it).
    ///
    /// # Errors
    /// [`KeyError::Wiped`] after the key set was wiped.
    fn ecdh_x(&self, peer: &PublicKey) -> Result<Zeroizing<[u8; 32]>, KeyError>;
}

/// The devp2p node key as networking sees it: ECDH plus signing of 32-byte digests.
pub trait NodeSigner: Ecdh {
    /// Signs a 32-byte digest exactly as given: RFC 6979, low-S, `r ‖ s ‖ v` with `v ∈ {0, 1}`
    /// (geth's `crypto.Sign`). discv4 signs `keccak(type ‖ body)`; the ENR signs
    /// `keccak(rlp([seq, k, v, …]))`.
    ///
    /// # Errors
    /// [`KeyError::Wiped`] after the key set was wiped.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65], KeyError>;

    /// The key's bytes, for libraries that must own the key (sigp `discv5`).
    ///
    /// # Errors
    /// [`KeyError::Wiped`] after the key set was wiped.
    ///
    /// # Security
    /// The bytes leave the key owner's locked memory. Hand them straight to the library and let
    /// the returned buffer drop (it zeroizes).
    fn secret_bytes(&self) -> Result<Zeroizing<[u8; 32]>, KeyError>;

    /// The node id (the enode id): the public key without its `0x04` prefix.
    fn node_id(&self) -> NodeId {
        NodeId::from_public_key(&self.public_key())
    }
}
