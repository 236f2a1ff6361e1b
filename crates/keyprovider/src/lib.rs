//! Cachet's key set and its encrypted bundle.
//!
//! A node holds four private keys: the devp2p **node key**, the clique **sealing key** (or the
//! node key again, Besu/Quorum style), a **wallet** account and the private-transaction-manager
//! (**PTM**) X25519 keypair. On disk they exist only inside `<datadir>/keys.cachet`, sealed with
//! AES-256-GCM under one data key that a [`cachet_kms::MasterKey`] wraps. Unlocking is exactly
//! one master-key call ([`unlock`]).
//!
//! The sealing key and the wallet key may instead live in an HSM (PKCS#11) or AWS KMS and never
//! leave it: the bundle then records where ([`RemoteKey`]) and its public key, and their handles
//! sign through a [`RemoteSigner`] (a thread of its own, a deadline per call, every signature
//! audited). The node key always stays in the bundle: RLPx needs ECDH with it.
//!
//! Once unlocked, keys live in [`UnlockedKeys`] (locked memory, zeroized on drop or on
//! [`UnlockedKeys::wipe`]) and are used through handles: [`SigningKey`] implements alloy's
//! `Signer`/`SignerSync`, [`NodeKey`] adds [`Ecdh`] for RLPx. No handle gives out key bytes
//! except through methods named `secret_*`.
//!
//! Every init, unlock, import, rotate and destroy is recorded in the hash-chained
//! [`AuditLog`]. While keys are held, a [`Lease`] re-proves access to the master key every
//! recheck interval and reports [`LeaseState`] (healthy, degraded, revoked); on revocation its
//! [`Revocation`] wipes the keys and audits it, for every holder alike. [`harden_process`] makes
//! the process non-dumpable with no core dumps, once, before the first master-key call.
//!
//! ## Feature flags
//! - `test-utils`: [`UnlockedKeys::from_secrets_for_tests`] for other crates' tests.
//!
//! Format: `docs/key-bundle.md`.
#![forbid(unsafe_code)]

mod audit;
mod bundle;
mod datadir;
mod error;
mod handoff;
mod hardening;
mod identity;
pub mod import;
mod keys;
mod lease;
mod provider;
mod remote_key;
mod remote_signer;
mod sealed;

pub use audit::{AuditCall, AuditEvent, AuditLog, AuditReport};
pub use bundle::{Bundle, BundleHeader, MAX_SLOTS, MasterKeySection, fuzzing};
pub use error::{Error, ErrorClass, Result};
pub use handoff::HandoffKey;
pub use hardening::{HardeningReport, harden_process};
pub use identity::{PublicIdentities, SealingKeyMode, address_of, enode_id_hex};
pub use keys::{Ecdh, KeyRole, NodeKey, NodeSigner, PtmKey, SigningKey, UnlockedKeys};
pub use lease::{
    DEFAULT_GRACE, DEFAULT_RECHECK, Lease, LeaseCheck, LeaseConfig, LeaseObserver, LeaseState,
    Revocation, RevocationCause,
};
pub use provider::{
    CONTEXT_CHAIN, CONTEXT_NODE, CONTEXT_PURPOSE, InitOptions, Initialised, LoadedBundle,
    MasterKeyChange, UnlockTiming, Unlocked, Unwrap, change_master_keys, context_for, destroy,
    init, init_with_remote, rotate, unlock, unlock_slot,
};
pub use remote_key::{RemoteKey, RemoteRole};
pub use remote_signer::{RemoteSigner, SignerRevoked};
