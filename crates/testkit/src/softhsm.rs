//! SoftHSM (Debian package `softhsm2`, installed by `scripts/install-test-peers`): a fresh token
//! directory per test.
//!
//! SoftHSM reads its configuration file from `SOFTHSM2_CONF` once, when the module is
//! initialised, and a module is initialised once per process: tests in one process cannot each
//! have their own token directory. So [`SoftHsm::run_test`] runs the test body in a child process
//! (the test binary itself, filtered to the one test) whose `SOFTHSM2_CONF` names a temporary
//! configuration; CLI tests instead pass [`SoftHsm::env`] to the `cachet` processes they start.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian and others install the module.
const MODULES: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// Set in the child process [`SoftHsm::run_test`] starts: the temporary directory.
const CHILD_ENV: &str = "CACHET_TESTKIT_SOFTHSM_DIR";

/// The SO PIN and user PIN of tokens made by [`SoftHsm::init_token`].
pub const SO_PIN: &str = "5678";
/// The user PIN of tokens made by [`SoftHsm::init_token`].
pub const USER_PIN: &str = "1234";

/// The SoftHSM module.
///
/// # Panics
/// When softhsm2 is not installed: install softhsm2 (scripts/install-test-peers).
pub fn softhsm_module() -> PathBuf {
    MODULES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "libsofthsm2.so not found in {MODULES:?}: install softhsm2 (scripts/install-test-peers; Debian: apt-get install softhsm2)"
            )
        })
}

/// A temporary SoftHSM configuration and token directory.
#[derive(Debug)]
pub struct SoftHsm {
    dir: PathBuf,
    _owned: Option<tempfile::TempDir>,
}

impl SoftHsm {
    /// A new empty token directory with its configuration file.
    ///
    /// # Panics
    /// When softhsm2 is not installed, or the directory cannot be made.
    pub fn new() -> Self {
        softhsm_module();
        let owned = tempfile::tempdir().expect("temp dir");
        let dir = owned.path().to_path_buf();
        std::fs::create_dir(dir.join("tokens")).expect("tokens dir");
        std::fs::write(
            dir.join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                dir.display()
            ),
        )
        .expect("softhsm2.conf");
        Self {
            dir,
            _owned: Some(owned),
        }
    }

    /// The token directory a parent process made with [`Self::new`] and passed down (a bench
    /// that re-runs itself with [`Self::env`]); the parent removes it.
    pub fn at(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            _owned: None,
        }
    }

    /// Runs `body` in a child process with `SOFTHSM2_CONF` set to a fresh configuration. Call it
    /// from the test function named `name` in module `module` (`module_path!()`); in the child,
    /// the same call runs `body`.
    ///
    /// # Panics
    /// When softhsm2 is missing, or the child test fails (its output is shown).
    pub fn run_test(module: &str, name: &str, body: impl FnOnce(&Self)) {
        if let Some(dir) = std::env::var_os(CHILD_ENV) {
            let hsm = Self {
                dir: PathBuf::from(dir),
                _owned: None,
            };
            body(&hsm);
            return;
        }
        let hsm = Self::new();
        // libtest names a unit test by its path without the crate.
        let path = module.split_once("::").map_or("", |(_, rest)| rest);
        let filter = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}::{name}")
        };
        let exe = std::env::current_exe().expect("current test binary");
        let output = Command::new(exe)
            .args([
                filter.as_str(),
                "--exact",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(hsm.env())
            .env(CHILD_ENV, &hsm.dir)
            .output()
            .expect("start the test binary");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{filter} failed in its SoftHSM child ({}):\n{stdout}\n{stderr}",
            output.status
        );
    }

    /// The environment a process using this token directory needs (`SOFTHSM2_CONF`).
    pub fn env(&self) -> Vec<(String, OsString)> {
        vec![("SOFTHSM2_CONF".to_owned(), self.conf().into_os_string())]
    }

    /// The configuration file.
    pub fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// The temporary directory (for PIN files and the like).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The module to load.
    pub fn module(&self) -> PathBuf {
        softhsm_module()
    }

    /// Runs `softhsm2-util` with this configuration.
    ///
    /// # Panics
    /// When it cannot be started or fails.
    pub fn util(&self, args: &[&str]) -> Output {
        let output = Command::new("softhsm2-util")
            .args(args)
            .envs(self.env())
            .output()
            .expect("softhsm2-util: install softhsm2 (scripts/install-test-peers)");
        assert!(
            output.status.success(),
            "softhsm2-util {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Initialises a token labelled `label` in the first free slot, with [`SO_PIN`] and
    /// [`USER_PIN`].
    pub fn init_token(&self, label: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ]);
    }

    /// Writes `pin` to a file of mode 0600 in the temporary directory and returns its path.
    ///
    /// # Panics
    /// On file-system errors.
    pub fn pin_file(&self, name: &str, pin: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, format!("{pin}\n")).expect("pin file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}
