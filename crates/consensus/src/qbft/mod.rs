//! QBFT (`GoQuorum` `consensus/istanbul/qbft`, Besu `consensus/qbft`; facts in
//! `docs/dev/bft-wire.md`): the messages and their codec ([`message`]), validator-set arithmetic
//! ([`validators`]: quorum, proposer selection), the equivocation journal and future-height
//! backlog ([`journal`]) and the per-height state machine ([`State`]).

pub mod journal;
pub mod message;
mod signer;
pub(crate) mod state;
pub mod validators;

pub use journal::{
    Backlog, FileJournal, Journal, JournalError, MemoryJournal, PREPARED_FILE, PreparedCertificate,
    Viewed,
};
pub use message::{Block, Code, Message, MessageError};
pub use signer::{AlloySigner, SignError, Signer};
pub use state::{BlockCheck, Config, Env, Input, MAX_ROUND, Output, ROUND_WINDOW, State};
