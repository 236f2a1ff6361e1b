//! The journal under SIGKILL: this test binary re-executes itself as a child that writes to the
//! journal and is killed; the parent restarts the sealer on the same datadir.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use alloy_primitives::{B256, Bytes, U256};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_seal::{Engine, Error, Header, JournalKey, SealJournal, Sealer, clique};

const CHILD_ENV: &str = "CACHET_SEAL_JOURNAL_CHILD";

fn header(number: u64, variant: u8) -> Header {
    Header {
        parent_hash: B256::repeat_byte(variant),
        number,
        difficulty: U256::from(2),
        extra_data: Bytes::from(vec![0u8; 97]),
        ..Header::default()
    }
}

/// Starts this test binary as the child `mode` on `dir`, returning it once it printed `ready`.
#[allow(
    clippy::zombie_processes,
    reason = "every caller kills and waits for the child"
)]
fn spawn_child(
    mode: &str,
    dir: &std::path::Path,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "journal_kill::accepts_journal_writes_as_a_killed_child",
            "--nocapture",
            "--test-threads=1",
            "--include-ignored",
        ])
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Skip the test harness's own lines ("running 1 test").
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child {mode} exited before it was ready"
        );
        if line.trim_end().ends_with("ready") {
            return (child, out);
        }
    }
}

/// The child side. Without the environment variable (a normal test run) there is nothing to do.
#[test]
fn accepts_journal_writes_as_a_killed_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, dir) = spec.split_once(':').unwrap();
    let mut journal = SealJournal::open(std::path::Path::new(dir)).unwrap();
    match mode {
        // Record header(5, 1)'s seal, then "hang" before the signature is returned.
        "record-then-hang" => {
            let hash = clique::seal_hash(&header(5, 1)).unwrap();
            journal
                .record(JournalKey::new(Engine::Clique, 5, 0), hash)
                .unwrap();
            println!("ready");
            std::thread::sleep(std::time::Duration::from_secs(600));
        }
        // Append as fast as possible, acknowledging each durable record.
        "stream" => {
            println!("ready");
            for n in 1.. {
                let hash = clique::seal_hash(&header(n, 1)).unwrap();
                journal
                    .record(JournalKey::new(Engine::Clique, n, 0), hash)
                    .unwrap();
                println!("ok {n}");
            }
        }
        _ => panic!("unknown child mode {mode}"),
    }
}

#[test]
fn rejects_a_conflicting_seal_after_sigkill_between_journal_write_and_return() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _out) = spawn_child("record-then-hang", dir.path());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate).sealing_key();
    let mut sealer = Sealer::open(dir.path()).unwrap();
    let err = sealer.clique(&header(5, 2), &k).unwrap_err();
    assert!(
        matches!(err, Error::Equivocation { height: 5, .. }),
        "{err}"
    );
    // The block the killed process was signing may be signed again.
    let sealed = sealer.clique(&header(5, 1), &k).unwrap();
    assert_eq!(clique::recover_signer(&sealed).unwrap(), k.address());
}

#[test]
fn accepts_every_acknowledged_record_after_sigkill_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u32 {
        let (mut child, mut out) = spawn_child("stream", dir.path());
        // Let the child acknowledge a few records, then kill it at an arbitrary later point.
        let parse = |l: &str| {
            l.trim()
                .strip_prefix("ok ")
                .and_then(|n| n.parse::<u64>().ok())
        };
        let mut acked = Vec::new();
        let mut line = String::new();
        while acked.len() < 3 + 4 * round as usize {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "round {round}: child exited early"
            );
            acked.extend(parse(&line));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        acked.extend(out.lines().map_while(Result::ok).filter_map(|l| parse(&l)));
        let journal = SealJournal::open(dir.path()).unwrap();
        for n in &acked {
            assert!(
                journal
                    .get(&JournalKey::new(Engine::Clique, *n, 0))
                    .is_some(),
                "acknowledged record {n} lost"
            );
        }
        drop(journal);
        // Start each round from an empty journal so the child's heights are fresh.
        std::fs::remove_file(dir.path().join(cachet_seal::JOURNAL_FILE)).unwrap();
    }
}
