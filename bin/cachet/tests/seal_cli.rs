//! `cachet seal recover|verify`, run as the built binary against the vectors.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn vectors(name: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors")
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn case(name: &str, case: &str) -> Value {
    vectors(name)
        .into_iter()
        .find(|c| c["name"] == case)
        .unwrap()
}

fn cachet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn accepts_clique_headers_as_rlp_hex_and_json_file() {
    let c = case("clique", "goerli_1");
    let rlp = c["header_rlp"].as_str().unwrap();
    let out = cachet(&["seal", "recover", "--engine", "clique", "--header", rlp]);
    let j = stdout_json(&out);
    assert_eq!(j["engine"], "clique");
    assert_eq!(j["signer"], c["signer"]);
    assert_eq!(j["block_hash"], c["block_hash"]);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("block.json");
    std::fs::write(
        &file,
        serde_json::to_string(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "result": c["header"]}),
        )
        .unwrap(),
    )
    .unwrap();
    let out = cachet(&[
        "seal",
        "recover",
        "--engine",
        "clique",
        "--header",
        file.to_str().unwrap(),
    ]);
    assert_eq!(stdout_json(&out)["signer"], c["signer"]);

    let vals = dir.path().join("signers.txt");
    std::fs::write(&vals, format!("{}\n", c["signer"].as_str().unwrap())).unwrap();
    let out = cachet(&[
        "seal",
        "verify",
        "--engine",
        "clique",
        "--header",
        rlp,
        "--validators",
        vals.to_str().unwrap(),
    ]);
    assert_eq!(stdout_json(&out)["valid"], true);
    std::fs::write(&vals, "0x0000000000000000000000000000000000000001\n").unwrap();
    let out = cachet(&[
        "seal",
        "verify",
        "--engine",
        "clique",
        "--header",
        rlp,
        "--validators",
        vals.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not in the signer/validator set"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn accepts_ibft_proposer_and_committers() {
    let c = case("ibft", "ibft1-quorum-real-block1");
    let out = cachet(&[
        "seal",
        "recover",
        "--engine",
        "ibft",
        "--header",
        c["header_rlp"].as_str().unwrap(),
    ]);
    let j = stdout_json(&out);
    assert_eq!(j["signer"], c["proposer"]);
    assert_eq!(j["committers"], c["committers"]);
    assert_eq!(j["block_hash"], c["block_hash"]);
}

#[test]
fn rejects_a_bft_block_below_the_besu_threshold() {
    let c = case("qbft", "qbft-computed-round0-novote");
    let dir = tempfile::tempdir().unwrap();
    let vals = dir.path().join("validators.json");
    std::fs::write(&vals, c["validators"].to_string()).unwrap();
    let rlp = c["header_rlp"].as_str().unwrap();
    let seals = c["committed_seals"].as_array().unwrap().len();
    let args = [
        "seal",
        "verify",
        "--engine",
        "qbft",
        "--header",
        rlp,
        "--validators",
        vals.to_str().unwrap(),
    ];
    let out = cachet(&args);
    if seals >= 3 {
        assert_eq!(stdout_json(&out)["quorum_checked"], true);
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("required (besu: at least ceil(2N/3))"),
            "{}",
            stderr(&out)
        );
    }
    // Without --validators only the seals are checked.
    let out = cachet(&["seal", "verify", "--engine", "qbft", "--header", rlp]);
    assert_eq!(stdout_json(&out)["quorum_checked"], false);
}

#[test]
fn accepts_raft_with_members_and_rejects_without() {
    let c = &vectors("raft")[0];
    let mut h: Value = c["signing_header"].clone();
    h["extraData"] = c["extra_data"].clone();
    let dir = tempfile::tempdir().unwrap();
    let header = dir.path().join("h.json");
    std::fs::write(&header, h.to_string()).unwrap();
    let members = dir.path().join("members.json");
    std::fs::write(
        &members,
        serde_json::json!([{"raftId": 5, "nodeId": c["enode_pubkey"]}]).to_string(),
    )
    .unwrap();
    let hp = header.to_str().unwrap();
    let j = stdout_json(&cachet(&[
        "seal", "recover", "--engine", "raft", "--header", hp,
    ]));
    assert_eq!(j["raft_id"], 5);
    assert_eq!(j["signer"], c["node_address"]);
    let j = stdout_json(&cachet(&[
        "seal",
        "verify",
        "--engine",
        "raft",
        "--header",
        hp,
        "--raft-members",
        members.to_str().unwrap(),
    ]));
    assert_eq!(j["valid"], true);
    let out = cachet(&["seal", "verify", "--engine", "raft", "--header", hp]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("pass --raft-members"),
        "{}",
        stderr(&out)
    );
    std::fs::write(&members, r#"{"5": "enode://1234@127.0.0.1:1"}"#).unwrap();
    let out = cachet(&[
        "seal",
        "verify",
        "--engine",
        "raft",
        "--header",
        hp,
        "--raft-members",
        members.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("want 128 hex chars"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rejects_bad_input_with_a_clear_error_and_no_panic() {
    let good = case("clique", "goerli_1")["header_rlp"]
        .as_str()
        .unwrap()
        .to_owned();
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec![
                "--engine".into(),
                "clique".into(),
                "--header".into(),
                "0xzz".into(),
            ],
            2,
            "--header: header rlp: invalid hex",
        ),
        (
            vec![
                "--engine".into(),
                "clique".into(),
                "--header".into(),
                "/nonexistent/h.json".into(),
            ],
            2,
            "--header: no such file",
        ),
        (
            vec![
                "--engine".into(),
                "clique".into(),
                "--header".into(),
                good[..good.len() - 4].into(),
            ],
            2,
            "input truncated",
        ),
        (
            vec![
                "--engine".into(),
                "clique".into(),
                "--header".into(),
                format!("{good}80"),
            ],
            2,
            "trailing bytes",
        ),
        (
            vec![
                "--engine".into(),
                "qbft".into(),
                "--header".into(),
                good.clone(),
            ],
            2,
            "qbft extraData",
        ),
        (
            vec![
                "--engine".into(),
                "ibft".into(),
                "--header".into(),
                good.clone(),
            ],
            2,
            "ibft extraData",
        ),
        (
            vec![
                "--engine".into(),
                "raft".into(),
                "--header".into(),
                good.clone(),
            ],
            2,
            "raft extraData",
        ),
        (
            vec![
                "--engine".into(),
                "pow".into(),
                "--header".into(),
                good.clone(),
            ],
            2,
            "unknown engine",
        ),
        (
            vec![
                "--engine".into(),
                "clique".into(),
                "--header".into(),
                "{\"number\": 1}".into(),
            ],
            2,
            "missing field parentHash",
        ),
    ];
    for (args, code, needle) in cases {
        for cmd in ["recover", "verify"] {
            let mut full = vec!["seal".to_owned(), cmd.to_owned()];
            full.extend(args.iter().cloned());
            let refs: Vec<&str> = full.iter().map(String::as_str).collect();
            let out = cachet(&refs);
            let err = stderr(&out);
            assert!(!err.contains("panicked"), "{full:?}: {err}");
            if cmd == "verify" && needle.contains("extraData") {
                // verify checks header rules (or the member map) first.
                assert!(matches!(out.status.code(), Some(1 | 2)), "{full:?}: {err}");
                continue;
            }
            assert_eq!(out.status.code(), Some(code), "{full:?}: {err}");
            assert!(err.contains(needle), "{full:?}: {err}");
            assert!(!err.contains("panicked"), "{full:?}: {err}");
        }
    }
}

/// A datadir initialised with the 7nodes node key that signed the raft and QBFT vectors.
fn datadir_with_vector_key(dir: &std::path::Path, nodekey: &str) -> String {
    let mk = format!("local:{}", dir.join("master.key").display());
    let out = cachet(&["master-key", "new", &mk]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = dir.join("nodekey");
    std::fs::write(&key, nodekey).unwrap();
    let d = dir.join("node").to_str().unwrap().to_owned();
    let out = cachet(&[
        "init",
        "--datadir",
        &d,
        "--master-key",
        &mk,
        "--import-nodekey",
        key.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    d
}

#[test]
fn accepts_sign_and_commit_through_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let raft = &vectors("raft")[0];
    let d = datadir_with_vector_key(dir.path(), raft["nodekey"].as_str().unwrap());
    let rlp = raft["signing_header_rlp"].as_str().unwrap();
    let out = cachet(&[
        "seal",
        "sign",
        "--datadir",
        &d,
        "--engine",
        "raft",
        "--raft-id",
        "5",
        "--header",
        rlp,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sealed = String::from_utf8(out.stdout).unwrap();
    let j = stdout_json(&cachet(&[
        "seal",
        "recover",
        "--engine",
        "raft",
        "--header",
        sealed.trim(),
    ]));
    assert_eq!(j["signer"], raft["node_address"]);
    assert_eq!(j["raft_id"], 5);
    assert!(
        sealed
            .trim()
            .contains(&raft["extra_data"].as_str().unwrap()[2..]),
        "extraData differs from the vector"
    );
    // The same block again is fine; a different block at the same height is refused.
    let out = cachet(&[
        "seal",
        "sign",
        "--datadir",
        &d,
        "--engine",
        "raft",
        "--raft-id",
        "5",
        "--header",
        rlp,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut other: Value = raft["signing_header"].clone();
    other["gasUsed"] = "0x5".into();
    let other_file = dir.path().join("other.json");
    std::fs::write(&other_file, other.to_string()).unwrap();
    let out = cachet(&[
        "seal",
        "sign",
        "--datadir",
        &d,
        "--engine",
        "raft",
        "--raft-id",
        "5",
        "--header",
        other_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("refusing to seal: raft height 1 already sealed"),
        "{}",
        stderr(&out)
    );

    // QBFT committed seal of the vector block, byte for byte.
    let q = case("qbft", "qbft-computed-round0-novote");
    let out = cachet(&[
        "seal",
        "commit",
        "--datadir",
        &d,
        "--engine",
        "qbft",
        "--header",
        q["header_rlp"].as_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let want = q["committed_seals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signer"] == raft["node_address"])
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        want["seal"].as_str().unwrap()
    );
    let out = cachet(&[
        "seal",
        "commit",
        "--datadir",
        &d,
        "--engine",
        "clique",
        "--header",
        q["header_rlp"].as_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
