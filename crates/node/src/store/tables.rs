//! Table layout and the fixed-size encodings stored in it.

use alloy_primitives::{B256, U256};
use redb::TableDefinition;

/// Block hash → header RLP.
pub(super) const HEADERS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("headers");
/// Block hash → body RLP.
pub(super) const BODIES: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("bodies");
/// Block hash → [`BlockInfo`](super::BlockInfo) (number, parent hash, total difficulty).
pub(super) const BLOCKS: TableDefinition<'_, &[u8; 32], &[u8; INFO_LEN]> =
    TableDefinition::new("blocks");
/// Canonical block number → hash.
pub(super) const CANONICAL: TableDefinition<'_, u64, &[u8; 32]> = TableDefinition::new("canonical");
/// Block hash → the block's receipts (`cachet_execution::encode_receipts`).
pub(super) const RECEIPTS: TableDefinition<'_, &[u8; 32], &[u8]> = TableDefinition::new("receipts");
/// Transaction hash → the canonical block holding it and its index there
/// ([`encode_tx_location`]). Written when a block becomes canonical; an entry left by a block a
/// reorg removed is ignored by readers (they check the block is still canonical).
pub(super) const TX_LOOKUP: TableDefinition<'_, &[u8; 32], &[u8; TX_LOCATION_LEN]> =
    TableDefinition::new("tx-lookup");
/// Pointers (`head`, [`TX_LOOKUP_BUILT`]) → block hash.
pub(super) const POINTERS: TableDefinition<'_, &str, &[u8; 32]> = TableDefinition::new("pointers");

/// The head pointer's key in [`POINTERS`].
pub(super) const HEAD: &str = "head";
/// Present once [`TX_LOOKUP`] covers the canonical chain (stores written before it existed are
/// indexed once on open); its value is the head it was built up to.
pub(super) const TX_LOOKUP_BUILT: &str = "tx-lookup-built";

/// Encoded transaction location: block hash (32) ‖ index (8, big-endian).
pub(super) const TX_LOCATION_LEN: usize = 40;

/// Encodes a transaction's block and index.
pub(super) fn encode_tx_location(block: B256, index: u64) -> [u8; TX_LOCATION_LEN] {
    let mut out = [0u8; TX_LOCATION_LEN];
    let (h, i) = out.split_at_mut(32);
    h.copy_from_slice(block.as_slice());
    i.copy_from_slice(&index.to_be_bytes());
    out
}

/// Decodes what [`encode_tx_location`] wrote.
pub(super) fn decode_tx_location(raw: &[u8; TX_LOCATION_LEN]) -> (B256, u64) {
    let (h, i) = raw.split_at(32);
    let mut index = [0u8; 8];
    index.copy_from_slice(i);
    (B256::from_slice(h), u64::from_be_bytes(index))
}

/// Encoded [`BlockInfo`](super::BlockInfo): number (8, big-endian) ‖ parent hash (32) ‖
/// total difficulty (32, big-endian).
pub(super) const INFO_LEN: usize = 72;

/// Encodes number, parent and total difficulty.
pub(super) fn encode_info(number: u64, parent: B256, total_difficulty: U256) -> [u8; INFO_LEN] {
    let mut out = [0u8; INFO_LEN];
    let (n, rest) = out.split_at_mut(8);
    let (p, td) = rest.split_at_mut(32);
    n.copy_from_slice(&number.to_be_bytes());
    p.copy_from_slice(parent.as_slice());
    td.copy_from_slice(&total_difficulty.to_be_bytes::<32>());
    out
}

/// Decodes what [`encode_info`] wrote.
pub(super) fn decode_info(raw: &[u8; INFO_LEN]) -> (u64, B256, U256) {
    let (n, rest) = raw.split_at(8);
    let (p, td) = rest.split_at(32);
    let mut number = [0u8; 8];
    number.copy_from_slice(n);
    (
        u64::from_be_bytes(number),
        B256::from_slice(p),
        U256::from_be_slice(td),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_block_info() {
        let parent = B256::repeat_byte(7);
        let td = U256::MAX - U256::from(3);
        let raw = encode_info(u64::MAX - 1, parent, td);
        assert_eq!(decode_info(&raw), (u64::MAX - 1, parent, td));
    }

    #[test]
    fn round_trips_tx_location() {
        let block = B256::repeat_byte(9);
        let raw = encode_tx_location(block, u64::MAX - 5);
        assert_eq!(decode_tx_location(&raw), (block, u64::MAX - 5));
    }
}
