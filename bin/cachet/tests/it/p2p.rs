//! `cachet p2p`: unlock, listen, print the enode; real peers connect to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The interop genesis' hash, as the genesis crate computes it.
fn genesis_hash() -> String {
    let g = cachet_genesis::Genesis::from_file(&genesis(), cachet_genesis::RaftMarker::FromGenesis)
        .unwrap();
    g.hash().to_string()
}

fn cachet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cachet")
}

fn genesis() -> PathBuf {
    cachet_testkit::workspace_root().join("crates/devp2p/testdata/genesis/interop-clique.json")
}

/// A running `cachet p2p`, killed when dropped.
struct Node {
    child: Child,
    enode: String,
    lines: std::sync::mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mk = format!("local:{}", dir.path().join("mk").display());
        let data = dir.path().join("data").display().to_string();
        assert!(cachet(&["master-key", "new", &mk]).status.success());
        let out = cachet(&["init", "--datadir", &data, "--master-key", &mk]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
            .args([
                "p2p",
                "--datadir",
                &data,
                "--genesis",
                genesis().to_str().unwrap(),
            ])
            .args(["--port", "0", "--addr", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let enode = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("cachet p2p printed its enode");
        assert!(
            enode.starts_with("enode://"),
            "cachet p2p printed {enode:?}"
        );
        // The enode's id is the one `cachet inspect` reports for the datadir.
        let inspect = cachet(&["inspect", "--datadir", &data, "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        let id = v["enode_id"]
            .as_str()
            .or_else(|| v["identities"]["enode_id"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert!(
            enode.contains(&id) && id.len() == 128,
            "inspect {v} vs {enode}"
        );
        Self {
            child,
            enode,
            lines,
            _dir: dir,
        }
    }
}

#[test]
fn p2p_refuses_to_start_without_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("none").display().to_string();
    let out = cachet(&[
        "p2p",
        "--datadir",
        &data,
        "--genesis",
        genesis().to_str().unwrap(),
        "--port",
        "0",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "printed an enode without keys");
}

#[test]
#[ignore = "needs ethereumjs: run scripts/test"]
fn ethereumjs_connects_to_cachet_p2p() {
    let node = Node::start();
    let hash = genesis_hash();
    let out = cachet_testkit::run_node_script(
        "rlpx-peer.mjs",
        &["dial", genesis().to_str().unwrap(), &hash, &node.enode],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["event"] == "done")
        .unwrap();
    let id = node
        .enode
        .trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap();
    assert_eq!(done["remoteId"].as_str().unwrap(), id);
    assert_eq!(done["status"]["genesisHash"].as_str().unwrap(), hash);
    // cachet p2p printed the peer's Hello and Status.
    let line = |n: &Node| -> serde_json::Value {
        serde_json::from_str(&n.lines.recv_timeout(Duration::from_secs(5)).unwrap()).unwrap()
    };
    let hello = line(&node);
    assert_eq!(hello["event"], "hello");
    let ready: serde_json::Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["event"] == "ready")
        .unwrap();
    assert_eq!(hello["peer"], ready["id"]);
    assert!(
        hello["client_id"]
            .as_str()
            .unwrap()
            .starts_with("ethereumjs-devp2p"),
        "{hello}"
    );
    assert_eq!(hello["capabilities"], serde_json::json!(["eth/68"]));
    let status = line(&node);
    assert_eq!(status["event"], "status");
    assert_eq!(status["network_id"], 1337);
    assert_eq!(status["genesis"], hash.as_str());
    assert_eq!(status["fork_next"], 10);
}

#[test]
#[ignore = "needs geth's devp2p tool: run scripts/test"]
fn geth_devp2p_rlpx_ping_succeeds() {
    let tool = cachet_testkit::go_tool("devp2p");
    let node = Node::start();
    let out = Command::new(tool)
        .args(["rlpx", "ping", &node.enode])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "devp2p rlpx ping failed: {text}");
    // It prints the Hello it got: our client id and eth/68.
    assert!(text.contains("cachet/") && text.contains("eth"), "{text}");
    std::thread::sleep(Duration::from_millis(100));
}

/// `cachet p2p` serves discv4 on the node key: geth's tool pings it and its conformance suite
/// (the one hive's devp2p simulator runs) passes against the real command, not a test harness.
#[test]
#[ignore = "needs geth's devp2p tool (Go): run scripts/test"]
fn geth_devp2p_discv4_suite_passes_against_cachet_p2p() {
    let tool = cachet_testkit::go_tool("devp2p");
    let node = Node::start();
    let ping = Command::new(&tool)
        .args(["discv4", "ping", &node.enode])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&ping.stdout).to_string() + &String::from_utf8_lossy(&ping.stderr);
    assert!(
        ping.status.success() && text.contains("node responded to ping"),
        "{text}"
    );

    let suite = Command::new(&tool)
        .args([
            "discv4",
            "test",
            "-remote",
            &node.enode,
            "-listen1",
            "127.0.0.1",
            "-listen2",
            "127.0.0.2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&suite.stdout).to_string()
        + &String::from_utf8_lossy(&suite.stderr);
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("-- FAIL")).collect();
    let passed = text.lines().filter(|l| l.starts_with("-- OK")).count();
    assert!(failed.is_empty(), "failing cases: {failed:?}\n{text}");
    assert!(passed >= 15, "only {passed} cases ran:\n{text}");
}
