//! Interop with `@ethereumjs/client` 0.10.5 (a real clique node, `test-peers.md`): it follows a
//! chain sealed by a Cachet node, validating every seal with its own clique consensus, and its
//! JSON-RPC returns the same block hashes as ours.
//!
//! The client binary is `tests/peers/node_modules/.bin/ethereumjs`, or `$CACHET_ETHEREUMJS`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::node::{base_port, devnet, interrupt, number, rpc, wait_until};

fn ethereumjs() -> PathBuf {
    let bin = std::env::var_os("CACHET_ETHEREUMJS").map_or_else(
        || cachet_testkit::node_peers_dir().join("node_modules/.bin/ethereumjs"),
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "{} missing: run scripts/install-test-peers (npm @ethereumjs/client@0.10.5)",
        bin.display()
    );
    bin
}

#[test]
#[ignore = "needs ethereumjs: run scripts/test"]
fn accepts_ethereumjs_syncing_twenty_cachet_sealed_blocks() {
    let ejs = ethereumjs();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(3), base_port(3) + 10);
    let (ejs_p2p, ejs_http) = (base_port(3) + 20, base_port(3) + 21);
    let mut net = devnet(&root, 1, p2p, http);
    let enode = rpc(http, "admin_nodeInfo", json!([])).unwrap()["enode"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = std::fs::File::create(dir.path().join("ethereumjs.log")).unwrap();
    let mut client = Command::new(&ejs)
        .arg("--gethGenesis")
        .arg(root.join("genesis.json"))
        .arg("--dataDir")
        .arg(dir.path().join("ejs"))
        .args(["--port", &ejs_p2p.to_string(), "--extIP", "127.0.0.1"])
        .args([
            "--discDns",
            "false",
            "--discV4",
            "false",
            "--bootnodes",
            &enode,
        ])
        .args([
            "--rpc",
            "--rpcPort",
            &ejs_http.to_string(),
            "--rpcAddr",
            "127.0.0.1",
        ])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn ethereumjs");
    // EthereumJS does not always dial its bootnode promptly; we also dial it.
    let ejs_enode = wait_until(Duration::from_secs(60), || {
        rpc(ejs_http, "admin_nodeInfo", json!([])).is_some_and(|v| v["enode"].is_string())
    });
    assert!(ejs_enode, "ethereumjs RPC did not come up");
    let info = rpc(ejs_http, "admin_nodeInfo", json!([])).unwrap();
    let url = info["enode"].as_str().unwrap().to_owned();
    // Its advertised address may be 0.0.0.0 or lack the port: dial loopback on its RLPx port.
    let id = url
        .trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    rpc(
        http,
        "admin_addPeer",
        json!([format!("enode://{id}@127.0.0.1:{ejs_p2p}")]),
    );
    let synced = wait_until(Duration::from_secs(120), || number(ejs_http) >= 20);
    let ours = number(http);
    let theirs = number(ejs_http);
    let mut mismatches = Vec::new();
    if synced {
        for n in 1..=20u64 {
            let q = json!([format!("{n:#x}"), false]);
            let a = rpc(http, "eth_getBlockByNumber", q.clone()).unwrap()["hash"].clone();
            let b = rpc(ejs_http, "eth_getBlockByNumber", q).unwrap()["hash"].clone();
            if a != b {
                mismatches.push((n, a, b));
            }
        }
    }
    let _ = client.kill();
    let _ = client.wait();
    interrupt(&mut net);
    assert!(
        synced,
        "ethereumjs reached {theirs} while cachet is at {ours}"
    );
    assert!(mismatches.is_empty(), "hash mismatches: {mismatches:?}");
}
