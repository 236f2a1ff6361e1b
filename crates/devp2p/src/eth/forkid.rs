//! The EIP-2124 fork identifier: its wire form, its computation from the genesis hash and the
//! fork schedule, and the validation of a remote's.

use alloy_primitives::B256;
use alloy_rlp::{Encodable, Header};

use crate::DecodeError;
use crate::cursor::rlp;

/// Fork activations at or below this value are block numbers, above it timestamps (geth's
/// threshold: the mainnet genesis time, 2015-07-30).
const TIMESTAMP_THRESHOLD: u64 = 1_438_269_973;

/// `[FORK_HASH, FORK_NEXT]`: a CRC32 over the genesis hash and the passed forks, and the next
/// fork (0 if none is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ForkId {
    /// CRC32 (IEEE) of the genesis hash and each passed fork as a big-endian u64.
    pub hash: [u8; 4],
    /// The next fork's block number or timestamp, or 0.
    pub next: u64,
}

impl ForkId {
    /// Appends the RLP list.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let payload_length = self.hash[..].length() + self.next.length();
        Header {
            list: true,
            payload_length,
        }
        .encode(out);
        self.hash[..].encode(out);
        self.next.encode(out);
    }

    /// Decodes the RLP list from `buf`, advancing it. Strict: exactly two elements.
    ///
    /// # Errors
    /// [`DecodeError`] when malformed.
    pub fn decode(buf: &mut &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "fork id";
        let mut list = rlp::list(buf, WHAT)?;
        let hash = rlp::array::<4>(&mut list, WHAT)?;
        let next = rlp::u64(&mut list, WHAT)?;
        rlp::finish(list, WHAT)?;
        Ok(Self { hash, next })
    }
}

impl std::fmt::Display for ForkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}/next {}", hex::encode(self.hash), self.next)
    }
}

/// Why a remote fork id is refused (EIP-2124 rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkIdMismatch {
    /// The remote is on a fork we passed without it announcing that fork: it needs an update.
    RemoteStale,
    /// Our software or chain is incompatible with the remote, or we are stale.
    LocalIncompatibleOrStale,
}

impl std::fmt::Display for ForkIdMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RemoteStale => "remote fork id is stale (peer needs a software update)",
            Self::LocalIncompatibleOrStale => {
                "remote fork id is incompatible (another chain, or our fork schedule is out of date)"
            }
        })
    }
}

/// A chain's fork schedule: computes our fork id and validates remote ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkSchedule {
    /// Block-number forks, then timestamp forks, each ascending and deduplicated.
    forks: Vec<u64>,
    /// How many of `forks` are block numbers.
    block_forks: usize,
    /// `sums[i]`: the fork hash after the first `i` forks.
    sums: Vec<[u8; 4]>,
}

impl ForkSchedule {
    /// Builds the schedule. Block forks at 0 and time forks at or before the genesis time are
    /// active from genesis and are not part of the hash (EIP-2124, geth).
    pub fn new(genesis: B256, block_forks: &[u64], time_forks: &[u64], genesis_time: u64) -> Self {
        let mut blocks: Vec<u64> = block_forks.iter().copied().filter(|b| *b > 0).collect();
        blocks.sort_unstable();
        blocks.dedup();
        let mut times: Vec<u64> = time_forks
            .iter()
            .copied()
            .filter(|t| *t > genesis_time)
            .collect();
        times.sort_unstable();
        times.dedup();
        let block_count = blocks.len();
        let forks: Vec<u64> = blocks.into_iter().chain(times).collect();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(genesis.as_slice());
        let mut sums = vec![hasher.clone().finalize().to_be_bytes()];
        for fork in &forks {
            hasher.update(&fork.to_be_bytes());
            sums.push(hasher.clone().finalize().to_be_bytes());
        }
        Self {
            forks,
            block_forks: block_count,
            sums,
        }
    }

    /// Our fork id at a head block number and timestamp.
    pub fn fork_id(&self, head: u64, time: u64) -> ForkId {
        let passed = self.passed(head, time);
        ForkId {
            hash: self.sums.get(passed).copied().unwrap_or_default(),
            next: self.forks.get(passed).copied().unwrap_or(0),
        }
    }

    /// Validates a remote fork id against our head (EIP-2124 rules 1–4).
    ///
    /// # Errors
    /// The [`ForkIdMismatch`] rule that refuses the remote.
    pub fn validate(&self, head: u64, time: u64, remote: &ForkId) -> Result<(), ForkIdMismatch> {
        let i = self.passed(head, time);
        let ours = self.sums.get(i).copied().unwrap_or_default();
        // Rule 1: same hash. Refuse if the remote's announced next fork already passed locally.
        if ours == remote.hash {
            let passed_next = remote.next > 0
                && (head >= remote.next
                    || (remote.next > TIMESTAMP_THRESHOLD && time >= remote.next));
            return if passed_next {
                Err(ForkIdMismatch::LocalIncompatibleOrStale)
            } else {
                Ok(())
            };
        }
        // Rule 2: the remote is on one of our past forks; it must announce the fork that followed.
        for (j, sum) in self.sums.iter().enumerate().take(i) {
            if *sum == remote.hash {
                return if self.forks.get(j) == Some(&remote.next) {
                    Ok(())
                } else {
                    Err(ForkIdMismatch::RemoteStale)
                };
            }
        }
        // Rule 3: the remote is ahead on forks we know.
        if self.sums.iter().skip(i + 1).any(|sum| *sum == remote.hash) {
            return Ok(());
        }
        // Rule 4.
        Err(ForkIdMismatch::LocalIncompatibleOrStale)
    }

    /// How many forks have activated at (head, time).
    fn passed(&self, head: u64, time: u64) -> usize {
        self.forks
            .iter()
            .enumerate()
            .take_while(|(i, fork)| {
                if *i < self.block_forks {
                    head >= **fork
                } else {
                    time >= **fork
                }
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// EIP-2124 "Test cases": mainnet through Petersburg (Constantinople and Petersburg share
    /// block 7280000).
    fn mainnet() -> ForkSchedule {
        let genesis: B256 = "0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3"
            .parse()
            .unwrap();
        ForkSchedule::new(
            genesis,
            &[
                1_150_000, 1_920_000, 2_463_000, 2_675_000, 4_370_000, 7_280_000, 7_280_000,
            ],
            &[],
            0,
        )
    }

    fn id(hash: u32, next: u64) -> ForkId {
        ForkId {
            hash: hash.to_be_bytes(),
            next,
        }
    }

    #[test]
    fn computes_the_eip2124_mainnet_fork_ids() {
        // Source: EIP-2124, "Test cases", mainnet table.
        let cases = [
            (0, id(0xfc64ec04, 1150000)),
            (1149999, id(0xfc64ec04, 1150000)),
            (1150000, id(0x97c2c34c, 1920000)),
            (1919999, id(0x97c2c34c, 1920000)),
            (1920000, id(0x91d1f948, 2463000)),
            (2462999, id(0x91d1f948, 2463000)),
            (2463000, id(0x7a64da13, 2675000)),
            (2674999, id(0x7a64da13, 2675000)),
            (2675000, id(0x3edd5b10, 4370000)),
            (4369999, id(0x3edd5b10, 4370000)),
            (4370000, id(0xa00bc324, 7280000)),
            (7279999, id(0xa00bc324, 7280000)),
            (7280000, id(0x668db0af, 0)),
            (7987396, id(0x668db0af, 0)),
        ];
        let m = mainnet();
        for (head, want) in cases {
            assert_eq!(m.fork_id(head, 0), want, "head {head}");
        }
    }

    #[test]
    fn validates_as_the_eip2124_table_says() {
        // Source: EIP-2124, "Test cases", validation table.
        use ForkIdMismatch::*;
        let cases: [(u64, ForkId, Result<(), ForkIdMismatch>); 15] = [
            (7987396, id(0x668db0af, 0), Ok(())),
            (7987396, id(0x668db0af, u64::MAX), Ok(())),
            (7279999, id(0xa00bc324, 0), Ok(())),
            (7279999, id(0xa00bc324, 7280000), Ok(())),
            (7279999, id(0xa00bc324, u64::MAX), Ok(())),
            (7987396, id(0xa00bc324, 7280000), Ok(())),
            (7987396, id(0x3edd5b10, 4370000), Ok(())),
            (7279999, id(0x668db0af, 0), Ok(())),
            (4369999, id(0xa00bc324, 0), Ok(())),
            (7987396, id(0xa00bc324, 0), Err(RemoteStale)),
            (7987396, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            (7279999, id(0x5cddc0e1, 0), Err(LocalIncompatibleOrStale)),
            (7987396, id(0xafec6b27, 0), Err(LocalIncompatibleOrStale)),
            (
                88888888,
                id(0x668db0af, 88888888),
                Err(LocalIncompatibleOrStale),
            ),
            (
                7279999,
                id(0xa00bc324, 7279999),
                Err(LocalIncompatibleOrStale),
            ),
        ];
        let m = mainnet();
        for (head, remote, want) in cases {
            assert_eq!(
                m.validate(head, 0, &remote),
                want,
                "head {head} remote {remote}"
            );
        }
    }

    #[test]
    fn round_trips_the_eip2124_encodings() {
        // Source: EIP-2124, RLP encoding tests.
        for (fid, hex_want) in [
            (id(0, 0), "c6840000000080"),
            (id(0xdeadbeef, 0xBADDCAFE), "ca84deadbeef84baddcafe"),
            (id(u32::MAX, u64::MAX), "ce84ffffffff88ffffffffffffffff"),
        ] {
            let mut out = Vec::new();
            fid.encode(&mut out);
            assert_eq!(hex::encode(&out), hex_want);
            let mut buf = &out[..];
            assert_eq!(ForkId::decode(&mut buf).unwrap(), fid);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn rejects_fork_ids_with_extra_elements_or_wrong_hash_width() {
        for hex_bad in ["c784000000008000", "c58300000080", "c0"] {
            let bytes = hex::decode(hex_bad).unwrap();
            assert!(ForkId::decode(&mut &bytes[..]).is_err(), "{hex_bad}");
        }
    }

    #[test]
    fn computes_timestamp_forks_after_block_forks() {
        let g = B256::repeat_byte(1);
        let s = ForkSchedule::new(g, &[0, 5], &[0, 1_700_000_000], 1_600_000_000);
        assert_eq!(s.fork_id(4, 0).next, 5);
        assert_eq!(s.fork_id(5, 1_600_000_001).next, 1_700_000_000);
        assert_eq!(s.fork_id(5, 1_700_000_000).next, 0);
        assert_eq!(
            s.validate(5, 1_700_000_000, &s.fork_id(5, 1_700_000_000)),
            Ok(())
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trips_any_fork_id(hash in proptest::array::uniform4(any::<u8>()), next in any::<u64>()) {
            let id = ForkId { hash, next };
            let mut out = Vec::new();
            id.encode(&mut out);
            let mut buf = &out[..];
            prop_assert_eq!(ForkId::decode(&mut buf).unwrap(), id);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn agrees_with_itself_at_any_head(blocks in proptest::collection::vec(0u64..1000, 0..6), head in 0u64..2000) {
            // A node always accepts its own fork id.
            let s = ForkSchedule::new(B256::repeat_byte(7), &blocks, &[], 0);
            prop_assert_eq!(s.validate(head, 0, &s.fork_id(head, 0)), Ok(()));
        }
    }
}
