//! [`Candidate`]: a pooled transaction with its recovered sender, as block producers take it.

use alloy_consensus::TxEnvelope;
use alloy_primitives::Address;

/// A transaction offered for a block, with the sender the pool recovered from its signature.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its sender.
    pub sender: Address,
}
