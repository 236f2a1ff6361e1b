//! The methods that put transactions into the pool and show it: `eth_sendRawTransaction`,
//! the wallet's `eth_sendTransaction` (geth's defaults filled in from the pool, state and fee
//! oracle, then signed like `eth_signTransaction`), `txpool_status` and `txpool_content`.
//! A refused transaction gets the pool's error: geth's message and code.

use std::collections::BTreeMap;

use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256};
use jsonrpsee::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::json::{SERVER_ERROR, err, invalid, qty, tx_json};
use super::sign_tx::{TxRequest, sign_envelope};
use super::state::{PendingTransactions, estimate_on_head, suggest_tip};
use super::{R, RpcContext, internal, reg};
use crate::error::Result;
use crate::pool::TxPool;

/// Registers the pool methods.
///
/// # Errors
/// A duplicate method name (a bug).
pub(super) fn register(m: &mut RpcModule<RpcContext>) -> Result<()> {
    reg(m, "eth_sendRawTransaction", |c, a| {
        let bytes = hex_bytes_arg(a, 0)?;
        if a.len() > 1 {
            // rpc/json.go `parseArgumentArray`.
            return Err(invalid("too many arguments, want at most 1"));
        }
        submit_raw(c, &bytes)
    })?;
    reg(m, "eth_sendTransaction", send_transaction)?;
    reg(m, "txpool_status", |c, _| {
        let (pending, queued) = pool(c)?.pool().status();
        Ok(json!({ "pending": qty(pending as u64), "queued": qty(queued as u64) }))
    })?;
    reg(m, "txpool_content", |c, _| {
        let content = pool(c)?.pool().content();
        Ok(json!({
            "pending": by_sender(&content.pending),
            "queued": by_sender(&content.queued),
        }))
    })?;
    Ok(())
}

fn pool(c: &RpcContext) -> std::result::Result<&TxPool, ErrorObjectOwned> {
    c.pool
        .as_deref()
        .ok_or_else(|| err(SERVER_ERROR, "this node has no transaction pool"))
}

fn pool_error(e: &cachet_txpool::PoolError) -> ErrorObjectOwned {
    err(e.code(), e.to_string())
}

/// Argument `i` as geth's `hexutil.Bytes`, refused in geth's words (`rpc/json.go`
/// `parsePositionalArguments`: "missing value for required argument %d", "invalid argument %d:
/// %v" of `hexutil`'s `json.UnmarshalTypeError`), so clients matching on them work unchanged.
fn hex_bytes_arg(a: &[Value], i: usize) -> std::result::Result<Vec<u8>, ErrorObjectOwned> {
    let refuse = |what: &str| {
        invalid(format!(
            "invalid argument {i}: json: cannot unmarshal {what} into Go value of type hexutil.Bytes"
        ))
    };
    // A JSON null reaches hexutil's UnmarshalJSON as "null": a non-string.
    let s = a
        .get(i)
        .ok_or_else(|| invalid(format!("missing value for required argument {i}")))?
        .as_str()
        .ok_or_else(|| refuse("non-string"))?;
    // hexutil allows "" (no bytes); otherwise the 0x prefix, an even length and hex digits.
    let digits = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(d) => d,
        None if s.is_empty() => s,
        None => return Err(refuse("hex string without 0x prefix")),
    };
    if digits.len() % 2 != 0 {
        return Err(refuse("hex string of odd length"));
    }
    alloy_primitives::hex::decode(digits).map_err(|_| refuse("invalid hex string"))
}

fn submit_raw(c: &RpcContext, bytes: &[u8]) -> R {
    let hash = pool(c)?.add_raw(bytes).map_err(|e| pool_error(&e))?;
    Ok(json!(hash))
}

/// geth's `txpool_content` shape: sender → nonce (decimal string) → transaction object.
fn by_sender(txs: &BTreeMap<Address, BTreeMap<u64, TxEnvelope>>) -> Value {
    let mut out = Map::new();
    for (sender, by_nonce) in txs {
        let entries: Map<String, Value> = by_nonce
            .iter()
            .map(|(nonce, tx)| (nonce.to_string(), tx_json(tx, *sender, None)))
            .collect();
        out.insert(sender.to_checksum(None), Value::Object(entries));
    }
    Value::Object(out)
}

/// `eth_sendTransaction`: the request signed by the wallet account and added to the pool.
/// Missing fields get geth's defaults: the nonce after the sender's pending transactions,
/// the gas `eth_estimateGas` gives, and after London a tip from the fee oracle with a fee cap
/// of tip + 2 × base fee (before London a gas price of the oracle's suggestion).
fn send_transaction(c: &RpcContext, a: &[Value]) -> R {
    let object = a.first().unwrap_or(&Value::Null);
    let mut req = TxRequest::parse(object)?;
    let wallet = c.wallet.address();
    match req.from {
        Some(from) if from == wallet => {}
        Some(from) => return Err(err(SERVER_ERROR, format!("unknown account {from}"))),
        None => {
            return Err(err(
                SERVER_ERROR,
                format!("from not specified (the wallet account is {wallet})"),
            ));
        }
    }
    let pool = pool(c)?;
    if req.nonce.is_none() {
        req.nonce = Some(pool.next_nonce(&wallet).map_err(|e| internal(&e))?);
    }
    let head = c.chain.head().header;
    let now = crate::block::now_secs().max(head.timestamp.saturating_add(1));
    let base_fee = c.chain.base_fee_after(&head, now);
    let dynamic = req.max_fee_per_gas.is_some() || req.max_priority_fee_per_gas.is_some();
    let legacy_typed = matches!(req.tx_type, Some(0 | 1));
    if let Some(base) = base_fee.filter(|_| req.gas_price.is_none() && !legacy_typed) {
        let base = u128::try_from(base).unwrap_or(u128::MAX);
        let tip = match req.max_priority_fee_per_gas {
            Some(t) => t,
            None => suggest_tip(c)?,
        };
        req.max_priority_fee_per_gas = Some(tip);
        req.max_fee_per_gas
            .get_or_insert(tip.saturating_add(base.saturating_mul(2)));
    } else if req.gas_price.is_none() && !dynamic {
        let base = base_fee.map_or(0, |b| u128::try_from(b).unwrap_or(u128::MAX));
        req.gas_price = Some(base.saturating_add(suggest_tip(c)?));
    }
    if req.gas.is_none() {
        req.gas = Some(estimate_on_head(c, object)?);
    }
    let envelope = sign_envelope(&c.wallet, req.build(c.chain.chain_id())?)?;
    let hash = pool.add(envelope).map_err(|e| pool_error(&e))?;
    Ok(json!(hash))
}

impl PendingTransactions for TxPool {
    fn pending_nonce(&self, address: &Address) -> Option<u64> {
        self.pool().pending_nonce(address)
    }

    fn get(&self, hash: &B256) -> Option<TxEnvelope> {
        self.pool().get(hash)
    }

    fn subscribe_new(&self) -> broadcast::Receiver<B256> {
        self.pool().subscribe_new()
    }
}
