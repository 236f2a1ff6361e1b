//! Block execution for a Cachet node, on `revm`.
//!
//! The node hands a block's header, its decoded body and the parent's state ([`StateView`])
//! to [`Executor::execute`] and gets back the receipts, the gas used, the logs bloom and the
//! [`ChangeSet`] the state store applies (which yields the new state root).
//!
//! The moving parts:
//! - [`decode_body`] / [`Body`]: the strict body decoder and the header commitments
//!   ([`Body::check_against`]); [`recover_senders`]: senders in parallel (rayon);
//! - [`Executor`]: the genesis fork schedule as revm specs per block (Frontier through
//!   Shanghai), the engine's rewards, GoQuorum's and Besu's size limits, and refusals
//!   ([`Unsupported`]) for what Cachet does not execute; [`Executor::check_transaction`] is
//!   the transaction pool's entry check; [`Executor::execute_with_roots`] takes an
//!   [`IntermediateRoots`] for chains with transactions before Byzantium (their receipts hold
//!   the state root after each transaction);
//! - [`BlockOutcome`]: receipts, gas, bloom, receipts root and the state changes, checked
//!   against the header with [`BlockOutcome::check_against`];
//! - [`Executor::call`] / [`Executor::estimate_gas`]: `eth_call` and `eth_estimateGas` on a
//!   block's post-state with geth's state overrides ([`StateOverride`]);
//! - [`Executor::build`]: block building for the producers ([`Candidate`]s in, the included
//!   transactions and their [`BlockOutcome`] out, as `execute` computes it for that body);
//! - [`encode_receipts`] / [`decode_receipts`]: receipts as the node stores them.
//!
//! `docs/dev/execution.md` has the fork table, the rewards and the permissioned specifics.
//!
//! ## Feature flags
//! None.
//!
//! [`StateView`]: cachet_state::StateView
//! [`ChangeSet`]: cachet_state::ChangeSet
#![forbid(unsafe_code)]
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod body;
mod build;
mod call;
mod changes;
mod db;
mod error;
mod executor;
#[doc(hidden)]
pub mod fuzzing;
mod receipts;
mod schedule;

pub use body::{Body, decode_body, recover_senders};
pub use build::{Built, Candidate};
pub use call::{
    AccountOverride, CallBlock, CallError, CallLimits, CallOutcome, CallRequest, CallStatus,
    StateOverride, TX_GAS,
};
pub use error::{BlockError, TxError, Unsupported};
pub use executor::{BlockHashes, BlockOutcome, Executor, IntermediateRoots};
pub use receipts::{decode_receipts, encode_receipts};
