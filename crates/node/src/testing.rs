//! Test helpers: [`VecTxSource`], a [`TxSource`] over a list of candidates, for tests of the
//! block producers (and for wiring before the transaction pool is in place).

use std::sync::{Mutex, MutexGuard, PoisonError};

use alloy_primitives::B256;
use cachet_execution::Candidate;
use tokio::sync::watch;

use crate::consensus::TxSource;

/// Candidates in the order pushed; every push wakes [`TxSource::subscribe_ready`]. Nothing is
/// validated or removed by itself: the producer skips what no longer applies.
#[derive(Debug)]
pub struct VecTxSource {
    candidates: Mutex<Vec<Candidate>>,
    ready: watch::Sender<u64>,
}

impl Default for VecTxSource {
    fn default() -> Self {
        Self {
            candidates: Mutex::default(),
            ready: watch::channel(0).0,
        }
    }
}

impl VecTxSource {
    /// A source holding `candidates`.
    pub fn new(candidates: Vec<Candidate>) -> Self {
        let source = Self::default();
        *source.list() = candidates;
        source
    }

    /// Adds a candidate at the end and signals that a transaction is ready.
    pub fn push(&self, candidate: Candidate) {
        self.list().push(candidate);
        self.ready.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Drops the candidates whose transaction hash is in `hashes` (included in a block).
    pub fn remove(&self, hashes: &[B256]) {
        self.list().retain(|c| !hashes.contains(c.tx.hash()));
    }

    fn list(&self) -> MutexGuard<'_, Vec<Candidate>> {
        self.candidates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl TxSource for VecTxSource {
    fn best(&self, _base_fee: Option<u64>) -> Vec<Candidate> {
        self.list().clone()
    }

    fn has_pending(&self) -> bool {
        !self.list().is_empty()
    }

    fn subscribe_ready(&self) -> watch::Receiver<u64> {
        self.ready.subscribe()
    }
}
