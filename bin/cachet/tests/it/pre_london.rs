//! `cachet devnet --no-london`: a chain without London (issue 18), as GoQuorum's are: headers
//! without a base fee, legacy transactions priced by `gasPrice`, EIP-1559 transactions refused.

use std::time::Duration;

use serde_json::{Value, json};

use super::node::{base_port, devnet_with, interrupt, number, rpc, wait_until};

#[test]
fn devnet_without_london_seals_a_legacy_transaction_and_no_base_fee() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(92), base_port(92) + 10);
    let mut net = devnet_with(&root, 1, p2p, http, &["--no-london"]);
    let genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("genesis.json")).unwrap()).unwrap();
    let up = wait_until(Duration::from_secs(60), || number(http) >= 1);
    let wallet = rpc(http, "eth_accounts", json!([])).unwrap()[0].clone();
    let gas_price = rpc(http, "eth_gasPrice", json!([]));
    let sent = rpc(
        http,
        "eth_sendTransaction",
        json!([{"from": wallet, "to": "0x000000000000000000000000000000000000dead", "value": "0xde0b6b3a7640000"}]),
    );
    let hash = sent.clone().unwrap_or_default();
    let mut receipt = None;
    wait_until(Duration::from_secs(30), || {
        receipt = rpc(http, "eth_getTransactionReceipt", json!([hash])).filter(|r| !r.is_null());
        receipt.is_some()
    });
    let tx = rpc(http, "eth_getTransactionByHash", json!([hash]));
    let dynamic = raw(
        http,
        "eth_sendTransaction",
        json!([{"from": wallet, "to": "0x000000000000000000000000000000000000dead", "value": "0x1",
            "maxFeePerGas": "0x3b9aca00", "maxPriorityFeePerGas": "0x1"}]),
    );
    let head = rpc(http, "eth_getBlockByNumber", json!(["latest", false]));
    let fee_history = raw(http, "eth_feeHistory", json!(["0x2", "latest", []]));
    let balance = rpc(
        http,
        "eth_getBalance",
        json!(["0x000000000000000000000000000000000000dead", "latest"]),
    );
    interrupt(&mut net);

    assert!(up, "the devnet sealed no block");
    assert!(genesis["config"].get("londonBlock").is_none(), "{genesis}");
    assert_eq!(genesis["config"]["berlinBlock"], 0);
    let head = head.unwrap();
    assert!(head.get("baseFeePerGas").is_none(), "{head}");
    assert!(gas_price.is_some_and(|p| p.is_string()));
    let receipt = receipt.unwrap_or_else(|| panic!("no receipt for {sent:?}"));
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    let tx = tx.unwrap();
    // No base fee: the wallet fills gasPrice and builds a legacy transaction.
    assert_eq!(tx["type"], "0x0", "{tx}");
    assert_eq!(receipt["effectiveGasPrice"], tx["gasPrice"], "{receipt}");
    assert_eq!(balance, Some(json!("0xde0b6b3a7640000")));
    // EIP-1559 transactions do not exist before London.
    let error = &dynamic["error"];
    assert!(error.is_object(), "{dynamic}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("transaction type not supported"),
        "{dynamic}"
    );
    // Fee history still answers, with zero base fees (geth's answer before London).
    let base_fees = fee_history["result"]["baseFeePerGas"].as_array().unwrap();
    assert!(base_fees.iter().all(|f| f == "0x0"), "{fee_history}");
}

/// The whole JSON-RPC response (`result` or `error`).
fn raw(port: u16, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let json = out.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {out}"))
}
