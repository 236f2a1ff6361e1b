//! `cachet devnet` and `cachet node` as processes: a 3-node clique devnet rotates in-turn
//! signers and agrees on the chain; a sealing node killed with SIGKILL at random moments
//! restarts with an intact chain and no height sealed twice with different blocks.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use cachet_seal::{Engine, Header, JournalKey, SealJournal, clique};
use rand::Rng as _;
use serde_json::{Value, json};

pub(crate) fn rpc(port: u16, method: &str, params: Value) -> Option<Value> {
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let v: Value = serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()?;
    Some(v["result"].clone())
}

pub(crate) fn number(port: u16) -> u64 {
    rpc(port, "eth_blockNumber", json!([]))
        .and_then(|v| v.as_str().map(str::to_owned))
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

fn raw_header(port: u16, n: u64) -> Header {
    let v = rpc(port, "debug_getRawHeader", json!([format!("{n:#x}")])).expect("rpc");
    let bytes = hex::decode(v.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
    Header::decode(&bytes).expect("header")
}

/// A base port unlikely to collide with parallel tests (ports base..base+5 are used).
pub(crate) fn base_port(salt: u16) -> u16 {
    20_000
        + ((std::process::id() as u16)
            .wrapping_mul(13)
            .wrapping_add(salt * 101)
            % 20_000)
}

pub(crate) fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

pub(crate) fn devnet(dir: &Path, nodes: usize, p2p: u16, http: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["devnet", "--period", "1", "--nodes", &nodes.to_string()])
        .arg("--dir")
        .arg(dir)
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cachet devnet");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line.expect("line");
        if line.starts_with("running") {
            break;
        }
    }
    child
}

pub(crate) fn interrupt(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

#[test]
fn accepts_three_node_devnet_rotating_in_turn_signers() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, http) = (base_port(1), base_port(1) + 10);
    let mut net = devnet(&dir.path().join("net"), 3, p2p, http);
    let ports = [http, http + 1, http + 2];
    let reached = wait_until(Duration::from_secs(90), || {
        ports.iter().all(|p| number(*p) >= 9)
    });
    let heights: Vec<u64> = ports.iter().map(|p| number(*p)).collect();
    if !reached {
        interrupt(&mut net);
        panic!("devnet did not reach block 9 on all nodes: {heights:?}");
    }
    let signers: Vec<Address> =
        serde_json::from_value(rpc(http, "clique_getSigners", json!(["latest"])).expect("signers"))
            .unwrap();
    assert_eq!(signers.len(), 3);
    let mut sealed_by = std::collections::BTreeSet::new();
    for n in 1..=8u64 {
        let hs: Vec<Header> = ports.iter().map(|p| raw_header(*p, n)).collect();
        let hash: B256 = hs[0].hash_slow();
        assert!(
            hs.iter().all(|h| h.hash_slow() == hash),
            "nodes disagree at block {n}"
        );
        let signer = clique::recover_signer(&hs[0]).unwrap();
        sealed_by.insert(signer);
        if hs[0].difficulty == alloy_primitives::U256::from(2) {
            assert_eq!(signer, signers[(n % 3) as usize], "in-turn signer at {n}");
        }
    }
    assert!(sealed_by.len() >= 2, "signers rotate: {sealed_by:?}");
    interrupt(&mut net);
}

#[test]
fn accepts_restart_after_sigkill_without_conflicting_seals() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(2), base_port(2) + 10);
    // Prepare keys and genesis with the devnet, then stop it.
    let mut net = devnet(&root, 1, p2p, http);
    assert!(wait_until(Duration::from_secs(30), || number(http) >= 1));
    interrupt(&mut net);
    let datadir = root.join("node0");
    let node = || {
        sealing_node(&root, p2p, http, &[])
            .spawn()
            .expect("spawn cachet node")
    };
    let mut rng = rand::thread_rng();
    for _ in 0..5 {
        let mut child = node();
        std::thread::sleep(Duration::from_millis(rng.gen_range(800..3500)));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    let mut child = node();
    let before = number(http);
    let grew = wait_until(Duration::from_secs(30), || number(http) > before.max(1) + 1);
    let head = number(http);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(grew, "the restarted node keeps sealing (head {head})");
    assert!(
        status.success(),
        "SIGTERM stops the node cleanly: {status:?}"
    );
    // Every canonical block links to its parent, and the journal recorded exactly the seal
    // of the canonical block at each height.
    let mut child = node();
    assert!(wait_until(Duration::from_secs(20), || number(http) >= head));
    let mut parent = raw_header(http, 0).hash_slow();
    let mut headers = Vec::new();
    for n in 1..=head {
        let h = raw_header(http, n);
        assert_eq!(h.parent_hash, parent, "block {n} links to its parent");
        parent = h.hash_slow();
        headers.push(h);
    }
    child.kill().unwrap();
    let _ = child.wait();
    let journal = SealJournal::open(&datadir).unwrap();
    for h in &headers {
        let recorded = journal.get(&JournalKey::new(Engine::Clique, h.number, 0));
        assert_eq!(
            recorded,
            Some(clique::seal_hash(h).unwrap()),
            "journal at {}",
            h.number
        );
    }
}

/// `cachet node --mine` for the devnet's first node under `root`, stdout discarded.
fn sealing_node(root: &Path, p2p: u16, http: u16, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cachet"));
    command
        .arg("node")
        .arg("--datadir")
        .arg(root.join("node0"))
        .arg("--genesis")
        .arg(root.join("genesis.json"))
        .args([
            "--port",
            &p2p.to_string(),
            "--http.port",
            &http.to_string(),
            "--mine",
        ])
        .args(extra)
        .stdout(Stdio::null());
    command
}

/// The lease reaches a running node: once its master key is gone, the next re-proof fails
/// definitively, the node stops sealing, wipes its keys, audits it and exits 10 — and it
/// cannot start again.
#[test]
fn revoked_master_key_stops_a_sealing_node_with_exit_10() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(3), base_port(3) + 10);
    let mut net = devnet(&root, 1, p2p, http);
    assert!(wait_until(Duration::from_secs(30), || number(http) >= 1));
    interrupt(&mut net);
    let datadir = root.join("node0");
    let start = || {
        sealing_node(&root, p2p, http, &["--kms-recheck", "1"])
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cachet node")
    };
    let mut child = start();
    let before = number(http);
    assert!(
        wait_until(Duration::from_secs(30), || number(http) > before),
        "sealing"
    );
    std::fs::remove_file(root.join("master.key")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node kept running after its master key was revoked"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(10), "exit 10 on revocation");
    let audit = std::fs::read_to_string(datadir.join("audit.log")).unwrap();
    let last = audit.lines().last().unwrap();
    assert!(
        last.contains("\"op\":\"revoked\"") && last.contains("keys_wiped"),
        "{last}"
    );
    let mut again = start();
    assert_eq!(
        again.wait().unwrap().code(),
        Some(10),
        "a revoked node does not start"
    );
}
