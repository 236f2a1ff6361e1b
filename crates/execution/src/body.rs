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
        let transactions_root = calculate_transaction_root(&self.transactions);
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
        let withdrawals_root = self.withdrawals.as_deref().map(calculate_withdrawals_root);
        if withdrawals_root != header.withdrawals_root {
            return Err(BlockError::WithdrawalsRoot {
                header: header.withdrawals_root,
                body: withdrawals_root,
            });
        }
        Ok(())
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
