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
