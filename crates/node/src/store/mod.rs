//! The chain store: blocks as raw RLP, the canonical index and the head, on `redb`.
//!
//! Header decoding stays out: callers pass the fields the index needs ([`BlockRecord`]).
//! Every [`ChainStore::insert_block`] is one write transaction committed with
//! `Durability::Immediate` (fsync before `commit` returns; `redb` is copy-on-write, so a crash
//! leaves either the previous or the new state). The head and the block it names therefore
//! commit together: after a crash the head's block, and every canonical block below it,
//! are present.
//!
//! # Examples
//! ```
//! use alloy_primitives::{B256, U256, keccak256};
//! use cachet_node::store::{BlockRecord, ChainStore};
//!
//! # let dir = tempfile::tempdir()?;
//! let store = ChainStore::open(&dir.path().join("chain.redb"))?;
//! let header = b"genesis header rlp";
//! let genesis = BlockRecord {
//!     number: 0,
//!     hash: keccak256(header),
//!     parent_hash: B256::ZERO,
//!     difficulty: U256::from(1),
//!     header_rlp: header,
//!     body_rlp: &[0xc2, 0xc0, 0xc0],
//! };
//! store.insert_block(&genesis, true)?;
//! assert_eq!(store.head()?.map(|h| h.hash), Some(genesis.hash));
//! assert_eq!(store.header_by_number(0)?.as_deref(), Some(&header[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
mod tables;

pub use chain::{BlockInfo, BlockRecord, ChainStore, Head};
