//! The per-direction frame MAC: a running keccak256 state mixed with AES-256 of its own digest
//! (devp2p `rlpx.md`, "MAC").

use aes::Aes256;
use aes::cipher::{BlockEncrypt, KeyInit};
use sha3::{Digest, Keccak256};

/// One direction's MAC state (`egress-mac` or `ingress-mac`).
#[derive(Clone)]
pub(crate) struct MacState {
    hash: Keccak256,
    cipher: Aes256,
}

impl MacState {
    /// Starts from the keccak state the handshake seeded, keyed with `mac-secret`.
    pub(crate) fn new(hash: Keccak256, mac_secret: &[u8; 32]) -> Self {
        Self {
            hash,
            cipher: Aes256::new(mac_secret.into()),
        }
    }

    /// `header-mac` for a header ciphertext, advancing the state.
    pub(crate) fn header(&mut self, header_ciphertext: &[u8; 16]) -> [u8; 16] {
        let mut seed = self.encrypted_digest();
        xor16(&mut seed, header_ciphertext);
        self.hash.update(seed);
        self.digest()
    }

    /// `frame-mac` for a frame ciphertext, advancing the state.
    pub(crate) fn frame(&mut self, frame_ciphertext: &[u8]) -> [u8; 16] {
        self.hash.update(frame_ciphertext);
        let prev = self.digest();
        let mut seed = self.encrypted_digest();
        xor16(&mut seed, &prev);
        self.hash.update(seed);
        self.digest()
    }

    /// The first 16 bytes of the current digest.
    pub(crate) fn digest(&self) -> [u8; 16] {
        let full: [u8; 32] = self.hash.clone().finalize().into();
        let mut out = [0u8; 16];
        if let Some(head) = full.first_chunk::<16>() {
            out = *head;
        }
        out
    }

    /// The full 32-byte digest (known-answer tests).
    #[cfg(test)]
    pub(crate) fn full_digest_after(&self, data: &[u8]) -> [u8; 32] {
        let mut h = self.hash.clone();
        h.update(data);
        h.finalize().into()
    }

    fn encrypted_digest(&self) -> [u8; 16] {
        let mut block = self.digest().into();
        self.cipher.encrypt_block(&mut block);
        block.into()
    }
}

impl std::fmt::Debug for MacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacState")
    }
}

fn xor16(a: &mut [u8; 16], b: &[u8; 16]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}
