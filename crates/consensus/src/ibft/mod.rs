//! Legacy IBFT (`GoQuorum` `consensus/istanbul/ibft`, genesis key `istanbul`/`ibft`; facts in
//! `docs/dev/bft-wire.md` §7 and `seal-formats.md` §2.1): the messages and their codec
//! ([`message`]) and the per-height state machine ([`State`]). Signing, validator arithmetic,
//! blocks, the journal and the host interface are QBFT's ([`crate::qbft::Signer`],
//! [`crate::qbft::validators`], [`crate::qbft::Block`] with its IBFT constructors,
//! [`crate::qbft::Journal`], [`crate::qbft::Env`]).

pub mod message;
mod state;

pub use message::{Code, Content, Message, MessageError, sort_validators};
pub use state::{Config, Input, Output, QuorumRule, State};
