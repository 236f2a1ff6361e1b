//! The EIP-2124 fork id `RLP([FORK_HASH, FORK_NEXT])` and its strict codec. Computing ours and
//! validating a peer's is the chain spec's (`cachet_genesis::ForkSchedule`); eth Status and the
//! ENR `eth` entry carry this type.

use std::fmt;

use alloy_rlp::{BufMut, Encodable};

use crate::error::DecodeError;
use crate::rlp::{self, Reader};

/// The 4-byte CRC32 fork hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ForkHash(pub [u8; 4]);

/// An EIP-2124 fork id: `RLP([FORK_HASH, FORK_NEXT])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ForkId {
    /// CRC32 of the genesis hash and the passed forks.
    pub hash: ForkHash,
    /// The next fork's block number or timestamp, or 0 if none is scheduled.
    pub next: u64,
}

const WHAT: &str = "fork id";

impl ForkHash {
    /// The CRC32 as a number (how geth's tests write it).
    pub const fn as_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }
}

impl ForkId {
    /// Reads `[FORK_HASH, FORK_NEXT]` from `r`. Strict: exactly two elements, a 4-byte hash, a
    /// canonical integer.
    ///
    /// # Errors
    /// [`DecodeError`] naming the fork id when malformed.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut list = r.list(WHAT)?;
        let hash = ForkHash(list.array::<4>(WHAT)?);
        let next = list.u64(WHAT)?;
        list.finish(WHAT)?;
        Ok(Self { hash, next })
    }

    /// Appends `[FORK_HASH, FORK_NEXT]`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::with_capacity(14);
        rlp::put_bytes(&mut payload, &self.hash.0);
        rlp::put_u64(&mut payload, self.next);
        rlp::put_list(out, &payload);
    }
}

impl fmt::Display for ForkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08x}", self.as_u32())
    }
}

impl fmt::Display for ForkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (next {})", self.hash, self.next)
    }
}

/// For libraries that take alloy's traits (the ENR `eth` entry).
impl Encodable for ForkId {
    fn encode(&self, out: &mut dyn BufMut) {
        let mut v = Vec::with_capacity(16);
        self.write(&mut v);
        out.put_slice(&v);
    }

    fn length(&self) -> usize {
        let payload = self.hash.0.as_slice().length() + self.next.length();
        payload + alloy_rlp::length_of_length(payload)
    }
}

/// For libraries that take alloy's traits; reads through [`ForkId::read`].
impl alloy_rlp::Decodable for ForkId {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let mut r = Reader::new(buf);
        let id = Self::read(&mut r).map_err(|e| match e {
            DecodeError::Truncated { .. } => alloy_rlp::Error::InputTooShort,
            _ => alloy_rlp::Error::Custom("invalid fork id"),
        })?;
        *buf = r.rest();
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn id(hash: u32, next: u64) -> ForkId {
        ForkId {
            hash: ForkHash(hash.to_be_bytes()),
            next,
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
            fid.write(&mut out);
            assert_eq!(hex::encode(&out), hex_want);
            let mut r = Reader::new(&out);
            assert_eq!(ForkId::read(&mut r).unwrap(), fid);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn rejects_fork_ids_with_extra_elements_or_wrong_hash_width() {
        for hex_bad in ["c784000000008000", "c58300000080", "c0"] {
            let bytes = hex::decode(hex_bad).unwrap();
            assert!(ForkId::read(&mut Reader::new(&bytes)).is_err(), "{hex_bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trips_any_fork_id(hash in any::<u32>(), next in any::<u64>()) {
            let fid = id(hash, next);
            let mut out = Vec::new();
            fid.write(&mut out);
            // The strict codec and alloy's encoder agree byte for byte.
            prop_assert_eq!(&out, &alloy_rlp::encode(fid));
            prop_assert_eq!(out.len(), fid.length());
            prop_assert_eq!(ForkId::read(&mut Reader::new(&out)).unwrap(), fid);
        }

        #[test]
        fn rejects_or_decodes_any_bytes_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut slice = bytes.as_slice();
            if let Ok(id) = <ForkId as alloy_rlp::Decodable>::decode(&mut slice) {
                // Whatever decodes re-encodes to the bytes it consumed (canonical RLP only).
                let mut out = Vec::new();
                id.write(&mut out);
                prop_assert_eq!(&out[..], &bytes[..bytes.len() - slice.len()]);
            }
        }
    }
}
