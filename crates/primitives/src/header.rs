//! The block header and its strict RLP codec (`seal-formats.md` §0, "Header RLP").

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, b256, keccak256};

use crate::error::DecodeError;
use crate::rlp::{self, Reader};

/// `keccak(RLP([]))`, the ommers hash of a block without uncles.
pub const EMPTY_OMMERS_HASH: B256 =
    b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// Cap on an encoded header. Headers are ~600 bytes plus extraData; 128 KiB leaves room for BFT
/// extraData with over a thousand validators and their seals while bounding what a peer can make
/// the decoder allocate.
pub const MAX_HEADER_BYTES: usize = 128 * 1024;

/// An Ethereum block header: the 15 legacy fields and the optional trailing fields, in geth's
/// order. Optional fields are encoded only when set, and once one is set every earlier optional
/// field is encoded too (as its zero value when unset).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// parentHash.
    pub parent_hash: B256,
    /// ommersHash (`sha3Uncles`).
    pub ommers_hash: B256,
    /// coinbase (`miner`).
    pub beneficiary: Address,
    /// stateRoot.
    pub state_root: B256,
    /// transactionsRoot.
    pub transactions_root: B256,
    /// receiptsRoot.
    pub receipts_root: B256,
    /// logsBloom.
    pub logs_bloom: Bloom,
    /// difficulty.
    pub difficulty: U256,
    /// number.
    pub number: u64,
    /// gasLimit.
    pub gas_limit: u64,
    /// gasUsed.
    pub gas_used: u64,
    /// timestamp (seconds; nanoseconds on Quorum Raft chains).
    pub timestamp: u64,
    /// extraData.
    pub extra_data: Bytes,
    /// mixHash.
    pub mix_hash: B256,
    /// nonce.
    pub nonce: B64,
    /// baseFeePerGas (London).
    pub base_fee_per_gas: Option<U256>,
    /// withdrawalsRoot (Shanghai).
    pub withdrawals_root: Option<B256>,
    /// blobGasUsed (Cancun).
    pub blob_gas_used: Option<u64>,
    /// excessBlobGas (Cancun).
    pub excess_blob_gas: Option<u64>,
    /// parentBeaconBlockRoot (Cancun).
    pub parent_beacon_block_root: Option<B256>,
    /// requestsHash (Prague).
    pub requests_hash: Option<B256>,
    /// blockAccessListHash.
    pub block_access_list_hash: Option<B256>,
    /// slotNumber.
    pub slot_number: Option<u64>,
}

const WHAT: &str = "header";

impl Header {
    /// Decodes header RLP strictly: one canonical list of 15 to 23 items, exact field sizes, no
    /// trailing bytes, at most [`MAX_HEADER_BYTES`].
    ///
    /// # Errors
    /// A [`DecodeError`] naming the field that is wrong.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        if input.len() > MAX_HEADER_BYTES {
            return Err(DecodeError::TooLarge {
                what: WHAT,
                cap: MAX_HEADER_BYTES,
                found: input.len(),
            });
        }
        let mut r = rlp::single_list(input, WHAT)?;
        let count = r.count(WHAT)?;
        if !(15..=23).contains(&count) {
            return Err(DecodeError::WrongItemCount {
                what: WHAT,
                expected: "15 to 23",
                found: count,
            });
        }
        let mut h = Self {
            parent_hash: B256::from(r.array("header.parentHash")?),
            ommers_hash: B256::from(r.array("header.sha3Uncles")?),
            beneficiary: Address::from(r.array("header.miner")?),
            state_root: B256::from(r.array("header.stateRoot")?),
            transactions_root: B256::from(r.array("header.transactionsRoot")?),
            receipts_root: B256::from(r.array("header.receiptsRoot")?),
            logs_bloom: Bloom::from(r.array::<256>("header.logsBloom")?),
            difficulty: r.u256("header.difficulty")?,
            number: r.u64("header.number")?,
            gas_limit: r.u64("header.gasLimit")?,
            gas_used: r.u64("header.gasUsed")?,
            timestamp: r.u64("header.timestamp")?,
            extra_data: Bytes::copy_from_slice(r.bytes("header.extraData")?),
            mix_hash: B256::from(r.array("header.mixHash")?),
            nonce: B64::from(r.array("header.nonce")?),
            ..Self::default()
        };
        let opt = |r: &mut Reader<'_>| !r.is_empty();
        if opt(&mut r) {
            h.base_fee_per_gas = Some(r.u256("header.baseFeePerGas")?);
        }
        if opt(&mut r) {
            h.withdrawals_root = Some(B256::from(r.array("header.withdrawalsRoot")?));
        }
        if opt(&mut r) {
            h.blob_gas_used = Some(r.u64("header.blobGasUsed")?);
        }
        if opt(&mut r) {
            h.excess_blob_gas = Some(r.u64("header.excessBlobGas")?);
        }
        if opt(&mut r) {
            h.parent_beacon_block_root = Some(B256::from(r.array("header.parentBeaconBlockRoot")?));
        }
        if opt(&mut r) {
            h.requests_hash = Some(B256::from(r.array("header.requestsHash")?));
        }
        if opt(&mut r) {
            h.block_access_list_hash = Some(B256::from(r.array("header.blockAccessListHash")?));
        }
        if opt(&mut r) {
            h.slot_number = Some(r.u64("header.slotNumber")?);
        }
        r.finish(WHAT)?;
        Ok(h)
    }

    /// The header's RLP encoding.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with_extra(&self.extra_data)
    }

    /// The RLP encoding with `extra` in place of extraData (all other fields unchanged).
    pub fn encode_with_extra(&self, extra: &[u8]) -> Vec<u8> {
        rlp::list(&self.payload(extra, usize::MAX))
    }

    /// The plain block hash `keccak(RLP(header))` (clique and raft chains; BFT engines hash a
    /// filtered header, see their modules).
    pub fn hash_slow(&self) -> B256 {
        keccak256(self.encode())
    }

    /// How many optional fields the encoding carries.
    pub fn optional_count(&self) -> usize {
        let set = [
            self.base_fee_per_gas.is_some(),
            self.withdrawals_root.is_some(),
            self.blob_gas_used.is_some(),
            self.excess_blob_gas.is_some(),
            self.parent_beacon_block_root.is_some(),
            self.requests_hash.is_some(),
            self.block_access_list_hash.is_some(),
            self.slot_number.is_some(),
        ];
        set.iter().rposition(|s| *s).map_or(0, |i| i + 1)
    }

    /// The list payload with `extra` as extraData and at most `max_optional` optional fields
    /// (the engines' seal hashes encode a filtered header this way).
    pub fn payload(&self, extra: &[u8], max_optional: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(600 + extra.len());
        rlp::put_bytes(&mut out, self.parent_hash.as_slice());
        rlp::put_bytes(&mut out, self.ommers_hash.as_slice());
        rlp::put_bytes(&mut out, self.beneficiary.as_slice());
        rlp::put_bytes(&mut out, self.state_root.as_slice());
        rlp::put_bytes(&mut out, self.transactions_root.as_slice());
        rlp::put_bytes(&mut out, self.receipts_root.as_slice());
        rlp::put_bytes(&mut out, self.logs_bloom.as_slice());
        rlp::put_u256(&mut out, &self.difficulty);
        rlp::put_u64(&mut out, self.number);
        rlp::put_u64(&mut out, self.gas_limit);
        rlp::put_u64(&mut out, self.gas_used);
        rlp::put_u64(&mut out, self.timestamp);
        rlp::put_bytes(&mut out, extra);
        rlp::put_bytes(&mut out, self.mix_hash.as_slice());
        rlp::put_bytes(&mut out, self.nonce.as_slice());
        let n = self.optional_count().min(max_optional);
        let hash = |o: Option<B256>| o.unwrap_or_default();
        for i in 0..n {
            match i {
                0 => rlp::put_u256(&mut out, &self.base_fee_per_gas.unwrap_or_default()),
                1 => rlp::put_bytes(&mut out, hash(self.withdrawals_root).as_slice()),
                2 => rlp::put_u64(&mut out, self.blob_gas_used.unwrap_or_default()),
                3 => rlp::put_u64(&mut out, self.excess_blob_gas.unwrap_or_default()),
                4 => rlp::put_bytes(&mut out, hash(self.parent_beacon_block_root).as_slice()),
                5 => rlp::put_bytes(&mut out, hash(self.requests_hash).as_slice()),
                6 => rlp::put_bytes(&mut out, hash(self.block_access_list_hash).as_slice()),
                _ => rlp::put_u64(&mut out, self.slot_number.unwrap_or_default()),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_optional_fields() {
        let mut h = Header {
            number: 7,
            extra_data: Bytes::from(vec![1, 2, 3]),
            ..Header::default()
        };
        for step in 0..2 {
            let enc = h.encode();
            assert_eq!(Header::decode(&enc).unwrap(), h);
            match step {
                0 => h.base_fee_per_gas = Some(U256::from(7)),
                _ => h.slot_number = Some(9),
            }
        }
        // Setting a late optional field fills every earlier one with its zero value.
        let dec = Header::decode(&h.encode()).unwrap();
        assert_eq!(dec.withdrawals_root, Some(B256::ZERO));
        assert_eq!(dec.slot_number, Some(9));
    }

    #[test]
    fn rejects_every_prefix_and_trailing_bytes() {
        let enc = Header {
            base_fee_per_gas: Some(U256::from(1)),
            ..Header::default()
        }
        .encode();
        for n in 0..enc.len() {
            assert!(Header::decode(&enc[..n]).is_err());
        }
        let mut long = enc;
        long.push(0x80);
        assert!(matches!(
            Header::decode(&long),
            Err(DecodeError::TrailingBytes { .. })
        ));
    }

    #[test]
    fn rejects_wrong_item_counts_and_sizes() {
        let enc = Header::default().encode();
        let payload = &enc[3..];
        let short = rlp::list(&payload[..payload.len() - 9]);
        assert!(matches!(
            Header::decode(&short),
            Err(DecodeError::WrongItemCount { found: 14, .. })
        ));
        let big = vec![0u8; MAX_HEADER_BYTES + 1];
        assert!(matches!(
            Header::decode(&big),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
