//! Multi-validator QBFT in the node (`docs/dev/qbft-node.md`): [`Driver`] runs the pure state
//! machine of `cachet_consensus::qbft` height after height for one validator, over a
//! [`crate::consensus_net::ConsensusNet`] (devp2p `istanbul/100`; in tests a [`MemoryHub`]).
//!
//! - [`check`]: the height's configuration read from the parent (validators in its QBFT
//!   extraData, last proposer = its coinbase, genesis policy, `requesttimeoutseconds`,
//!   `blockperiodseconds`) and the chain's verification of a proposal (header rules against the
//!   parent and the body executed on the parent's state), the state machine's `BlockCheck`.
//! - [`driver`]: the loop: frames decoded and deduplicated (bad bytes counted against the
//!   peer, never a panic), the round timer, proposals built like the producer loop's blocks,
//!   committed blocks imported (sync announces them), signatures through the node key gated by
//!   the sealing switch and recorded first in the seal journal (`FileJournal`).
//! - [`hub`]: the in-process network.
//!
//! The driver is generic over the engine ([`engine::BftEngine`]): [`Qbft`] by default, [`Ibft`]
//! (`GoQuorum`'s legacy IBFT, `cachet_consensus::ibft`) for `istanbul` chains (`docs/dev/ibft-node.md`).
//!
//! It runs for any number of validators, one included (decision 527: a lone validator then
//! proposes votes and hands over to the driver's quorum once a second one is voted in).

pub mod check;
pub mod driver;
pub mod engine;
pub mod hub;

pub use driver::{Driver, Event, MAX_BAD_FRAMES};
pub use engine::{BftEngine, Ibft, Qbft};

/// The legacy IBFT driver.
pub type IbftDriver = Driver<Ibft>;
pub use hub::MemoryHub;
