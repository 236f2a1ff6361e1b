//! A Quorum Raft cluster's core on raft-rs, pure of node I/O: the node drives it with ticks,
//! decoded messages and minted blocks, and carries out what it returns.
//!
//! - [`RaftNode`]: raft-rs's `RawNode` with the cluster's rules: only the leader mints
//!   ([`RaftNode::may_mint`]), a committed block must carry the quorum PR 395 signature of the
//!   member that led its entry's term, a former leader's uncommitted block is discarded,
//!   membership changes are single-step conf changes and removed ids never return.
//! - [`RedbStorage`]: raft-rs's `Storage` on redb, one write transaction per `Ready`.
//! - [`rules`]: the rules as pure functions, [`RaftRule`] naming each refusal.
//! - [`wire`]: the one encoding of raft messages, with a bounded decoder for peers' bytes.
//!
//! Design, entry format and what the node must do: `docs/dev/raft.md`.
//!
//! ## Feature flags
//! None.
#![forbid(unsafe_code)]
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod error;
pub mod node;
pub mod rules;
pub mod snapshot;
pub mod storage;
pub mod wire;

#[doc(hidden)]
pub mod fuzzing;

pub use error::{DecodeError, Error, Result};
pub use node::{Config, Event, MembershipChange, RaftNode, Ready};
pub use raft::StateRole;
pub use raft::eraftpb;
pub use rules::{Members, MintedBlock, RaftRule, Role};
pub use storage::{Batch, RedbStorage};
