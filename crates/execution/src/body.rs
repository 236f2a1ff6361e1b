//! Block bodies: the strict decoder, the header commitments (transactionsRoot, ommersHash,
//! withdrawalsRoot) and parallel sender recovery.

use alloy_consensus::TxEnvelope;
use alloy_consensus::proofs::{calculate_transaction_root, calculate_withdrawals_root};
use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::Decodable2718;
use alloy_eips::eip4895::Withdrawal;
use alloy_primitives::{Address, B256, keccak256};
use alloy_rlp::Decodable;
use cachet_primitives::Header;
use cachet_primitives::error::DecodeError;
use cachet_primitives::rlp::{self, Reader};
use rayon::prelude::*;

use crate::error::BlockError;

/// A decoded block body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    /// The transactions, in block order.
    pub transactions: Vec<TxEnvelope>,
    /// The ommer (uncle) headers.
    pub ommers: Vec<Header>,
    /// The withdrawals (from Shanghai on), `None` when the body has no third item.
    pub withdrawals: Option<Vec<Withdrawal>>,
}

/// Decodes body RLP `[txs, ommers]` or `[txs, ommers, withdrawals]` strictly: canonical RLP
/// only, no trailing bytes anywhere, every transaction a complete EIP-2718 network encoding
/// (legacy as a list, typed as a string). Never panics; the work is linear in the input.
///
/// # Errors
/// [`BlockError::BodyRlp`] for the outer structure, [`BlockError::TransactionRlp`],
/// [`BlockError::OmmerRlp`] and [`BlockError::WithdrawalRlp`] naming the item's index.
pub fn decode_body(body_rlp: &[u8]) -> Result<Body, BlockError> {
    let body_err = |source: DecodeError| BlockError::BodyRlp { source };
    let mut body = rlp::single_list(body_rlp, "block body").map_err(body_err)?;
    let mut txs = body.list("block body transactions").map_err(body_err)?;
    let mut ommers = body.list("block body ommers").map_err(body_err)?;
    let mut withdrawals = if body.is_empty() {
        None
    } else {
        Some(body.list("block body withdrawals").map_err(body_err)?)
    };
    body.finish("block body").map_err(body_err)?;

    let mut transactions = Vec::new();
    while !txs.is_empty() {
        let index = transactions.len();
        let raw = txs.raw("block body transaction").map_err(body_err)?;
        transactions.push(
            decode_transaction(raw)
                .map_err(|reason| BlockError::TransactionRlp { index, reason })?,
        );
    }
    let mut ommer_headers = Vec::new();
    while !ommers.is_empty() {
        let index = ommer_headers.len();
        let raw = ommers.raw("block body ommer").map_err(body_err)?;
        ommer_headers
            .push(Header::decode(raw).map_err(|source| BlockError::OmmerRlp { index, source })?);
    }
    let withdrawals = match withdrawals.as_mut() {
        None => None,
        Some(list) => Some(decode_withdrawals(list)?),
    };
    Ok(Body {
        transactions,
        ommers: ommer_headers,
        withdrawals,
    })
}

impl Body {
    /// Checks the body against the header's commitments: transactionsRoot, ommersHash
    /// (keccak256 of the ommers list RLP) and withdrawalsRoot (both present and equal, or both
    /// absent).
    ///
    /// # Errors
    /// [`BlockError::TransactionsRoot`], [`BlockError::OmmersHash`] or
    /// [`BlockError::WithdrawalsRoot`] with both values.
    pub fn check_against(&self, header: &Header) -> Result<(), BlockError> {
        let transactions_root = self.transactions_root();
        if transactions_root != header.transactions_root {
            return Err(BlockError::TransactionsRoot {
                header: header.transactions_root,
                body: transactions_root,
            });
        }
        let ommers_hash = self.ommers_hash();
        if ommers_hash != header.ommers_hash {
            return Err(BlockError::OmmersHash {
                header: header.ommers_hash,
                body: ommers_hash,
            });
        }
        let withdrawals_root = self.withdrawals_root();
        if withdrawals_root != header.withdrawals_root {
            return Err(BlockError::WithdrawalsRoot {
                header: header.withdrawals_root,
                body: withdrawals_root,
            });
        }
        Ok(())
    }

    /// The transactions root the header must carry.
    pub fn transactions_root(&self) -> B256 {
        calculate_transaction_root(&self.transactions)
    }

    /// The withdrawals root the header must carry (`None` before Shanghai).
    pub fn withdrawals_root(&self) -> Option<B256> {
        self.withdrawals.as_deref().map(calculate_withdrawals_root)
    }

    /// keccak256 of the RLP list of the ommer headers.
    pub fn ommers_hash(&self) -> B256 {
        let payload: Vec<u8> = self.ommers.iter().flat_map(Header::encode).collect();
        keccak256(rlp::list(&payload))
    }
}

/// Senders of `txs`, recovered in parallel (rayon). The signature's s value is not checked
/// against secp256k1n/2 here (that rule starts at Homestead; [`crate::Executor::execute`]
/// applies it per block).
///
/// # Errors
/// [`BlockError::InvalidSignature`] naming the lowest index whose signature recovers no key.
pub fn recover_senders(txs: &[TxEnvelope]) -> Result<Vec<Address>, BlockError> {
    let recovered: Vec<Option<Address>> = txs
        .par_iter()
        .map(|tx| tx.recover_signer_unchecked().ok())
        .collect();
    recovered
        .into_iter()
        .enumerate()
        .map(|(index, sender)| sender.ok_or(BlockError::InvalidSignature { index }))
        .collect()
}

/// One transaction from its network encoding (the raw RLP item, header included).
fn decode_transaction(raw: &[u8]) -> Result<TxEnvelope, String> {
    let mut buf = raw;
    let tx = TxEnvelope::network_decode(&mut buf).map_err(|e| e.to_string())?;
    if !buf.is_empty() {
        return Err(format!("{} trailing bytes", buf.len()));
    }
    Ok(tx)
}

fn decode_withdrawals(list: &mut Reader<'_>) -> Result<Vec<Withdrawal>, BlockError> {
    let mut out = Vec::new();
    while !list.is_empty() {
        let index = out.len();
        let raw = list
            .raw("block body withdrawal")
            .map_err(|source| BlockError::BodyRlp { source })?;
        let mut buf = raw;
        let withdrawal = Withdrawal::decode(&mut buf).map_err(|e| BlockError::WithdrawalRlp {
            index,
            reason: e.to_string(),
        })?;
        if !buf.is_empty() {
            return Err(BlockError::WithdrawalRlp {
                index,
                reason: format!("{} trailing bytes", buf.len()),
            });
        }
        out.push(withdrawal);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use alloy_consensus::{Signed, TxLegacy};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::{Bytes, Signature, TxKind, U256, b256};
    use cachet_primitives::EMPTY_OMMERS_HASH;
    use proptest::prelude::*;

    use super::*;

    /// The root of an empty trie (Yellow Paper: keccak256 of RLP of the empty string).
    const EMPTY_ROOT: B256 =
        b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

    /// A legacy transaction with a fixed (not necessarily recoverable) signature.
    fn tx(nonce: u64) -> TxEnvelope {
        let tx = TxLegacy {
            chain_id: Some(1),
            nonce,
            gas_price: 1,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::from(1),
            input: Bytes::new(),
        };
        let signature = Signature::new(U256::from(1), U256::from(2), false);
        Signed::new_unhashed(tx, signature).into()
    }

    fn body_rlp(txs: &[TxEnvelope], withdrawals: Option<&[u8]>) -> Vec<u8> {
        let mut tx_payload = Vec::new();
        for t in txs {
            alloy_rlp::Encodable::encode(t, &mut tx_payload);
        }
        let mut payload = rlp::list(&tx_payload);
        payload.extend_from_slice(&rlp::list(&[]));
        if let Some(w) = withdrawals {
            payload.extend_from_slice(w);
        }
        rlp::list(&payload)
    }

    #[test]
    fn decodes_the_empty_body_and_matches_empty_commitments() {
        let body = decode_body(&cachet_primitives::block::EMPTY_BODY_RLP).unwrap();
        assert_eq!(body, Body::default());
        let header = Header {
            transactions_root: EMPTY_ROOT,
            ommers_hash: EMPTY_OMMERS_HASH,
            ..Header::default()
        };
        body.check_against(&header).unwrap();
        // An empty withdrawals list: the header must carry the empty root.
        let with = decode_body(&[0xc3, 0xc0, 0xc0, 0xc0]).unwrap();
        assert_eq!(with.withdrawals, Some(vec![]));
        assert!(matches!(
            with.check_against(&header),
            Err(BlockError::WithdrawalsRoot {
                header: None,
                body: Some(EMPTY_ROOT)
            })
        ));
        let shanghai = Header {
            withdrawals_root: Some(EMPTY_ROOT),
            ..header
        };
        with.check_against(&shanghai).unwrap();
        assert!(matches!(
            body.check_against(&shanghai),
            Err(BlockError::WithdrawalsRoot { body: None, .. })
        ));
    }

    #[test]
    fn decodes_transactions_and_checks_the_root() {
        let txs = vec![tx(0), tx(1)];
        let body = decode_body(&body_rlp(&txs, None)).unwrap();
        assert_eq!(body.transactions, txs);
        // The oracle: alloy-trie's HashBuilder over rlp(index) → EIP-2718 bytes, keys in
        // nibble order (rlp(1) = 0x01 sorts before rlp(0) = 0x80).
        let mut builder = alloy_trie::HashBuilder::default();
        for index in [1usize, 0] {
            let key = alloy_trie::Nibbles::unpack(alloy_rlp::encode(index));
            builder.add_leaf(key, &txs[index].encoded_2718());
        }
        let header = Header {
            transactions_root: builder.root(),
            ommers_hash: EMPTY_OMMERS_HASH,
            ..Header::default()
        };
        body.check_against(&header).unwrap();
        let swapped = Header {
            transactions_root: calculate_transaction_root(&[tx(1), tx(0)]),
            ..header
        };
        assert!(matches!(
            body.check_against(&swapped),
            Err(BlockError::TransactionsRoot { .. })
        ));
        // A fourth body item, a string where the transactions go, a transaction that is not
        // one: refused.
        assert!(decode_body(&[0xc4, 0xc0, 0xc0, 0xc0, 0xc0]).is_err());
        assert!(matches!(
            decode_body(&[0xc2, 0x80, 0xc0]),
            Err(BlockError::BodyRlp { .. })
        ));
        let mut bad_tx = rlp::list(&[0x01, 0x02]);
        bad_tx = rlp::list(&bad_tx);
        bad_tx.extend_from_slice(&rlp::list(&[]));
        assert!(matches!(
            decode_body(&rlp::list(&bad_tx)),
            Err(BlockError::TransactionRlp { index: 0, .. })
        ));
    }

    #[test]
    fn refuses_a_legacy_transaction_wrapped_as_a_typed_one() {
        // The legacy list inside an RLP string (the typed form): not a valid network encoding.
        let mut legacy = Vec::new();
        alloy_rlp::Encodable::encode(&tx(0), &mut legacy);
        let mut wrapped = Vec::new();
        rlp::put_bytes(&mut wrapped, &legacy);
        let mut payload = rlp::list(&wrapped);
        payload.extend_from_slice(&rlp::list(&[]));
        assert!(matches!(
            decode_body(&rlp::list(&payload)),
            Err(BlockError::TransactionRlp { index: 0, .. })
        ));
        // An unknown type byte.
        let mut unknown = Vec::new();
        rlp::put_bytes(&mut unknown, &[0x05, 0xc0]);
        let mut payload = rlp::list(&unknown);
        payload.extend_from_slice(&rlp::list(&[]));
        assert!(decode_body(&rlp::list(&payload)).is_err());
    }

    #[test]
    fn ommers_hash_is_keccak_of_the_ommers_list() {
        let ommer = Header {
            number: 7,
            ..Header::default()
        };
        let mut payload = rlp::list(&[]);
        let ommers_list = rlp::list(&ommer.encode());
        payload.extend_from_slice(&ommers_list);
        let body = decode_body(&rlp::list(&payload)).unwrap();
        assert_eq!(body.ommers, vec![ommer]);
        assert_eq!(body.ommers_hash(), keccak256(&ommers_list));
        assert_eq!(Body::default().ommers_hash(), EMPTY_OMMERS_HASH);
    }

    #[test]
    fn names_the_lowest_transaction_whose_signature_does_not_recover() {
        // r = 1, s = 2 recovers some key or none; r = 0 never does.
        let good = tx(0);
        let zero_r: TxEnvelope = Signed::new_unhashed(
            TxLegacy::default(),
            Signature::new(U256::ZERO, U256::from(1), false),
        )
        .into();
        let err = recover_senders(&[good, zero_r.clone(), zero_r]).unwrap_err();
        assert!(
            matches!(err, BlockError::InvalidSignature { index: 1 }),
            "{err}"
        );
        assert_eq!(recover_senders(&[]).unwrap(), Vec::<Address>::new());
    }

    proptest! {
        #[test]
        fn decode_body_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_body(&bytes);
        }

        #[test]
        fn decode_body_never_panics_on_list_shaped_bytes(
            items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
            wrap in any::<bool>(),
        ) {
            // Items wrapped as lists and strings in a body list: reaches the transaction,
            // ommer and withdrawal decoders rather than stopping at the outer header.
            let mut payload = Vec::new();
            for item in &items {
                if wrap {
                    payload.extend_from_slice(&rlp::list(item));
                } else {
                    rlp::put_bytes(&mut payload, item);
                }
            }
            let _ = decode_body(&rlp::list(&payload));
            let mut txs = rlp::list(&payload);
            txs.extend_from_slice(&rlp::list(&[]));
            let _ = decode_body(&rlp::list(&txs));
        }
    }
}
