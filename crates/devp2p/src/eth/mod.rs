//! eth/66, eth/67 and eth/68: Status with the EIP-2124 fork id and the messages a
//! proof-of-authority node needs to sync and announce blocks and gossip transactions. One codec;
//! every difference between the versions is in [`EthVersion`].

mod forkid;
mod message;
mod status;
mod version;

pub use forkid::{ForkHash, ForkId, ForkSchedule};
pub use message::{BlockId, EthMessage, MAX_ITEMS, id, transaction_items};
pub use status::Status;
pub use version::{EthVersion, eth_protocols};

/// For the fuzz seed generator (`scripts/fuzz-seeds`).
#[cfg(all(test, cachet_fuzz_seeds))]
pub(crate) use message::tests::samples as message_samples;
