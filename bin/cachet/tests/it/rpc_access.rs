//! `cachet node` with remote wallet signing behind a JWT (docs/rpc-security.md): a real client
//! (ethers v6, tests/peers) signs through it with a bearer token; curl without one gets 401;
//! every signature is one audit line and `cachet audit verify` passes; without
//! authentication the node refuses to start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::node::{base_port, wait_until};

fn cachet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cachet")
}

fn genesis() -> std::path::PathBuf {
    cachet_testkit::workspace_root().join("crates/devp2p/testdata/genesis/interop-clique.json")
}

/// A fresh datadir under `dir` on a local master key.
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

fn curl_status(url: &str, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data", r#"{"jsonrpc":"2.0","id":1,"method":"personal_sign","params":["0x00","0x0000000000000000000000000000000000000000"]}"#])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl (scripts/install-test-peers installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs ethers (npm) and curl: run scripts/test"]
fn ethers_signs_with_a_jwt_and_curl_without_one_gets_401() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let secret = dir.path().join("jwt.hex");
    let http = base_port(37);
    let node_args = |auth: bool| {
        let mut args = vec![
            "node".to_owned(),
            "--datadir".into(),
            data.clone(),
            "--nodiscover".into(),
            "--port".into(),
            "0".into(),
            "--genesis".into(),
            genesis().display().to_string(),
            "--http.addr".into(),
            "0.0.0.0".into(),
            "--http.port".into(),
            http.to_string(),
            "--wallet.rpc".into(),
            "--wallet.rpc.allow-remote".into(),
        ];
        if auth {
            args.extend(["--http.jwtsecret".into(), secret.display().to_string()]);
        }
        args
    };

    // Remote signing without authentication: refused before anything listens.
    let refused = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(node_args(false))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("needs authentication"), "{stderr}");

    let mut node = Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(node_args(true))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{http}");
    let up = wait_until(Duration::from_secs(30), || curl_status(&url, &[]) == "401");
    let status = curl_status(&url, &[]);
    let bad = curl_status(&url, &["-H", "Authorization: Bearer not.a.token"]);
    let ethers = up.then(|| {
        // This checkout's tests/peers (where scripts/install-test-peers put ethers).
        let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers");
        assert!(
            peers.join("node_modules/ethers").exists(),
            "ethers is missing: run scripts/install-test-peers"
        );
        Command::new("node")
            .arg(peers.join("ethers-wallet.mjs"))
            .args([&url, secret.to_str().unwrap()])
            .current_dir(&peers)
            .output()
            .expect("run node")
    });
    let _ = node.kill();
    let out = node.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(up, "the node did not answer: {log}");
    assert_eq!(status, "401");
    assert_eq!(bad, "401");
    // The one startup line says what is exposed.
    assert!(
        log.contains("wallet signing over RPC ON") && log.contains("authentication JWT"),
        "{log}"
    );
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    let ethers = ethers.unwrap();
    assert!(
        ethers.status.success(),
        "ethers: {}",
        String::from_utf8_lossy(&ethers.stderr)
    );
    let v: Value = serde_json::from_slice(&ethers.stdout).unwrap();
    assert_eq!(v["recovered"], v["address"], "{v}");
    assert_eq!(v["from"], v["address"], "{v}");

    // One audit line per signature, naming what was signed and by whom it was asked.
    let audit = std::fs::read_to_string(Path::new(&data).join("audit.log")).unwrap();
    let signs: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["op"] == "rpc_sign")
        .collect();
    assert_eq!(signs.len(), 2, "{audit}");
    assert_eq!(signs[0]["details"]["method"], "personal_sign");
    assert_eq!(signs[1]["details"]["method"], "eth_signTransaction");
    assert_eq!(
        signs[1]["details"]["hash"].as_str().unwrap().to_lowercase(),
        v["txHash"].as_str().unwrap().to_lowercase()
    );
    for s in &signs {
        assert_eq!(
            s["details"]["account"].as_str().unwrap().to_lowercase(),
            v["address"].as_str().unwrap().to_lowercase()
        );
        assert!(
            s["details"]["caller"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:")
        );
    }
    let verify = cachet(&["audit", "verify", "--datadir", &data]);
    assert!(
        verify.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
