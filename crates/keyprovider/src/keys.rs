//! Unlocked keys and the handles that use them.
//!
//! The secrets live in one boxed [`KeySecrets`] whose pages are `mlock`ed where the OS allows.
//! Handles share it through an `Arc`; [`UnlockedKeys::wipe`] erases it for every handle at once
//! (revocation), after which every signing call fails with [`Error::KeysWiped`].

use std::fmt;
use std::sync::{Arc, RwLock};

use alloy_primitives::{Address, B256, ChainId, Signature};
use async_trait::async_trait;
use base64::Engine as _;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use zeroize::Zeroizing;

use cachet_primitives::KeyError;
pub use cachet_primitives::{Ecdh, NodeSigner};

use tokio::sync::watch;

use crate::identity::{address_of, enode_id_hex};
use crate::remote_key::{RemoteKey, RemoteRole};
use crate::remote_signer::{RemoteSigner, RevokedTx, SignerRevoked};
use crate::{Error, PublicIdentities, Result, SealingKeyMode};

/// Which key of the set a handle uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    /// The devp2p node key (also the IBFT/QBFT/Raft sealer).
    Node,
    /// The clique sealing key (the node key when the mode is `node`).
    Sealer,
    /// The built-in wallet account.
    Wallet,
}

impl KeyRole {
    /// `node key`, `sealing key`, `wallet key`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Node => "node key",
            Self::Sealer => "sealing key",
            Self::Wallet => "wallet key",
        }
    }
}

/// The plaintext key set. Crate-private: it never leaves `keyprovider`.
pub(crate) struct KeySecrets {
    pub(crate) node: SecretKey,
    /// `None` when the node key also seals, or when the sealing key is remote.
    pub(crate) sealer: Option<SecretKey>,
    /// `None` only when the wallet key is remote.
    pub(crate) wallet: Option<SecretKey>,
    pub(crate) ptm: x25519_dalek::StaticSecret,
    /// The keys an HSM or KMS holds (public records; their secrets are nowhere here).
    pub(crate) remote: Vec<RemoteKey>,
}

impl KeySecrets {
    /// Fresh keys from the OS CSPRNG.
    pub(crate) fn generate(mode: SealingKeyMode) -> Self {
        let mut rng = rand::rngs::OsRng;
        Self {
            node: SecretKey::new(&mut rng),
            sealer: match mode {
                SealingKeyMode::Separate => Some(SecretKey::new(&mut rng)),
                SealingKeyMode::Node => None,
            },
            wallet: Some(SecretKey::new(&mut rng)),
            ptm: x25519_dalek::StaticSecret::random_from_rng(rng),
            remote: Vec::new(),
        }
    }

    /// Hands `roles` to their HSM/KMS keys: the generated or imported secret of each is erased
    /// and the record kept (a remote sealing key is a key of its own, never the node key).
    pub(crate) fn make_remote(&mut self, records: Vec<RemoteKey>) {
        for record in &records {
            match record.role {
                RemoteRole::Sealing => {
                    if let Some(s) = self.sealer.as_mut() {
                        s.non_secure_erase();
                    }
                    self.sealer = None;
                }
                RemoteRole::Wallet => {
                    if let Some(w) = self.wallet.as_mut() {
                        w.non_secure_erase();
                    }
                    self.wallet = None;
                }
            }
        }
        self.remote = records;
    }

    /// The record of `role` when an HSM or KMS holds it.
    pub(crate) fn remote(&self, role: KeyRole) -> Option<&RemoteKey> {
        self.remote.iter().find(|r| r.role.role() == role)
    }

    /// The secret of `role`; `None` when an HSM or KMS holds it.
    pub(crate) fn secp(&self, role: KeyRole) -> Option<&SecretKey> {
        if self.remote(role).is_some() {
            return None;
        }
        match role {
            KeyRole::Node => Some(&self.node),
            KeyRole::Sealer => Some(self.sealer.as_ref().unwrap_or(&self.node)),
            KeyRole::Wallet => self.wallet.as_ref(),
        }
    }

    /// The public key of `role`, held here or remote.
    pub(crate) fn public(&self, role: KeyRole) -> Result<PublicKey> {
        if let Some(record) = self.remote(role) {
            return Ok(record.public_key);
        }
        self.secp(role)
            .map(|s| s.public_key(SECP256K1))
            .ok_or(Error::Internal(
                "a key of the set is neither held nor remote",
            ))
    }

    /// The identities these secrets (and remote records) derive.
    pub(crate) fn identities(&self) -> Result<PublicIdentities> {
        let node = self.node.public_key(SECP256K1);
        Ok(PublicIdentities {
            enode_id: enode_id_hex(&node),
            node_address: address_of(&node),
            sealer_address: address_of(&self.public(KeyRole::Sealer)?),
            sealing_key: if self.sealer.is_some() || self.remote(KeyRole::Sealer).is_some() {
                SealingKeyMode::Separate
            } else {
                SealingKeyMode::Node
            },
            wallet_address: address_of(&self.public(KeyRole::Wallet)?),
            ptm_public_key: base64::engine::general_purpose::STANDARD
                .encode(x25519_dalek::PublicKey::from(&self.ptm).as_bytes()),
        })
    }
}

impl Drop for KeySecrets {
    fn drop(&mut self) {
        // secp256k1::SecretKey is Copy and has no Drop; erase each in place. StaticSecret
        // zeroizes itself.
        self.node.non_secure_erase();
        if let Some(sealer) = self.sealer.as_mut() {
            sealer.non_secure_erase();
        }
        if let Some(wallet) = self.wallet.as_mut() {
            wallet.non_secure_erase();
        }
    }
}

/// Locked memory holding the secrets. Field order matters: the lock guard (munlock) drops
/// after the secrets were erased by `KeySecrets::drop` and before the box is freed.
struct Vault {
    secrets: Box<KeySecrets>,
    _mlock: Result<region::LockGuard, String>,
}

impl Vault {
    fn new(secrets: Box<KeySecrets>) -> Self {
        let mlock = region::lock(&*secrets as *const KeySecrets, size_of::<KeySecrets>())
            .map_err(|e| {
                tracing::warn!(target: "cachet::keyprovider", error = %e, "could not lock key memory (mlock); keys may be swapped to disk: raise RLIMIT_MEMLOCK or disable swap");
                e.to_string()
            });
        Self {
            secrets,
            _mlock: mlock,
        }
    }
}

struct Shared {
    identities: PublicIdentities,
    remote_sealer: Option<RemoteSigner>,
    remote_wallet: Option<RemoteSigner>,
    revoked: RevokedTx,
    node_public: PublicKey,
    sealer_public: PublicKey,
    wallet_public: PublicKey,
    ptm_public: [u8; 32],
    /// `Err`: why `mlock` was refused.
    memory_lock: Result<(), String>,
    vault: RwLock<Option<Vault>>,
}

impl Shared {
    fn with_secrets<R>(&self, f: impl FnOnce(&KeySecrets) -> R) -> Result<R> {
        // A poisoned lock means a panic while signing; the secrets are still intact.
        let guard = self.vault.read().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(|vault| f(&vault.secrets))
            .ok_or(Error::KeysWiped)
    }
}

/// The unlocked key set. Cheap to clone (shared); the secrets are erased when the last clone
/// and handle drop, or at once by [`UnlockedKeys::wipe`].
#[derive(Clone)]
pub struct UnlockedKeys {
    shared: Arc<Shared>,
}

impl UnlockedKeys {
    /// A key set with no remote key (tests).
    ///
    /// # Errors
    /// [`Error::Internal`] when the secrets name a remote key (use [`Self::with_remote`]).
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn from_secrets(secrets: Box<KeySecrets>) -> Result<Self> {
        if !secrets.remote.is_empty() {
            return Err(Error::Internal("remote keys without their signers"));
        }
        Self::with_remote(secrets, Vec::new(), Arc::new(watch::channel(None).0))
    }

    /// A key set whose remote keys sign through `signers` (one per remote record), publishing
    /// revocations on `revoked`.
    ///
    /// # Errors
    /// [`Error::Internal`] when the signers do not match the records one to one.
    pub(crate) fn with_remote(
        secrets: Box<KeySecrets>,
        signers: Vec<RemoteSigner>,
        revoked: RevokedTx,
    ) -> Result<Self> {
        let identities = secrets.identities()?;
        let signer_of = |role: RemoteRole| signers.iter().find(|s| s.key().role == role).cloned();
        let remote_sealer = signer_of(RemoteRole::Sealing);
        let remote_wallet = signer_of(RemoteRole::Wallet);
        if remote_sealer.is_some() != secrets.remote(KeyRole::Sealer).is_some()
            || remote_wallet.is_some() != secrets.remote(KeyRole::Wallet).is_some()
            || signers.len() != secrets.remote.len()
        {
            return Err(Error::Internal(
                "remote signers do not match the bundle's records",
            ));
        }
        let node_public = secrets.node.public_key(SECP256K1);
        let sealer_public = secrets.public(KeyRole::Sealer)?;
        let wallet_public = secrets.public(KeyRole::Wallet)?;
        let vault = Vault::new(secrets);
        let s = &vault.secrets;
        let shared = Shared {
            remote_sealer,
            remote_wallet,
            revoked,
            node_public,
            sealer_public,
            wallet_public,
            ptm_public: x25519_dalek::PublicKey::from(&s.ptm).to_bytes(),
            memory_lock: vault._mlock.as_ref().map(|_| ()).map_err(Clone::clone),
            identities,
            vault: RwLock::new(Some(vault)),
        };
        Ok(Self {
            shared: Arc::new(shared),
        })
    }

    /// Builds a key set from raw throwaway keys, with no master key or bundle involved.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] when a secp256k1 secret is zero or not below the curve order.
    ///
    /// # Security
    /// For tests only: real keys come from a bundle.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn from_secrets_for_tests(
        node: [u8; 32],
        sealer: Option<[u8; 32]>,
        wallet: [u8; 32],
        ptm: [u8; 32],
    ) -> Result<Self> {
        let secp = |role: KeyRole, bytes: [u8; 32]| {
            SecretKey::from_byte_array(&bytes).map_err(|_| Error::InvalidKey {
                role: role.name(),
                curve: "secp256k1",
            })
        };
        Self::from_secrets(Box::new(KeySecrets {
            node: secp(KeyRole::Node, node)?,
            sealer: sealer.map(|s| secp(KeyRole::Sealer, s)).transpose()?,
            wallet: Some(secp(KeyRole::Wallet, wallet)?),
            ptm: x25519_dalek::StaticSecret::from(ptm),
            remote: Vec::new(),
        }))
    }

    /// A random key set for tests.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn generate_for_tests(mode: SealingKeyMode) -> Self {
        match Self::from_secrets(Box::new(KeySecrets::generate(mode))) {
            Ok(keys) => keys,
            Err(_) => unreachable!("generated keys have no remote records"),
        }
    }

    /// A key set with throwaway node, PTM and (unless remote) wallet keys whose sealing key
    /// and/or wallet key sign through `signers` (HSM/KMS signers opened by the test), each
    /// on its own thread with `deadline`, audited in `audit_dir` when given.
    ///
    /// # Errors
    /// [`Error::Io`] when a signing thread cannot start.
    ///
    /// # Security
    /// For tests and benches only: real key sets come from a bundle.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn with_remote_for_tests(
        signers: Vec<(RemoteRole, Arc<dyn cachet_kms::DigestSigner>)>,
        deadline: std::time::Duration,
        audit_dir: Option<&std::path::Path>,
    ) -> Result<Self> {
        let mut secrets = Box::new(KeySecrets::generate(SealingKeyMode::Separate));
        let revoked: RevokedTx = Arc::new(watch::channel(None).0);
        let mut records = Vec::new();
        let mut handles = Vec::new();
        for (role, signer) in signers {
            let record = RemoteKey {
                role,
                // A KMS signer is pinned to a key ARN, a PKCS#11 one to its URI.
                backend: if signer.reference().key_id.starts_with("arn:") {
                    cachet_kms::SignerBackend::Kms
                } else {
                    cachet_kms::SignerBackend::Hsm
                },
                reference: signer.reference(),
                public_key: PublicKey::from_slice(&signer.public_key())
                    .map_err(|_| Error::Internal("a signer's public key is not a point"))?,
            };
            handles.push(RemoteSigner::spawn(
                record.clone(),
                signer,
                deadline,
                audit_dir.map(crate::AuditLog::new),
                revoked.clone(),
            )?);
            records.push(record);
        }
        secrets.make_remote(records);
        Self::with_remote(secrets, handles, revoked)
    }

    /// Where each secp256k1 key of the set lives: `None` for a key the bundle holds, the
    /// record for one an HSM or KMS holds.
    pub fn remote_key(&self, role: KeyRole) -> Option<&RemoteKey> {
        match role {
            KeyRole::Node => None,
            KeyRole::Sealer => self.shared.remote_sealer.as_ref().map(RemoteSigner::key),
            KeyRole::Wallet => self.shared.remote_wallet.as_ref().map(RemoteSigner::key),
        }
    }

    /// A receiver that turns `Some` when an HSM/KMS-resident key answers a signature with a
    /// denial (the key object removed, the PIN changed, `AccessDenied`, the key disabled): the
    /// holder stops as on a master-key revocation.
    pub fn signer_revoked(&self) -> watch::Receiver<Option<SignerRevoked>> {
        self.shared.revoked.subscribe()
    }

    /// The public identities of this key set.
    pub fn identities(&self) -> &PublicIdentities {
        &self.shared.identities
    }

    /// True when the key memory is `mlock`ed (cannot be swapped out).
    pub fn memory_locked(&self) -> bool {
        self.shared.memory_lock.is_ok()
    }

    /// Why the key memory is not `mlock`ed (the OS's answer), or `None` when it is.
    pub fn memory_lock_error(&self) -> Option<&str> {
        self.shared.memory_lock.as_ref().err().map(String::as_str)
    }

    /// The devp2p node key.
    pub fn node_key(&self) -> NodeKey {
        NodeKey(self.signing_key(KeyRole::Node))
    }

    /// The clique sealing key (the node key in `node` mode).
    pub fn sealing_key(&self) -> SigningKey {
        self.signing_key(KeyRole::Sealer)
    }

    /// The wallet account.
    pub fn wallet_key(&self) -> SigningKey {
        self.signing_key(KeyRole::Wallet)
    }

    /// The private-transaction-manager keypair.
    pub fn ptm_key(&self) -> PtmKey {
        PtmKey {
            shared: self.shared.clone(),
        }
    }

    /// Erases every secret now, for all handles. Later signing fails with [`Error::KeysWiped`].
    pub fn wipe(&self) {
        let mut guard = self.shared.vault.write().unwrap_or_else(|p| p.into_inner());
        *guard = None;
    }

    /// True after [`Self::wipe`].
    pub fn is_wiped(&self) -> bool {
        self.shared
            .vault
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Runs `f` on the secrets (for [`crate::handoff`]); fails once the set was wiped.
    pub(crate) fn with_secrets<R>(&self, f: impl FnOnce(&KeySecrets) -> R) -> Result<R> {
        self.shared.with_secrets(f)
    }

    fn signing_key(&self, role: KeyRole) -> SigningKey {
        let public = match role {
            KeyRole::Node => self.shared.node_public,
            KeyRole::Sealer => self.shared.sealer_public,
            KeyRole::Wallet => self.shared.wallet_public,
        };
        let remote = match role {
            KeyRole::Node => None,
            KeyRole::Sealer => self.shared.remote_sealer.clone(),
            KeyRole::Wallet => self.shared.remote_wallet.clone(),
        };
        SigningKey {
            shared: self.shared.clone(),
            role,
            public,
            address: address_of(&public),
            chain_id: None,
            remote,
        }
    }
}

impl fmt::Debug for UnlockedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnlockedKeys")
            .field("identities", &self.shared.identities)
            .field("memory_locked", &self.shared.memory_lock.is_ok())
            .field("wiped", &self.is_wiped())
            .finish()
    }
}

/// A secp256k1 key of the set, usable for signing 32-byte digests.
///
/// Signatures are RFC 6979 deterministic, low-S, serialised `r ‖ s ‖ v` with `v ∈ {0, 1}`: the
/// form geth's `crypto.Sign` and Besu produce. Implements alloy's [`alloy_signer::SignerSync`]
/// and [`alloy_signer::Signer`].
#[derive(Clone)]
pub struct SigningKey {
    shared: Arc<Shared>,
    role: KeyRole,
    public: PublicKey,
    address: Address,
    chain_id: Option<ChainId>,
    /// Set when an HSM or KMS holds the key: signatures go there.
    remote: Option<RemoteSigner>,
}

impl SigningKey {
    /// Signs a 32-byte digest exactly as given (no hashing, no prefix). A key an HSM or KMS
    /// holds signs there, on its signing thread, within the signing deadline, audited.
    ///
    /// # Errors
    /// [`Error::KeysWiped`] after the key set was wiped; for a remote key
    /// [`Error::SigningKey`] and [`Error::SigningTimeout`].
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65]> {
        if let Some(remote) = &self.remote {
            // A wiped set signs nothing, wherever its keys live.
            self.shared.with_secrets(|_| ())?;
            return remote.sign_digest(digest);
        }
        let message = Message::from_digest(*digest);
        let sig = self.shared.with_secrets(|s| {
            s.secp(self.role)
                .map(|secret| SECP256K1.sign_ecdsa_recoverable(&message, secret))
        })?;
        let sig = sig.ok_or(Error::Internal("a held key of the set has no secret"))?;
        let (recovery_id, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = i32::from(recovery_id) as u8;
        Ok(out)
    }

    /// The key's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The key's public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The record of the HSM/KMS key behind this handle, if the bundle does not hold it.
    pub fn remote(&self) -> Option<&RemoteKey> {
        self.remote.as_ref().map(RemoteSigner::key)
    }

    /// Which key of the set this is.
    pub fn role(&self) -> KeyRole {
        self.role
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("role", &self.role)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl alloy_signer::SignerSync for SigningKey {
    fn sign_hash_sync(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        let sig = self
            .sign_digest(&hash.0)
            .map_err(alloy_signer::Error::other)?;
        Ok(Signature::from_bytes_and_parity(&sig[..64], sig[64] == 1))
    }

    fn chain_id_sync(&self) -> Option<ChainId> {
        self.chain_id
    }
}

#[async_trait]
impl alloy_signer::Signer for SigningKey {
    async fn sign_hash(&self, hash: &B256) -> alloy_signer::Result<Signature> {
        alloy_signer::SignerSync::sign_hash_sync(self, hash)
    }

    fn address(&self) -> Address {
        self.address
    }

    fn chain_id(&self) -> Option<ChainId> {
        self.chain_id
    }

    fn set_chain_id(&mut self, chain_id: Option<ChainId>) {
        self.chain_id = chain_id;
    }
}

/// The devp2p node key: signs (discv4, IBFT/QBFT/Raft seals) and does ECDH (RLPx).
#[derive(Clone, Debug)]
pub struct NodeKey(SigningKey);

impl NodeKey {
    /// The signing half, for alloy's signer traits and the seal engines.
    pub fn signer(&self) -> &SigningKey {
        &self.0
    }

    /// The 64-byte uncompressed public key without the `0x04` prefix: the enode id.
    pub fn enode_id(&self) -> [u8; 64] {
        let mut id = [0u8; 64];
        id.copy_from_slice(&self.0.public.serialize_uncompressed()[1..]);
        id
    }

    /// Signs a 32-byte digest; see [`SigningKey::sign_digest`].
    ///
    /// # Errors
    /// [`Error::KeysWiped`] after the key set was wiped.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65]> {
        self.0.sign_digest(digest)
    }

    /// The node key's bytes, for libraries that must own the key (sigp `discv5`).
    ///
    /// # Errors
    /// [`Error::KeysWiped`] after the key set was wiped.
    ///
    /// # Security
    /// The bytes leave Cachet's locked memory. Hand them straight to the library and let the
    /// returned buffer drop (it zeroizes).
    pub fn secret_bytes(&self) -> Result<Zeroizing<[u8; 32]>> {
        self.0
            .shared
            .with_secrets(|s| Zeroizing::new(s.node.secret_bytes()))
    }
}

impl Ecdh for NodeKey {
    fn public_key(&self) -> PublicKey {
        self.0.public
    }

    fn ecdh_x(&self, peer: &PublicKey) -> std::result::Result<Zeroizing<[u8; 32]>, KeyError> {
        self.0
            .shared
            .with_secrets(|s| {
                let point = Zeroizing::new(secp256k1::ecdh::shared_secret_point(peer, &s.node));
                let mut x = Zeroizing::new([0u8; 32]);
                x.copy_from_slice(&point[..32]);
                x
            })
            .map_err(key_error)
    }
}

impl NodeSigner for NodeKey {
    fn sign_digest(&self, digest: &[u8; 32]) -> std::result::Result<[u8; 65], KeyError> {
        self.0.sign_digest(digest).map_err(key_error)
    }

    fn secret_bytes(&self) -> std::result::Result<Zeroizing<[u8; 32]>, KeyError> {
        Self::secret_bytes(self).map_err(key_error)
    }
}

/// The capability traits' error for a key-set failure: using a key fails only once the set was
/// wiped.
fn key_error(_: Error) -> KeyError {
    KeyError::Wiped
}

/// The private-transaction-manager X25519 keypair (NaCl box, Tessera).
#[derive(Clone)]
pub struct PtmKey {
    shared: Arc<Shared>,
}

impl PtmKey {
    /// The 32-byte X25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.ptm_public
    }

    /// The raw X25519 shared secret with `peer` (input to NaCl `box_beforenm`).
    ///
    /// # Errors
    /// [`Error::KeysWiped`] after the key set was wiped.
    pub fn diffie_hellman(&self, peer: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
        self.shared.with_secrets(|s| {
            let shared = s.ptm.diffie_hellman(&x25519_dalek::PublicKey::from(*peer));
            Zeroizing::new(shared.to_bytes())
        })
    }
}

impl fmt::Debug for PtmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PtmKey")
            .field("public_key", &self.shared.identities.ptm_public_key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use alloy_signer::SignerSync;

    use super::*;

    // nodekey.json quorum-examples-7nodes-nodekey1.
    const NODE1: &str = "1be3b50b31734be48452c29d714941ba165ef0cbf3ccea8ca16c45e3d8d45fb0";
    const NODE1_ENODE: &str = "ac6b1096ca56b9f6d004b779ae3728bf83f8e22453404cc3cef16a3d9b96608bc67c4b30db88e0a5a6c6390213f7acbe1153ff6d23ce57380104288ae19373ef";
    const NODE1_ADDRESS: &str = "0xd8dba507e85f116b1f7e231ca8525fc9008a6966";

    fn bytes(hex_str: &str) -> [u8; 32] {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    fn keys() -> UnlockedKeys {
        UnlockedKeys::from_secrets_for_tests(bytes(NODE1), None, [7; 32], [9; 32]).unwrap()
    }

    #[test]
    fn derives_the_7nodes_identity() {
        let keys = keys();
        assert_eq!(keys.identities().enode_id, NODE1_ENODE);
        assert_eq!(
            keys.identities().node_address.to_string().to_lowercase(),
            NODE1_ADDRESS
        );
        assert_eq!(
            keys.identities().sealer_address,
            keys.identities().node_address
        );
        assert_eq!(hex::encode(keys.node_key().enode_id()), NODE1_ENODE);
    }

    #[test]
    fn signatures_recover_to_the_address_and_are_low_s() {
        let keys = keys();
        let digest = [0x42u8; 32];
        let sig = keys
            .wallet_key()
            .sign_hash_sync(&B256::from(digest))
            .unwrap();
        let recovered = sig
            .recover_address_from_prehash(&B256::from(digest))
            .unwrap();
        assert_eq!(recovered, keys.wallet_key().address());
        let raw = keys.wallet_key().sign_digest(&digest).unwrap();
        assert!(raw[64] <= 1);
        // s ≤ n/2: the top bit of s is clear for low-S signatures.
        assert!(raw[32] < 0x80);
    }

    #[test]
    fn ecdh_agrees_with_the_peer() {
        let a = keys().node_key();
        let b = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate).node_key();
        assert_eq!(
            *a.ecdh_x(&b.public_key()).unwrap(),
            *b.ecdh_x(&a.public_key()).unwrap()
        );
    }

    #[test]
    fn wipe_stops_every_handle() {
        let keys = keys();
        let node = keys.node_key();
        let ptm = keys.ptm_key();
        keys.wipe();
        assert!(matches!(node.sign_digest(&[1; 32]), Err(Error::KeysWiped)));
        assert!(matches!(
            node.ecdh_x(&node.public_key()),
            Err(KeyError::Wiped)
        ));
        assert!(matches!(
            NodeSigner::sign_digest(&node, &[1; 32]),
            Err(KeyError::Wiped)
        ));
        assert!(matches!(
            ptm.diffie_hellman(&[1; 32]),
            Err(Error::KeysWiped)
        ));
        assert!(keys.is_wiped());
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let keys = keys();
        let shown = format!(
            "{keys:?} {:?} {:?} {:?}",
            keys.node_key(),
            keys.wallet_key(),
            keys.ptm_key()
        );
        assert!(!shown.contains(NODE1));
        assert!(!shown.contains(&hex::encode([7u8; 32])));
    }
}
