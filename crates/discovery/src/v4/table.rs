//! The Kademlia routing table: 256 buckets of at most [`BUCKET_SIZE`] nodes by log-distance
//! between keccak256(node id) values, each with a small replacement list.

use std::collections::VecDeque;
use std::time::Instant;

use crate::node::{NodeId, NodeRecord};

/// Nodes per bucket (Kademlia k, as in discv4.md).
pub const BUCKET_SIZE: usize = 16;

/// Candidates kept per full bucket, promoted when a member fails.
pub(crate) const REPLACEMENTS: usize = 10;

/// log2 distance of two keccak ids: 0 when equal, else the bit length of their xor (1..=256).
pub fn log_distance(a: &[u8; 32], b: &[u8; 32]) -> usize {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let xor = x ^ y;
        if xor != 0 {
            return (32 - i) * 8 - xor.leading_zeros() as usize;
        }
    }
    0
}

/// A table entry.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The node.
    pub(crate) record: NodeRecord,
    /// When it last answered us.
    pub(crate) last_seen: Instant,
}

/// Where an insert went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    /// Added to its bucket.
    Added,
    /// Already there: moved to the front (most recently seen) and its endpoint updated.
    Updated,
    /// The bucket is full: kept as a replacement.
    Replacement,
    /// Our own id: never stored.
    Ourselves,
}

/// The routing table of one node.
#[derive(Debug)]
pub(crate) struct Table {
    local: [u8; 32],
    /// Index `d - 1` holds distance `d`; most recently seen first.
    buckets: Vec<VecDeque<Entry>>,
    replacements: Vec<VecDeque<NodeRecord>>,
}

impl Table {
    /// An empty table around `local`.
    pub(crate) fn new(local: NodeId) -> Self {
        Self {
            local: local.kad_id(),
            buckets: vec![VecDeque::new(); 256],
            replacements: vec![VecDeque::new(); 256],
        }
    }

    fn bucket_index(&self, id: &NodeId) -> Option<usize> {
        log_distance(&self.local, &id.kad_id()).checked_sub(1)
    }

    /// Records that `record` answered us.
    pub(crate) fn insert(&mut self, record: NodeRecord, now: Instant) -> Inserted {
        let Some(index) = self.bucket_index(&record.id) else {
            return Inserted::Ourselves;
        };
        let (Some(bucket), Some(replacements)) = (
            self.buckets.get_mut(index),
            self.replacements.get_mut(index),
        ) else {
            return Inserted::Ourselves;
        };
        if let Some(pos) = bucket.iter().position(|e| e.record.id == record.id) {
            bucket.remove(pos);
            bucket.push_front(Entry {
                record,
                last_seen: now,
            });
            return Inserted::Updated;
        }
        if bucket.len() < BUCKET_SIZE {
            bucket.push_front(Entry {
                record,
                last_seen: now,
            });
            return Inserted::Added;
        }
        replacements.retain(|r| r.id != record.id);
        replacements.push_front(record);
        replacements.truncate(REPLACEMENTS);
        Inserted::Replacement
    }

    /// Removes a node that stopped answering; a replacement takes its place. Returns whether
    /// it was in the table.
    pub(crate) fn remove(&mut self, id: &NodeId, now: Instant) -> bool {
        let Some(index) = self.bucket_index(id) else {
            return false;
        };
        let (Some(bucket), Some(replacements)) = (
            self.buckets.get_mut(index),
            self.replacements.get_mut(index),
        ) else {
            return false;
        };
        replacements.retain(|r| r.id != *id);
        let Some(pos) = bucket.iter().position(|e| e.record.id == *id) else {
            return false;
        };
        bucket.remove(pos);
        if let Some(record) = replacements.pop_front() {
            bucket.push_back(Entry {
                record,
                last_seen: now,
            });
        }
        true
    }

    /// Whether the node is in a bucket.
    #[cfg(test)]
    fn contains(&self, id: &NodeId) -> bool {
        let Some(bucket) = self.bucket_index(id).and_then(|i| self.buckets.get(i)) else {
            return false;
        };
        bucket.iter().any(|e| e.record.id == *id)
    }

    /// The `n` nodes closest to `target` (a keccak id), closest first.
    pub(crate) fn closest(&self, target: &[u8; 32], n: usize) -> Vec<NodeRecord> {
        let mut all: Vec<_> = self.entries().map(|e| e.record).collect();
        all.sort_by_cached_key(|r| xor(&r.id.kad_id(), target));
        all.truncate(n);
        all
    }

    /// Every entry, bucket by bucket.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flatten()
    }

    /// Number of nodes in buckets.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.iter().map(VecDeque::len).sum()
    }
}

/// The xor distance, for sorting.
pub(crate) fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::node::Endpoint;

    fn record(seed: u8, n: u16) -> NodeRecord {
        let mut id = [seed; 64];
        id[0..2].copy_from_slice(&n.to_be_bytes());
        NodeRecord {
            id: NodeId(id),
            endpoint: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                udp: n,
                tcp: n,
            },
        }
    }

    #[test]
    fn accepts_log_distance_boundaries() {
        let zero = [0u8; 32];
        let mut one = [0u8; 32];
        one[31] = 1;
        let mut top = [0u8; 32];
        top[0] = 0x80;
        assert_eq!(log_distance(&zero, &zero), 0);
        assert_eq!(log_distance(&zero, &one), 1);
        assert_eq!(log_distance(&zero, &top), 256);
        assert_eq!(log_distance(&one, &top), 256);
    }

    #[test]
    fn rejects_more_than_bucket_size_per_bucket() {
        let local = record(0, 0).id;
        let mut table = Table::new(local);
        let now = Instant::now();
        let mut per_bucket = std::collections::HashMap::<usize, usize>::new();
        for n in 1..2000u16 {
            let r = record(1, n);
            let d = log_distance(&local.kad_id(), &r.id.kad_id());
            let outcome = table.insert(r, now);
            let count = per_bucket.entry(d).or_default();
            if *count < BUCKET_SIZE {
                assert_eq!(outcome, Inserted::Added);
                *count += 1;
            } else {
                assert_eq!(outcome, Inserted::Replacement);
            }
        }
        assert_eq!(table.len(), per_bucket.values().sum::<usize>());
        assert!(table.buckets.iter().all(|b| b.len() <= BUCKET_SIZE));
        assert!(table.replacements.iter().all(|b| b.len() <= REPLACEMENTS));
    }

    #[test]
    fn accepts_replacement_after_removal() {
        let local = record(0, 0).id;
        let mut table = Table::new(local);
        let now = Instant::now();
        // Distance 256 holds half of all ids: fill it.
        let mut full = Vec::new();
        let mut n = 1;
        while full.len() < BUCKET_SIZE + 1 {
            let r = record(2, n);
            n += 1;
            if log_distance(&local.kad_id(), &r.id.kad_id()) == 256 {
                table.insert(r, now);
                full.push(r);
            }
        }
        let spare = full[BUCKET_SIZE];
        assert!(!table.contains(&spare.id));
        assert!(table.remove(&full[0].id, now));
        assert!(table.contains(&spare.id));
        assert_eq!(table.insert(local_record(local), now), Inserted::Ourselves);
    }

    fn local_record(id: NodeId) -> NodeRecord {
        NodeRecord {
            id,
            endpoint: record(0, 0).endpoint,
        }
    }

    #[test]
    fn accepts_closest_in_xor_order() {
        let local = record(0, 0).id;
        let mut table = Table::new(local);
        for n in 1..200 {
            table.insert(record(3, n), Instant::now());
        }
        let target = record(4, 4).id.kad_id();
        let got = table.closest(&target, 16);
        assert_eq!(got.len(), 16);
        let dists: Vec<_> = got.iter().map(|r| xor(&r.id.kad_id(), &target)).collect();
        assert!(dists.windows(2).all(|w| w[0] <= w[1]));
        let mut all: Vec<_> = table
            .entries()
            .map(|e| xor(&e.record.id.kad_id(), &target))
            .collect();
        all.sort();
        assert_eq!(dists[..], all[..16]);
    }
}
