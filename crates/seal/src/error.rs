//! The crate's errors: [`DecodeError`] for bad bytes from outside, [`Error`] for everything else.

use std::path::PathBuf;

use alloy_primitives::{Address, B256};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use cachet_primitives::DecodeError;

/// Everything that can fail in sealing and verification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input bytes are malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A signature does not recover to a public key.
    #[error("{what}: signature does not recover (bad r, s or recovery id {v})")]
    BadSignature {
        /// Which signature.
        what: &'static str,
        /// The recovery byte found.
        v: u8,
    },
    /// The block carries no seal yet (a genesis or unsealed header).
    #[error("{what}: the header carries no seal (genesis or not yet sealed)")]
    Unsealed {
        /// Which seal.
        what: &'static str,
    },
    /// A header field breaks an engine rule.
    #[error("{engine} header rule broken: {rule}")]
    HeaderRule {
        /// The engine.
        engine: &'static str,
        /// The rule and what was found.
        rule: String,
    },
    /// Clique cannot seal or verify headers with post-London fields.
    #[error(
        "clique does not support the {field} header field (shanghai and later): reference clients reject it"
    )]
    CliqueUnsupportedField {
        /// The field's name.
        field: &'static str,
    },
    /// The signer is not authorised.
    #[error("{engine}: {signer} is not in the signer/validator set")]
    Unauthorized {
        /// The engine.
        engine: &'static str,
        /// The signer.
        signer: Address,
    },
    /// Not enough distinct valid committed seals.
    #[error("{engine}: {found} distinct valid committed seals, {required} required ({policy})")]
    InsufficientSeals {
        /// The engine.
        engine: &'static str,
        /// Distinct valid committers found.
        found: usize,
        /// The threshold.
        required: usize,
        /// Which threshold rule applied.
        policy: &'static str,
    },
    /// A committer signed twice.
    #[error("{engine}: committer {signer} appears more than once")]
    DuplicateCommitter {
        /// The engine.
        engine: &'static str,
        /// The committer.
        signer: Address,
    },
    /// The raft id in a block is not a known cluster member.
    #[error("raft: raft id {raft_id} is not in the member map: check --raft-members")]
    UnknownRaftMember {
        /// The id.
        raft_id: u16,
    },
    /// Raft verification needs the member map.
    #[error("raft verification needs the raft-id to enode map: pass --raft-members")]
    MissingRaftMembers,
    /// The raft signature does not match the member's enode.
    #[error("raft: block signed by {recovered} but raft id {raft_id} is {expected}")]
    RaftSignerMismatch {
        /// The id.
        raft_id: u16,
        /// The address recovered from the signature.
        recovered: Address,
        /// The address of the member's enode.
        expected: Address,
    },
    /// A raft minter's fresh signature failed verification; the block is withheld.
    #[error(
        "raft: own signature for raft id {raft_id} failed verification: block withheld, check the node key and the member map"
    )]
    RaftSelfCheck {
        /// Our raft id.
        raft_id: u16,
        /// Why verification failed.
        #[source]
        source: Box<Self>,
    },
    /// The signer refused or failed to sign.
    #[error("signing failed")]
    Signer(#[source] alloy_signer::Error),
    /// Signing this block would equivocate.
    #[error(
        "refusing to seal: {engine} height {height}{} already sealed {signed} and now asked for {requested}: this would equivocate; check for a second node with the same key or a reorg of the local chain",
        round.map(|r| format!(" round {r}")).unwrap_or_default()
    )]
    Equivocation {
        /// The engine.
        engine: &'static str,
        /// The height.
        height: u64,
        /// The round (BFT engines).
        round: Option<u32>,
        /// What was sealed before.
        signed: B256,
        /// What was asked now.
        requested: B256,
    },
    /// Journal I/O failed.
    #[error("seal journal {path}: {op} failed: check the datadir's disk and permissions")]
    JournalIo {
        /// The journal path.
        path: PathBuf,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the journal.
    #[error(
        "seal journal {path} is locked by another process: is another cachet running on this datadir?"
    )]
    JournalLocked {
        /// The journal path.
        path: PathBuf,
    },
    /// A complete journal record is unreadable.
    #[error(
        "seal journal {path} line {line} is corrupt: {reason}; restore the file from backup, never delete it"
    )]
    JournalCorrupt {
        /// The journal path.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A bug.
    #[error("{0} (this is a bug in cachet)")]
    Internal(&'static str),
}
