//! `cachet devnet` and `cachet node` as processes: a 3-node clique devnet rotates in-turn
//! signers and agrees on the chain; a sealing node killed with SIGKILL at random moments
//! restarts with an intact chain and no height sealed twice with different blocks.

use std::collections::BTreeMap;
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
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let v: Value = serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()?;
    Some(v["result"].clone())
}

/// The head, or 0 while the node does not answer (use [`head_once_up`] for a baseline).
pub(crate) fn number(port: u16) -> u64 {
    try_number(port).unwrap_or(0)
}

fn try_number(port: u16) -> Option<u64> {
    rpc(port, "eth_blockNumber", json!([]))
        .and_then(|v| v.as_str().map(str::to_owned))
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
}

/// The head as first reported once the node's RPC answers: a baseline that is never the 0 of
/// a refused connection.
///
/// # Panics
/// When RPC does not answer within 30 s.
pub(crate) fn head_once_up(port: u16) -> u64 {
    let start = Instant::now();
    loop {
        if let Some(head) = try_number(port) {
            return head;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "RPC on {port} did not answer within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn raw_header(port: u16, n: u64) -> Header {
    let v = rpc(port, "debug_getRawHeader", json!([format!("{n:#x}")])).expect("rpc");
    let bytes = hex::decode(v.as_str().expect("hex").trim_start_matches("0x")).expect("hex");
    Header::decode(&bytes).expect("header")
}

/// The first of the 40 ports `base..base+40` a test may use. Each salt (unique across this
/// binary's tests) gets its own block, so tests running in parallel never share a port, and
/// every block lies below the kernel's ephemeral range (32768 and up), so no `bind(0)` or
/// outgoing connection elsewhere can take one of them.
///
/// A salt claimed by two tests would let them share ports, which fails one of them only when
/// they happen to overlap; so the first test to use a salt owns it, and another test asking for
/// it panics at once, whatever the timing (every test of this binary runs in one process).
pub(crate) fn base_port(salt: u16) -> u16 {
    echo_panics_inline();
    claim_salt(salt);
    const LOW: u32 = 20_000;
    const BLOCK: u32 = 40;
    const BLOCKS: u32 = (32_768 - LOW) / BLOCK;
    let slot = (std::process::id().wrapping_mul(7) + u32::from(salt)) % BLOCKS;
    u16::try_from(LOW + slot * BLOCK).expect("below 32768")
}

/// Makes a panic also print, uncaptured, where it happens in the run's output. libtest keeps a
/// failing test's message for its summary at the end of the binary's output, and CI shows only
/// part of a long log; the inline copy sits next to the test's `FAILED` line. Installed by the
/// first process test to take ports (every process test does).
fn echo_panics_inline() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            const MOST: usize = 8 * 1024;
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            let cut = message.floor_char_boundary(MOST);
            let test = std::thread::current().name().unwrap_or("?").to_owned();
            let at = info.location().map(ToString::to_string).unwrap_or_default();
            // Straight to fd 2: `eprintln!` in a test is captured.
            let _ = writeln!(
                std::io::stderr().lock(),
                "--- {test} panicked at {at}:\n{}{}",
                &message[..cut],
                if cut < message.len() { " [...]" } else { "" }
            );
            previous(info);
        }));
    });
}

/// Records the running test (its thread's name) as `salt`'s owner; panics if another test owns it.
fn claim_salt(salt: u16) {
    static OWNERS: std::sync::Mutex<BTreeMap<u16, String>> = std::sync::Mutex::new(BTreeMap::new());
    // libtest names each test's thread after the test; run with one thread it may run them all
    // on "main", and a helper thread has no name: neither says which test is asking.
    let test = match std::thread::current().name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => return,
    };
    let mut owners = OWNERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let owner = owners.entry(salt).or_insert_with(|| test.clone());
    assert!(
        *owner == test,
        "port salt {salt} is used by both {owner} and {test}: give one of them an unused salt"
    );
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
    devnet_with(dir, nodes, p2p, http, &[])
}

/// [`devnet`] with extra `cachet devnet` arguments.
pub(crate) fn devnet_with(dir: &Path, nodes: usize, p2p: u16, http: u16, extra: &[&str]) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["devnet", "--period", "1", "--nodes", &nodes.to_string()])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()])
        .args(["--ws.port", "0"])
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
        // Each node line ends with its WebSocket URL (the port it bound, with --ws.port 0).
        if line.starts_with("node") && line.contains(": enode ") {
            let ws = line.rsplit(" ws ").next().unwrap_or_default();
            let port: u16 = ws
                .strip_prefix("ws://127.0.0.1:")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no ws URL in {line:?}"));
            assert_ne!(port, 0, "{line}");
            assert_eq!(ws_handshake(port), "101", "ws of {line}");
        }
    }
    child
}

/// The status code a WebSocket upgrade request to 127.0.0.1:`port` gets.
fn ws_handshake(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to ws");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: localhost:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .get(9..12)
        .unwrap_or_default()
        .to_owned()
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
        // No doppelganger window here: the kills are to land while blocks are being sealed
        // (the restarts below run with the check on).
        let mut child = sealing_node(&root, p2p, http, &["--doppelganger-periods", "0"])
            .spawn()
            .expect("spawn cachet node");
        std::thread::sleep(Duration::from_millis(rng.gen_range(800..3500)));
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
    }
    let mut child = node();
    let before = head_once_up(http);
    assert!(before >= 1, "the chain survived the kills (head {before})");
    let grew = wait_until(Duration::from_secs(30), || number(http) >= before + 2);
    let head = number(http);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(
        grew,
        "the restarted node keeps sealing: head {head}, {before} when its RPC first answered"
    );
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
    devnet_node(root, 0, p2p, http, extra)
}

/// `cachet node --mine` for the devnet's node `i` under `root`, stdout discarded.
pub(crate) fn devnet_node(root: &Path, i: usize, p2p: u16, http: u16, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cachet"));
    command
        .arg("node")
        .arg("--datadir")
        .arg(root.join(format!("node{i}")))
        .arg("--genesis")
        .arg(root.join("genesis.json"))
        .args([
            "--port",
            &p2p.to_string(),
            "--http.port",
            &http.to_string(),
            "--mine",
            // raw_header reads debug_getRawHeader.
            "--http.api",
            "eth,net,web3,debug,clique",
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
    let before = head_once_up(http);
    assert!(
        wait_until(Duration::from_secs(30), || number(http) > before),
        "sealing (head {before} when RPC first answered)"
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

/// Runs `cachet` with `args` (no stdin) and asserts that it succeeded.
pub(crate) fn cachet(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cachet");
    assert!(
        out.status.success(),
        "cachet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Waits for `child` to exit; `None` past `limit`.
pub(crate) fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Three processes, three bundles, each under its own local master key: revoking one node's
/// master key (its key file deleted) makes that node exit 10 and leave the signer rotation,
/// while the other two keep sealing (with 3 signers the recently-signed limit is 2 blocks, so
/// two signers can alternate) and agree on every new block, none sealed by the revoked signer.
#[test]
fn revoked_master_key_takes_one_of_three_signers_out_while_two_keep_sealing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(4), base_port(4) + 10);
    // Bundles and genesis from the devnet, then each bundle moved to its own master key.
    let mut net = devnet(&root, 3, p2p, http);
    let ready = wait_until(Duration::from_secs(60), || number(http) >= 1);
    interrupt(&mut net);
    assert!(ready, "the devnet sealed a block");
    let mut enodes = Vec::new();
    let mut sealers = Vec::new();
    for i in 0..3u16 {
        let datadir = root.join(format!("node{i}"));
        let datadir = datadir.to_str().unwrap();
        let key = format!("local:{}", root.join(format!("master-{i}.key")).display());
        cachet(&["master-key", "new", &key]);
        cachet(&["rotate", "--datadir", datadir, "--to", &key]);
        let id: Value =
            serde_json::from_slice(&cachet(&["inspect", "--datadir", datadir, "--json"]).stdout)
                .unwrap();
        enodes.push(format!(
            "enode://{}@127.0.0.1:{}",
            id["enode_id"].as_str().unwrap(),
            p2p + i
        ));
        sealers.push(
            id["sealer_address"]
                .as_str()
                .unwrap()
                .parse::<Address>()
                .unwrap(),
        );
    }
    std::fs::remove_file(root.join("master.key")).unwrap();
    let ports = [http, http + 1, http + 2];
    let mut children: Vec<Child> = (0..3usize)
        .map(|i| {
            let others: Vec<&str> = (0..3)
                .filter(|j| *j != i)
                .map(|j| enodes[j].as_str())
                .collect();
            devnet_node(
                &root,
                i,
                p2p + i as u16,
                ports[i],
                &["--kms-recheck", "1", "--bootnodes", &others.join(",")],
            )
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cachet node")
        })
        .collect();
    let stop_all = |children: &mut Vec<Child>| {
        for c in children.iter_mut() {
            interrupt(c);
        }
    };
    let start = ports.iter().map(|p| number(*p)).max().unwrap_or(0);
    if !wait_until(Duration::from_secs(60), || {
        ports.iter().all(|p| number(*p) >= start + 4)
    }) {
        let heights: Vec<u64> = ports.iter().map(|p| number(*p)).collect();
        stop_all(&mut children);
        panic!("the three nodes did not seal together: {heights:?}");
    }
    // Revoke node 2's master key.
    std::fs::remove_file(root.join("master-2.key")).unwrap();
    let status = wait_exit(&mut children[2], Duration::from_secs(30));
    let Some(status) = status else {
        stop_all(&mut children);
        panic!("the node kept running after its master key was revoked");
    };
    assert_eq!(status.code(), Some(10), "exit 10 on revocation");
    let audit = std::fs::read_to_string(root.join("node2/audit.log")).unwrap();
    assert!(
        audit.lines().last().unwrap().contains("\"op\":\"revoked\""),
        "{audit}"
    );
    // Blocks sealed after the exit (a block in flight may still carry node 2's seal).
    let after = number(ports[0]).max(number(ports[1])) + 1;
    let target = after + 6;
    let continued = wait_until(Duration::from_secs(60), || {
        ports[..2].iter().all(|p| number(*p) >= target)
    });
    let heights: Vec<u64> = ports[..2].iter().map(|p| number(*p)).collect();
    if !continued {
        stop_all(&mut children);
        panic!("the two remaining signers stopped at {heights:?}, wanted {target}");
    }
    let signers: Vec<Address> =
        serde_json::from_value(rpc(ports[0], "clique_getSigners", json!(["latest"])).unwrap())
            .unwrap();
    let mut sealed_by = std::collections::BTreeSet::new();
    for n in after + 1..=target {
        let h0 = raw_header(ports[0], n);
        let h1 = raw_header(ports[1], n);
        assert_eq!(
            h0.hash_slow(),
            h1.hash_slow(),
            "nodes disagree at block {n}"
        );
        let signer = clique::recover_signer(&h0).unwrap();
        assert_ne!(signer, sealers[2], "block {n} sealed by the revoked signer");
        assert!(signers.contains(&signer), "block {n} sealed by a signer");
        sealed_by.insert(signer);
    }
    assert_eq!(
        sealed_by,
        [sealers[0], sealers[1]].into_iter().collect(),
        "both remaining signers seal"
    );
    stop_all(&mut children);
}

/// An ethash genesis (hive's devp2p simulator's) runs a non-sealing node; asking it to seal is a
/// usage error found before the unlock, so it needs no bundle and nothing listens.
#[test]
fn refuses_mine_on_an_ethash_genesis_before_unlocking() {
    let dir = tempfile::tempdir().unwrap();
    let genesis =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hive/testdata/devp2p-genesis.json");
    let out = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args([
            "node",
            "--mine",
            "--port",
            "0",
            "--http.port",
            "0",
            "--datadir",
        ])
        .arg(dir.path().join("no-bundle-here"))
        .arg("--genesis")
        .arg(genesis)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ethash"), "{stderr}");
}

/// `--bootnodes` takes GoQuorum's `static-nodes.json` form (`?discport=0&raftport=…`), parsed by
/// the one enode parser that discovery uses too: the node starts and keeps sealing.
#[test]
fn accepts_goquorum_static_node_form_in_bootnodes() {
    // nodekey.json (Consensys/quorum-examples 7nodes, node 1); nothing listens at its port.
    const ID: &str = "ac6b1096ca56b9f6d004b779ae3728bf83f8e22453404cc3cef16a3d9b96608bc67c4b30db88e0a5a6c6390213f7acbe1153ff6d23ce57380104288ae19373ef";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(6), base_port(6) + 10);
    let mut net = devnet(&root, 1, p2p, http);
    assert!(wait_until(Duration::from_secs(30), || number(http) >= 1));
    interrupt(&mut net);
    let bootnode = format!(
        "enode://{ID}@127.0.0.1:{}?discport=0&raftport=50401",
        p2p + 7
    );
    let mut child = sealing_node(&root, p2p, http, &["--bootnodes", &bootnode])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cachet node");
    let before = number(http);
    let sealing = wait_until(Duration::from_secs(30), || {
        number(http) > before || child.try_wait().unwrap().is_some()
    });
    if let Some(status) = child.try_wait().unwrap() {
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        panic!("the node exited with {status}: {stderr}");
    }
    interrupt(&mut child);
    assert!(sealing, "the node did not seal a new block within 30 s");
}

/// `GET /metrics` on 127.0.0.1:`port`: the Prometheus text, `None` while nothing answers.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, body)| body.to_owned())
}

/// The value of the first sample of `name` (with any labels) in Prometheus text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn serves_prometheus_metrics_of_a_sealing_node() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let (p2p, http) = (base_port(38), base_port(38) + 10);
    let metrics = base_port(38) + 20;
    let mut net = devnet(&root, 1, p2p, http);
    interrupt(&mut net);
    let mut child = sealing_node(
        &root,
        p2p,
        http,
        &["--metrics", "--metrics.port", &metrics.to_string()],
    )
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn cachet node");
    // Two blocks sealed after the start, and a sampling tick after that.
    let start = head_once_up(http);
    let sealed = wait_until(Duration::from_secs(30), || number(http) >= start + 2);
    let text = wait_until(Duration::from_secs(10), || {
        scrape(metrics)
            .is_some_and(|t| sample(&t, "cachet_head_number").unwrap_or(0.0) >= (start + 2) as f64)
    })
    .then(|| scrape(metrics))
    .flatten();
    interrupt(&mut child);
    assert!(sealed, "the node sealed no blocks");
    let text = text.expect("no metrics with the head at the sealed height");
    assert_eq!(sample(&text, "cachet_peers"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "cachet_txpool_pending"), Some(0.0), "{text}");
    assert!(
        sample(&text, "cachet_seal_seconds_count").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert!(
        sample(&text, "cachet_blocks_imported_total").unwrap_or(0.0) >= 1.0,
        "{text}"
    );
    assert_eq!(sample(&text, "cachet_kms_lease_state"), Some(0.0), "{text}");
}
