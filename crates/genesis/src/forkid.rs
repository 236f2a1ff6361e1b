//! EIP-2124 fork identifier: computing ours and validating a peer's (the [`ForkId`] type and its
//! codec are `cachet_primitives`', re-exported here).
//!
//! `FORK_HASH` = IEEE CRC32 over the genesis hash followed by every past fork's block number
//! (then timestamp, for time-based forks) as big-endian `u64`, deduplicated, skipping forks
//! active at genesis; `FORK_NEXT` = the next scheduled fork, or 0.

use alloy_primitives::B256;
pub use cachet_primitives::{ForkHash, ForkId};

use crate::error::{Error, Result};

/// Timestamps above this are times, below are block numbers (mainnet's genesis time; geth's
/// `timestampThreshold` in `core/forkid`).
const TIMESTAMP_THRESHOLD: u64 = 1_438_269_973;

/// A chain's fork schedule for EIP-2124: the genesis hash and the fork lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkSchedule {
    genesis_hash: B256,
    blocks: Vec<u64>,
    times: Vec<u64>,
    /// `sums[i]` = fork hash after the first `i` forks (blocks then times).
    sums: Vec<ForkHash>,
}

impl ForkSchedule {
    /// Builds a schedule. `blocks` and `times` are sorted and deduplicated here; block 0 and
    /// times not after genesis must already be left out (see
    /// [`crate::ChainConfig::fork_id_blocks`] / [`crate::ChainConfig::fork_id_times`]).
    pub fn new(genesis_hash: B256, mut blocks: Vec<u64>, mut times: Vec<u64>) -> Self {
        blocks.sort_unstable();
        blocks.dedup();
        blocks.retain(|b| *b != 0);
        times.sort_unstable();
        times.dedup();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(genesis_hash.as_slice());
        let mut sums = vec![ForkHash(hasher.clone().finalize().to_be_bytes())];
        for fork in blocks.iter().chain(times.iter()) {
            hasher.update(&fork.to_be_bytes());
            sums.push(ForkHash(hasher.clone().finalize().to_be_bytes()));
        }
        Self {
            genesis_hash,
            blocks,
            times,
            sums,
        }
    }

    /// The genesis hash.
    pub const fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// Block numbers of the forks in the fork id, ascending.
    pub fn fork_blocks(&self) -> &[u64] {
        &self.blocks
    }

    /// Timestamps of the forks in the fork id, ascending.
    pub fn fork_times(&self) -> &[u64] {
        &self.times
    }

    /// Our fork id at a head block with this number and timestamp.
    pub fn fork_id(&self, head_number: u64, head_time: u64) -> ForkId {
        let passed_blocks = self
            .blocks
            .iter()
            .take_while(|b| **b <= head_number)
            .count();
        let passed_times = if passed_blocks == self.blocks.len() {
            self.times.iter().take_while(|t| **t <= head_time).count()
        } else {
            0
        };
        let passed = passed_blocks + passed_times;
        let next = self
            .blocks
            .iter()
            .chain(self.times.iter())
            .nth(passed)
            .copied()
            .unwrap_or(0);
        ForkId {
            hash: self.sum(passed),
            next,
        }
    }

    /// Checks a peer's fork id against ours at a head block with this number and timestamp
    /// (EIP-2124 rules 1–4, with geth's rule 1a for a remote fork we passed unknowingly).
    ///
    /// # Errors
    /// [`Error::RemoteStale`] when the peer lacks a fork we passed;
    /// [`Error::LocalIncompatibleOrStale`] when the peer is on another chain or knows a fork
    /// we have passed without applying it.
    pub fn validate(&self, remote: ForkId, head_number: u64, head_time: u64) -> Result<()> {
        let forks: Vec<u64> = self
            .blocks
            .iter()
            .chain(self.times.iter())
            .copied()
            .collect();
        let local = self.fork_id(head_number, head_time);
        let incompatible = Error::LocalIncompatibleOrStale { remote, local };
        // The index of the first fork not yet passed (a final never-passed sentinel).
        for (i, fork) in forks
            .iter()
            .copied()
            .chain(std::iter::once(u64::MAX))
            .enumerate()
        {
            let head = if i >= self.blocks.len() {
                head_time
            } else {
                head_number
            };
            if head >= fork {
                continue;
            }
            // Rule 1: same fork state.
            if self.sum(i) == remote.hash {
                // Rule 1a: the remote's next fork already passed locally, unknown to us.
                let passed = remote.next > 0
                    && (head_number >= remote.next
                        || (remote.next > TIMESTAMP_THRESHOLD && head_time >= remote.next));
                return if passed { Err(incompatible) } else { Ok(()) };
            }
            // Rule 2: the remote is behind (a subset of our past forks).
            if let Some(j) = (0..i).find(|j| self.sum(*j) == remote.hash) {
                let local_next = forks.get(j).copied().unwrap_or(0);
                return if local_next == remote.next {
                    Ok(())
                } else {
                    Err(Error::RemoteStale { remote, local_next })
                };
            }
            // Rule 3: we are behind (the remote's forks are a superset of ours).
            if (i + 1..self.sums.len()).any(|j| self.sum(j) == remote.hash) {
                return Ok(());
            }
            // Rule 4.
            return Err(incompatible);
        }
        // Unreachable: the sentinel u64::MAX is never passed by a u64 head.
        Ok(())
    }

    fn sum(&self, i: usize) -> ForkHash {
        self.sums.get(i).copied().unwrap_or_default()
    }
}
