//! Status: `[version, networkid, td, blockhash, genesis, forkid]` (devp2p `caps/eth.md`; the
//! same layout in eth/64 through eth/68).

use alloy_primitives::{B256, U256};
use alloy_rlp::{Encodable, Header};

use crate::DecodeError;
use crate::cursor::rlp;
use crate::eth::ForkId;

/// A Status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The eth version (the negotiated one: 66, 67 or 68).
    pub version: u64,
    /// The network id.
    pub network_id: u64,
    /// Total difficulty of the head block.
    pub total_difficulty: U256,
    /// Hash of the head block.
    pub head: B256,
    /// Hash of the genesis block.
    pub genesis: B256,
    /// The EIP-2124 fork id.
    pub fork_id: ForkId,
}

impl Status {
    /// Encodes the message data.
    pub fn encode(&self) -> Vec<u8> {
        let mut fork = Vec::with_capacity(16);
        crate::eth::forkid::encode(&self.fork_id, &mut fork);
        let payload_length = self.version.length()
            + self.network_id.length()
            + self.total_difficulty.length()
            + self.head.length()
            + self.genesis.length()
            + fork.len();
        let mut out = Vec::with_capacity(payload_length + 3);
        Header {
            list: true,
            payload_length,
        }
        .encode(&mut out);
        self.version.encode(&mut out);
        self.network_id.encode(&mut out);
        self.total_difficulty.encode(&mut out);
        self.head.encode(&mut out);
        self.genesis.encode(&mut out);
        out.extend_from_slice(&fork);
        out
    }

    /// Decodes the message data. Strict: six elements, no trailing bytes.
    ///
    /// # Errors
    /// [`DecodeError`] when malformed.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "eth status";
        let mut buf = data;
        let mut list = rlp::list(&mut buf, WHAT)?;
        rlp::finish(buf, WHAT)?;
        let version = rlp::u64(&mut list, WHAT)?;
        let network_id = rlp::u64(&mut list, WHAT)?;
        let total_difficulty = rlp::u256(&mut list, WHAT)?;
        let head = B256::from(rlp::array::<32>(&mut list, WHAT)?);
        let genesis = B256::from(rlp::array::<32>(&mut list, WHAT)?);
        let fork_id = crate::eth::forkid::decode(&mut list)?;
        rlp::finish(list, WHAT)?;
        Ok(Self {
            version,
            network_id,
            total_difficulty,
            head,
            genesis,
            fork_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            version: 68,
            network_id: 1337,
            total_difficulty: U256::from(17u64),
            head: B256::repeat_byte(2),
            genesis: B256::repeat_byte(3),
            fork_id: ForkId {
                hash: crate::eth::ForkHash([1, 2, 3, 4]),
                next: 0,
            },
        }
    }

    #[test]
    fn rejects_every_truncation_and_trailing_bytes() {
        let enc = sample().encode();
        for n in 0..enc.len() {
            assert!(Status::decode(&enc[..n]).is_err(), "prefix {n}");
        }
        let mut long = enc;
        long.push(0);
        assert!(matches!(
            Status::decode(&long),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn round_trips_any_status(v in 0u64.., n in 0u64.., td in proptest::array::uniform32(0u8..), h in proptest::array::uniform32(0u8..), fh in proptest::array::uniform4(0u8..), next in 0u64..) {
            let s = Status { version: v, network_id: n, total_difficulty: U256::from_be_bytes(td), head: B256::from(h), genesis: B256::from(h), fork_id: ForkId { hash: crate::eth::ForkHash(fh), next } };
            proptest::prop_assert_eq!(Status::decode(&s.encode()).unwrap(), s);
        }
    }
}
