//! Per-source-IP token buckets: each IP may send `rate` packets per second with bursts up to
//! `burst`; more are dropped before any signature check is spent on them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// How many sources are tracked at most; past that, idle ones are forgotten first, and if
/// all are busy the table is reset (an attacker spraying source addresses gains a fresh
/// burst, nothing more).
pub const MAX_SOURCES: usize = 10_000;

/// The limit applied to each source IP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained packets per second.
    pub rate: f64,
    /// Largest burst.
    pub burst: f64,
}

impl Default for RateLimit {
    /// 50 packets/s, bursts of 100: far above what bonding, lookups and revalidation need.
    fn default() -> Self {
        Self {
            rate: 50.0,
            burst: 100.0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by source IP.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<IpAddr, Bucket>,
}

impl RateLimiter {
    /// A limiter applying `limit` to every source.
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `ip`; false means drop the packet.
    pub(crate) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.buckets.len() >= MAX_SOURCES && !self.buckets.contains_key(&ip) {
            let full = self.limit.burst;
            let rate = self.limit.rate;
            self.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < full
            });
            if self.buckets.len() >= MAX_SOURCES {
                self.buckets.clear();
            }
        }
        let limit = self.limit;
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: limit.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.rate).min(limit.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    #[test]
    fn rejects_packets_past_the_burst() {
        let mut limiter = RateLimiter::new(RateLimit {
            rate: 10.0,
            burst: 5.0,
        });
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let now = Instant::now();
        for _ in 0..5 {
            assert!(limiter.allow(ip, now));
        }
        assert!(!limiter.allow(ip, now));
        assert!(limiter.allow(other, now), "limits are per source");
        assert!(
            limiter.allow(ip, now + Duration::from_millis(100)),
            "refills at the rate"
        );
        assert!(!limiter.allow(ip, now + Duration::from_millis(100)));
    }

    #[test]
    fn accepts_many_sources_with_bounded_memory() {
        let mut limiter = RateLimiter::new(RateLimit::default());
        let now = Instant::now();
        for i in 0..(MAX_SOURCES as u32 * 2) {
            assert!(limiter.allow(IpAddr::V4(Ipv4Addr::from(i)), now));
        }
        assert!(limiter.buckets.len() <= MAX_SOURCES);
    }
}
