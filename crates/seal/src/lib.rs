//! Byte-exact block seals for permissioned Ethereum networks.
//!
//! Cachet seals and verifies blocks exactly as the reference clients do:
//! - [`clique`]: EIP-225 (geth, Besu), including baseFee in the seal hash after London;
//! - [`ibft`]: Quorum IBFT ("istanbul") = Besu IBFT 1.0, double-hashed proposer seal and
//!   `keccak(hash ‖ 0x02)` committed seals;
//! - [`ibft2`]: Besu IBFT 2.0, fixed 4-byte round;
//! - [`qbft`]: QBFT (`GoQuorum` and Besu), minimal-scalar round;
//! - [`raft`]: the Quorum Raft leader signature (quorum PR 395).
//!
//! The moving parts: [`Header`] (strict RLP codec), one module per engine (extraData codec, hashes,
//! signing, recovery, header rules), [`SealJournal`] (the equivocation guard: every seal is
//! fsynced to `<datadir>/seal-journal` before it leaves the signer) and [`Sealer`], which signs
//! only through the journal. Signing takes `&dyn alloy_signer::SignerSync`; no raw secret bytes
//! cross this API.
//!
//! ## Feature flags
//! None.
//!
//! Formats: `docs/seal-formats.md` and the shared `seal-formats.md` specification.
#![forbid(unsafe_code)]
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod bft;
pub mod clique;
mod crypto;
mod error;
mod header;
pub mod ibft;
pub mod ibft2;
mod inspect;
mod journal;
mod json;
mod members;
pub mod qbft;
pub mod raft;
mod rlp;
mod sealer;
mod single_list;

#[doc(hidden)]
pub mod fuzzing;

pub use cachet_primitives::{Engine, UnknownEngine};
pub use crypto::{address_of_public, recover_address, recover_public, sign as sign_digest};
pub use error::{DecodeError, Error, Result};
pub use header::{EMPTY_OMMERS_HASH, Header, MAX_HEADER_BYTES};

pub use inspect::{Recovered, VerifyOptions, parse_header_input, recover, signers, verify};
pub use journal::{JOURNAL_FILE, JournalKey, SealJournal};
pub use json::{header_from_json, parse_validators};
pub use members::RaftMembers;
pub use sealer::Sealer;
