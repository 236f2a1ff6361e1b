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
/// Pointers (`head`) → block hash.
pub(super) const POINTERS: TableDefinition<'_, &str, &[u8; 32]> = TableDefinition::new("pointers");

/// The head pointer's key in [`POINTERS`].
pub(super) const HEAD: &str = "head";

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
}
