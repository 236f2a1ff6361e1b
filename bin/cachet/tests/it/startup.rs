//! The one startup path as processes: `cachet devnet` leaves no node behind when stopped by
//! SIGTERM or killed by SIGKILL; `cachet node` and `cachet p2p` run hardened (core limit 0,
//! not dumpable) and report it; a failed write of node state exits 1, not 2 (usage).

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::node::{base_port, rpc, wait_until};

fn cachet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cachet")
}

/// The pids whose parent is `parent` (from `/proc/<pid>/stat`).
pub(crate) fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if stat(pid).is_some_and(|(_, ppid)| ppid == parent) {
            out.push(pid);
        }
    }
    out
}

/// `(state, ppid)` of `pid`, `None` once it is gone.
pub(crate) fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// True when `pid` no longer runs (gone, or a zombie nobody reaped yet).
pub(crate) fn dead(pid: u32) -> bool {
    stat(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts a 2-node devnet and waits until it prints "running"; returns it and its nodes' pids.
fn devnet(dir: &Path, p2p: u16, http: u16) -> (Child, Vec<u32>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["devnet", "--period", "1", "--nodes", "2"])
        .arg("--dir")
        .arg(dir)
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()])
        .args(["--ws.port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn cachet devnet");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let running = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.starts_with("running"));
    assert!(running, "the devnet did not start");
    // Keep reading stdout so that the devnet never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let nodes = children_of(child.id());
    assert_eq!(nodes.len(), 2, "two `cachet node` children: {nodes:?}");
    (child, nodes)
}

/// Every node process is gone and every port the devnet used can be bound again.
fn assert_nodes_gone_and_ports_free(nodes: &[u32], p2p: u16, http: u16) {
    let gone = wait_until(Duration::from_secs(20), || nodes.iter().all(|p| dead(*p)));
    let alive: Vec<u32> = nodes.iter().copied().filter(|p| !dead(*p)).collect();
    for pid in &alive {
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status();
    }
    assert!(gone, "devnet nodes still running: {alive:?}");
    for i in 0..2 {
        TcpListener::bind(("127.0.0.1", p2p + i)).expect("RLPx port free");
        UdpSocket::bind(("127.0.0.1", p2p + i)).expect("discv4 port free");
        TcpListener::bind(("127.0.0.1", http + i)).expect("JSON-RPC port free");
    }
}

#[test]
fn devnet_stopped_by_sigterm_stops_its_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, http) = (base_port(21), base_port(21) + 10);
    let (mut net, nodes) = devnet(&dir.path().join("net"), p2p, http);
    signal(net.id(), "TERM");
    let status = net.wait().unwrap();
    assert_nodes_gone_and_ports_free(&nodes, p2p, http);
    assert!(status.success(), "devnet exits 0 on SIGTERM: {status:?}");
}

#[test]
fn devnet_killed_by_sigkill_takes_its_nodes_down() {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, http) = (base_port(22), base_port(22) + 10);
    let (mut net, nodes) = devnet(&dir.path().join("net"), p2p, http);
    net.kill().unwrap();
    net.wait().unwrap();
    assert_nodes_gone_and_ports_free(&nodes, p2p, http);
}

/// `Max core file size` soft and hard limits from `/proc/<pid>/limits`.
pub(crate) fn core_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core line");
    let mut fields = line["Max core file size".len()..].split_whitespace();
    (
        fields.next().unwrap().to_owned(),
        fields.next().unwrap().to_owned(),
    )
}

/// A fresh datadir under `dir` (local master key) for a node or p2p run.
fn init(dir: &Path) -> String {
    let mk = format!("local:{}", dir.join("mk").display());
    let data = dir.join("data").display().to_string();
    assert!(cachet(&["master-key", "new", &mk]).status.success());
    let out = cachet(&["init", "--datadir", &data, "--master-key", &mk]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    data
}

fn first_line(child: &mut Child) -> String {
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let line = lines.next().expect("a line").expect("utf-8");
    std::thread::spawn(move || for _ in lines {});
    line
}

fn genesis() -> std::path::PathBuf {
    cachet_testkit::workspace_root().join("crates/devp2p/testdata/genesis/interop-clique.json")
}

#[test]
fn node_runs_hardened_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let http = base_port(23);
    let mut node = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["node", "--datadir", &data, "--nodiscover", "--port", "0"])
        .arg("--genesis")
        .arg(genesis())
        .args(["--http.port", &http.to_string(), "--http.api", "eth,admin"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut node);
    let limits = core_limits(node.id());
    let info = rpc(http, "admin_nodeInfo", json!([]));
    let _ = node.kill();
    let _ = node.wait();
    assert_eq!(
        limits,
        ("0".to_owned(), "0".to_owned()),
        "core limit of the node"
    );
    let started: Value = serde_json::from_str(&line).unwrap();
    let hardening = &started["hardening"];
    assert_eq!(hardening["core_limit"], 0, "{line}");
    assert_eq!(hardening["dumpable"], false, "{line}");
    assert!(hardening["memory_locked"].is_boolean(), "{line}");
    if hardening["memory_locked"] == false {
        assert!(hardening["memory_lock_error"].is_string(), "{line}");
    }
    let info = info.expect("admin_nodeInfo answers");
    assert_eq!(info["hardening"], *hardening, "{info}");
}

#[test]
fn p2p_runs_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let mut p2p = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["p2p", "--datadir", &data, "--nodiscover"])
        .args(["--port", "0", "--addr", "127.0.0.1"])
        .arg("--genesis")
        .arg(genesis())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let enode = first_line(&mut p2p);
    let limits = core_limits(p2p.id());
    let _ = p2p.kill();
    let _ = p2p.wait();
    assert!(enode.starts_with("enode://"), "{enode}");
    assert_eq!(
        limits,
        ("0".to_owned(), "0".to_owned()),
        "core limit of p2p"
    );
}

#[test]
fn failed_write_of_node_state_is_a_local_failure() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where a directory must be created: the write fails whoever runs it.
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let under = file.join("datadir").display().to_string();
    let blocks = dir.path().join("blocks.rlp");
    std::fs::write(&blocks, b"").unwrap();
    let out = cachet(&[
        "import",
        "--datadir",
        &under,
        "--genesis",
        genesis().to_str().unwrap(),
        blocks.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&under), "names the path: {stderr}");
    let out = cachet(&["devnet", "--dir", &under]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&under), "names the path: {stderr}");
}
