//! Per-peer redial backoff: after a connection to a peer ends without a session that lasted,
//! the next dial to that peer waits, twice as long each time, up to a cap.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::net::PeerId;

/// The redial schedule. After the `n`-th connection in a row to a peer that failed or ended
/// early, we dial that peer again no sooner than `first · 2^(n−1)` (at most `max`) later, plus
/// up to a quarter of that wait as jitter. A session that lasted `reset_after` starts the
/// count again at 1 when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedialBackoff {
    /// The wait after the first unsuccessful connection (default 1 s).
    pub first: Duration,
    /// The longest wait, before jitter (default 2 min).
    pub max: Duration,
    /// A session at least this long counts as a success (default 60 s).
    pub reset_after: Duration,
}

impl Default for RedialBackoff {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(120),
            reset_after: Duration::from_secs(60),
        }
    }
}

impl RedialBackoff {
    /// The wait after the `n`-th unsuccessful connection in a row (`n ≥ 1`; 0 counts as 1),
    /// before jitter: `first · 2^(n−1)`, at most `max`.
    pub fn wait(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(31);
        self.first
            .checked_mul(1 << doublings)
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// How a connection to a peer ended, as the backoff counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Our dial failed (TCP, RLPx, Hello, Status, or refused by either side).
    Failed,
    /// An admitted session (either direction) ended after this long.
    Session(Duration),
}

/// One peer's place in the schedule.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Unsuccessful connections in a row (≥ 1).
    streak: u32,
    /// No dial before this.
    not_before: Instant,
}

/// The schedule's state for every peer that has one.
#[derive(Debug)]
pub(crate) struct Backoffs {
    schedule: RedialBackoff,
    peers: HashMap<PeerId, Entry>,
}

/// Entries beyond this many are pruned when their wait is long over.
const PRUNE_ABOVE: usize = 64;

impl Backoffs {
    pub(crate) fn new(schedule: RedialBackoff) -> Self {
        Self {
            schedule,
            peers: HashMap::new(),
        }
    }

    /// Records that a connection to `id` ended at `now`; `jitter` in `[0, 1)` picks the
    /// fraction of the extra quarter. Returns the wait before the next dial.
    pub(crate) fn record(
        &mut self,
        id: PeerId,
        ended: Ended,
        now: Instant,
        jitter: f64,
    ) -> Duration {
        let streak = match ended {
            Ended::Session(lasted) if lasted >= self.schedule.reset_after => 1,
            _ => self
                .peers
                .get(&id)
                .map_or(1, |e| e.streak.saturating_add(1)),
        };
        let base = self.schedule.wait(streak);
        let wait = base + base.mul_f64(jitter.clamp(0.0, 1.0) / 4.0);
        if self.peers.len() > PRUNE_ABOVE {
            let max = self.schedule.max;
            self.peers.retain(|_, e| now < e.not_before + max);
        }
        self.peers.insert(
            id,
            Entry {
                streak,
                not_before: now + wait,
            },
        );
        wait
    }

    /// When `id` may be dialled next, if that is after `now`.
    pub(crate) fn waiting_until(&self, id: &PeerId, now: Instant) -> Option<Instant> {
        self.peers
            .get(id)
            .map(|e| e.not_before)
            .filter(|t| *t > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn id(b: u8) -> PeerId {
        PeerId([b; 64])
    }

    #[test]
    fn waits_double_from_one_second_to_the_cap() {
        let b = RedialBackoff::default();
        let waits: Vec<u64> = (1..=10).map(|n| b.wait(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 120, 120, 120]);
        assert_eq!(b.wait(0), S(1));
        assert_eq!(b.wait(u32::MAX), S(120));
    }

    #[test]
    fn failures_lengthen_the_wait_and_a_long_session_resets_it() {
        let mut t = Backoffs::new(RedialBackoff::default());
        let now = Instant::now();
        assert_eq!(t.waiting_until(&id(1), now), None);
        assert_eq!(t.record(id(1), Ended::Failed, now, 0.0), S(1));
        assert_eq!(t.waiting_until(&id(1), now), Some(now + S(1)));
        assert_eq!(t.waiting_until(&id(1), now + S(1)), None);
        assert_eq!(t.record(id(1), Ended::Failed, now, 0.0), S(2));
        // A session shorter than `reset_after` counts as a failure.
        assert_eq!(t.record(id(1), Ended::Session(S(59)), now, 0.0), S(4));
        assert_eq!(t.record(id(1), Ended::Failed, now, 0.0), S(8));
        // Another peer has its own count.
        assert_eq!(t.record(id(2), Ended::Failed, now, 0.0), S(1));
        // A session that lasted starts again at the first wait.
        assert_eq!(t.record(id(1), Ended::Session(S(60)), now, 0.0), S(1));
        assert_eq!(t.record(id(1), Ended::Failed, now, 0.0), S(2));
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let mut t = Backoffs::new(RedialBackoff::default());
        let now = Instant::now();
        for _ in 0..3 {
            t.record(id(1), Ended::Failed, now, 0.0);
        }
        // The fourth failure: 8 s, plus 0 to 2 s.
        assert_eq!(
            t.record(id(1), Ended::Failed, now, 0.5),
            Duration::from_millis(9000)
        );
        assert_eq!(
            t.record(id(2), Ended::Failed, now, 1.0),
            Duration::from_millis(1250)
        );
        assert_eq!(
            t.record(id(3), Ended::Failed, now, 7.0),
            Duration::from_millis(1250)
        );
    }

    #[test]
    fn prunes_entries_whose_wait_is_long_over() {
        let mut t = Backoffs::new(RedialBackoff::default());
        let now = Instant::now();
        for b in 0..=PRUNE_ABOVE as u8 {
            t.record(id(b), Ended::Failed, now, 0.0);
        }
        let later = now + S(1) + S(120);
        t.record(id(200), Ended::Failed, later, 0.0);
        assert_eq!(t.peers.len(), 1);
        // A pruned peer starts again at the first wait.
        assert_eq!(t.record(id(0), Ended::Failed, later, 0.0), S(1));
    }
}
