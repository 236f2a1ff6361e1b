//! `eth_signTransaction` checked by an independent implementation: EthereumJS
//! (`@ethereumjs/tx` 10.1.3, `tests/peers/decode-tx.mjs`) decodes each raw transaction we sign,
//! verifies its signature (EIP-155 for legacy ones, with the genesis chain id 1337) and reports
//! sender, type, chain id, hash and fields, which must equal the request and our `tx` object.

use serde_json::{Value, json};

use super::rpc::{call, fixture};

fn decode_with_ethereumjs(chain_id: u64, raws: &[String]) -> Vec<Value> {
    let mut args = vec![chain_id.to_string()];
    args.extend(raws.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cachet_testkit::run_node_script("decode-tx.mjs", &args);
    assert!(
        out.status.success(),
        "decode-tx.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("decode-tx.mjs prints JSON")
}

#[tokio::test]
#[ignore = "needs @ethereumjs/tx: run scripts/test"]
async fn accepts_signed_transactions_decoded_by_ethereumjs() {
    let f = fixture().await;
    let wallet = f.keys.wallet_key().address();
    let to = "0x3535353535353535353535353535353535353535";
    let key = format!("0x{}", "ab".repeat(32));
    let requests = [
        // Legacy, EIP-155 (chain id from genesis), `data` spelling.
        json!({"from": wallet, "to": to, "gas": "0x5208", "gasPrice": "0x4a817c800",
               "value": "0xde0b6b3a7640000", "nonce": "0x9", "data": "0x"}),
        // Legacy contract creation (no `to`), `input` spelling.
        json!({"from": wallet, "gas": "0x186a0", "gasPrice": "0x1", "nonce": "0x0",
               "input": "0x6001600055"}),
        // EIP-2930 (inferred from the access list).
        json!({"from": wallet, "to": to, "gas": "0x7530", "gasPrice": "0x3b9aca00",
               "nonce": "0x1", "value": "0x0", "input": "0xdeadbeef",
               "accessList": [{"address": to, "storageKeys": [key]}]}),
        // EIP-1559 with an explicit type and chain id.
        json!({"from": wallet, "to": to, "gas": "0x5208", "maxFeePerGas": "0x77359400",
               "maxPriorityFeePerGas": "0x3b9aca00", "nonce": "0x2a", "value": "0x1",
               "type": "0x2", "chainId": "0x539",
               "accessList": [{"address": wallet, "storageKeys": []}]}),
    ];
    let mut answers = Vec::new();
    for r in &requests {
        let v = call(f.addr, "eth_signTransaction", json!([r])).await;
        assert!(v["error"].is_null(), "{r}: {v}");
        answers.push(v["result"].clone());
    }
    let raws: Vec<String> = answers
        .iter()
        .map(|a| a["raw"].as_str().unwrap().to_owned())
        .collect();
    let decoded = decode_with_ethereumjs(1337, &raws);
    assert_eq!(decoded.len(), requests.len());
    let sender = format!("{wallet:#x}");
    for ((req, ours), theirs) in requests.iter().zip(&answers).zip(&decoded) {
        let tx = &ours["tx"];
        let fields = &theirs["fields"];
        assert_eq!(theirs["ok"], true, "{theirs}");
        assert_eq!(theirs["signatureValid"], true, "{theirs}");
        assert_eq!(theirs["sender"], sender.as_str(), "{theirs}");
        assert_eq!(theirs["chainId"], "1337", "{theirs}");
        assert_eq!(tx["chainId"], "0x539");
        assert_eq!(theirs["hash"], tx["hash"], "{theirs}");
        let ty = tx["type"].as_str().unwrap();
        assert_eq!(fields["type"], ty);
        if ty == "0x0" {
            assert_eq!(theirs["eip155"], true, "legacy transactions are EIP-155");
        }
        assert_eq!(fields["nonce"], req["nonce"]);
        assert_eq!(fields["gasLimit"], req["gas"]);
        assert_eq!(fields["nonce"], tx["nonce"]);
        assert_eq!(fields["gasLimit"], tx["gas"]);
        assert_eq!(fields["to"], req.get("to").cloned().unwrap_or(Value::Null));
        assert_eq!(fields["to"], tx["to"]);
        let input = req
            .get("input")
            .or_else(|| req.get("data"))
            .cloned()
            .unwrap_or(json!("0x"));
        assert_eq!(fields["data"], input);
        assert_eq!(tx["input"], input);
        let value = req.get("value").cloned().unwrap_or(json!("0x0"));
        assert_eq!(fields["value"], value);
        for k in ["gasPrice", "maxFeePerGas", "maxPriorityFeePerGas"] {
            assert_eq!(fields.get(k), req.get(k), "{k}: {theirs}");
            assert_eq!(tx.get(k), req.get(k), "{k}: {tx}");
        }
        for k in ["v", "r", "s"] {
            assert_eq!(fields[k], tx[k], "{k}: ours {tx} theirs {theirs}");
        }
        if let Some(list) = req.get("accessList") {
            assert_eq!(&fields["accessList"], list, "{theirs}");
            assert_eq!(&tx["accessList"], list, "{tx}");
        }
    }
}

#[tokio::test]
async fn rejects_bad_sign_transaction_requests_with_json_rpc_errors() {
    let f = fixture().await;
    let wallet = f.keys.wallet_key().address();
    let ok = json!({"from": wallet, "gas": "0x5208", "gasPrice": "0x1", "nonce": "0x0"});
    assert!(
        call(f.addr, "eth_signTransaction", json!([ok])).await["result"]["raw"].is_string(),
        "the base request signs"
    );
    let with = |k: &str, v: Value| {
        let mut o = ok.clone();
        o[k] = v;
        o
    };
    let without = |k: &str| {
        let mut o = ok.clone();
        o.as_object_mut().unwrap().remove(k);
        o
    };
    for (params, code, needle) in [
        (json!([]), -32602, ""),
        (json!(["0x00"]), -32602, ""),
        (json!([with("gas", json!(21000))]), -32602, "gas"),
        (json!([with("to", json!("0x12"))]), -32602, "to"),
        (json!([with("nonce", json!("0xnope"))]), -32602, "nonce"),
        (
            json!([with("accessList", json!("x"))]),
            -32602,
            "accessList",
        ),
        (json!({"tx": ok}), -32602, ""),
        (
            json!([with(
                "from",
                json!("0x0000000000000000000000000000000000000001")
            )]),
            -32000,
            "unknown account",
        ),
        (json!([without("from")]), -32000, "from not specified"),
        (json!([without("gas")]), -32000, "gas not specified"),
        (json!([without("nonce")]), -32000, "nonce not specified"),
        (
            json!([with("chainId", json!("0x1"))]),
            -32000,
            "chainId does not match",
        ),
        (json!([with("type", json!("0x4"))]), -32000, "not supported"),
    ] {
        let v = call(f.addr, "eth_signTransaction", params.clone()).await;
        assert_eq!(v["error"]["code"], code, "{params}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{params}: {msg}");
    }
    assert_eq!(
        call(f.addr, "eth_chainId", json!([])).await["result"],
        "0x539",
        "the server still answers"
    );
}
