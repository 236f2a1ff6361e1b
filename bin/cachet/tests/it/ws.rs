//! A real dapp client on `cachet devnet`'s WebSocket: ethers v6's `WebSocketProvider`
//! (tests/peers/ethers-ws.mjs) follows blocks (`newHeads`), sees pending transactions
//! (`newPendingTransactions`) and a contract's event (`logs`), sending through the node's wallet
//! over the same socket. The contract and its event are the test's own: a hand-assembled LOG1.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::node::{base_port, interrupt};

#[test]
#[ignore = "needs ethers (npm): run scripts/test"]
fn ethers_follows_blocks_pending_transactions_and_logs_over_websocket() {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers");
    assert!(
        peers.join("node_modules/ethers").exists(),
        "ethers is missing: run scripts/install-test-peers"
    );
    let dir = tempfile::tempdir().unwrap();
    let (p2p, http) = (base_port(41), base_port(41) + 10);
    let mut net = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["devnet", "--period", "1", "--nodes", "1"])
        .arg("--dir")
        .arg(dir.path().join("net"))
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()])
        .args(["--ws.port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cachet devnet");
    let out = net.stdout.take().unwrap();
    let mut node_line = None;
    for line in BufReader::new(out).lines() {
        let line = line.expect("line");
        if line.starts_with("node0: ") {
            node_line = Some(line.clone());
        }
        if line.starts_with("running") {
            break;
        }
    }
    let line = node_line.expect("the devnet printed node0's line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| {
        let i = words.iter().position(|w| *w == key).expect(key);
        words[i + 1].to_owned()
    };
    let (ws, wallet) = (after("ws"), after("wallet"));
    let ethers = Command::new("node")
        .arg(peers.join("ethers-ws.mjs"))
        .args([&ws, &wallet])
        .current_dir(&peers)
        .output()
        .expect("run node");
    interrupt(&mut net);
    assert!(
        ethers.status.success(),
        "ethers: {}",
        String::from_utf8_lossy(&ethers.stderr)
    );
    let v: Value = serde_json::from_slice(&ethers.stdout).unwrap();
    let blocks: Vec<u64> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    assert!(blocks.len() >= 2, "{v}");
    assert!(blocks.windows(2).all(|w| w[1] > w[0]), "{v}");
    let pending = v["pending"].as_array().unwrap();
    assert!(pending.contains(&v["deployHash"]), "{v}");
    assert!(pending.contains(&v["callHash"]), "{v}");
    let log = &v["log"];
    assert_eq!(
        log["address"].as_str().unwrap().to_lowercase(),
        v["contract"].as_str().unwrap().to_lowercase()
    );
    assert_eq!(log["topics"], json!([format!("0x{}", "70".repeat(32))]));
    assert_eq!(log["data"], json!(format!("0x{:064x}", 0x2a)));
    assert_eq!(log["transactionHash"], v["callHash"]);
    assert_eq!(log["removed"], false);
}
