//! `cachet genesis`: hashes for a known file, and exit 2 naming the bad field.

use std::process::{Command, Output, Stdio};

fn cachet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cachet")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited by signal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn testdata(name: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/genesis");
    root.join(name).display().to_string()
}

#[test]
fn genesis_prints_goerli_hash_and_fork_id() {
    let out = cachet(&["genesis", "--genesis", &testdata("goerli.json"), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    // GoerliGenesisHash (geth params/config.go) and the EIP-2124 fork id at Goerli's genesis.
    assert_eq!(
        v["genesis_hash"],
        "0xbf7e331f7f7c1dd2e05159666b3bf8bc7a8a3a9eb1d518969eab529dd9b88c1a"
    );
    assert_eq!(v["fork_id"]["hash"], "0xa3f5ab08");
    assert_eq!(v["fork_id"]["next"], 1561651);
    assert_eq!(v["engine"]["name"], "clique");
    assert_eq!(v["chain_id"], 5);
}

#[test]
fn genesis_raft_needs_the_flag_or_the_marker() {
    let file = testdata("7nodes-raft-genesis.json");
    let out = cachet(&["genesis", "--genesis", &file]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("names no consensus engine"),
        "{}",
        stderr(&out)
    );
    let out = cachet(&["genesis", "--genesis", &file, "--raft", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["engine"]["name"], "raft");
}

#[test]
fn genesis_names_the_bad_field_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("genesis.json");
    std::fs::write(
        &path,
        r#"{"config": {"chainId": 1, "clique": {}}, "gasLimit": "lots"}"#,
    )
    .unwrap();
    let out = cachet(&["genesis", "--genesis", path.to_str().unwrap()]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("genesis field gasLimit is invalid"),
        "{}",
        stderr(&out)
    );
    let out = cachet(&["genesis", "--genesis", "/nonexistent/genesis.json"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("cannot read genesis file /nonexistent/genesis.json"),
        "{}",
        stderr(&out)
    );
}
