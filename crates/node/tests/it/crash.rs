//! Crash safety: a writer process appending blocks (with reorgs) is killed (`SIGKILL`) at random
//! moments; after each kill the store reopens consistent and holds every block the writer
//! reported committed.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use alloy_primitives::B256;
use cachet_node::store::ChainStore;
use rand::Rng;

/// `target/<profile>/examples/store-crash-writer`, (re)built here so that a filtered
/// `cargo test --test it` never runs a stale writer.
fn writer() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build.args([
        "build",
        "--quiet",
        "-p",
        "cachet-node",
        "--example",
        "store-crash-writer",
    ]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(
        status.success(),
        "building the store-crash-writer example failed"
    );
    let path = profile_dir.join("examples/store-crash-writer");
    assert!(
        path.exists(),
        "{} is missing after the build",
        path.display()
    );
    path
}

#[test]
fn accepts_reopen_after_sigkill_at_random_moments() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("chain.redb");
    let writer = writer();
    let mut rng = rand::thread_rng();
    let mut kills = 0;
    let mut reported_total = 0;
    for round in 0..25 {
        let mut child = Command::new(&writer)
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(5..400)));
        // Child::kill sends SIGKILL on Unix.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(stderr.is_empty(), "round {round}: writer failed: {stderr}");
        if status.code().is_none() {
            kills += 1;
        }

        let store = ChainStore::open(&db).unwrap();
        let head = store
            .check()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Every block the writer printed had committed (durably) before the print.
        let mut reported = 0;
        for line in stdout.lines() {
            // A line cut by the kill is ignored: it had not been fully printed.
            let Some((number, hash)) = line.split_once(' ') else {
                continue;
            };
            let Ok(hash) = hash.parse::<B256>() else {
                continue;
            };
            let number: u64 = number.parse().unwrap();
            let info = store.block_info(&hash).unwrap();
            assert_eq!(
                info.map(|i| i.number),
                Some(number),
                "round {round}: block {number} {hash} lost"
            );
            assert!(store.header_by_hash(&hash).unwrap().is_some());
            reported += 1;
        }
        reported_total += reported;
        if reported > 0 {
            assert!(head.is_some(), "round {round}: blocks reported but no head");
        }
    }
    assert!(
        kills >= 20,
        "only {kills} of 25 writers were killed mid-run"
    );
    let head = ChainStore::open(&db).unwrap().check().unwrap().unwrap();
    assert!(
        reported_total > 50 && head.number > 10,
        "too few blocks written ({reported_total}, head {}) to test anything",
        head.number
    );
}
