//! eth/68: Status with the EIP-2124 fork id and the messages a proof-of-authority node needs to sync and
//! announce blocks.

mod forkid;
mod message;
mod status;

pub use forkid::{ForkHash, ForkId, ForkSchedule};
pub use message::{BlockId, ETH68_MESSAGES, EthMessage, MAX_ITEMS, id, transaction_items};
pub use status::{ETH_VERSION, Status};

/// For the fuzz seed generator (`scripts/fuzz-seeds`).
#[cfg(all(test, cachet_fuzz_seeds))]
pub(crate) use message::tests::samples as message_samples;

use crate::p2p::{Capability, Protocol};

/// The eth/68 protocol as we advertise it.
pub fn eth68() -> Protocol {
    Protocol {
        capability: Capability::new("eth", ETH_VERSION),
        messages: ETH68_MESSAGES,
    }
}
