//! `cachet master-key new / init / unlock` with a `pkcs11:` master key in SoftHSM, and the exit
//! codes of its failures (docs/hsm.md).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cachet_testkit::{SoftHsm, USER_PIN};

fn cachet(hsm: &SoftHsm, module: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cachet"));
    command
        .args(args)
        .stdin(Stdio::null())
        .envs(hsm.env())
        .env_remove("CACHET_PKCS11_MODULE");
    if let Some(module) = module {
        command.env("CACHET_PKCS11_MODULE", module);
    }
    command.output().expect("run cachet")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited by signal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The key objects SoftHSM's file store keeps for the token (one file per object).
fn object_files(hsm: &SoftHsm) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for token in std::fs::read_dir(hsm.dir().join("tokens")).unwrap() {
        for file in std::fs::read_dir(token.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".object") && name != "token.object" {
                found.push(path);
            }
        }
    }
    found
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn pkcs11_master_key_new_init_unlock_and_each_failure_class() {
    let hsm = SoftHsm::new();
    hsm.init_token("cachet");
    let pin = hsm.pin_file("pin", USER_PIN);
    let module = hsm.module();
    let key = format!(
        "pkcs11:token=cachet;object=cachet-master?pin-source=file:{}",
        pin.display()
    );
    let datadir = hsm.dir().join("d");
    let d = datadir.display().to_string();

    let out = cachet(&hsm, Some(&module), &["master-key", "new", &key]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), key);
    assert_eq!(object_files(&hsm).len(), 1, "one key object in the token");
    let again = cachet(&hsm, Some(&module), &["master-key", "new", &key]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));

    let out = cachet(
        &hsm,
        Some(&module),
        &[
            "init",
            "--datadir",
            &d,
            "--master-key",
            &key,
            "--chain-id",
            "1337",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let unlock = ["unlock", "--check", "--datadir", d.as_str()];
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let inspect = cachet(&hsm, None, &["inspect", "--datadir", &d, "--json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspect["master_key"], key.as_str());
    // The flag works like the environment variable.
    let module_arg = module.display().to_string();
    let mut with_flag = unlock.to_vec();
    with_flag.extend(["--pkcs11-module", module_arg.as_str()]);
    assert_eq!(code(&cachet(&hsm, None, &with_flag)), 0);

    // No module configured: a usage error naming the flag.
    let out = cachet(&hsm, None, &unlock);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--pkcs11-module"), "{}", stderr(&out));
    // A module that is not there: unavailable, naming it.
    let gone = Path::new("/nonexistent/libpkcs11-vendor.so");
    let out = cachet(&hsm, Some(gone), &unlock);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/libpkcs11-vendor.so"),
        "{}",
        stderr(&out)
    );

    // A PIN the token refuses: revoked. The message names the file, never the PIN.
    hsm.pin_file("pin", "0000");
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(stderr(&out).contains("refused the PIN"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("0000"), "{}", stderr(&out));
    hsm.pin_file("pin", USER_PIN);
    assert_eq!(code(&cachet(&hsm, Some(&module), &unlock)), 0);

    // The key object deleted (SoftHSM keeps one file per object): revoked.
    for file in object_files(&hsm) {
        std::fs::remove_file(file).unwrap();
    }
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not on the token"),
        "{}",
        stderr(&out)
    );

    // The token gone: unavailable.
    hsm.util(&["--delete-token", "--token", "cachet"]);
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no initialised token"),
        "{}",
        stderr(&out)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A sealing node on a `pkcs11:` bundle unlocks at start and seals; deleting the key object in
/// the token stops it with exit 10 within two `--kms-recheck` periods, keys wiped and audited.
#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn node_unlocks_from_the_token_and_exits_10_when_the_key_is_deleted() {
    const RECHECK: u64 = 3;
    let hsm = SoftHsm::new();
    hsm.init_token("cachet");
    let pin = hsm.pin_file("pin", USER_PIN);
    let module = hsm.module();
    let key = format!(
        "pkcs11:token=cachet;object=cachet-master?pin-source=file:{}",
        pin.display()
    );
    let d = hsm.dir().join("d").display().to_string();
    assert_eq!(
        code(&cachet(&hsm, Some(&module), &["master-key", "new", &key])),
        0
    );
    let out = cachet(
        &hsm,
        Some(&module),
        &[
            "init",
            "--datadir",
            &d,
            "--master-key",
            &key,
            "--chain-id",
            "1337",
            "--sealing-key",
            "node",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let inspect = cachet(&hsm, None, &["inspect", "--datadir", &d, "--json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let signer = inspect["sealer_address"]
        .as_str()
        .unwrap()
        .trim_start_matches("0x")
        .to_lowercase();
    let genesis = hsm.dir().join("genesis.json");
    let extra = format!("0x{}{signer}{}", "00".repeat(32), "00".repeat(65));
    let spec = serde_json::json!({
        "config": {
            "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
            "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": {"period": 1, "epoch": 30000}
        },
        "timestamp": "0x0", "extraData": extra, "gasLimit": "0x1c9c380",
        "difficulty": "0x1", "alloc": {}
    });
    std::fs::write(&genesis, spec.to_string()).unwrap();

    let (p2p, http) = (free_port().to_string(), free_port());
    let http_arg = http.to_string();
    let recheck = RECHECK.to_string();
    let log = std::fs::File::create(format!("{d}.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args([
            "node",
            "--datadir",
            &d,
            "--genesis",
            genesis.to_str().unwrap(),
            "--port",
            &p2p,
            "--http.port",
            &http_arg,
            "--nodiscover",
            "--mine",
            "--kms-recheck",
            &recheck,
            "--kms-grace",
            "600",
        ])
        .envs(hsm.env())
        .env("CACHET_PKCS11_MODULE", &module)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(format!("{d}.log")).unwrap_or_default();
    let stop = |child: &mut Child| {
        if child.try_wait().unwrap().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            if wait_exit(child, Duration::from_secs(20)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    };
    // The started line means the bundle was unlocked through the token.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let started = rx.recv_timeout(Duration::from_secs(60));
    if started.as_deref().map_or(true, str::is_empty) {
        stop(&mut child);
        panic!("no started line: {}", log_text());
    }
    let head = super::node::head_once_up(http);
    assert!(
        super::node::wait_until(Duration::from_secs(20), || super::node::number(http) > head),
        "the node did not seal: {}",
        log_text()
    );
    std::thread::sleep(Duration::from_secs(RECHECK + 1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited while the key was there: {}",
        log_text()
    );

    for file in object_files(&hsm) {
        std::fs::remove_file(file).unwrap();
    }
    let exit = wait_exit(&mut child, Duration::from_secs(2 * RECHECK + 2));
    stop(&mut child);
    assert_eq!(
        exit,
        Some(10),
        "not exit 10 within 2 rechecks: {}",
        log_text()
    );
    let audit = std::fs::read_to_string(Path::new(&d).join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "revoked", "{audit}");
    assert_eq!(last["details"]["keys_wiped"], true, "{audit}");
}

/// `cachet signing-key new hsm:…`, `init --sealing-key hsm:…` (the bundle records where the key
/// lives and its public key; `inspect` shows it), `exec` refusing to hand it over, then a
/// `cachet node` whose clique seals are made in the token: the `EthereumJS` client syncs the
/// chain with the same hashes, validating every seal with its own clique code; deleting the key
/// pair in the token stops the node with exit 10 at its next seal, keys wiped and audited.
#[test]
#[ignore = "needs softhsm2 and ethereumjs: run scripts/test"]
fn hsm_sealing_key_seals_a_clique_chain_ethereumjs_syncs_and_deleting_it_exits_10() {
    const BLOCKS: u64 = 8;
    let hsm = SoftHsm::new();
    hsm.init_token("cachet");
    let pin = hsm.pin_file("pin", USER_PIN);
    let module = hsm.module();
    let sealing = format!(
        "hsm:pkcs11:token=cachet;object=sealer?pin-source=file:{}",
        pin.display()
    );
    let master = format!("local:{}", hsm.dir().join("master.key").display());
    let d = hsm.dir().join("d").display().to_string();
    assert_eq!(
        code(&cachet(&hsm, None, &["master-key", "new", &master])),
        0
    );
    let out = cachet(&hsm, Some(&module), &["signing-key", "new", &sealing]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let address = created["address"].as_str().unwrap().to_owned();
    assert_eq!(object_files(&hsm).len(), 2, "a key pair in the token");
    let again = cachet(&hsm, Some(&module), &["signing-key", "new", &sealing]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));

    let out = cachet(
        &hsm,
        Some(&module),
        &[
            "init",
            "--datadir",
            &d,
            "--master-key",
            &master,
            "--sealing-key",
            &sealing,
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let inspect = cachet(&hsm, None, &["inspect", "--datadir", &d, "--json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspect["sealer_address"], address.as_str());
    assert_eq!(
        inspect["key_locations"]["sealing"]["location"],
        sealing.as_str()
    );
    assert_eq!(inspect["key_locations"]["sealing"]["backend"], "hsm");
    assert_eq!(
        inspect["key_locations"]["sealing"]["public_key"],
        created["public_key"]
    );
    assert_eq!(inspect["key_locations"]["wallet"]["location"], "bundle");
    let text = cachet(&hsm, None, &["inspect", "--datadir", &d]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains(&format!("(separate, in {sealing})")),
        "{text}"
    );

    // The key cannot be written to a pipe: refused before any master-key call.
    let out = cachet(
        &hsm,
        Some(&module),
        &[
            "exec",
            "--datadir",
            &d,
            "--keys",
            "node,sealing",
            "--",
            "true",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "the sealing key lives in {sealing} and never leaves it"
        )),
        "{}",
        stderr(&out)
    );

    let genesis = hsm.dir().join("genesis.json");
    let extra = format!(
        "0x{}{}{}",
        "00".repeat(32),
        address.trim_start_matches("0x"),
        "00".repeat(65)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let spec = serde_json::json!({
        "config": {
            "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
            "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": {"period": 1, "epoch": 30000}
        },
        "nonce": "0x0", "timestamp": format!("{now:#x}"), "extraData": extra,
        "gasLimit": "0x1c9c380", "difficulty": "0x1",
        "mixHash": format!("0x{}", "00".repeat(32)),
        "coinbase": "0x0000000000000000000000000000000000000000", "alloc": {}
    });
    std::fs::write(&genesis, spec.to_string()).unwrap();

    let (p2p, http) = (free_port(), free_port());
    let log = std::fs::File::create(format!("{d}.log")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["node", "--datadir", &d, "--genesis"])
        .arg(&genesis)
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()])
        .args(["--http.api", "eth,net,web3,admin", "--mine"])
        .envs(hsm.env())
        .env("CACHET_PKCS11_MODULE", &module)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(format!("{d}.log")).unwrap_or_default();
    let stop = |child: &mut Child| {
        if child.try_wait().unwrap().is_none() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            if wait_exit(child, Duration::from_secs(20)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    };
    let sealed = super::node::wait_until(Duration::from_secs(90), || {
        super::node::number(http) >= BLOCKS
    });
    if !sealed {
        stop(&mut child);
        panic!("the node did not seal {BLOCKS} blocks: {}", log_text());
    }
    let audit = std::fs::read_to_string(Path::new(&d).join("audit.log")).unwrap();
    let signs: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["op"] == "sign")
        .collect();
    assert!(signs.len() as u64 >= BLOCKS, "{audit}");
    assert!(
        signs
            .iter()
            .all(|l| l["outcome"] == "ok" && l["details"]["role"] == "sealing"),
        "{audit}"
    );

    // EthereumJS follows the chain, checking each seal against the genesis signer.
    let enode = super::node::rpc(http, "admin_nodeInfo", serde_json::json!([])).unwrap()["enode"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ejs_p2p, ejs_http) = (free_port(), free_port());
    let ejs_log_path = hsm.dir().join("ethereumjs.log");
    let ejs_log = std::fs::File::create(&ejs_log_path).unwrap();
    let mut client = super::ethereumjs::start_follower(
        &mut Command::new(super::ethereumjs::ethereumjs()),
        &genesis,
        &hsm.dir().join("ejs"),
        (ejs_p2p, ejs_http),
        &enode,
        ejs_log,
    );
    let synced = super::node::wait_until(Duration::from_secs(120), || {
        super::node::number(ejs_http) >= BLOCKS
    });
    let mut mismatches = Vec::new();
    if synced {
        for n in 1..=BLOCKS {
            let q = serde_json::json!([format!("{n:#x}"), false]);
            let a =
                super::node::rpc(http, "eth_getBlockByNumber", q.clone()).unwrap()["hash"].clone();
            let b = super::node::rpc(ejs_http, "eth_getBlockByNumber", q).unwrap()["hash"].clone();
            if a != b {
                mismatches.push((n, a, b));
            }
        }
    }
    let _ = client.kill();
    let _ = client.wait();
    if !synced {
        stop(&mut child);
        panic!(
            "ethereumjs did not sync {BLOCKS} HSM-sealed blocks\n--- ethereumjs.log\n{}\n--- node.log\n{}",
            super::ethereumjs::tail(&ejs_log_path),
            log_text()
        );
    }
    assert!(mismatches.is_empty(), "hash mismatches: {mismatches:?}");

    // The key pair deleted in the token: the next seal is denied and the node stops (10).
    for file in object_files(&hsm) {
        std::fs::remove_file(file).unwrap();
    }
    let exit = wait_exit(&mut child, Duration::from_secs(30));
    stop(&mut child);
    assert_eq!(exit, Some(10), "not exit 10: {}", log_text());
    assert!(log_text().contains("was revoked"), "{}", log_text());
    let audit = std::fs::read_to_string(Path::new(&d).join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "revoked", "{audit}");
    assert_eq!(last["details"]["keys_wiped"], true, "{audit}");
}
