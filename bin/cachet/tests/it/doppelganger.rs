//! The doppelganger check with `cachet node` processes on a clique chain, two datadirs holding
//! copies of one bundle (what cloning a validator does): the first node restarted keeps
//! sealing; the copy started second, reaching the first through two followers, exits 15 with
//! the doppelganger message and signs nothing, and the first keeps sealing. No height of the
//! first node's chain is signed twice. (A node already sealing that stops on a block its key
//! signed elsewhere: `crates/node/tests/it/doppelganger.rs`, where the block is delivered
//! deterministically.)
//!
//! Every wait is for an event (a block number, a process exit) under a generous deadline.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::B256;
use cachet_seal::{Engine, Header, JournalKey, SealJournal, clique};
use serde_json::{Value, json};

use super::node::{base_port, devnet, head_once_up, interrupt, number, rpc, wait_until};

const DEADLINE: Duration = Duration::from_secs(120);

/// `cachet node` on `datadir`, stderr to `log`; returns the child and its enode (read
/// from the started line).
fn start(
    root: &Path,
    datadir: &Path,
    (p2p, http): (u16, u16),
    log: &Path,
    extra: &[&str],
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["--log", "info", "node", "--datadir"])
        .arg(datadir)
        .arg("--genesis")
        .arg(root.join("genesis.json"))
        .args(["--addr", "127.0.0.1", "--nodiscover"])
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()])
        .args(["--http.api", "eth,net,web3,debug"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn cachet node");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).unwrap();
    let started: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("started line {line:?}: {e}; log: {}", read(log)));
    (child, started["enode"].as_str().unwrap().to_owned())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits for `child` to exit; panics naming `what` at the deadline (after killing it).
fn exit_code(child: &mut Child, what: &str, log: &Path) -> Option<i32> {
    let mut status = None;
    wait_until(DEADLINE, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} still running at the deadline; log:\n{}", read(log));
    };
    status.code()
}

fn raw_header(port: u16, n: u64) -> Header {
    let v = rpc(port, "debug_getRawHeader", json!([format!("{n:#x}")])).expect("rpc");
    let bytes = hex::decode(v.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
    Header::decode(&bytes).expect("header")
}

/// The copy of a datadir's bundle in a fresh datadir.
fn copy_bundle(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(from.join("keys.cachet"), to.join("keys.cachet")).unwrap();
    std::fs::set_permissions(
        to.join("keys.cachet"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

#[test]
fn copies_of_one_bundle_never_seal_one_height_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let base = base_port(90);
    // Keys (a local master key, `init`) and the genesis from a one-node devnet, then stopped.
    let mut net = devnet(&root, 1, base, base + 10);
    assert!(wait_until(DEADLINE, || number(base + 10) >= 1));
    interrupt(&mut net);
    let a_dir = root.join("node0");
    let signer = sealer_address(&root);
    let port = |i: u16| (base + i, base + 10 + i);
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let mine = |periods: &'static str| ["--mine", "--doppelganger-periods", periods];

    // A restarted on its datadir keeps sealing (its own earlier blocks are no doppelganger).
    let (mut a, _) = start(&root, &a_dir, port(0), &log("a0"), &mine("1"));
    let before = head_once_up(port(0).1);
    assert!(
        wait_until(DEADLINE, || number(port(0).1) >= before + 2),
        "A keeps sealing after a restart; log:\n{}",
        read(&log("a0"))
    );
    stop(&mut a);
    let (mut a, a_enode) = start(&root, &a_dir, port(0), &log("a"), &mine("1"));
    let before = head_once_up(port(0).1);
    assert!(wait_until(DEADLINE, || number(port(0).1) > before));

    // The copies share a node id, so they cannot peer nor share a peer: A reaches B through
    // two followers with bundles of their own, A - F1 - F2 - B.
    let master = format!("local:{}", root.join("master.key").display());
    let mut followers = Vec::new();
    let mut boot = a_enode;
    for (i, name) in [(1, "f1"), (2, "f2")] {
        let datadir = dir.path().join(name);
        let out = Command::new(env!("CARGO_BIN_EXE_cachet"))
            .args([
                "init",
                "--chain-id",
                "1337",
                "--master-key",
                &master,
                "--datadir",
            ])
            .arg(&datadir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (child, enode) = start(
            &root,
            &datadir,
            port(i),
            &log(name),
            &["--bootnodes", &boot],
        );
        followers.push(child);
        boot = enode;
    }
    assert!(wait_until(DEADLINE, || number(port(2).1) > before));

    // B, a copy started second, hears A's blocks and refuses to seal: exit 15.
    let b_dir = dir.path().join("b");
    copy_bundle(&a_dir, &b_dir);
    let (mut b, _) = start(
        &root,
        &b_dir,
        port(3),
        &log("b"),
        &[
            "--bootnodes",
            &boot,
            "--mine",
            "--doppelganger-periods",
            "60",
        ],
    );
    assert_eq!(
        exit_code(&mut b, "B", &log("b")),
        Some(15),
        "log:\n{}",
        read(&log("b"))
    );
    let b_err = read(&log("b"));
    assert!(b_err.contains("error: doppelganger: block "), "{b_err}");
    assert!(
        b_err
            .to_lowercase()
            .contains(&format!("signed by this node's key {signer}")),
        "{b_err}"
    );
    assert_eq!(
        std::fs::read(b_dir.join(cachet_seal::JOURNAL_FILE)).unwrap(),
        b"",
        "B signed nothing"
    );
    assert!(a.try_wait().unwrap().is_none(), "A is not disturbed");
    let head = number(port(0).1);
    assert!(wait_until(DEADLINE, || number(port(0).1) >= head + 2));
    let head = number(port(0).1);

    // A's chain: every block signed by the key, linked to its parent, and exactly the block
    // A's journal recorded at that height (no height signed twice).
    let mut parent: B256 = raw_header(port(0).1, 0).hash_slow();
    let mut headers = Vec::new();
    for n in 1..=head {
        let h = raw_header(port(0).1, n);
        assert_eq!(h.parent_hash, parent, "block {n} links to its parent");
        assert_eq!(
            format!("{:?}", clique::recover_signer(&h).unwrap()).to_lowercase(),
            signer,
            "block {n}"
        );
        parent = h.hash_slow();
        headers.push(h);
    }
    stop(&mut a);
    for f in &mut followers {
        stop(f);
    }
    let journal = SealJournal::open(&a_dir).unwrap();
    for h in &headers {
        assert_eq!(
            journal.get(&JournalKey::new(Engine::Clique, h.number, 0)),
            Some(clique::seal_hash(h).unwrap()),
            "A's journal at {}",
            h.number
        );
    }
}

/// The devnet node's sealing address, lowercase hex (`cachet inspect`).
fn sealer_address(root: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["inspect", "--json", "--datadir"])
        .arg(root.join("node0"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["sealer_address"].as_str().unwrap().to_lowercase()
}
