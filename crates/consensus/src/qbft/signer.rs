//! The signing capability the state machine uses: a 32-byte digest in, `r ‖ s ‖ v` out. No key
//! bytes cross it; the node backs it with its sealing key (KMS-unlocked bundle).

use alloy_primitives::{Address, B256};
use alloy_signer::SignerSync;

/// Why a signature was not made (the key is revoked, the backend failed, the journal refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("qbft signer: {0}")]
pub struct SignError(pub String);

/// Signs 32-byte digests as given (no further hashing), returning `r ‖ s ‖ v` with v ∈ {0,1}.
pub trait Signer {
    /// The validator address of the key.
    fn address(&self) -> Address;
    /// Signs `digest`.
    ///
    /// # Errors
    /// [`SignError`] when the key cannot sign (revoked, unavailable).
    fn sign(&self, digest: &B256) -> Result<[u8; 65], SignError>;
}

/// An alloy [`SignerSync`] (the node's key handles) as a [`Signer`].
#[derive(Debug)]
pub struct AlloySigner<'a, S: ?Sized> {
    inner: &'a S,
    address: Address,
}

impl<'a, S: SignerSync + ?Sized> AlloySigner<'a, S> {
    /// Wraps `inner`, whose address is `address`.
    pub const fn new(inner: &'a S, address: Address) -> Self {
        Self { inner, address }
    }
}

impl<S: SignerSync + ?Sized> Signer for AlloySigner<'_, S> {
    fn address(&self) -> Address {
        self.address
    }

    fn sign(&self, digest: &B256) -> Result<[u8; 65], SignError> {
        cachet_seal::sign_digest(self.inner, digest).map_err(|e| SignError(e.to_string()))
    }
}
