//! What a node runs per engine: QBFT ([`qbft`]), wire-compatible with `GoQuorum` and Besu on
//! `istanbul/100`, and `GoQuorum`'s legacy IBFT ([`ibft`]) (`docs/dev/bft-wire.md`).
//!
//! Everything here is pure and synchronous: no I/O, no clock, no randomness. The node feeds
//! decoded messages, timer expiries and built blocks into [`qbft::State`] and carries out what it
//! returns (broadcast, set a timer, build a block, import a committed block). Signing goes
//! through the [`qbft::Signer`] capability and every signature that commits to a value is first
//! recorded in an injected [`qbft::Journal`] (the equivocation guard).
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

pub mod ibft;
pub mod qbft;

#[doc(hidden)]
pub mod fuzzing;
