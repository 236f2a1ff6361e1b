//! QBFT (`GoQuorum` `consensus/istanbul/qbft`, Besu `consensus/qbft`; facts in
//! `docs/dev/bft-wire.md`): the messages and their codec ([`message`]), validator-set arithmetic
//! ([`validators`]: quorum, proposer selection) and the per-height state machine ([`State`]).

pub mod message;
mod signer;
pub mod validators;

pub use message::{Block, Code, Message, MessageError};
pub use signer::{AlloySigner, SignError, Signer};
