//! The genesis block header, built as geth's `Genesis.ToBlock` builds it.

use alloy_primitives::{B64, B256, Bloom, U256};
use alloy_trie::EMPTY_ROOT_HASH;
pub use cachet_primitives::EMPTY_OMMERS_HASH;
use cachet_primitives::Header;

use crate::fork::Fork;
use crate::genesis::Genesis;

/// sha256 of nothing: the EIP-7685 requests hash of a block without requests.
pub const EMPTY_REQUESTS_HASH: B256 =
    alloy_primitives::b256!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

/// geth's `params.InitialBaseFee` (EIP-1559): the genesis base fee when London is active at
/// genesis and `baseFeePerGas` is absent.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;

/// The genesis block's header, built as geth's `Genesis.ToBlock` builds it. It is the
/// primitives crate's [`Header`] (one header type for the whole node); optional fields are set
/// only when their fork is active at genesis.
pub(crate) fn genesis_header(g: &Genesis) -> Header {
    let active = |fork| g.config.is_active(fork, g.number, g.timestamp);
    let london = active(Fork::London);
    let shanghai = london && active(Fork::Shanghai);
    let cancun = shanghai && active(Fork::Cancun);
    let prague = cancun && active(Fork::Prague);
    Header {
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
        block_access_list_hash: None,
        slot_number: None,
    }
}

/// The genesis block's body RLP: no transactions and no ommers (`0xc2c0c0`), plus an empty
/// withdrawals list once Shanghai is active (`0xc3c0c0c0`).
pub fn genesis_body_rlp(header: &Header) -> Vec<u8> {
    if header.withdrawals_root.is_some() {
        vec![0xc3, 0xc0, 0xc0, 0xc0]
    } else {
        vec![0xc2, 0xc0, 0xc0]
    }
}
