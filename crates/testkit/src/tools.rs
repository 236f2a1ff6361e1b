//! Where the test peers live, as installed by `scripts/install-test-peers`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The test venv's Python (`.venv-test/bin/python`, or `$CACHET_TEST_VENV/bin/python`).
///
/// # Panics
/// When the venv is missing: run `scripts/install-test-peers` (or `scripts/test`).
pub fn python() -> PathBuf {
    let venv = std::env::var_os("CACHET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-test"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-peers (scripts/test does)",
        python.display()
    );
    python
}

/// `tests/peers`, whose `node_modules` holds the npm test peers.
///
/// # Panics
/// When `node_modules` is missing: run `scripts/install-test-peers`.
pub fn node_peers_dir() -> PathBuf {
    let dir = workspace_root().join("tests/peers");
    assert!(
        dir.join("node_modules").exists(),
        "{}/node_modules is missing: run scripts/install-test-peers (scripts/test does)",
        dir.display()
    );
    dir
}

/// A Go tool installed into `.tools/` by `scripts/install-test-peers` (geth's `devp2p`).
///
/// # Panics
/// When the tool is missing: a conformance test never substitutes another check, so it fails
/// here naming the install step (Go ≥ 1.25, then `scripts/install-test-peers`).
pub fn go_tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".tools").join(name);
    assert!(
        path.exists(),
        "{} is missing: install Go >= 1.25 (https://go.dev/doc/install; Debian 12's golang-go \
         is 1.19, too old for geth v1.17.10) and run scripts/install-test-peers, which runs \
         `GOBIN=$PWD/.tools go install github.com/ethereum/go-ethereum/cmd/{name}@v1.17.10`",
        path.display()
    );
    path
}

/// Runs `node tests/peers/<script> args…` and returns its output.
///
/// # Panics
/// When node cannot be started.
pub fn run_node_script(script: &str, args: &[&str]) -> Output {
    let dir = node_peers_dir();
    Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("run node")
}

/// Runs `python tests/py/<script> args…` in the test venv and returns its output.
///
/// # Panics
/// When Python cannot be started.
pub fn run_python(script: &str, args: &[&str]) -> Output {
    Command::new(python())
        .arg(workspace_root().join("tests/py").join(script))
        .args(args)
        .output()
        .expect("run python")
}
