//! Receipts: built per transaction type, their root and bloom, and the stored encoding.

use alloy_consensus::proofs::calculate_receipt_root;
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::{B256, Bloom, Log};
use alloy_rlp::Decodable;

use crate::error::BlockError;

/// Receipts of a block as stored and served: the RLP list of each receipt's network encoding
/// (a legacy receipt as a list, a typed one as a string holding `type ‖ rlp`), as in eth/68's
/// `Receipts` message.
pub fn encode_receipts(receipts: &[ReceiptEnvelope]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(receipts, &mut out);
    out
}

/// Decodes [`encode_receipts`]'s output.
///
/// # Errors
/// [`BlockError::ReceiptsRlp`] when the bytes are not such a list, exactly.
pub fn decode_receipts(bytes: &[u8]) -> Result<Vec<ReceiptEnvelope>, BlockError> {
    let mut buf = bytes;
    let receipts =
        Vec::<ReceiptEnvelope>::decode(&mut buf).map_err(|e| BlockError::ReceiptsRlp {
            reason: e.to_string(),
        })?;
    if !buf.is_empty() {
        return Err(BlockError::ReceiptsRlp {
            reason: format!("{} trailing bytes", buf.len()),
        });
    }
    Ok(receipts)
}

/// The receipt of a transaction of type `tx_type`: `status` is the EIP-658 success flag, or
/// before Byzantium the state root after the transaction.
pub(crate) fn receipt(
    tx_type: TxType,
    status: Eip658Value,
    cumulative_gas_used: u64,
    logs: Vec<Log>,
) -> ReceiptEnvelope {
    let with_bloom: ReceiptWithBloom<Receipt<Log>> = Receipt {
        status,
        cumulative_gas_used,
        logs,
    }
    .with_bloom();
    match tx_type {
        TxType::Legacy => ReceiptEnvelope::Legacy(with_bloom),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(with_bloom),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(with_bloom),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(with_bloom),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(with_bloom),
    }
}

/// The receipts root (alloy's ordered trie over the EIP-2718 encodings).
pub(crate) fn receipts_root(receipts: &[ReceiptEnvelope]) -> B256 {
    calculate_receipt_root(receipts)
}

/// The OR of the receipts' blooms.
pub(crate) fn logs_bloom(receipts: &[ReceiptEnvelope]) -> Bloom {
    receipts.iter().fold(Bloom::ZERO, |mut acc, r| {
        acc.accrue_bloom(r.logs_bloom());
        acc
    })
}

#[cfg(test)]
mod tests {
    use alloy_primitives::{Address, LogData, b256};

    use super::*;

    #[test]
    fn round_trips_every_type_and_refuses_trailing_bytes() {
        let log = Log {
            address: Address::repeat_byte(3),
            data: LogData::new_unchecked(vec![B256::repeat_byte(4)], vec![1, 2].into()),
        };
        let receipts = vec![
            receipt(TxType::Legacy, Eip658Value::Eip658(true), 21_000, vec![]),
            receipt(
                TxType::Legacy,
                Eip658Value::PostState(B256::repeat_byte(9)),
                21_000,
                vec![],
            ),
            receipt(
                TxType::Eip2930,
                Eip658Value::Eip658(false),
                42_000,
                vec![log.clone()],
            ),
            receipt(
                TxType::Eip1559,
                Eip658Value::Eip658(true),
                63_000,
                vec![log],
            ),
        ];
        let bytes = encode_receipts(&receipts);
        assert_eq!(decode_receipts(&bytes).unwrap(), receipts);
        let mut trailing = bytes;
        trailing.push(0);
        assert!(matches!(
            decode_receipts(&trailing),
            Err(BlockError::ReceiptsRlp { .. })
        ));
        assert!(decode_receipts(&[0xc1]).is_err());
        assert_eq!(decode_receipts(&[0xc0]).unwrap(), vec![]);
    }

    #[test]
    fn empty_block_has_the_empty_root_and_bloom() {
        assert_eq!(
            receipts_root(&[]),
            b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
        );
        assert_eq!(logs_bloom(&[]), Bloom::ZERO);
    }
}
