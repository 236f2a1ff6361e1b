//! [`SyncStatus`]: what `eth_syncing` reports. The sync task marks a download from a peer
//! ahead of us as begun and finished and raises the highest block it has learned of (the
//! peer's head header, announced numbers, downloaded headers); the RPC reads it.
//!
//! As geth, the node reports syncing only while a download runs *and* the head is below the
//! highest known block (geth's `SyncProgress.Done`).

use std::sync::{Arc, Mutex, MutexGuard};

/// geth's `eth_syncing` object (block numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    /// The head when this sync began.
    pub starting_block: u64,
    /// The head now.
    pub current_block: u64,
    /// The highest block known from peers.
    pub highest_block: u64,
}

#[derive(Debug, Default)]
struct Inner {
    syncing: bool,
    starting: u64,
    highest: u64,
    last: Option<SyncProgress>,
}

/// Shared sync state (cheap to clone).
#[derive(Debug, Clone, Default)]
pub struct SyncStatus(Arc<Mutex<Inner>>);

impl SyncStatus {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A download began with the head at `current` (no-op while one runs).
    pub fn begin(&self, current: u64) {
        let mut s = self.inner();
        if !s.syncing {
            s.syncing = true;
            s.starting = current;
        }
    }

    /// A peer has (or announced) block `number`.
    pub fn saw_block(&self, number: u64) {
        let mut s = self.inner();
        s.highest = s.highest.max(number);
    }

    /// Every download ended with the head at `current`; the highest known block is forgotten
    /// (a peer announcing a number it never delivers does not keep us "syncing").
    pub fn finish(&self, current: u64) {
        let mut s = self.inner();
        if s.syncing {
            s.syncing = false;
            s.last = Some(SyncProgress {
                starting_block: s.starting,
                current_block: current,
                highest_block: s.highest.max(current),
            });
        }
        s.highest = current;
    }

    /// The progress with the head at `current`, or `None` when not syncing.
    pub fn progress(&self, current: u64) -> Option<SyncProgress> {
        let s = self.inner();
        (s.syncing && current < s.highest).then_some(SyncProgress {
            starting_block: s.starting,
            current_block: current,
            highest_block: s.highest,
        })
    }

    /// The last finished sync (start, head when it ended, highest known).
    pub fn last_finished(&self) -> Option<SyncProgress> {
        self.inner().last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_sync_from_begin_to_finish() {
        let s = SyncStatus::default();
        assert_eq!(s.progress(0), None, "idle");
        s.begin(3);
        assert_eq!(s.progress(3), None, "highest not known yet: done, as geth");
        s.saw_block(500);
        s.begin(7); // a second peer: the starting block stays
        let p = s.progress(130).unwrap();
        assert_eq!(
            p,
            SyncProgress {
                starting_block: 3,
                current_block: 130,
                highest_block: 500
            }
        );
        assert_eq!(s.progress(500), None, "caught up");
        s.finish(500);
        assert_eq!(s.progress(200), None, "finished");
        assert_eq!(s.last_finished().unwrap().highest_block, 500);
    }

    #[test]
    fn rejects_a_stale_highest_block_after_finish() {
        let s = SyncStatus::default();
        s.begin(0);
        s.saw_block(u64::MAX); // announced, never delivered
        s.finish(10);
        s.begin(10);
        assert_eq!(s.progress(10), None);
        s.saw_block(20);
        assert_eq!(s.progress(11).unwrap().highest_block, 20);
    }
}
