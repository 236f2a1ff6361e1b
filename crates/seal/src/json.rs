//! Headers and validator lists from JSON (`eth_getBlockByNumber` field names, as geth spells them).

use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
use serde_json::{Map, Value};

use crate::error::DecodeError;
use crate::header::Header;

fn bad(reason: String) -> DecodeError {
    DecodeError::InvalidJson {
        what: "header json",
        reason,
    }
}

fn field<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, DecodeError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(format!("{name} must be a hex string"))),
    }
}

fn required<'a>(obj: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, DecodeError> {
    field(obj, name)?.ok_or_else(|| bad(format!("missing field {name}")))
}

fn data(s: &str, name: &'static str) -> Result<Vec<u8>, DecodeError> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| bad(format!("{name} must start with 0x")))?;
    hex::decode(h).map_err(|source| DecodeError::Hex { what: name, source })
}

fn fixed<const N: usize>(s: &str, name: &'static str) -> Result<[u8; N], DecodeError> {
    let v = data(s, name)?;
    <[u8; N]>::try_from(v.as_slice()).map_err(|_| DecodeError::WrongLength {
        what: name,
        expected: N,
        found: v.len(),
    })
}

fn quantity(s: &str, name: &'static str) -> Result<U256, DecodeError> {
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| bad(format!("{name} must start with 0x")))?;
    if h.is_empty() || h.len() > 64 {
        return Err(DecodeError::InvalidHex {
            what: name,
            reason: "want 1 to 64 hex digits".into(),
        });
    }
    U256::from_str_radix(h, 16).map_err(|_| DecodeError::InvalidHex {
        what: name,
        reason: "not a hexadecimal number".into(),
    })
}

fn quantity_u64(s: &str, name: &'static str) -> Result<u64, DecodeError> {
    u64::try_from(quantity(s, name)?).map_err(|_| DecodeError::IntegerOverflow {
        what: name,
        max_bytes: 8,
    })
}

/// Builds a header from an `eth_getBlockByNumber` result (or any object with its field names;
/// a `{"result": …}` JSON-RPC envelope is unwrapped).
///
/// # Errors
/// [`DecodeError::InvalidJson`] for a missing or mistyped field, or a hex error naming it.
pub fn header_from_json(text: &str) -> Result<Header, DecodeError> {
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let v = v.get("result").cloned().unwrap_or(v);
    let obj = v
        .as_object()
        .ok_or_else(|| bad("expected a json object".into()))?;
    let opt_hash = |name: &'static str| -> Result<Option<B256>, DecodeError> {
        field(obj, name)?
            .map(|s| fixed::<32>(s, name).map(B256::from))
            .transpose()
    };
    let opt_u64 = |name: &'static str| -> Result<Option<u64>, DecodeError> {
        field(obj, name)?.map(|s| quantity_u64(s, name)).transpose()
    };
    Ok(Header {
        parent_hash: B256::from(fixed::<32>(required(obj, "parentHash")?, "parentHash")?),
        ommers_hash: B256::from(fixed::<32>(required(obj, "sha3Uncles")?, "sha3Uncles")?),
        beneficiary: Address::from(fixed::<20>(required(obj, "miner")?, "miner")?),
        state_root: B256::from(fixed::<32>(required(obj, "stateRoot")?, "stateRoot")?),
        transactions_root: B256::from(fixed::<32>(
            required(obj, "transactionsRoot")?,
            "transactionsRoot",
        )?),
        receipts_root: B256::from(fixed::<32>(required(obj, "receiptsRoot")?, "receiptsRoot")?),
        logs_bloom: Bloom::from(fixed::<256>(required(obj, "logsBloom")?, "logsBloom")?),
        difficulty: quantity(required(obj, "difficulty")?, "difficulty")?,
        number: quantity_u64(required(obj, "number")?, "number")?,
        gas_limit: quantity_u64(required(obj, "gasLimit")?, "gasLimit")?,
        gas_used: quantity_u64(required(obj, "gasUsed")?, "gasUsed")?,
        timestamp: quantity_u64(required(obj, "timestamp")?, "timestamp")?,
        extra_data: Bytes::from(data(required(obj, "extraData")?, "extraData")?),
        mix_hash: B256::from(fixed::<32>(required(obj, "mixHash")?, "mixHash")?),
        nonce: B64::from(fixed::<8>(required(obj, "nonce")?, "nonce")?),
        base_fee_per_gas: field(obj, "baseFeePerGas")?
            .map(|s| quantity(s, "baseFeePerGas"))
            .transpose()?,
        withdrawals_root: opt_hash("withdrawalsRoot")?,
        blob_gas_used: opt_u64("blobGasUsed")?,
        excess_blob_gas: opt_u64("excessBlobGas")?,
        parent_beacon_block_root: opt_hash("parentBeaconBlockRoot")?,
        requests_hash: opt_hash("requestsHash")?,
        block_access_list_hash: opt_hash("blockAccessListHash")?,
        slot_number: opt_u64("slotNumber")?,
    })
}

/// Parses a validator list: a JSON array of addresses, or one address per line.
///
/// # Errors
/// [`DecodeError::InvalidJson`] or [`DecodeError::InvalidHex`] naming the bad entry.
pub fn parse_validators(text: &str) -> Result<Vec<Address>, DecodeError> {
    let entries: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson {
            what: "validators",
            reason: e.to_string(),
        })?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    entries
        .iter()
        .map(|e| {
            let h = e.strip_prefix("0x").unwrap_or(e);
            let v = hex::decode(h).map_err(|_| DecodeError::InvalidHex {
                what: "validator address",
                reason: format!("{e:?} is not hex"),
            })?;
            <[u8; 20]>::try_from(v.as_slice())
                .map(Address::from)
                .map_err(|_| DecodeError::WrongLength {
                    what: "validator address",
                    expected: 20,
                    found: v.len(),
                })
        })
        .collect()
}
