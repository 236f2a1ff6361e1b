//! The EIP-2124 fork id on the wire. The fork id and its strict codec are
//! `cachet_primitives`' ([`ForkId::read`], [`ForkId::write`]); computing and validating it is
//! the chain spec's (`cachet_genesis::ForkSchedule`), both re-exported here.

pub use cachet_genesis::ForkSchedule;
use cachet_primitives::rlp::Reader;
pub use cachet_primitives::{ForkHash, ForkId};

use crate::DecodeError;

/// Appends `[FORK_HASH, FORK_NEXT]`.
pub(crate) fn encode(id: &ForkId, out: &mut Vec<u8>) {
    id.write(out);
}

/// Decodes `[FORK_HASH, FORK_NEXT]` from `buf`, advancing it. Strict: exactly two elements,
/// a 4-byte hash, a canonical integer.
///
/// # Errors
/// [`DecodeError`] when malformed.
pub(crate) fn decode(buf: &mut &[u8]) -> Result<ForkId, DecodeError> {
    let mut r = Reader::new(buf);
    let id = ForkId::read(&mut r).map_err(DecodeError::from_rlp)?;
    *buf = r.rest();
    Ok(id)
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
            encode(&fid, &mut out);
            assert_eq!(hex::encode(&out), hex_want);
            let mut buf = &out[..];
            assert_eq!(decode(&mut buf).unwrap(), fid);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn rejects_fork_ids_with_extra_elements_or_wrong_hash_width() {
        for hex_bad in ["c784000000008000", "c58300000080", "c0"] {
            let bytes = hex::decode(hex_bad).unwrap();
            assert!(decode(&mut &bytes[..]).is_err(), "{hex_bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trips_any_fork_id(hash in any::<u32>(), next in any::<u64>()) {
            let fid = id(hash, next);
            let mut out = Vec::new();
            encode(&fid, &mut out);
            // The wire codec and the chain spec's RLP agree byte for byte.
            prop_assert_eq!(&out, &alloy_rlp::encode(fid));
            prop_assert_eq!(decode(&mut &out[..]).unwrap(), fid);
        }
    }
}
