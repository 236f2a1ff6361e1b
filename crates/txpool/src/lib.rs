//! Cachet's transaction pool.
//!
//! [`Pool::add_raw`] / [`Pool::add`] decode, recover the sender and validate a transaction
//! against the head (fork rules, chain id and size through
//! [`cachet_execution::Executor::check_transaction`], block gas limit, intrinsic gas, minimum
//! tip) and the sender's account ([`AccountState`]: nonce, balance for value + gas × fee cap),
//! then keep it per sender by nonce: **pending** when its nonce is contiguous from the
//! account's, **queued** behind a gap until the gap fills. A transaction with a pooled
//! sender/nonce replaces it only with geth's price bump (10% on fee cap and tip). geth's
//! limits bound the pool under a flood ([`PoolConfig`]). [`Pool::best`] gives block producers
//! the pending transactions by effective tip, in nonce order per sender;
//! [`Pool::on_new_head`] removes what a block included and re-injects what a reorg dropped.
//!
//! Refusals are [`PoolError`]s whose `Display` is geth 1.14's message, with geth's JSON-RPC
//! code ([`PoolError::code`]). `docs/dev/txpool.md` has the design, limits and eviction.
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

mod error;
mod pool;

pub use cachet_execution::Candidate;
pub use error::{GETH_DEFAULT_ERROR_CODE, PoolError};
pub use pool::{
    AccountState, HeadContext, MAX_TX_SIZE, Pool, PoolConfig, PoolContent, TX_SLOT_SIZE,
};
