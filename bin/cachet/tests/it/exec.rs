//! `cachet exec` as processes: the keys a client reads on fd 3, 4, … derive the bundle's
//! public identities (as `cachet inspect` prints them, no secret involved); the client's exit
//! code and death by signal pass through; stop signals are forwarded; the client runs with core
//! dumps off and no key in its argv or environment, and dies with cachet; revoking the master
//! key stops it (SIGTERM, then SIGKILL) and cachet exits 10. Then geth v1.17.10 itself.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use secp256k1::{PublicKey, SECP256K1, SecretKey};
use serde_json::{Value, json};

use super::node::{base_port, rpc, wait_until};
use super::startup::{children_of, core_limits, dead};

fn cachet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cachet")
}

/// A fresh bundle (separate sealing key) under a local master key in `dir`; returns the
/// datadir and the master key file.
fn init(dir: &Path) -> (String, PathBuf) {
    let mk = dir.join("mk");
    let mk_ref = format!("local:{}", mk.display());
    let data = dir.join("data").display().to_string();
    assert!(cachet(&["master-key", "new", &mk_ref]).status.success());
    let out = cachet(&["init", "--datadir", &data, "--master-key", &mk_ref]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (data, mk)
}

/// The bundle's public identities, from its header (`cachet inspect`: no master-key call).
fn inspect(data: &str) -> Value {
    let out = cachet(&["inspect", "--datadir", data, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn exec(data: &str, extra: &[&str], client: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cachet"));
    command
        .args(["exec", "--datadir", data])
        .args(extra)
        .arg("--")
        .args(client)
        .stdin(Stdio::null());
    command
}

/// A secp256k1 key as geth's `nodekey` holds it: exactly 64 hex characters.
fn secret(hex_key: &str) -> SecretKey {
    assert_eq!(hex_key.len(), 64, "{hex_key:?}");
    assert!(
        hex_key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hex_key:?}"
    );
    SecretKey::from_byte_array(&hex::decode(hex_key).unwrap().try_into().unwrap()).unwrap()
}

fn enode_id(key: &SecretKey) -> String {
    hex::encode(&PublicKey::from_secret_key(SECP256K1, key).serialize_uncompressed()[1..])
}

fn address(key: &SecretKey) -> String {
    let public = PublicKey::from_secret_key(SECP256K1, key).serialize_uncompressed();
    let raw: [u8; 64] = public[1..].try_into().unwrap();
    format!(
        "0x{}",
        hex::encode(alloy_primitives::Address::from_raw_public_key(&raw))
    )
}

fn last_audit(data: &str, op: &str) -> Value {
    let log = std::fs::read_to_string(Path::new(data).join("audit.log")).unwrap();
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(&format!("\"op\":\"{op}\"")))
        .unwrap_or_else(|| panic!("no {op} line in the audit log:\n{log}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn keys_arrive_on_fds_3_to_6_and_derive_the_bundle_identities() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = init(dir.path());
    let ids = inspect(&data);
    // Each pipe read to EOF by its own `cat`; a newline after each so the test can split.
    let script = "for fd in 3 4 5 6; do cat /dev/fd/$fd; echo; done";
    let out = exec(
        &data,
        &["--keys", "node,sealing,wallet,ptm"],
        &["sh", "-c", script],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    assert_eq!(enode_id(&secret(lines[0])), ids["enode_id"]);
    assert_eq!(address(&secret(lines[1])), ids["sealer_address"]);
    assert_eq!(address(&secret(lines[2])), ids["wallet_address"]);
    // Tessera's unlocked private-key file.
    let file: Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(file["type"], "unlocked", "{file}");
    let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(file["data"]["bytes"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(raw));
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(public.as_bytes()),
        ids["ptm_public_key"]
    );
    // The handover is audited, naming the program, its pid and the fd of each key.
    let audit = last_audit(&data, "exec");
    assert_eq!(audit["details"]["program"], "sh", "{audit}");
    assert_eq!(
        audit["details"]["keys"],
        json!(["node:3", "sealing:4", "wallet:5", "ptm:6"])
    );
    assert!(audit["details"]["pid"].is_u64(), "{audit}");
    // Nothing but the bundle and the audit log in the datadir.
    let mut names: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["audit.log", "keys.cachet"]);
}

#[test]
fn the_default_is_the_node_key_alone_on_fd_3() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = init(dir.path());
    let ids = inspect(&data);
    let script = "cat /dev/fd/3; if [ -e /dev/fd/4 ]; then echo ' fd 4 is open'; fi";
    let out = exec(&data, &[], &["sh", "-c", script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(enode_id(&secret(&text)), ids["enode_id"], "{text:?}");
}

#[test]
fn exit_codes_and_deaths_by_signal_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = init(dir.path());
    let status = |client: &[&str]| {
        let out = exec(&data, &[], client).stderr(Stdio::null()).status();
        out.unwrap().code()
    };
    assert_eq!(status(&["sh", "-c", "exit 0"]), Some(0));
    assert_eq!(status(&["sh", "-c", "exit 7"]), Some(7));
    assert_eq!(status(&["sh", "-c", "kill -KILL $$"]), Some(128 + 9));
    assert_eq!(
        status(&["/nonexistent/client"]),
        Some(127),
        "a client that cannot be found: 127, as shells"
    );
    let out = exec(&data, &["--keys", "node,node"], &["true"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a key named twice is a usage error"
    );
}

/// Starts `cachet exec` with a client that prints the node key then sleeps; returns cachet,
/// the client's pid (the trampoline became the client) and the key it read.
fn sleeping_client(data: &str, extra: &[&str]) -> (Child, u32, String) {
    let mut child = exec(
        data,
        extra,
        &["sh", "-c", "cat /dev/fd/3; echo; exec sleep 600"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let key = lines.next().expect("the key line").unwrap();
    let clients = children_of(child.id());
    assert_eq!(clients.len(), 1, "one client: {clients:?}");
    // `exec sleep` keeps the pid: wait until the shell has become sleep.
    let pid = clients[0];
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    }));
    (child, pid, key)
}

fn kill(pid: u32, signal: &str) {
    assert!(
        Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cachet exec still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_client_runs_without_core_dumps_or_keys_in_argv_env_and_sigterm_is_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = init(dir.path());
    let (mut cachet, client, key) = sleeping_client(&data, &[]);
    assert_eq!(
        core_limits(client),
        ("0".to_owned(), "0".to_owned()),
        "RLIMIT_CORE 0 carries over exec"
    );
    for file in ["cmdline", "environ"] {
        let bytes = std::fs::read(format!("/proc/{client}/{file}")).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&key),
            "the key is in the client's {file}"
        );
    }
    // The client leads its own process group: signals reach it once, from cachet.
    let stat = std::fs::read_to_string(format!("/proc/{client}/stat")).unwrap();
    let pgrp: u32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pgrp, client);
    kill(cachet.id(), "TERM");
    assert_eq!(
        wait_for_exit(&mut cachet, Duration::from_secs(20)),
        Some(128 + 15),
        "sleep killed by the forwarded SIGTERM: 143"
    );
    assert!(dead(client));
}

#[test]
fn the_client_dies_with_cachet() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = init(dir.path());
    let (mut cachet, client, _) = sleeping_client(&data, &[]);
    cachet.kill().unwrap();
    cachet.wait().unwrap();
    let gone = wait_until(Duration::from_secs(10), || dead(client));
    if !gone {
        kill(client, "KILL");
    }
    assert!(gone, "the client outlived cachet exec");
}

/// Deletes the master key under a 1 s lease; cachet must stop the client and exit 10.
fn revoke_and_expect_exit_10(data: &str, mk: &Path, cachet: &mut Child, client: u32) {
    std::fs::remove_file(mk).unwrap();
    assert_eq!(
        wait_for_exit(cachet, Duration::from_secs(60)),
        Some(10),
        "exit 10 on revocation"
    );
    assert!(dead(client), "the client still runs after revocation");
    let audit = last_audit(data, "revoked");
    assert_eq!(audit["details"]["client_stopped"], true, "{audit}");
    assert_eq!(audit["details"]["keys_wiped"], true, "{audit}");
}

#[test]
fn revoking_the_master_key_stops_the_client_with_exit_10() {
    let dir = tempfile::tempdir().unwrap();
    let (data, mk) = init(dir.path());
    let (mut cachet, client, _) = sleeping_client(&data, &["--kms-recheck", "1"]);
    revoke_and_expect_exit_10(&data, &mk, &mut cachet, client);
}

#[test]
fn a_client_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (data, mk) = init(dir.path());
    let mut cachet = exec(
        &data,
        &["--kms-recheck", "1", "--stop-timeout", "1"],
        &["sh", "-c", "trap '' TERM; echo ready; sleep 600"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut ready = String::new();
    BufReader::new(cachet.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");
    let client = children_of(cachet.id())[0];
    revoke_and_expect_exit_10(&data, &mk, &mut cachet, client);
}

/// Every file under `dir`, recursively (symlinks not followed).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// geth's (and cachet's) log, read on a thread (geth logs a lot; a full pipe would block it).
fn drain(stderr: ChildStderr) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    })
}

/// All forks at block 0 or time 0, merged from the start (`terminalTotalDifficulty` 0).
const POS_GENESIS: &str = r#"{"config":{"chainId":1337,"homesteadBlock":0,"eip150Block":0,
"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,
"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,"mergeNetsplitBlock":0,
"terminalTotalDifficulty":0,"shanghaiTime":0},"difficulty":"0x0","gasLimit":"0x1c9c380",
"alloc":{}}"#;

/// The real client: geth v1.17.10 started through `cachet exec` reads its node key from
/// fd 3 (`--nodekey /dev/fd/3`), announces the bundle's enode id, leaves the key in no file
/// under its datadir or the test's temp dir, and stops when the master key is revoked.
#[test]
fn geth_gets_the_bundle_enode_from_fd_3_and_stops_on_revocation() {
    let geth = cachet_testkit::go_tool("geth");
    let dir = tempfile::tempdir().unwrap();
    let (data, mk) = init(dir.path());
    let expected = inspect(&data)["enode_id"].as_str().unwrap().to_owned();
    // The secret itself, to look for on disk afterwards (read the same way geth will).
    let out = exec(&data, &[], &["cat", "/dev/fd/3"]).output().unwrap();
    let key_hex = String::from_utf8(out.stdout).unwrap();
    assert_eq!(enode_id(&secret(&key_hex)), expected);
    // geth v1.17 runs only post-merge chains: a small one of its own (mainnet's would leave
    // hundreds of MB of database to search).
    let genesis = dir.path().join("genesis.json");
    std::fs::write(&genesis, POS_GENESIS).unwrap();
    let geth_dir = dir.path().join("geth");
    let geth_dir_s = geth_dir.display().to_string();
    let init = Command::new(&geth)
        .args(["init", "--datadir", &geth_dir_s])
        .arg(&genesis)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    // `geth init` leaves a random node key of its own; geth must not use it or replace it.
    let init_nodekey = std::fs::read(geth_dir.join("geth/nodekey")).ok();
    let http = base_port(91);
    let (http_s, auth_s) = (http.to_string(), (http + 1).to_string());
    let client = [
        geth.to_str().unwrap(),
        "--nodekey",
        "/dev/fd/3",
        "--datadir",
        &geth_dir_s,
        "--networkid",
        "1337",
        "--cache",
        "32",
        "--nodiscover",
        "--maxpeers",
        "0",
        "--port",
        "0",
        "--ipcdisable",
        "--http",
        "--http.addr",
        "127.0.0.1",
        "--http.port",
        &http_s,
        "--http.api",
        "admin",
        "--authrpc.port",
        &auth_s,
    ];
    let mut cachet = exec(&data, &["--kms-recheck", "2"], &client)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = drain(cachet.stderr.take().unwrap());
    let mut info = None;
    let up = wait_until(Duration::from_secs(60), || {
        info = rpc(http, "admin_nodeInfo", json!([]));
        info.is_some()
    });
    let pids = children_of(cachet.id());
    if !up {
        let _ = cachet.kill();
        for pid in &pids {
            kill(*pid, "KILL");
        }
        panic!("geth did not answer admin_nodeInfo");
    }
    let info = info.unwrap();
    assert_eq!(info["id"].as_str().map(str::len), Some(64), "{info}");
    let enode = info["enode"].as_str().unwrap();
    assert!(
        enode.starts_with(&format!("enode://{expected}@")),
        "geth announces {enode}, the bundle's enode id is {expected}"
    );
    assert_eq!(pids.len(), 1, "{pids:?}");
    let geth_pid = pids[0];
    revoke_and_expect_exit_10(&data, &mk, &mut cachet, geth_pid);
    let log = log.join().unwrap();
    assert!(!log.contains(&key_hex), "geth printed its key");
    // No file under geth's datadir or the temp dir holds the key, as hex (either case) or raw.
    let raw = hex::decode(&key_hex).unwrap();
    let upper = key_hex.to_uppercase();
    let mut all = Vec::new();
    files(dir.path(), &mut all);
    assert!(
        all.iter().any(|f| f.starts_with(&geth_dir)),
        "geth wrote nothing?"
    );
    for file in &all {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !contains(&bytes, key_hex.as_bytes())
                && !contains(&bytes, upper.as_bytes())
                && !contains(&bytes, &raw),
            "{} holds the node key",
            file.display()
        );
    }
    assert_eq!(
        std::fs::read(geth_dir.join("geth/nodekey")).ok(),
        init_nodekey,
        "geth replaced the nodekey file `geth init` left"
    );
}
