//! `eth_signTransaction`: geth's transaction request object signed by the built-in wallet key.
//!
//! The request is parsed defensively (any malformed field → -32602). Legacy (EIP-155 with the
//! genesis chain id), EIP-2930 and EIP-1559 transactions are built and encoded with
//! `alloy-consensus`; the answer has geth's shape: `{"raw": "0x…", "tx": {…}}`.
//!
//! As geth's `eth_signTransaction`, it fills in no defaults: `nonce`, `gas` and the fee fields
//! (`gasPrice`, or both `maxFeePerGas` and `maxPriorityFeePerGas`) are required
//! (`eth_sendTransaction` in `txpool.rs` fills them in). Semantic errors use geth's code
//! (-32000) and its wording (`unknown account`, `gas not specified`, …).

use alloy_consensus::{SignableTransaction, Signed, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use alloy_signer::SignerSync as _;
use cachet_keyprovider::SigningKey;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Map, Value, json};

use super::RpcContext;
use super::json::{SERVER_ERROR, data, err, invalid, qty, qty256};

type R = Result<Value, ErrorObjectOwned>;

/// The request object after parsing (shapes checked, semantics not yet).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct TxRequest {
    pub(super) from: Option<Address>,
    pub(super) to: Option<Address>,
    pub(super) gas: Option<u64>,
    pub(super) gas_price: Option<u128>,
    pub(super) max_fee_per_gas: Option<u128>,
    pub(super) max_priority_fee_per_gas: Option<u128>,
    pub(super) value: Option<U256>,
    pub(super) input: Option<Bytes>,
    pub(super) nonce: Option<u64>,
    pub(super) access_list: Option<AccessList>,
    pub(super) tx_type: Option<u64>,
    pub(super) chain_id: Option<u64>,
}

/// A transaction ready to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unsigned {
    /// Type 0 with EIP-155 replay protection.
    Legacy(TxLegacy),
    /// Type 1.
    Eip2930(TxEip2930),
    /// Type 2.
    Eip1559(TxEip1559),
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).filter(|v| !v.is_null())
}

fn hex_str<'a>(v: &'a Value, name: &str) -> Result<&'a str, ErrorObjectOwned> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")))
        .ok_or_else(|| invalid(format!("{name} must be a 0x-prefixed hex string")))
}

fn quantity(v: &Value, name: &str, max_bits: usize) -> Result<U256, ErrorObjectOwned> {
    let h = hex_str(v, name)?;
    let bad = || {
        invalid(format!(
            "{name} is not a hex quantity of at most {max_bits} bits"
        ))
    };
    if h.is_empty() || h.len() > 64 {
        return Err(bad());
    }
    let n = U256::from_str_radix(h, 16).map_err(|_| bad())?;
    if n.bit_len() > max_bits {
        return Err(bad());
    }
    Ok(n)
}

fn q64(obj: &Map<String, Value>, name: &str) -> Result<Option<u64>, ErrorObjectOwned> {
    field(obj, name)
        .map(|v| quantity(v, name, 64).map(|n| n.to::<u64>()))
        .transpose()
}

fn q128(obj: &Map<String, Value>, name: &str) -> Result<Option<u128>, ErrorObjectOwned> {
    field(obj, name)
        .map(|v| quantity(v, name, 128).map(|n| n.to::<u128>()))
        .transpose()
}

fn address(v: &Value, name: &str) -> Result<Address, ErrorObjectOwned> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("{name} is not a 20-byte hex address")))
}

fn bytes(v: &Value, name: &str) -> Result<Bytes, ErrorObjectOwned> {
    let h = hex_str(v, name)?;
    hex::decode(h)
        .map(Bytes::from)
        .map_err(|_| invalid(format!("{name} is not valid hex bytes")))
}

fn access_list(v: &Value) -> Result<AccessList, ErrorObjectOwned> {
    let bad = |what: &str| invalid(format!("accessList: {what}"));
    let items = v.as_array().ok_or_else(|| bad("must be an array"))?;
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        let obj = item
            .as_object()
            .ok_or_else(|| bad("each entry must be an object"))?;
        let address = address(
            obj.get("address").unwrap_or(&Value::Null),
            "accessList address",
        )?;
        let keys = match obj.get("storageKeys") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(keys)) => keys
                .iter()
                .map(|k| {
                    k.as_str()
                        .and_then(|s| s.parse::<B256>().ok())
                        .ok_or_else(|| bad("storage keys must be 32-byte hex"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("storageKeys must be an array")),
        };
        list.push(AccessListItem {
            address,
            storage_keys: keys,
        });
    }
    Ok(AccessList(list))
}

impl TxRequest {
    /// Parses geth's `TransactionArgs` object; unknown fields are ignored (as geth does).
    ///
    /// # Errors
    /// -32602 when a field has the wrong shape.
    pub(super) fn parse(v: &Value) -> Result<Self, ErrorObjectOwned> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("parameter 0 must be a transaction object"))?;
        let data = field(obj, "data").map(|v| bytes(v, "data")).transpose()?;
        let input = field(obj, "input").map(|v| bytes(v, "input")).transpose()?;
        let input = match (data, input) {
            (Some(d), Some(i)) if d != i => {
                return Err(invalid(
                    "both \"data\" and \"input\" are set and not equal. Please use \"input\" to pass transaction call data",
                ));
            }
            (d, i) => i.or(d),
        };
        Ok(Self {
            from: field(obj, "from").map(|v| address(v, "from")).transpose()?,
            to: field(obj, "to").map(|v| address(v, "to")).transpose()?,
            gas: q64(obj, "gas")?,
            gas_price: q128(obj, "gasPrice")?,
            max_fee_per_gas: q128(obj, "maxFeePerGas")?,
            max_priority_fee_per_gas: q128(obj, "maxPriorityFeePerGas")?,
            value: field(obj, "value")
                .map(|v| quantity(v, "value", 256))
                .transpose()?,
            input,
            nonce: q64(obj, "nonce")?,
            access_list: field(obj, "accessList").map(access_list).transpose()?,
            tx_type: q64(obj, "type")?,
            chain_id: q64(obj, "chainId")?,
        })
    }

    /// The transaction to sign on chain `chain_id`: the type is the explicit `type`, else
    /// EIP-1559 when a 1559 fee field is set, else EIP-2930 when an access list is set, else
    /// legacy.
    ///
    /// # Errors
    /// -32000 with a message saying what is missing or inconsistent.
    pub(super) fn build(self, chain_id: u64) -> Result<Unsigned, ErrorObjectOwned> {
        let fail = |m: String| err(SERVER_ERROR, m);
        if let Some(id) = self.chain_id
            && id != chain_id
        {
            return Err(fail(format!(
                "chainId does not match node's (have={id}, want={chain_id})"
            )));
        }
        let gas_limit = self.gas.ok_or_else(|| fail("gas not specified".into()))?;
        let nonce = self
            .nonce
            .ok_or_else(|| fail("nonce not specified".into()))?;
        let dynamic = self.max_fee_per_gas.is_some() || self.max_priority_fee_per_gas.is_some();
        if self.gas_price.is_some() && dynamic {
            return Err(fail(
                "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into(),
            ));
        }
        let tx_type = match self.tx_type {
            Some(t) => t,
            None if dynamic => 2,
            None if self.access_list.is_some() => 1,
            None => 0,
        };
        let to = self.to.map_or(TxKind::Create, TxKind::Call);
        let value = self.value.unwrap_or_default();
        let input = self.input.unwrap_or_default();
        let need_gas_price = || {
            self.gas_price.ok_or_else(|| {
                fail(format!(
                    "gasPrice not specified (a type-{tx_type} transaction needs it)"
                ))
            })
        };
        match tx_type {
            0 | 1 if dynamic => Err(fail(format!(
                "maxFeePerGas/maxPriorityFeePerGas are not valid for a type-{tx_type} transaction"
            ))),
            0 if self.access_list.is_some() => Err(fail(
                "accessList is not valid for a legacy (type-0) transaction".into(),
            )),
            0 => Ok(Unsigned::Legacy(TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price: need_gas_price()?,
                gas_limit,
                to,
                value,
                input,
            })),
            1 => Ok(Unsigned::Eip2930(TxEip2930 {
                chain_id,
                nonce,
                gas_price: need_gas_price()?,
                gas_limit,
                to,
                value,
                access_list: self.access_list.unwrap_or_default(),
                input,
            })),
            2 => {
                if self.gas_price.is_some() {
                    return Err(fail(
                        "gasPrice is not valid for an EIP-1559 (type-2) transaction: use maxFeePerGas and maxPriorityFeePerGas".into(),
                    ));
                }
                let (Some(max_fee), Some(max_priority)) =
                    (self.max_fee_per_gas, self.max_priority_fee_per_gas)
                else {
                    return Err(fail(
                        "missing maxFeePerGas or maxPriorityFeePerGas: both are required".into(),
                    ));
                };
                if max_fee < max_priority {
                    return Err(fail(format!(
                        "maxFeePerGas ({max_fee}) < maxPriorityFeePerGas ({max_priority})"
                    )));
                }
                Ok(Unsigned::Eip1559(TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: max_fee,
                    max_priority_fee_per_gas: max_priority,
                    to,
                    value,
                    access_list: self.access_list.unwrap_or_default(),
                    input,
                }))
            }
            t => Err(fail(format!(
                "transaction type {t} is not supported (cachet signs types 0, 1 and 2)"
            ))),
        }
    }
}

fn signed<T: SignableTransaction<Signature>>(
    key: &SigningKey,
    tx: T,
) -> Result<Signed<T>, ErrorObjectOwned> {
    let sig = key
        .sign_hash_sync(&tx.signature_hash())
        .map_err(|e| err(SERVER_ERROR, format!("signing failed: {e}")))?;
    Ok(tx.into_signed(sig))
}

/// Signs `tx` with `key` into its EIP-2718 envelope.
pub(super) fn sign_envelope(
    key: &SigningKey,
    tx: Unsigned,
) -> Result<TxEnvelope, ErrorObjectOwned> {
    Ok(match tx {
        Unsigned::Legacy(tx) => TxEnvelope::Legacy(signed(key, tx)?),
        Unsigned::Eip2930(tx) => TxEnvelope::Eip2930(signed(key, tx)?),
        Unsigned::Eip1559(tx) => TxEnvelope::Eip1559(signed(key, tx)?),
    })
}

/// `eth_signTransaction`.
pub(super) fn sign_transaction(c: &RpcContext, a: &[Value]) -> R {
    let req = TxRequest::parse(a.first().unwrap_or(&Value::Null))?;
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
    let envelope = sign_envelope(&c.wallet, req.build(c.chain.chain_id())?)?;
    Ok(json!({
        "raw": data(&envelope.encoded_2718()),
        "tx": tx_json(&envelope),
    }))
}

fn access_list_json(list: &AccessList) -> Value {
    Value::Array(
        list.0
            .iter()
            .map(|i| json!({"address": i.address, "storageKeys": i.storage_keys}))
            .collect(),
    )
}

fn to_json(to: TxKind) -> Value {
    match to {
        TxKind::Call(a) => json!(a),
        TxKind::Create => Value::Null,
    }
}

/// geth's transaction JSON (`types.Transaction.MarshalJSON`).
pub(super) fn tx_json(envelope: &TxEnvelope) -> Value {
    let sig_fields = |sig: &Signature, v: u64, typed: bool| {
        let mut m = Map::new();
        m.insert("v".into(), qty(v));
        m.insert("r".into(), qty256(sig.r()));
        m.insert("s".into(), qty256(sig.s()));
        if typed {
            m.insert("yParity".into(), qty(u64::from(sig.v())));
        }
        m
    };
    let (mut obj, sig) = match envelope {
        TxEnvelope::Legacy(s) => {
            let tx = s.tx();
            let parity = u64::from(s.signature().v());
            let v = tx.chain_id.map_or(27 + parity, |id| {
                id.saturating_mul(2).saturating_add(35 + parity)
            });
            let mut m = json!({
                "type": qty(0),
                "nonce": qty(tx.nonce),
                "to": to_json(tx.to),
                "gas": qty(tx.gas_limit),
                "gasPrice": qty256(U256::from(tx.gas_price)),
                "value": qty256(tx.value),
                "input": data(&tx.input),
            });
            if let (Some(id), Some(map)) = (tx.chain_id, m.as_object_mut()) {
                map.insert("chainId".into(), qty(id));
            }
            (m, sig_fields(s.signature(), v, false))
        }
        TxEnvelope::Eip2930(s) => {
            let tx = s.tx();
            let m = json!({
                "type": qty(1),
                "chainId": qty(tx.chain_id),
                "nonce": qty(tx.nonce),
                "to": to_json(tx.to),
                "gas": qty(tx.gas_limit),
                "gasPrice": qty256(U256::from(tx.gas_price)),
                "value": qty256(tx.value),
                "input": data(&tx.input),
                "accessList": access_list_json(&tx.access_list),
            });
            let v = u64::from(s.signature().v());
            (m, sig_fields(s.signature(), v, true))
        }
        TxEnvelope::Eip1559(s) => {
            let tx = s.tx();
            let m = json!({
                "type": qty(2),
                "chainId": qty(tx.chain_id),
                "nonce": qty(tx.nonce),
                "to": to_json(tx.to),
                "gas": qty(tx.gas_limit),
                "maxPriorityFeePerGas": qty256(U256::from(tx.max_priority_fee_per_gas)),
                "maxFeePerGas": qty256(U256::from(tx.max_fee_per_gas)),
                "value": qty256(tx.value),
                "input": data(&tx.input),
                "accessList": access_list_json(&tx.access_list),
            });
            let v = u64::from(s.signature().v());
            (m, sig_fields(s.signature(), v, true))
        }
        // Never built here (types 3 and 4 are refused before signing).
        _ => (json!({}), Map::new()),
    };
    if let Some(map) = obj.as_object_mut() {
        map.extend(sig);
        map.insert("hash".into(), json!(envelope.tx_hash()));
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A JSON value as a hostile client might send it for one field.
    fn any_field() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[0-9a-fA-FxX]{0,80}".prop_map(Value::String),
            "0x[0-9a-f]{0,70}".prop_map(Value::String),
            ".{0,20}".prop_map(Value::String),
            Just(json!([{"address": "0x1", "storageKeys": [1]}])),
            Just(json!({})),
        ]
    }

    proptest! {
        /// Any request object parses to a request or a -32602, and building gives a
        /// transaction or a -32000: never a panic.
        #[test]
        fn rejects_arbitrary_requests_without_panicking(
            fields in proptest::collection::vec(
                (prop_oneof![
                    Just("from"), Just("to"), Just("gas"), Just("gasPrice"),
                    Just("maxFeePerGas"), Just("maxPriorityFeePerGas"), Just("value"),
                    Just("data"), Just("input"), Just("nonce"), Just("accessList"),
                    Just("type"), Just("chainId"),
                ], any_field()),
                0..13,
            )
        ) {
            let obj: Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            match TxRequest::parse(&Value::Object(obj)) {
                Ok(req) => {
                    if let Err(e) = req.build(1337) {
                        prop_assert_eq!(e.code(), SERVER_ERROR);
                    }
                }
                Err(e) => prop_assert_eq!(e.code(), -32602),
            }
        }
    }

    fn req(v: Value) -> TxRequest {
        TxRequest::parse(&v).unwrap()
    }

    #[test]
    fn rejects_malformed_fields_with_invalid_params() {
        for v in [
            json!("0x1"),
            json!({"gas": 5}),
            json!({"gas": "5"}),
            json!({"gas": "0x"}),
            json!({"gas": "0x10000000000000000"}),
            json!({"nonce": "0xzz"}),
            json!({"to": "0x1234"}),
            json!({"value": format!("0x1{}", "0".repeat(64))}),
            json!({"data": "0x0"}),
            json!({"data": "0x00", "input": "0x01"}),
            json!({"accessList": {}}),
            json!({"accessList": [{"address": "0x1"}]}),
            json!({"accessList": [{"address": Address::ZERO, "storageKeys": ["0x01"]}]}),
            json!({"gasPrice": format!("0x1{}", "0".repeat(32))}),
        ] {
            let e = TxRequest::parse(&v).unwrap_err();
            assert_eq!(e.code(), -32602, "{v}");
        }
    }

    #[test]
    fn rejects_missing_nonce_gas_fees_and_wrong_chain_id() {
        let base = json!({"gas": "0x5208", "nonce": "0x0", "gasPrice": "0x1"});
        let with = |k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        let without = |k: &str| {
            let mut o = base.clone();
            o.as_object_mut().unwrap().remove(k);
            o
        };
        for (v, needle) in [
            (without("gas"), "gas not specified"),
            (without("nonce"), "nonce not specified"),
            (without("gasPrice"), "gasPrice not specified"),
            (with("chainId", json!("0x1")), "chainId does not match"),
            (with("maxFeePerGas", json!("0x1")), "both gasPrice"),
            (with("type", json!("0x3")), "not supported"),
            (with("type", json!("0x2")), "gasPrice is not valid"),
            (
                json!({"gas": "0x1", "nonce": "0x0", "maxFeePerGas": "0x1"}),
                "missing maxFeePerGas or maxPriorityFeePerGas",
            ),
            (
                json!({"gas": "0x1", "nonce": "0x0", "maxFeePerGas": "0x1", "maxPriorityFeePerGas": "0x2"}),
                "maxFeePerGas (1) < maxPriorityFeePerGas (2)",
            ),
        ] {
            let e = req(v.clone()).build(1337).unwrap_err();
            assert_eq!(e.code(), SERVER_ERROR, "{v}");
            assert!(e.message().contains(needle), "{v}: {}", e.message());
        }
    }

    /// The worked example of EIP-155 (eips.ethereum.org/EIPS/eip-155, "Example"): private key
    /// 0x4646…46, nonce 9, gas price 20 gwei, gas 21000, to 0x3535…35, 1 ether, chain id 1.
    /// RFC 6979 signatures are deterministic, so the raw transaction is byte-exact.
    #[test]
    fn accepts_eip155_example_byte_exact() {
        let keys = cachet_keyprovider::UnlockedKeys::from_secrets_for_tests(
            [1; 32], None, [0x46; 32], [2; 32],
        )
        .unwrap();
        let wallet = keys.wallet_key();
        let tx = req(json!({
            "nonce": "0x9", "gasPrice": "0x4a817c800", "gas": "0x5208",
            "to": "0x3535353535353535353535353535353535353535",
            "value": "0xde0b6b3a7640000", "data": "0x",
        }))
        .build(1)
        .unwrap();
        let envelope = sign_envelope(&wallet, tx).unwrap();
        assert_eq!(
            hex::encode(envelope.encoded_2718()),
            "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        );
        let j = tx_json(&envelope);
        assert_eq!(j["v"], "0x25");
        assert_eq!(j["chainId"], "0x1");
        assert_eq!(
            wallet.address(),
            "0x9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f"
                .parse::<Address>()
                .unwrap()
        );
    }

    #[test]
    fn accepts_type_inference_like_geth() {
        let t = |v: Value| match req(v).build(7).unwrap() {
            Unsigned::Legacy(tx) => (0, tx.chain_id),
            Unsigned::Eip2930(tx) => (1, Some(tx.chain_id)),
            Unsigned::Eip1559(tx) => (2, Some(tx.chain_id)),
        };
        let base = json!({"gas": "0x1", "nonce": "0x0"});
        let mut legacy = base.clone();
        legacy["gasPrice"] = json!("0x1");
        assert_eq!(t(legacy.clone()), (0, Some(7)));
        let mut al = legacy.clone();
        al["accessList"] = json!([]);
        assert_eq!(t(al), (1, Some(7)));
        let mut dynamic = base;
        dynamic["maxFeePerGas"] = json!("0x2");
        dynamic["maxPriorityFeePerGas"] = json!("0x1");
        dynamic["chainId"] = json!("0x7");
        assert_eq!(t(dynamic), (2, Some(7)));
        let mut explicit = legacy;
        explicit["type"] = json!("0x1");
        assert_eq!(t(explicit), (1, Some(7)));
    }
}
