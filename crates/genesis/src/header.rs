//! The genesis block header, built as geth's `Genesis.ToBlock` builds it.

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256, keccak256};
use alloy_rlp::{BufMut, Encodable, Header};
use alloy_trie::EMPTY_ROOT_HASH;

use crate::fork::Fork;
use crate::genesis::Genesis;

/// keccak256 of the RLP empty list: the ommers hash of a block without uncles.
pub const EMPTY_OMMERS_HASH: B256 =
    alloy_primitives::b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347");

/// sha256 of nothing: the EIP-7685 requests hash of a block without requests.
pub const EMPTY_REQUESTS_HASH: B256 =
    alloy_primitives::b256!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

/// geth's `params.InitialBaseFee` (EIP-1559): the genesis base fee when London is active at
/// genesis and `baseFeePerGas` is absent.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// A genesis header. Optional fields are present only when their fork is active at genesis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisHeader {
    /// Parent hash (`parentHash`, zero for a real genesis).
    pub parent_hash: B256,
    /// Ommers hash (always the empty-list hash).
    pub ommers_hash: B256,
    /// Beneficiary (`coinbase`).
    pub beneficiary: Address,
    /// State root of `alloc`.
    pub state_root: B256,
    /// Transactions root (empty trie).
    pub transactions_root: B256,
    /// Receipts root (empty trie).
    pub receipts_root: B256,
    /// Logs bloom (zero).
    pub logs_bloom: Bloom,
    /// Difficulty.
    pub difficulty: U256,
    /// Block number.
    pub number: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Timestamp.
    pub timestamp: u64,
    /// Extra data.
    pub extra_data: Bytes,
    /// Mix hash.
    pub mix_hash: B256,
    /// Nonce, 8 bytes big-endian.
    pub nonce: B64,
    /// London: base fee per gas.
    pub base_fee_per_gas: Option<U256>,
    /// Shanghai: withdrawals root (empty trie).
    pub withdrawals_root: Option<B256>,
    /// Cancun: blob gas used.
    pub blob_gas_used: Option<u64>,
    /// Cancun: excess blob gas.
    pub excess_blob_gas: Option<u64>,
    /// Cancun: parent beacon block root (zero).
    pub parent_beacon_block_root: Option<B256>,
    /// Prague: requests hash (empty).
    pub requests_hash: Option<B256>,
}

impl GenesisHeader {
    /// Builds the header from a parsed genesis.
    pub(crate) fn from_genesis(g: &Genesis) -> Self {
        let active = |fork| g.config.is_active(fork, g.number, g.timestamp);
        let london = active(Fork::London);
        let shanghai = london && active(Fork::Shanghai);
        let cancun = shanghai && active(Fork::Cancun);
        let prague = cancun && active(Fork::Prague);
        Self {
            parent_hash: g.parent_hash,
            ommers_hash: EMPTY_OMMERS_HASH,
            beneficiary: g.coinbase,
            state_root: g.state_root(),
            transactions_root: EMPTY_ROOT_HASH,
            receipts_root: EMPTY_ROOT_HASH,
            logs_bloom: Bloom::ZERO,
            difficulty: g.difficulty,
            number: g.number,
            gas_limit: g.gas_limit,
            gas_used: g.gas_used,
            timestamp: g.timestamp,
            extra_data: g.extra_data.clone(),
            mix_hash: g.mix_hash,
            nonce: B64::from(g.nonce),
            base_fee_per_gas: london
                .then(|| g.base_fee_per_gas.unwrap_or(U256::from(INITIAL_BASE_FEE))),
            withdrawals_root: shanghai.then_some(EMPTY_ROOT_HASH),
            blob_gas_used: cancun.then(|| g.blob_gas_used.unwrap_or(0)),
            excess_blob_gas: cancun.then(|| g.excess_blob_gas.unwrap_or(0)),
            parent_beacon_block_root: cancun.then_some(B256::ZERO),
            requests_hash: prague.then_some(EMPTY_REQUESTS_HASH),
        }
    }

    /// The header's RLP encoding (the bytes whose keccak256 is the block hash).
    pub fn rlp(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload_length() + 4);
        self.encode(&mut out);
        out
    }

    /// The block hash: keccak256 of [`Self::rlp`].
    pub fn hash(&self) -> B256 {
        keccak256(self.rlp())
    }

    /// The genesis block's body RLP: no transactions and no ommers (`0xc2c0c0`), plus an
    /// empty withdrawals list once Shanghai is active (`0xc3c0c0c0`).
    pub fn body_rlp(&self) -> Vec<u8> {
        if self.withdrawals_root.is_some() {
            vec![0xc3, 0xc0, 0xc0, 0xc0]
        } else {
            vec![0xc2, 0xc0, 0xc0]
        }
    }

    fn payload_length(&self) -> usize {
        let mut n = self.parent_hash.length()
            + self.ommers_hash.length()
            + self.beneficiary.length()
            + self.state_root.length()
            + self.transactions_root.length()
            + self.receipts_root.length()
            + self.logs_bloom.length()
            + self.difficulty.length()
            + self.number.length()
            + self.gas_limit.length()
            + self.gas_used.length()
            + self.timestamp.length()
            + self.extra_data.length()
            + self.mix_hash.length()
            + self.nonce.length();
        n += self.base_fee_per_gas.map_or(0, |v| v.length());
        n += self.withdrawals_root.map_or(0, |v| v.length());
        n += self.blob_gas_used.map_or(0, |v| v.length());
        n += self.excess_blob_gas.map_or(0, |v| v.length());
        n += self.parent_beacon_block_root.map_or(0, |v| v.length());
        n += self.requests_hash.map_or(0, |v| v.length());
        n
    }
}

impl Encodable for GenesisHeader {
    fn encode(&self, out: &mut dyn BufMut) {
        Header {
            list: true,
            payload_length: self.payload_length(),
        }
        .encode(out);
        self.parent_hash.encode(out);
        self.ommers_hash.encode(out);
        self.beneficiary.encode(out);
        self.state_root.encode(out);
        self.transactions_root.encode(out);
        self.receipts_root.encode(out);
        self.logs_bloom.encode(out);
        self.difficulty.encode(out);
        self.number.encode(out);
        self.gas_limit.encode(out);
        self.gas_used.encode(out);
        self.timestamp.encode(out);
        self.extra_data.encode(out);
        self.mix_hash.encode(out);
        self.nonce.encode(out);
        // Later-fork fields form a prefix: each is present only if the previous one is.
        if let Some(v) = self.base_fee_per_gas {
            v.encode(out);
        }
        if let Some(v) = self.withdrawals_root {
            v.encode(out);
        }
        if let Some(v) = self.blob_gas_used {
            v.encode(out);
        }
        if let Some(v) = self.excess_blob_gas {
            v.encode(out);
        }
        if let Some(v) = self.parent_beacon_block_root {
            v.encode(out);
        }
        if let Some(v) = self.requests_hash {
            v.encode(out);
        }
    }

    fn length(&self) -> usize {
        let payload = self.payload_length();
        payload + alloy_rlp::length_of_length(payload)
    }
}
