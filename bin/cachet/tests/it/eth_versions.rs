//! eth/66 and eth/67 against a running `cachet node` (issue 18): an EthereumJS devp2p peer
//! (`@ethereumjs/devp2p` 10.0.0, `tests/peers/eth-requests.mjs`) offering one eth version only
//! completes Status, `GetBlockHeaders`/`BlockHeaders` and `GetBlockBodies`/`BlockBodies` with
//! random 8-byte request ids, gets an empty `NodeData` for `GetNodeData` on eth/66, and its
//! transaction announcement in the version's form is fetched back (`GetPooledTransactions`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::node::{base_port, devnet, interrupt, number, rpc, wait_until};

/// Runs `eth-requests.mjs` for `version` against the node at `enode`; its final JSON line.
fn eth_requests(version: u64, genesis: &std::path::Path, hash: &str, enode: &str) -> Value {
    let dir = cachet_testkit::node_peers_dir();
    let mut child = Command::new("node")
        .arg(dir.join("eth-requests.mjs"))
        .arg(version.to_string())
        .arg(genesis)
        .args([hash, enode, "3"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start node (Node.js: scripts/install-test-peers)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let last = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let v: Value = serde_json::from_str(&line).unwrap();
                if v["event"] != "ready" {
                    break v;
                }
            }
            Err(e) => break json!({"event": "no answer", "error": e.to_string()}),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    last
}

#[test]
#[ignore = "needs ethereumjs: run scripts/test"]
fn ethereumjs_devp2p_on_eth66_then_eth67_fetches_headers_and_bodies_from_cachet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(93), base_port(93) + 10);
    let mut net = devnet(&root, 1, p2p, http);
    let up = wait_until(Duration::from_secs(60), || number(http) >= 4);
    let enode = rpc(http, "admin_nodeInfo", json!([])).unwrap()["enode"]
        .as_str()
        .unwrap()
        .to_owned();
    let genesis_hash = rpc(http, "eth_getBlockByNumber", json!(["0x0", false])).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    let block = |n: u64| {
        rpc(
            http,
            "eth_getBlockByNumber",
            json!([format!("{n:#x}"), false]),
        )
    };
    let mut runs = Vec::new();
    for version in [66, 67] {
        runs.push((
            version,
            eth_requests(version, &root.join("genesis.json"), &genesis_hash, &enode),
        ));
    }
    let blocks: Vec<Value> = (1..=3).map(|n| block(n).unwrap()).collect();
    interrupt(&mut net);
    assert!(up, "cachet did not seal four blocks");
    for (version, done) in runs {
        assert_eq!(done["event"], "done", "eth/{version}: {done}");
        assert_eq!(done["negotiated"], version, "{done}");
        // Cachet offers all three; the peer only `version`, which the session uses.
        assert_eq!(
            done["hello"]["capabilities"],
            json!(["eth/66", "eth/67", "eth/68"])
        );
        assert_eq!(done["status"]["genesisHash"], genesis_hash.as_str());
        assert_eq!(done["status"]["networkId"], "0x0539");
        // Headers decoded and hashed by @ethereumjs/block are Cachet's blocks 1–3.
        let headers = done["headers"].as_array().unwrap();
        assert_eq!(headers.len(), 3, "{done}");
        for (h, b) in headers.iter().zip(&blocks) {
            assert_eq!(h["hash"], b["hash"], "eth/{version}");
            assert_eq!(h["parentHash"], b["parentHash"], "eth/{version}");
            assert_eq!(
                format!("{:#x}", h["number"].as_u64().unwrap()),
                b["number"].as_str().unwrap()
            );
        }
        let bodies = done["bodies"].as_array().unwrap();
        assert_eq!(bodies.len(), 3, "{done}");
        for (body, b) in bodies.iter().zip(&blocks) {
            assert_eq!(
                body["transactions"].as_u64().unwrap() as usize,
                b["transactions"].as_array().unwrap().len()
            );
            assert_eq!(body["uncles"], 0);
        }
        if version == 66 {
            assert_eq!(done["nodeData"], json!([]), "empty NodeData on eth/66");
        } else {
            assert!(done["nodeData"].is_null(), "{done}");
        }
        // The announcement in the eth/66–67 form (a plain hash list) was understood: Cachet
        // asked for exactly that hash, under a request id of its own.
        let req = &done["pooledRequest"];
        assert_eq!(req["hashes"], json!([req["announced"]]), "{done}");
        assert!(req["idBytes"].as_u64().unwrap() >= 1);
    }
}
