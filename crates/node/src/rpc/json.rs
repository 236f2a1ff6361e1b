//! geth-compatible JSON: quantities, block objects, and parameter parsing that turns any
//! malformed input into a JSON-RPC error.

use alloy_primitives::{Address, B256, U256};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use serde_json::{Value, json};

use crate::chain::{Chain, decode_header};

/// JSON-RPC "invalid params".
pub(super) const INVALID_PARAMS: i32 = -32602;
/// JSON-RPC "internal error" / server error.
pub(super) const SERVER_ERROR: i32 = -32000;

/// An error object.
pub(super) fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

/// "invalid params" with a message.
pub(super) fn invalid(msg: impl Into<String>) -> ErrorObjectOwned {
    err(INVALID_PARAMS, msg)
}

/// The positional parameters (absent → empty).
pub(super) fn args(params: &Params<'_>) -> Result<Vec<Value>, ErrorObjectOwned> {
    if params.is_object() {
        return Err(invalid("positional parameters expected"));
    }
    params
        .parse::<Option<Vec<Value>>>()
        .map(Option::unwrap_or_default)
        .map_err(|e| invalid(e.message().to_owned()))
}

/// Argument `i` as a string.
pub(super) fn arg_str(args: &[Value], i: usize, what: &str) -> Result<String, ErrorObjectOwned> {
    args.get(i)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid(format!("missing or non-string parameter {i} ({what})")))
}

/// Argument `i` as an address.
pub(super) fn arg_address(args: &[Value], i: usize) -> Result<Address, ErrorObjectOwned> {
    arg_str(args, i, "address")?
        .parse()
        .map_err(|_| invalid(format!("parameter {i} is not a 20-byte hex address")))
}

/// Argument `i` as a 32-byte hash.
pub(super) fn arg_hash(args: &[Value], i: usize) -> Result<B256, ErrorObjectOwned> {
    arg_str(args, i, "hash")?
        .parse()
        .map_err(|_| invalid(format!("parameter {i} is not a 32-byte hex hash")))
}

/// Argument `i` as `0x` hex bytes.
pub(super) fn arg_bytes(args: &[Value], i: usize) -> Result<Vec<u8>, ErrorObjectOwned> {
    let s = arg_str(args, i, "data")?;
    let hex_part = s
        .strip_prefix("0x")
        .ok_or_else(|| invalid(format!("parameter {i} must be 0x-prefixed hex")))?;
    hex::decode(hex_part).map_err(|_| invalid(format!("parameter {i} is not valid hex")))
}

/// Argument `i` as a block tag or number, resolved against the canonical chain.
pub(super) fn arg_block_number(
    chain: &Chain,
    args: &[Value],
    i: usize,
) -> Result<u64, ErrorObjectOwned> {
    let head = chain.head().header.number;
    let Some(v) = args.get(i) else {
        return Ok(head);
    };
    let s = v
        .as_str()
        .ok_or_else(|| invalid(format!("parameter {i} must be a block number or tag")))?;
    match s {
        "latest" | "pending" | "safe" | "finalized" => Ok(head),
        "earliest" => Ok(0),
        _ => parse_quantity(s)
            .ok_or_else(|| invalid(format!("parameter {i}: bad block number {s:?}"))),
    }
}

/// A `0x` hex quantity.
pub(super) fn parse_quantity(s: &str) -> Option<u64> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 16 {
        return None;
    }
    u64::from_str_radix(h, 16).ok()
}

/// `0x`-hex quantity.
pub(super) fn qty(v: u64) -> Value {
    Value::String(format!("{v:#x}"))
}

/// `0x`-hex U256 quantity.
pub(super) fn qty256(v: U256) -> Value {
    Value::String(format!("{v:#x}"))
}

/// `0x`-hex bytes.
pub(super) fn data(b: &[u8]) -> Value {
    Value::String(format!("0x{}", hex::encode(b)))
}

/// The geth block object for canonical-or-not block `hash`, or null.
pub(super) fn block_json(chain: &Chain, hash: &B256) -> Result<Value, ErrorObjectOwned> {
    let internal = |e: crate::Error| err(SERVER_ERROR, e.to_string());
    let Some(rlp) = chain.header_rlp_by_hash(hash).map_err(internal)? else {
        return Ok(Value::Null);
    };
    let info = chain.store().block_info(hash).map_err(internal)?;
    let body = chain
        .store()
        .body_by_hash(hash)
        .map_err(internal)?
        .unwrap_or_default();
    let h = decode_header(&rlp).map_err(internal)?;
    let mut obj = json!({
        "number": qty(h.number),
        "hash": hash,
        "parentHash": h.parent_hash,
        "nonce": h.nonce,
        "mixHash": h.mix_hash,
        "sha3Uncles": h.ommers_hash,
        "logsBloom": h.logs_bloom,
        "transactionsRoot": h.transactions_root,
        "stateRoot": h.state_root,
        "receiptsRoot": h.receipts_root,
        "miner": h.beneficiary,
        "difficulty": qty256(h.difficulty),
        "totalDifficulty": qty256(info.map(|i| i.total_difficulty).unwrap_or_default()),
        "extraData": data(&h.extra_data),
        "size": qty((rlp.len() + body.len()) as u64),
        "gasLimit": qty(h.gas_limit),
        "gasUsed": qty(h.gas_used),
        "timestamp": qty(h.timestamp),
        "transactions": [],
        "uncles": [],
    });
    if let (Some(fee), Some(map)) = (h.base_fee_per_gas, obj.as_object_mut()) {
        map.insert("baseFeePerGas".into(), qty256(fee));
    }
    Ok(obj)
}

/// Where a transaction sits in a block (the block fields of transaction, receipt and log JSON).
#[derive(Debug, Clone, Copy)]
pub(super) struct TxPlace {
    /// Block hash.
    pub block_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// The block's base fee (`None` before London).
    pub base_fee: Option<u64>,
    /// Index in the block.
    pub index: u64,
}

/// The price a transaction pays per gas in a block with `base_fee` (geth's
/// `effectiveGasPrice`): the gas price, or min(fee cap, base fee + tip) for EIP-1559.
pub(super) fn effective_gas_price(tx: &alloy_consensus::TxEnvelope, base_fee: Option<u64>) -> u128 {
    use alloy_consensus::Transaction as _;
    tx.effective_gas_price(base_fee)
}

/// geth's `RPCTransaction` for `tx` from `from`; `place` is `None` for a pending transaction.
pub(super) fn tx_json(
    tx: &alloy_consensus::TxEnvelope,
    from: Address,
    place: Option<TxPlace>,
) -> Value {
    use alloy_consensus::{Transaction as _, TxEnvelope};
    use alloy_eips::Typed2718 as _;
    let sig = tx.signature();
    let mut obj = json!({
        "blockHash": place.map(|p| p.block_hash),
        "blockNumber": place.map(|p| qty(p.block_number)),
        "from": from,
        "gas": qty(tx.gas_limit()),
        "hash": tx.tx_hash(),
        "input": data(tx.input()),
        "nonce": qty(tx.nonce()),
        "to": tx.to(),
        "transactionIndex": place.map(|p| qty(p.index)),
        "value": qty256(tx.value()),
        "type": qty(u64::from(tx.ty())),
        "r": qty256(sig.r()),
        "s": qty256(sig.s()),
    });
    let Some(map) = obj.as_object_mut() else {
        return obj;
    };
    let price = match (tx, place) {
        (TxEnvelope::Eip1559(_), Some(p)) => effective_gas_price(tx, p.base_fee),
        (TxEnvelope::Eip1559(_), None) => tx.max_fee_per_gas(),
        _ => tx.gas_price().unwrap_or_default(),
    };
    map.insert("gasPrice".into(), qty256(U256::from(price)));
    if let TxEnvelope::Legacy(signed) = tx {
        // v as signed: 27/28, or chainId * 2 + 35/36 under EIP-155.
        let v = alloy_consensus::transaction::to_eip155_value(sig.v(), signed.tx().chain_id);
        map.insert("v".into(), qty256(U256::from(v)));
        if let Some(id) = signed.tx().chain_id {
            map.insert("chainId".into(), qty(id));
        }
    } else {
        map.insert("v".into(), qty(u64::from(sig.v())));
        map.insert("yParity".into(), qty(u64::from(sig.v())));
        if let Some(id) = tx.chain_id() {
            map.insert("chainId".into(), qty(id));
        }
        let list: Vec<Value> = tx
            .access_list()
            .map(|l| {
                l.iter()
                    .map(|item| json!({"address": item.address, "storageKeys": item.storage_keys}))
                    .collect()
            })
            .unwrap_or_default();
        map.insert("accessList".into(), Value::Array(list));
    }
    if matches!(tx, TxEnvelope::Eip1559(_)) {
        map.insert(
            "maxFeePerGas".into(),
            qty256(U256::from(tx.max_fee_per_gas())),
        );
        map.insert(
            "maxPriorityFeePerGas".into(),
            qty256(U256::from(
                tx.max_priority_fee_per_gas().unwrap_or_default(),
            )),
        );
    }
    obj
}

/// geth's log object; `log_index` counts the block's logs.
pub(super) fn log_json(
    log: &alloy_primitives::Log,
    place: TxPlace,
    tx_hash: B256,
    log_index: u64,
) -> Value {
    json!({
        "address": log.address,
        "topics": log.topics(),
        "data": data(&log.data.data),
        "blockNumber": qty(place.block_number),
        "transactionHash": tx_hash,
        "transactionIndex": qty(place.index),
        "blockHash": place.block_hash,
        "logIndex": qty(log_index),
        "removed": false,
    })
}

/// geth's receipt object. `gas_used` is this transaction's (the cumulative difference),
/// `first_log_index` the block-wide index of its first log.
pub(super) struct ReceiptFields<'a> {
    /// The transaction.
    pub tx: &'a alloy_consensus::TxEnvelope,
    /// Its sender.
    pub from: Address,
    /// The receipt.
    pub receipt: &'a alloy_consensus::ReceiptEnvelope,
    /// Where it is.
    pub place: TxPlace,
    /// Gas it used.
    pub gas_used: u64,
    /// Block-wide index of its first log.
    pub first_log_index: u64,
}

/// geth's receipt JSON.
pub(super) fn receipt_json(f: &ReceiptFields<'_>) -> Value {
    use alloy_consensus::{Eip658Value, Transaction as _, TxReceipt as _};
    use alloy_eips::Typed2718 as _;
    let tx_hash = *f.tx.tx_hash();
    let logs: Vec<Value> = f
        .receipt
        .logs()
        .iter()
        .enumerate()
        .map(|(i, log)| log_json(log, f.place, tx_hash, f.first_log_index + i as u64))
        .collect();
    let contract = f.tx.to().is_none().then(|| f.from.create(f.tx.nonce()));
    let mut obj = json!({
        "blockHash": f.place.block_hash,
        "blockNumber": qty(f.place.block_number),
        "contractAddress": contract,
        "cumulativeGasUsed": qty(f.receipt.cumulative_gas_used()),
        "effectiveGasPrice": qty256(U256::from(effective_gas_price(f.tx, f.place.base_fee))),
        "from": f.from,
        "gasUsed": qty(f.gas_used),
        "logs": logs,
        "logsBloom": f.receipt.bloom(),
        "to": f.tx.to(),
        "transactionHash": tx_hash,
        "transactionIndex": qty(f.place.index),
        "type": qty(u64::from(f.tx.ty())),
    });
    if let Some(map) = obj.as_object_mut() {
        match f.receipt.status_or_post_state() {
            Eip658Value::Eip658(ok) => {
                map.insert("status".into(), qty(u64::from(ok)));
            }
            Eip658Value::PostState(root) => {
                map.insert("root".into(), json!(root));
            }
        }
    }
    obj
}
