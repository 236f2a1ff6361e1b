//! The chain store: blocks as raw RLP, the canonical index and the head, on `redb`.
//!
//! Header decoding stays out: callers pass the fields the index needs ([`BlockRecord`]).
//! Every [`ChainStore::insert_block`] is one write transaction committed with
//! `Durability::Immediate` (fsync before `commit` returns; `redb` is copy-on-write, so a crash
//! leaves either the previous or the new state). The head and the block it names therefore
//! commit together: after a crash the head's block, and every canonical block below it,
//! are present.

mod chain;
mod tables;

pub use chain::{BlockInfo, BlockRecord, ChainStore, Head};
