//! RLPx: the ECIES handshake (EIP-8 and pre-EIP-8) and the encrypted, authenticated frame stream.

pub(crate) mod codec;
pub(crate) mod ecies;
mod ephemeral;
pub(crate) mod handshake;
mod mac;
mod stream;
#[cfg(test)]
mod tests;

use std::fmt;

use secp256k1::PublicKey;
use sha3::Keccak256;
use zeroize::Zeroizing;

pub use codec::{FrameCodec, MAX_FRAME_SIZE};
pub(crate) use ephemeral::EphemeralKey;
pub use stream::{RlpxStream, accept, connect};

/// The session secrets a handshake derives (devp2p `rlpx.md`): the frame cipher key, the MAC
/// key and both MAC states. `Debug` shows only the remote id.
pub struct Secrets {
    pub(crate) aes: Zeroizing<[u8; 32]>,
    pub(crate) mac: Zeroizing<[u8; 32]>,
    pub(crate) egress_mac: Keccak256,
    pub(crate) ingress_mac: Keccak256,
    pub(crate) remote_id: PublicKey,
}

impl Secrets {
    /// The peer's static public key, proven by the handshake.
    pub fn remote_id(&self) -> PublicKey {
        self.remote_id
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}
