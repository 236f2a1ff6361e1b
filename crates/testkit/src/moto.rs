//! A moto server (the AWS emulator from `tests/requirements.txt`) on a free 127.0.0.1 port, and
//! the admin calls tests make against it through `tests/py/moto_admin.py` (boto3, which moto
//! installs): creating keys, aliases, IAM users and policies, and detaching/attaching the node
//! user's policy to revoke and restore its access.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{python, workspace_root};

/// The account moto reports for every resource.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// The region tests configure.
pub const MOTO_REGION: &str = "us-east-1";

/// A running `moto_server`, killed when dropped.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

/// Access keys of an IAM user created in moto.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsUser {
    /// The user name.
    pub name: String,
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY` (a throwaway emulator secret).
    pub secret_access_key: String,
}

/// What [`MotoServer::setup_revocation`] created.
#[derive(Clone, Debug)]
pub struct RevocationSetup {
    /// A user with an allow-all policy, for the admin's calls.
    pub admin: AwsUser,
    /// The node's user, allowed only the KMS calls cachet makes.
    pub node: AwsUser,
    /// The node user's policy ARN (detach it to revoke).
    pub node_policy_arn: String,
    /// The master key's ARN.
    pub key_arn: String,
    /// Its alias (`alias/cachet-node`).
    pub alias: String,
}

/// Requests moto serves without authentication in [`MotoServer::start_with_iam`]: the four
/// that create the admin user, its allow-all policy, the attachment and its access key.
pub const ADMIN_BOOTSTRAP_ACTIONS: u32 = 4;

impl MotoServer {
    /// Starts moto with authentication off (any credentials work).
    ///
    /// # Panics
    /// When the venv is missing (run `scripts/install-test-peers`) or moto does not start.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// Starts moto with IAM enforced after the first [`ADMIN_BOOTSTRAP_ACTIONS`] requests
    /// (`INITIAL_NO_AUTH_ACTION_COUNT`); follow with [`Self::setup_revocation`].
    ///
    /// # Panics
    /// As [`Self::start`].
    pub fn start_with_iam() -> Self {
        Self::spawn(Some(ADMIN_BOOTSTRAP_ACTIONS))
    }

    /// `http://127.0.0.1:PORT`: pass as `--kms-endpoint` / `AWS_ENDPOINT_URL_KMS`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates a symmetric key (and an alias when given) as `user` (anyone when IAM is off);
    /// returns the key ARN.
    ///
    /// # Panics
    /// When the call fails.
    pub fn create_key(&self, user: Option<&AwsUser>, alias: Option<&str>) -> String {
        let mut args = vec!["create-key"];
        if let Some(alias) = alias {
            args.extend(["--alias", alias]);
        }
        str_field(&self.admin(user, &args), "key_arn")
    }

    /// Creates an alias for an existing key as `user`.
    ///
    /// # Panics
    /// When the call fails.
    pub fn create_alias(&self, user: Option<&AwsUser>, alias: &str, key_arn: &str) {
        self.admin(user, &["create-alias", "--alias", alias, "--key", key_arn]);
    }

    /// With IAM enforced: creates the admin user (allow-all), the node user with a policy
    /// allowing `kms:Decrypt`, `kms:Encrypt`, `kms:GenerateDataKey`, `kms:ReEncrypt*` and
    /// `kms:DescribeKey`, access keys for both, and a master key with alias
    /// `alias/cachet-node`.
    ///
    /// # Panics
    /// When a call fails.
    pub fn setup_revocation(&self) -> RevocationSetup {
        let out = self.admin(None, &["setup-revocation"]);
        let user = |v: &Value| AwsUser {
            name: str_field(v, "name"),
            access_key_id: str_field(v, "access_key_id"),
            secret_access_key: str_field(v, "secret_access_key"),
        };
        RevocationSetup {
            admin: user(&out["admin"]),
            node: user(&out["node"]),
            node_policy_arn: str_field(&out, "node_policy_arn"),
            key_arn: str_field(&out, "key_arn"),
            alias: str_field(&out, "alias"),
        }
    }

    /// Detaches `policy_arn` from `user_name` with the admin's credentials: the revocation.
    ///
    /// # Panics
    /// When the call fails.
    pub fn detach_policy(&self, admin: &AwsUser, user_name: &str, policy_arn: &str) {
        self.admin(
            Some(admin),
            &["detach", "--user", user_name, "--policy", policy_arn],
        );
    }

    /// Attaches `policy_arn` to `user_name` again.
    ///
    /// # Panics
    /// When the call fails.
    pub fn attach_policy(&self, admin: &AwsUser, user_name: &str, policy_arn: &str) {
        self.admin(
            Some(admin),
            &["attach", "--user", user_name, "--policy", policy_arn],
        );
    }

    /// Runs `tests/py/moto_admin.py ARGS` against this server as `user` and returns its JSON.
    ///
    /// # Panics
    /// When the script fails or prints no JSON.
    pub fn admin(&self, user: Option<&AwsUser>, args: &[&str]) -> Value {
        let (id, secret) = user.map_or(("testing", "testing"), |u| {
            (u.access_key_id.as_str(), u.secret_access_key.as_str())
        });
        let endpoint = self.endpoint();
        let env = [
            ("MOTO_ENDPOINT", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", id),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_DEFAULT_REGION", MOTO_REGION),
        ];
        let out = run_python_with_env("moto_admin.py", args, &env);
        assert!(
            out.status.success(),
            "moto_admin.py {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "moto_admin.py {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn spawn(no_auth_actions: Option<u32>) -> Self {
        let server = moto_server();
        let port = free_port();
        let mut command = Command::new(&server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(count) = no_auth_actions {
            command.env("INITIAL_NO_AUTH_ACTION_COUNT", count.to_string());
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", server.display()));
        let mut moto = Self { child, port };
        moto.wait_ready();
        moto
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "moto_server exited early ({status}); port {} may be taken",
                    self.port
                );
            }
            // A bare connection is not a request, so it does not use up a no-auth action.
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "moto_server did not listen on 127.0.0.1:{} within 60 s",
            self.port
        );
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `.venv-test/bin/moto_server`.
///
/// # Panics
/// When it is missing: run `scripts/install-test-peers` (or `scripts/test`).
pub fn moto_server() -> PathBuf {
    let server = python().with_file_name("moto_server");
    assert!(
        server.exists(),
        "{} is missing: run scripts/install-test-peers (scripts/test does)",
        server.display()
    );
    server
}

fn run_python_with_env(script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(python())
        .arg(workspace_root().join("tests/py").join(script))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .expect("run python")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn str_field(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("moto_admin.py output has no string {field:?}: {value}"))
        .to_owned()
}
