//! `cachet master-key / init / inspect / unlock / rotate / destroy / audit`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

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

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
    fn master(&self, name: &str) -> String {
        let reference = format!("local:{}", self.s(name));
        let out = cachet(&["master-key", "new", &reference]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        reference
    }
    fn init(&self, datadir: &str, master: &str, extra: &[&str]) -> Output {
        let d = self.s(datadir);
        let mut args = vec!["init", "--datadir", &d, "--master-key", master];
        args.extend_from_slice(extra);
        cachet(&args)
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn master_key_new_refuses_to_overwrite() {
    let f = Fixture::new();
    let reference = f.master("mk");
    let before = std::fs::read(f.path("mk")).unwrap();
    let out = cachet(&["master-key", "new", &reference]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("already exists: refusing to overwrite it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(f.path("mk")).unwrap(), before);
    assert_eq!(
        std::fs::metadata(f.path("mk"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn init_inspect_and_unlock_agree() {
    let f = Fixture::new();
    let mk = f.master("mk");
    let out = f.init("d", &mk, &["--chain-id", "2024", "--sealing-key", "node"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let created = json(&out);
    let inspect = json(&cachet(&["inspect", "--datadir", &f.s("d"), "--json"]));
    for field in [
        "enode_id",
        "node_address",
        "sealer_address",
        "wallet_address",
        "ptm_public_key",
    ] {
        assert_eq!(inspect[field], created[field], "{field}");
    }
    assert_eq!(inspect["enode_id"].as_str().unwrap().len(), 128);
    assert_eq!(
        inspect["sealer_address"], inspect["node_address"],
        "--sealing-key node"
    );
    assert_eq!(inspect["master_key"], mk);
    assert_eq!(inspect["encryption_context"]["cachet:chain"], "2024");
    assert_eq!(
        inspect["encryption_context"]["cachet:node"],
        inspect["node_address"]
    );
    assert!(inspect["created"].as_str().unwrap().ends_with('Z'));
    let wallet = inspect["wallet_address"].as_str().unwrap();
    assert!(wallet.starts_with("0x") && wallet.len() == 42 && wallet == wallet.to_lowercase());

    let unlocked = cachet(&["unlock", "--check", "--datadir", &f.s("d")]);
    assert_eq!(code(&unlocked), 0, "{}", stderr(&unlocked));
    assert_eq!(json(&unlocked)["enode_id"], inspect["enode_id"]);
}

#[test]
fn exit_codes_name_each_failure_class() {
    let f = Fixture::new();
    let mk = f.master("mk");
    let d = f.s("d");

    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 14, "not initialised: {}", stderr(&out));
    assert!(stderr(&out).contains("has no key bundle"));

    assert_eq!(code(&f.init("d", &mk, &[])), 0);
    let out = f.init("d", &mk, &[]);
    assert_eq!(code(&out), 14, "already initialised: {}", stderr(&out));

    let out = f.init("e", "file:/nowhere", &[]);
    assert_eq!(code(&out), 2, "bad reference: {}", stderr(&out));
    assert!(stderr(&out).contains("expected local:PATH, aws-kms:KEY or pkcs11:URI"));

    let bundle = f.path("d/keys.cachet");
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 13, "group-readable: {}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"));
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o600)).unwrap();

    let original = std::fs::read(&bundle).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0x20;
    std::fs::write(&bundle, &flipped).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 12, "corrupt: {}", stderr(&out));
    assert!(stderr(&out).contains("is corrupt"));
    std::fs::write(&bundle, &original).unwrap();

    // Replace the master key file with another key: the pinned fingerprint no longer matches.
    let other = f.master("other");
    std::fs::rename(f.path("other"), f.path("mk")).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 10, "wrong master key: {}", stderr(&out));
    assert!(
        stderr(&out).contains("belongs to another master key"),
        "{}",
        stderr(&out)
    );
    let _ = other;

    // A missing master key file is also a denial: the node cannot prove access.
    std::fs::remove_file(f.path("mk")).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 10, "missing master key: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn audit_verify_reports_the_first_broken_link() {
    let f = Fixture::new();
    let mk = f.master("mk");
    assert_eq!(code(&f.init("d", &mk, &[])), 0);
    for _ in 0..3 {
        assert_eq!(
            code(&cachet(&["unlock", "--check", "--datadir", &f.s("d")])),
            0
        );
    }
    let out = cachet(&["audit", "verify", "--datadir", &f.s("d")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 records"));

    let log = f.path("d/audit.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log, format!("{}\n{}\n{}\n", lines[0], lines[1], lines[3])).unwrap();
    let out = cachet(&["audit", "verify", "--datadir", &f.s("d")]);
    assert_eq!(code(&out), 12);
    assert!(
        stderr(&out).contains("broken at line 3"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn imports_name_the_plaintext_sources_and_shred_them_on_request() {
    let f = Fixture::new();
    let mk = f.master("mk");
    let key = "9bdd6a2e7cc1ca4a4019029df3834d2633ea6e14034d6dcc3b944396fe13a08b";
    std::fs::write(f.path("nodekey"), format!("{key}\n")).unwrap();
    let out = f.init("d", &mk, &["--import-nodekey", &f.s("nodekey")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&f.s("nodekey")),
        "names the source: {}",
        stderr(&out)
    );
    assert!(f.path("nodekey").exists());
    // nodekey.json quorum-examples-7nodes-nodekey2
    assert_eq!(
        json(&out)["enode_id"],
        "0ba6b9f606a43a95edc6247cdb1c1e105145817be7bcafd6b2c0ba15d58145f0dc1a194f70ba73cd6f4cdd6864edc7687f311254c7555cc32e4d45aeb1b80416"
    );

    std::fs::write(f.path("besu-key"), format!("0x{key}")).unwrap();
    let out = f.init(
        "e",
        &mk,
        &["--import-besu-key", &f.s("besu-key"), "--shred-source"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!f.path("besu-key").exists(), "shredded");

    std::fs::write(f.path("bad"), "not a key").unwrap();
    let out = f.init("g", &mk, &["--import-nodekey", &f.s("bad")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot import"));
    assert!(!f.path("g/keys.cachet").exists());
}

/// hive's smoke/clique suite hands the node this key and expects blocks signed by this address
/// (ethereum/hive `simulators/smoke/clique/clique.go`: `HIVE_CLIQUE_PRIVATEKEY`, `HIVE_MINER`).
#[test]
fn imports_a_raw_hex_sealing_key_from_a_pipe() {
    let f = Fixture::new();
    let mk = f.master("mk");
    let key = "9c647b8b7c4e7c3490668fb6c11473619db80c93704c70893d3813af4090c39c";
    std::fs::write(f.path("nodekey"), "11".repeat(32)).unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "\"$0\" init --datadir {} --master-key {mk} --import-sealing-key <(printf %s {key}) \
             --import-nodekey {} --shred-source",
            f.s("d"),
            f.s("nodekey"),
        ))
        .arg(env!("CARGO_BIN_EXE_cachet"))
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        json(&out)["sealer_address"],
        "0x658bdf435d810c91414ec09147daa6db62406379"
    );
    // The regular file is shredded; the pipe is neither shredded nor reported as left on disk.
    assert!(!f.path("nodekey").exists());
    assert!(!stderr(&out).contains("/dev/fd"), "{}", stderr(&out));
    let out = f.init(
        "e",
        &mk,
        &["--import-sealing-key", "/dev/null", "--sealing-key", "node"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(!f.path("e/keys.cachet").exists());
}

#[test]
fn destroy_needs_confirmation_then_erases() {
    let f = Fixture::new();
    let mk = f.master("mk");
    assert_eq!(code(&f.init("d", &mk, &[])), 0);
    let out = cachet(&["destroy", "--datadir", &f.s("d")]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(f.path("d/keys.cachet").exists());
    let out = cachet(&["destroy", "--datadir", &f.s("d"), "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!f.path("d/keys.cachet").exists());
    assert_eq!(
        code(&cachet(&["unlock", "--check", "--datadir", &f.s("d")])),
        14
    );
}

/// SIGKILL at random moments of `init` leaves no bundle or a complete one that unlocks. The kill
/// times span one uncontested `init`, and the test requires both outcomes: some kills landed
/// while `init` was writing (the process died by the signal after creating the datadir, and no
/// bundle is there) and some runs ended with a whole bundle.
#[test]
fn init_killed_at_random_points_leaves_nothing_or_a_whole_bundle() {
    use std::os::unix::process::ExitStatusExt as _;
    let f = Fixture::new();
    let mk = f.master("mk");
    let spawn_init = |datadir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_cachet"))
            .args([
                "init",
                "--datadir",
                datadir.to_str().unwrap(),
                "--master-key",
                &mk,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long one `init` takes here, process start included (the median of three).
    let mut spans: Vec<Duration> = (0..3)
        .map(|i| {
            let started = std::time::Instant::now();
            let status = spawn_init(&f.path(&format!("timing{i}"))).wait().unwrap();
            assert!(status.success(), "an uncontested init fails: {status:?}");
            started.elapsed()
        })
        .collect();
    spans.sort();
    let span = spans[1];
    let (mut complete, mut mid_init, mut before_start) = (0, 0, 0);
    for i in 0..40u64 {
        let datadir = f.path(&format!("d{i}"));
        let mut child = spawn_init(&datadir);
        let at = span.mul_f64(1.3 * rand::random::<f64>());
        std::thread::sleep(at);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(9);
        if has_bundle(&datadir) {
            let out = cachet(&["unlock", "--check", "--datadir", datadir.to_str().unwrap()]);
            assert_eq!(
                code(&out),
                0,
                "run {i}: a bundle exists but does not unlock: {}",
                stderr(&out)
            );
            complete += 1;
        } else if killed && datadir.exists() {
            mid_init += 1;
        } else {
            assert!(killed, "run {i}: init exited ({status:?}) without a bundle");
            before_start += 1;
        }
    }
    eprintln!(
        "init takes {span:?}; complete bundles: {complete}, killed mid-init: {mid_init}, \
         killed before the datadir existed: {before_start}"
    );
    assert!(
        mid_init > 0,
        "no kill landed while init was writing (init takes {span:?}): the test tested nothing"
    );
    assert!(
        complete > 0,
        "no run completed a bundle (init takes {span:?}): the complete outcome was never checked"
    );
}

fn has_bundle(datadir: &Path) -> bool {
    datadir.join("keys.cachet").exists()
}

fn audit_lines(datadir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(datadir.join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Rewrites the bundle with `edit` applied to its bytes before the checksum, and the checksum
/// recomputed (an attacker's edit, not disk damage).
fn edit_and_rechecksum(bundle: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    use sha2::Digest;
    let bytes = std::fs::read(bundle).unwrap();
    let mut body = bytes[..bytes.len() - 32].to_vec();
    edit(&mut body);
    let digest = sha2::Sha256::digest(&body);
    body.extend_from_slice(&digest);
    std::fs::write(bundle, body).unwrap();
}

/// Changes one hex digit of the `n`th `wrapped_data_key` in the file (0-based).
fn flip_wrapped_key(body: &mut [u8], n: usize) {
    let needle = b"\"wrapped_data_key\":\"";
    let at = body
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .nth(n)
        .map(|(i, _)| i + needle.len() + 40)
        .expect("a wrapped_data_key");
    body[at] = if body[at] == b'0' { b'1' } else { b'0' };
}

#[test]
fn rotate_adds_and_removes_master_keys() {
    let f = Fixture::new();
    let (a, b) = (f.master("a"), f.master("b"));
    let d = f.s("d");
    assert_eq!(code(&f.init("d", &a, &[])), 0);

    let out = cachet(&["rotate", "--datadir", &d, "--add-master-key", &b]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let keys: Vec<_> = json(&out)["master_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["master_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, [a.clone(), b.clone()]);
    let inspect = json(&cachet(&["inspect", "--datadir", &d, "--json"]));
    assert_eq!(inspect["format"], 2);
    assert_eq!(
        inspect["master_key"],
        a.as_str(),
        "the primary is still first"
    );
    assert_eq!(inspect["master_keys"][1]["master_key"], b.as_str());

    // The same key twice, a plain rotate of a v2 bundle, and two changes at once: exit 2.
    for args in [
        vec!["--add-master-key", b.as_str()],
        vec![],
        vec!["--to", b.as_str(), "--add-master-key", a.as_str()],
    ] {
        let mut all = vec!["rotate", "--datadir", d.as_str()];
        all.extend(args.iter().copied());
        let out = cachet(&all);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }

    // The break-glass key tested alone while the primary works; no slot 3.
    let out = cachet(&["unlock", "--check", "--datadir", &d, "--slot", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["slot"], 2);
    let last = audit_lines(&f.path("d")).pop().unwrap();
    assert_eq!(last["master_key"], b.as_str());
    for slot in ["3", "5"] {
        let out = cachet(&["unlock", "--check", "--datadir", &d, "--slot", slot]);
        assert_eq!(code(&out), 2, "--slot {slot}: {}", stderr(&out));
    }

    // The first key file deleted: unlock uses the second, both attempts audited.
    std::fs::remove_file(f.path("a")).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["slot"], 2);
    assert_eq!(json(&out)["master_key"], b.as_str());
    let lines = audit_lines(&f.path("d"));
    let tail: Vec<_> = lines[lines.len() - 2..]
        .iter()
        .map(|l| {
            (
                l["outcome"].as_str().unwrap().to_owned(),
                l["master_key"].as_str().unwrap().to_owned(),
                l["calls"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [("error".into(), a.clone(), 0), ("ok".into(), b.clone(), 1)]
    );

    // Remove the lost key; the last one is refused and nothing changes.
    let out = cachet(&["rotate", "--datadir", &d, "--remove-master-key", &a]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["master_keys"].as_array().unwrap().len(), 1);
    let before = std::fs::read(f.path("d/keys.cachet")).unwrap();
    let out = cachet(&["rotate", "--datadir", &d, "--remove-master-key", &b]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is the only master key"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(f.path("d/keys.cachet")).unwrap(), before);
    let out = cachet(&[
        "rotate",
        "--datadir",
        &d,
        "--remove-master-key",
        "local:/nowhere",
    ]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no master key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn two_key_bundles_exit_12_when_either_slot_is_tampered_and_10_when_both_keys_are_gone() {
    let f = Fixture::new();
    let (a, b) = (f.master("a"), f.master("b"));
    let d = f.s("d");
    let bundle = f.path("d/keys.cachet");
    assert_eq!(code(&f.init("d", &a, &[])), 0);
    let out = cachet(&["rotate", "--datadir", &d, "--add-master-key", &b]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let original = std::fs::read(&bundle).unwrap();

    // Slot 1 tampered: exit 12 although slot 2 would open the bundle.
    edit_and_rechecksum(&bundle, |body| flip_wrapped_key(body, 0));
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 12, "slot 1: {}", stderr(&out));
    assert!(
        stderr(&out).contains("could not decrypt"),
        "{}",
        stderr(&out)
    );

    // Slot 2 tampered, reached because key a is gone: exit 12.
    std::fs::write(&bundle, &original).unwrap();
    edit_and_rechecksum(&bundle, |body| flip_wrapped_key(body, 1));
    let saved = std::fs::read(f.path("a")).unwrap();
    std::fs::remove_file(f.path("a")).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 12, "slot 2: {}", stderr(&out));

    // Disk damage anywhere in either slot: exit 12 before any key is asked.
    std::fs::write(&bundle, &original).unwrap();
    let mut damaged = original.clone();
    let at = original
        .windows(b"wrapped_data_key".len())
        .rposition(|w| w == b"wrapped_data_key")
        .unwrap();
    damaged[at] ^= 0x01;
    std::fs::write(&bundle, &damaged).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 12, "damaged: {}", stderr(&out));

    // Both keys gone: the first slot's error (missing key: denied) decides, exit 10, and the
    // message names both.
    std::fs::write(&bundle, &original).unwrap();
    std::fs::remove_file(f.path("b")).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("none of the 2 master keys") && stderr(&out).contains(&b),
        "{}",
        stderr(&out)
    );
    std::fs::write(f.path("a"), saved).unwrap();
    std::fs::set_permissions(f.path("a"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = cachet(&["unlock", "--check", "--datadir", &d]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// The v1 fixture (crates/keyprovider/testdata/v1, made by the v1 writer) is read by
/// `inspect`; its recorded master key path does not exist here, so unlock is denied (10).
#[test]
fn a_v1_bundle_is_inspected_and_its_missing_key_is_exit_10() {
    let f = Fixture::new();
    let testdata =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crates/keyprovider/testdata/v1");
    std::fs::create_dir(f.path("d")).unwrap();
    std::fs::set_permissions(f.path("d"), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(testdata.join("keys.cachet"), f.path("d/keys.cachet")).unwrap();
    std::fs::set_permissions(
        f.path("d/keys.cachet"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(testdata.join("inspect.json")).unwrap()).unwrap();
    let out = cachet(&["inspect", "--datadir", &f.s("d"), "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let inspect = json(&out);
    assert_eq!(inspect["format"], 1);
    for field in [
        "enode_id",
        "node_address",
        "master_key",
        "master_key_id",
        "created",
    ] {
        assert_eq!(inspect[field], expected[field], "{field}");
    }
    assert_eq!(inspect["master_keys"].as_array().unwrap().len(), 1);
    let out = cachet(&["unlock", "--check", "--datadir", &f.s("d")]);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
}
