//! Test helpers (feature `test-utils`): a node key held in plain process memory.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use zeroize::Zeroizing;

use crate::enode::NodeId;
use crate::keys::{Ecdh, KeyError, NodeSigner};

/// A node key for tests and benchmarks: the secret lives in ordinary memory, never use it for
/// a real node (those unlock a `keyprovider::NodeKey`). Clones share one wiped flag, as
/// handles of one unlocked key set do.
#[derive(Clone)]
pub struct TestNodeKey {
    secret: SecretKey,
    wiped: Arc<AtomicBool>,
}

impl TestNodeKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        loop {
            // Below the curve order with overwhelming probability; retry otherwise.
            if let Ok(secret) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                return Self::with(secret);
            }
        }
    }

    /// The key with these secret bytes.
    ///
    /// # Panics
    /// When `secret` is zero or not below the curve order (test input only).
    #[allow(clippy::expect_used, reason = "test helper: fixed, valid test secrets")]
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self::with(SecretKey::from_slice(&secret).expect("a valid secp256k1 secret"))
    }

    fn with(secret: SecretKey) -> Self {
        Self {
            secret,
            wiped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Makes every later use of this key and its clones fail with [`KeyError::Wiped`], as a
    /// revoked key set does.
    pub fn wipe(&self) {
        self.wiped.store(true, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), KeyError> {
        if self.wiped.load(Ordering::SeqCst) {
            Err(KeyError::Wiped)
        } else {
            Ok(())
        }
    }

    /// The 64-byte enode id.
    pub fn enode_id(&self) -> [u8; 64] {
        self.node_id().0
    }
}

impl fmt::Debug for TestNodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestNodeKey")
            .field("id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl Ecdh for TestNodeKey {
    fn public_key(&self) -> PublicKey {
        self.secret.public_key(SECP256K1)
    }

    fn ecdh_x(&self, peer: &PublicKey) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        self.check()?;
        let point = Zeroizing::new(secp256k1::ecdh::shared_secret_point(peer, &self.secret));
        let mut x = Zeroizing::new([0u8; 32]);
        if let Some(px) = point.get(..32) {
            x.copy_from_slice(px);
        }
        Ok(x)
    }
}

impl NodeSigner for TestNodeKey {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65], KeyError> {
        self.check()?;
        let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(*digest), &self.secret);
        let (recovery_id, rs) = sig.serialize_compact();
        // r ‖ s ‖ v with v ∈ {0, 1}.
        let v = i32::from(recovery_id) as u8;
        let mut out = [0u8; 65];
        for (o, b) in out.iter_mut().zip(rs.iter().chain([v].iter())) {
            *o = *b;
        }
        Ok(out)
    }

    fn secret_bytes(&self) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        self.check()?;
        Ok(Zeroizing::new(self.secret.secret_bytes()))
    }
}

/// For node ids in tests.
impl From<&TestNodeKey> for NodeId {
    fn from(key: &TestNodeKey) -> Self {
        key.node_id()
    }
}
