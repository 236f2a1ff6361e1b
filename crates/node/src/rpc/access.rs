//! Who may call what on the JSON-RPC server (issue 17; `docs/rpc-security.md`):
//!
//! - namespaces (`--http.api`, geth's semantics): a method outside them answers geth's -32601
//!   "the method … does not exist/is not available", decided here once for every method the
//!   module has, so methods added later are covered by their namespace prefix;
//! - the wallet's signing methods ([`SIGNING_METHODS`]) only with `--wallet.rpc`, and on a
//!   listener that is not loopback only with `--wallet.rpc.allow-remote` and authentication
//!   (refused at startup otherwise); each signature made is an audit-log line;
//! - JWT bearer tokens (`--http.jwtsecret`, `jsonwebtoken`), TLS and client certificates
//!   (`rustls`), the `Host` check (`--http.vhosts`), CORS (`tower-http`);
//! - limits: body size and batch length (jsonrpsee), open connections, a per-client request
//!   rate (`governor`), header/body/handshake timeouts.
//!
//! The node serves the connections itself (jsonrpsee's `to_service_builder`), which is what
//! lets it terminate TLS and know each caller's address. The WebSocket listener (`--ws`) is the
//! same code path with [`Listener::Ws`]: its own namespaces (`--ws.api`) and the `Origin` check
//! of its handshakes (`--ws.origins`), everything else shared (wallet gating, JWT on the upgrade
//! request, TLS, vhosts, limits).

use std::collections::{BTreeSet, HashSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use cachet_keyprovider::{AuditEvent, AuditLog};
use cachet_primitives::Engine;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use jsonrpsee::RpcModule;
use jsonrpsee::core::BoxError;
use jsonrpsee::server::middleware::rpc::{
    Batch, BatchEntry, MethodResponse, Notification, Request as RpcRequest, RpcServiceBuilder,
    RpcServiceT,
};
use jsonrpsee::server::{
    BatchRequestConfig, BatchResponseBuilder, HttpBody, ResponsePayload, Server, ServerConfig,
    ServerHandle, StopHandle, stop_channel,
};
use jsonrpsee::types::{ErrorObjectOwned, Id};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::Service;
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};

use super::RpcContext;
use super::json::{SERVER_ERROR, err};
use crate::error::{Error, Result};

/// The namespaces `--http.api` accepts (geth's names; `istanbul`, `qbft` and `raft` as GoQuorum).
pub const NAMESPACES: &[&str] = &[
    "eth", "net", "web3", "txpool", "admin", "debug", "clique", "istanbul", "qbft", "raft",
    "personal",
];

/// `--http.api`'s default (geth's), to which the running engine's read-only methods are added.
pub const DEFAULT_NAMESPACES: &[&str] = &["eth", "net", "web3"];

/// Methods that sign with the wallet key: answered with `--wallet.rpc` (whatever
/// `--http.api` lists) and never without it; every signature they make is an audit-log line.
/// One list, for methods added later too.
pub const SIGNING_METHODS: &[&str] = &[
    "eth_sign",
    "personal_sign",
    "eth_signTransaction",
    "eth_sendTransaction",
    "personal_signTransaction",
    "personal_sendTransaction",
    "eth_signTypedData",
    "eth_signTypedData_v4",
];

/// The subscription methods: answered on WebSocket only (geth's "notifications not supported"
/// on HTTP).
pub const SUBSCRIPTION_METHODS: &[&str] = &["eth_subscribe", "eth_unsubscribe"];

/// Which listener a server is: `--http.*` or `--ws.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// JSON-RPC over HTTP POST.
    Http,
    /// JSON-RPC over WebSocket, with subscriptions.
    Ws,
}

impl Listener {
    /// The flag that lists this listener's namespaces.
    pub fn api_flag(self) -> &'static str {
        match self {
            Self::Http => "--http.api",
            Self::Ws => "--ws.api",
        }
    }
}

/// JSON-RPC "method not found" (geth's code for unknown and unexposed methods alike).
pub const METHOD_NOT_FOUND: i32 = -32601;
/// EIP-1474's "limit exceeded".
pub const LIMIT_EXCEEDED: i32 = -32005;
/// How far a JWT's `iat` may be from now (geth's and Besu's engine-API rule).
pub const JWT_IAT_WINDOW_SECS: u64 = 60;

/// The request/connection limits (`--http.*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `--http.maxbody`: largest request body, bytes (geth: 5 MiB).
    pub max_body_bytes: u32,
    /// `--http.maxresponse`: largest response body, bytes (geth: 25 MB batch responses).
    pub max_response_bytes: u32,
    /// `--http.batch-limit`: most calls in one batch (geth's `--rpc.batch-request-limit`).
    pub max_batch: u32,
    /// `--http.maxconns`: most open connections.
    pub max_connections: u32,
    /// `--http.ratelimit`: requests per second per client IP address (0 = no limit).
    pub rate_per_second: u32,
    /// `--http.ratelimit.burst`: requests a client may send at once above the rate.
    pub rate_burst: u32,
    /// Rate-limit loopback callers too (off: they are this host's own processes).
    pub rate_limit_loopback: bool,
    /// Seconds a client has to send a request's headers, its body, or finish a TLS handshake.
    pub io_timeout_secs: u64,
    /// Messages (responses and notifications) queued for one WebSocket connection; a
    /// subscription whose next notification finds the queue full is dropped (a client that
    /// stops reading never holds the node).
    pub ws_queue: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 5 * 1024 * 1024,
            max_response_bytes: 25 * 1000 * 1000,
            max_batch: 1000,
            max_connections: 100,
            rate_per_second: 500,
            rate_burst: 1000,
            rate_limit_loopback: false,
            io_timeout_secs: 30,
            ws_queue: 1024,
        }
    }
}

/// TLS on the JSON-RPC listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--http.tls-cert`: PEM certificate chain.
    pub cert: PathBuf,
    /// `--http.tls-key`: PEM private key.
    pub key: PathBuf,
    /// `--http.tls-client-ca`: PEM CA certificates; when set, clients must present a
    /// certificate they issued (this is authentication, as a JWT is).
    pub client_ca: Option<PathBuf>,
}

/// Who may call what (the `--http.*`, `--ws.*` and `--wallet.rpc*` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// `--http.api`; `None` = [`DEFAULT_NAMESPACES`] plus the engine's read-only methods.
    pub apis: Option<Vec<String>>,
    /// `--ws.api`; `None` = as `--http.api`'s default.
    pub ws_apis: Option<Vec<String>>,
    /// `--ws.origins`: the `Origin`s WebSocket handshakes may come from (geth's rules; `*` =
    /// any; empty = `http://localhost` only). Handshakes without an `Origin` always pass.
    pub ws_origins: Vec<String>,
    /// `--wallet.rpc`: the wallet's signing methods answer.
    pub wallet_rpc: bool,
    /// `--wallet.rpc.allow-remote`: they may answer on a listener that is not loopback.
    pub wallet_allow_remote: bool,
    /// `--http.jwtsecret`: require a bearer JWT signed with this secret (created if absent).
    pub jwt_secret: Option<PathBuf>,
    /// `--http.tls-cert`/`--http.tls-key`/`--http.tls-client-ca`.
    pub tls: Option<TlsFiles>,
    /// `--http.vhosts`: allowed `Host` names (`*` = any), geth's DNS-rebinding guard.
    pub vhosts: Vec<String>,
    /// `--http.corsdomain`: origins browsers may call from (`*` = any; empty = none).
    pub cors: Vec<String>,
    /// Limits.
    pub limits: Limits,
    /// The datadir whose `audit.log` records RPC signatures.
    pub audit_dir: Option<PathBuf>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            apis: None,
            ws_apis: None,
            ws_origins: Vec::new(),
            wallet_rpc: false,
            wallet_allow_remote: false,
            jwt_secret: None,
            tls: None,
            vhosts: vec!["localhost".to_owned()],
            cors: Vec::new(),
            limits: Limits::default(),
            audit_dir: None,
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

impl AccessConfig {
    /// Checks the flags against the listen address, before anything is unlocked or listens.
    ///
    /// # Errors
    /// [`Error::Config`] naming the flag to add or remove.
    pub fn check(&self, addr: SocketAddr) -> Result<()> {
        self.check_on(Listener::Http, addr)
    }

    /// [`Self::check`] for the `listener` on `addr`.
    ///
    /// # Errors
    /// [`Error::Config`] naming the flag to add or remove.
    pub fn check_on(&self, listener: Listener, addr: SocketAddr) -> Result<()> {
        self.namespaces_of(listener)?;
        if listener == Listener::Ws {
            Origins::new(&self.ws_origins)?;
        }
        if self.wallet_allow_remote && !self.wallet_rpc {
            return Err(Error::Config(
                "--wallet.rpc.allow-remote without --wallet.rpc: add --wallet.rpc or drop it"
                    .into(),
            ));
        }
        if self.wallet_rpc && !is_loopback(addr.ip()) {
            if !self.wallet_allow_remote {
                return Err(Error::Config(format!(
                    "--wallet.rpc on {addr}, which is not a loopback address, would let anyone who reaches it sign with the wallet key: listen on 127.0.0.1 (and put a reverse proxy in front), or add --wallet.rpc.allow-remote with --http.jwtsecret or --http.tls-client-ca"
                )));
            }
            if !self.authenticates() {
                return Err(Error::Config(format!(
                    "--wallet.rpc.allow-remote on {addr} needs authentication: add --http.jwtsecret FILE or --http.tls-cert/--http.tls-key/--http.tls-client-ca"
                )));
            }
        }
        if self.wallet_rpc && self.audit_dir.is_none() {
            return Err(Error::Config(
                "--wallet.rpc needs the datadir's audit log".into(),
            ));
        }
        Ok(())
    }

    /// Reads the JWT secret (creating it when absent) and the TLS files, so that a bad file
    /// refuses the start before the keys are unlocked.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and what is wrong with it.
    pub fn check_files(&self) -> Result<()> {
        if let Some(path) = &self.jwt_secret {
            jwt_secret(path)?;
        }
        if let Some(tls) = &self.tls {
            tls_acceptor(tls)?;
        }
        Ok(())
    }

    /// True when callers are authenticated (a JWT or a client certificate).
    pub fn authenticates(&self) -> bool {
        self.jwt_secret.is_some() || self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }

    /// The listed namespaces (or the default), each checked against [`NAMESPACES`].
    ///
    /// # Errors
    /// [`Error::Config`] on an unknown namespace.
    pub fn namespaces(&self) -> Result<BTreeSet<String>> {
        self.namespaces_of(Listener::Http)
    }

    /// The namespaces `listener` serves (`--http.api` or `--ws.api`, or the default).
    ///
    /// # Errors
    /// [`Error::Config`] on an unknown namespace.
    pub fn namespaces_of(&self, listener: Listener) -> Result<BTreeSet<String>> {
        let list = match listener {
            Listener::Http => &self.apis,
            Listener::Ws => &self.ws_apis,
        };
        let Some(list) = list else {
            return Ok(DEFAULT_NAMESPACES.iter().map(|s| (*s).to_owned()).collect());
        };
        let mut out = BTreeSet::new();
        for name in list {
            let name = name.trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            if !NAMESPACES.contains(&name.as_str()) {
                return Err(Error::Config(format!(
                    "{} lists {name:?}, which is not a namespace (known: {})",
                    listener.api_flag(),
                    NAMESPACES.join(",")
                )));
            }
            out.insert(name);
        }
        Ok(out)
    }

    /// The URL scheme the listener speaks.
    pub fn scheme(&self) -> &'static str {
        self.scheme_of(Listener::Http)
    }

    /// The URL scheme `listener` speaks (`http`/`https`, `ws`/`wss`).
    pub fn scheme_of(&self, listener: Listener) -> &'static str {
        match (listener, self.tls.is_some()) {
            (Listener::Http, false) => "http",
            (Listener::Http, true) => "https",
            (Listener::Ws, false) => "ws",
            (Listener::Ws, true) => "wss",
        }
    }
}

/// The engine's read-only methods, served by default (`--http.api` not given).
pub fn engine_read_only(engine: Engine) -> &'static [&'static str] {
    match engine {
        Engine::Clique => &["clique_getSigners", "clique_proposals"],
        Engine::Ibft | Engine::Ibft2 | Engine::Qbft => &[
            "istanbul_getValidators",
            "istanbul_getValidatorsAtHash",
            "istanbul_candidates",
            "qbft_getValidatorsByBlockNumber",
            "qbft_getValidatorsByBlockHash",
            "qbft_getPendingVotes",
        ],
        Engine::Raft => &["raft_role", "raft_leader", "raft_cluster"],
        Engine::Ethash => &[],
    }
}

/// The remote address of the connection a call came on (an HTTP request extension, which
/// jsonrpsee passes on to each call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(pub SocketAddr);

/// Which methods answer, and the audit of what the wallet signs.
#[derive(Debug)]
struct Policy {
    listener: Listener,
    /// Methods served (registered and allowed).
    allowed: HashSet<String>,
    namespaces: BTreeSet<String>,
    defaults: bool,
    wallet_rpc: bool,
    wallet: Address,
    audit: Option<AuditLog>,
    max_response: usize,
}

impl Policy {
    /// Removes every method the flags do not allow from `module`; the rest are `allowed`.
    fn new(
        access: &AccessConfig,
        listener: Listener,
        engine: Engine,
        wallet: Address,
        module: &mut RpcModule<()>,
    ) -> Result<Self> {
        let mut policy = Self {
            listener,
            allowed: HashSet::new(),
            namespaces: access.namespaces_of(listener)?,
            defaults: match listener {
                Listener::Http => access.apis.is_none(),
                Listener::Ws => access.ws_apis.is_none(),
            },
            wallet_rpc: access.wallet_rpc,
            wallet,
            audit: access.audit_dir.as_deref().map(AuditLog::new),
            max_response: access.limits.max_response_bytes as usize,
        };
        let names: Vec<&'static str> = module.method_names().collect();
        for name in names {
            if policy.permits(name, engine) {
                policy.allowed.insert(name.to_owned());
            } else {
                module.remove_method(name);
            }
        }
        Ok(policy)
    }

    fn permits(&self, method: &str, engine: Engine) -> bool {
        // `--wallet.rpc` alone governs the signing methods, whatever their namespace.
        if SIGNING_METHODS.contains(&method) {
            return self.wallet_rpc;
        }
        let namespace = method.split('_').next().unwrap_or_default();
        self.namespaces.contains(namespace)
            || (self.defaults && engine_read_only(engine).contains(&method))
    }

    /// geth's -32601, with a hint (in `data`) when a flag would expose the method.
    fn refusal(&self, method: &str) -> ErrorObjectOwned {
        let namespace = method.split('_').next().unwrap_or_default();
        let hint = if SIGNING_METHODS.contains(&method) && !self.wallet_rpc {
            Some("signing over JSON-RPC is off: start the node with --wallet.rpc".to_owned())
        } else if NAMESPACES.contains(&namespace) && !self.namespaces.contains(namespace) {
            Some(format!(
                "the {namespace} namespace is not in {}",
                self.listener.api_flag()
            ))
        } else {
            None
        };
        ErrorObjectOwned::owned(
            METHOD_NOT_FOUND,
            format!("the method {method} does not exist/is not available"),
            hint,
        )
    }

    /// The hash the audit line names: the EIP-191 hash of a signed message, or the signed
    /// transaction's hash.
    fn signed_hash(method: &str, params: Option<&str>, result: &Value) -> Option<B256> {
        let args: Vec<Value> = params
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default();
        let message_at = match method {
            "eth_sign" => Some(1),
            "personal_sign" => Some(0),
            _ => None,
        };
        if let Some(i) = message_at {
            let hex = args.get(i)?.as_str()?;
            let bytes = alloy_primitives::hex::decode(hex).ok()?;
            return Some(alloy_primitives::eip191_hash_message(bytes));
        }
        let hash = result
            .pointer("/tx/hash")
            .or_else(|| result.get("hash"))
            .unwrap_or(result);
        hash.as_str()?.parse().ok()
    }

    /// Writes the audit line for a signature the wallet made (before it is returned).
    async fn audit(
        &self,
        method: &str,
        params: Option<&str>,
        response: &MethodResponse,
        caller: Option<Caller>,
    ) -> std::result::Result<(), String> {
        let result = serde_json::from_str::<Value>(response.as_json().get())
            .ok()
            .and_then(|mut v| v.get_mut("result").map(Value::take))
            .unwrap_or_default();
        let hash = Self::signed_hash(method, params, &result);
        let event = AuditEvent::new("rpc_sign")
            .detail("method", method)
            .detail("hash", hash.map(|h| h.to_string()).unwrap_or_default())
            .detail("account", self.wallet.to_string())
            .detail(
                "caller",
                caller.map(|c| c.0.to_string()).unwrap_or_default(),
            );
        let Some(log) = self.audit.clone() else {
            return Err("no audit log configured".into());
        };
        tokio::task::spawn_blocking(move || log.append(event))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| cachet_primitives::error::Chain(&e).to_string())
    }
}

/// The per-call gate (a jsonrpsee RPC middleware): refuses what the policy does not allow,
/// answers `eth_accounts` with no account while signing is off, and audits signatures.
#[derive(Debug, Clone)]
struct Gate<S> {
    inner: S,
    policy: Arc<Policy>,
    /// WebSocket: the per-client rate counts each call on the open socket (on HTTP each request
    /// is counted by the guard in front).
    rate: Option<Arc<GuardShared>>,
}

impl<S> Gate<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    async fn gate(&self, req: RpcRequest<'_>) -> MethodResponse {
        let id: Id<'static> = req.id.clone().into_owned();
        let method = req.method_name().to_owned();
        if self.policy.listener == Listener::Http && SUBSCRIPTION_METHODS.contains(&method.as_str())
        {
            // geth's ErrNotificationsUnsupported.
            return MethodResponse::error(
                id,
                ErrorObjectOwned::owned(
                    METHOD_NOT_FOUND,
                    "notifications not supported",
                    Some("subscriptions are served over WebSocket: start the node with --ws"),
                ),
            );
        }
        if let Some(rate) = &self.rate
            && rate.over_limit(req.extensions().get::<Caller>())
        {
            return MethodResponse::error(id, rate.rate_error());
        }
        if !self.policy.allowed.contains(&method) {
            tracing::debug!(target: "cachet::rpc", %method, "refused");
            return MethodResponse::error(id, self.policy.refusal(&method));
        }
        if method == "eth_accounts" && !self.policy.wallet_rpc {
            return MethodResponse::response(
                id,
                ResponsePayload::success(Vec::<Address>::new()),
                self.policy.max_response,
            );
        }
        if !SIGNING_METHODS.contains(&method.as_str()) {
            return self.inner.call(req).await;
        }
        let params = req.params().as_str().map(str::to_owned);
        let caller = req.extensions().get::<Caller>().copied();
        let response = self.inner.call(req).await;
        if !response.is_success() {
            return response;
        }
        match self
            .policy
            .audit(&method, params.as_deref(), &response, caller)
            .await
        {
            Ok(()) => response,
            Err(e) => {
                tracing::error!(target: "cachet::audit", error = %e, %method, "signature withheld: the audit log could not be written");
                MethodResponse::error(
                    id,
                    err(
                        SERVER_ERROR,
                        format!("signature withheld: the audit log could not be written ({e})"),
                    ),
                )
            }
        }
    }
}

impl<S> RpcServiceT for Gate<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, req: RpcRequest<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move { this.gate(req).await }
    }

    // Each call of a batch goes through the gate (jsonrpsee's own batch would bypass it).
    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let mut out = BatchResponseBuilder::new_with_limit(this.policy.max_response);
            let mut got_notification = false;
            for entry in batch {
                let response = match entry {
                    Ok(BatchEntry::Call(req)) => this.gate(req).await,
                    Ok(BatchEntry::Notification(n)) => {
                        got_notification = true;
                        this.inner.notification(n).await;
                        continue;
                    }
                    Err(e) => {
                        let (e, id) = e.into_parts();
                        MethodResponse::error(id, e)
                    }
                };
                if let Err(too_big) = out.append(response) {
                    return too_big;
                }
            }
            if out.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(out.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

/// Reads the hex JWT secret at `path` (geth's `jwtsecret` format, `0x` optional), creating a
/// random one with mode 0600 when the file does not exist.
///
/// # Errors
/// [`Error::Config`] when the file cannot be read/created or is not 32 hex bytes.
pub fn jwt_secret(path: &Path) -> Result<Vec<u8>> {
    let cfg = |why: String| Error::Config(format!("--http.jwtsecret {}: {why}", path.display()));
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let secret: [u8; 32] = rand::random();
            file.write_all(format!("0x{}", hex::encode(secret)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| cfg(format!("cannot write a new secret: {e}")))?;
            tracing::info!(target: "cachet::rpc", path = %path.display(), "generated a JWT secret (mode 0600)");
            return Ok(secret.to_vec());
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(cfg(format!("cannot create it: {e}"))),
    }
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(target: "cachet::rpc", path = %path.display(), "the JWT secret file is readable by other users: chmod 600 it");
    }
    let text = std::fs::read_to_string(path).map_err(|e| cfg(format!("cannot read it: {e}")))?;
    let text = text.trim();
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .map_err(|_| cfg("not hex (geth's format: 32 bytes as 64 hex digits)".into()))?;
    if bytes.len() != 32 {
        return Err(cfg(format!(
            "{} bytes; a JWT secret is 32 bytes (64 hex digits)",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The bearer-token check: HS256 (`jsonwebtoken`), `iat` within ±60 s of now, `exp` when present.
#[derive(Clone)]
pub struct JwtAuth {
    key: Arc<jsonwebtoken::DecodingKey>,
    validation: Arc<jsonwebtoken::Validation>,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtAuth(HS256, secret hidden)")
    }
}

impl JwtAuth {
    /// The check for `secret`.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims = HashSet::new();
        validation.validate_aud = false;
        Self {
            key: Arc::new(jsonwebtoken::DecodingKey::from_secret(secret)),
            validation: Arc::new(validation),
        }
    }

    /// Checks an `Authorization` header value at `now` (Unix seconds); the error is geth's text.
    ///
    /// # Errors
    /// `missing token`, `invalid token: …`, `missing issued-at`, `stale token`, `future token`.
    pub fn check(&self, authorization: Option<&str>, now: u64) -> std::result::Result<(), String> {
        let token = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("missing token")?;
        let data = jsonwebtoken::decode::<Value>(token, &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        let iat = data
            .claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or("missing issued-at")?;
        if iat.saturating_add(JWT_IAT_WINDOW_SECS) < now {
            return Err("stale token".into());
        }
        if iat > now.saturating_add(JWT_IAT_WINDOW_SECS) {
            return Err("future token".into());
        }
        Ok(())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn text_response(status: StatusCode, body: String) -> Response<HttpBody> {
    let mut r = Response::new(HttpBody::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl<B> ValidateRequest<B> for JwtAuth {
    type ResponseBody = HttpBody;

    fn validate(
        &mut self,
        request: &mut Request<B>,
    ) -> std::result::Result<(), Response<HttpBody>> {
        let header = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.check(header, now_secs()).map_err(|why| {
            tracing::debug!(target: "cachet::rpc", %why, "unauthorized");
            text_response(StatusCode::UNAUTHORIZED, why)
        })
    }
}

/// geth's `--http.vhosts` rule: requests without `Host`, or whose host is an IP address, pass;
/// a name must be listed (or `*`).
#[derive(Debug, Clone)]
pub struct Vhosts {
    any: bool,
    names: HashSet<String>,
}

impl Vhosts {
    /// From the flag's list.
    pub fn new(list: &[String]) -> Self {
        let names: HashSet<String> = list
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Self {
            any: names.contains("*"),
            names,
        }
    }

    /// True when a request with this `Host` header may be served.
    pub fn allows(&self, host: Option<&str>) -> bool {
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return true;
        };
        if self.any {
            return true;
        }
        let name = match host.parse::<SocketAddr>() {
            Ok(_) => return true,
            Err(_) => match host.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => host,
            },
        };
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return true;
        }
        self.names.contains(&name.to_ascii_lowercase())
    }
}

/// The rate limit and `Host` check, in front of everything else.
#[derive(Clone)]
struct GuardLayer(Arc<GuardShared>);

struct GuardShared {
    vhosts: Vhosts,
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    rate: u32,
    limit_loopback: bool,
}

#[derive(Clone)]
struct Guard<S> {
    inner: S,
    shared: Arc<GuardShared>,
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// Keyed limiter state is dropped for idle clients past this many tracked addresses.
const LIMITER_PRUNE_AT: usize = 10_000;

impl std::fmt::Debug for GuardShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardShared")
            .field("vhosts", &self.vhosts)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl GuardShared {
    /// True when `caller` is past its request rate (loopback callers are exempt unless
    /// `--http.ratelimit` covers them); counts the request.
    fn over_limit(&self, caller: Option<&Caller>) -> bool {
        let Some(limiter) = &self.limiter else {
            return false;
        };
        let Some(caller) = caller.filter(|c| self.limit_loopback || !is_loopback(c.0.ip())) else {
            return false;
        };
        if limiter.len() > LIMITER_PRUNE_AT {
            limiter.retain_recent();
        }
        limiter.check_key(&caller.0.ip()).is_err()
    }

    fn rate_error(&self) -> ErrorObjectOwned {
        ErrorObjectOwned::owned::<()>(
            LIMIT_EXCEEDED,
            format!(
                "rate limit exceeded: at most {} requests per second per client (--http.ratelimit)",
                self.rate
            ),
            None,
        )
    }
}

impl<S, B> Service<Request<B>> for Guard<S>
where
    S: Service<Request<B>, Response = Response<HttpBody>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<HttpBody>;
    type Error = BoxError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<Response<HttpBody>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let shared = &self.shared;
        if shared.over_limit(request.extensions().get::<Caller>()) {
            let body =
                serde_json::json!({"jsonrpc": "2.0", "id": null, "error": shared.rate_error()});
            let mut r = Response::new(HttpBody::from(body.to_string()));
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return Box::pin(async move { Ok(r) });
        }
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(http::uri::Authority::as_str));
        if !shared.vhosts.allows(host) {
            tracing::debug!(target: "cachet::rpc", host = host.unwrap_or(""), "refused Host (--http.vhosts)");
            let r = text_response(StatusCode::FORBIDDEN, "invalid host specified\n".into());
            return Box::pin(async move { Ok(r) });
        }
        Box::pin(self.inner.call(request))
    }
}

/// One `--ws.origins` rule or one browser `Origin`, parsed as geth's `parseOriginURL`: with
/// `://` a scheme, host and port; without, a host and optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginParts {
    scheme: String,
    host: String,
    port: String,
}

impl OriginParts {
    fn parse(origin: &str) -> Option<Self> {
        let origin = origin.trim().to_ascii_lowercase();
        let (scheme, rest) = match origin.split_once("://") {
            Some((scheme, rest)) => (scheme.to_owned(), rest),
            None => (String::new(), origin.as_str()),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':').unwrap_or(after))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
                Some(_) => return None,
                None => (authority, ""),
            }
        };
        if host.is_empty() && scheme.is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            host: host.to_owned(),
            port: port.to_owned(),
        })
    }

    /// geth's `ruleAllowsOrigin`: each part the rule names must match.
    fn allows(&self, origin: &Self) -> bool {
        (self.scheme.is_empty() || self.scheme == origin.scheme)
            && (self.host.is_empty() || self.host == origin.host)
            && (self.port.is_empty() || self.port == origin.port)
    }
}

/// `--ws.origins`, geth's WebSocket handshake check: a handshake without `Origin` passes (it is
/// not a browser), `*` allows any, no list allows `http://localhost` (any port); any other
/// `Origin` gets 403.
#[derive(Debug, Clone)]
pub struct Origins {
    any: bool,
    rules: Arc<Vec<OriginParts>>,
}

impl Origins {
    /// From the flag's list.
    ///
    /// # Errors
    /// [`Error::Config`] on an entry that is not an origin.
    pub fn new(list: &[String]) -> Result<Self> {
        let mut rules = Vec::new();
        let mut any = false;
        for entry in list.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            if entry == "*" {
                any = true;
                continue;
            }
            rules.push(OriginParts::parse(entry).ok_or_else(|| {
                Error::Config(format!("--ws.origins: {entry:?} is not an origin"))
            })?);
        }
        if rules.is_empty() && !any {
            rules.push(OriginParts {
                scheme: "http".into(),
                host: "localhost".into(),
                port: String::new(),
            });
        }
        Ok(Self {
            any,
            rules: Arc::new(rules),
        })
    }

    /// True when a handshake with this `Origin` header may proceed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        if self.any {
            return true;
        }
        OriginParts::parse(origin).is_some_and(|o| self.rules.iter().any(|r| r.allows(&o)))
    }
}

impl<B> ValidateRequest<B> for Origins {
    type ResponseBody = HttpBody;

    fn validate(
        &mut self,
        request: &mut Request<B>,
    ) -> std::result::Result<(), Response<HttpBody>> {
        let origin = request.headers().get(http::header::ORIGIN);
        let text = origin.map(|v| v.to_str().unwrap_or("\u{fffd}"));
        if self.allows(text) {
            return Ok(());
        }
        tracing::debug!(target: "cachet::rpc", origin = text.unwrap_or(""), "refused a WebSocket handshake (--ws.origins)");
        Err(text_response(
            StatusCode::FORBIDDEN,
            "websocket: request origin not allowed (--ws.origins)\n".into(),
        ))
    }
}

/// Records each call that ran in the `cachet_rpc_*` metrics (method, outcome, latency). Method
/// names are labels only when the module has them, so clients cannot mint metric series.
#[derive(Debug, Clone)]
struct Metered<S> {
    inner: S,
    known: Arc<HashSet<String>>,
}

impl<S> RpcServiceT for Metered<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, req: RpcRequest<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let inner = self.inner.clone();
        let known = self.known.clone();
        async move {
            let method = req.method_name();
            let label = if known.contains(method) {
                method.to_owned()
            } else {
                "unknown".to_owned()
            };
            let started = std::time::Instant::now();
            let response = inner.call(req).await;
            crate::metrics::rpc_call(&label, response.is_success(), started.elapsed());
            response
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

/// Subscription ids as geth's: 128 random bits in hex.
#[derive(Debug, Clone, Copy)]
struct HexIds;

impl jsonrpsee::core::traits::IdProvider for HexIds {
    fn next_id(&self) -> jsonrpsee::types::SubscriptionId<'static> {
        jsonrpsee::types::SubscriptionId::Str(format!("{:#x}", rand::random::<u128>()).into())
    }
}

fn cors_layer(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o.trim() == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o.trim()).map_err(|_| {
                    Error::Config(format!("--http.corsdomain: {o:?} is not an origin"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    // geth's CORS handler: POST and GET, any header, preflight cached 600 s.
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::POST, Method::GET])
            .allow_headers([CONTENT_TYPE, AUTHORIZATION])
            .max_age(Duration::from_secs(600)),
    ))
}

/// The rustls acceptor for `--http.tls-*`.
///
/// # Errors
/// [`Error::Config`] when a PEM file cannot be read or the key does not fit the certificate.
pub fn tls_acceptor(tls: &TlsFiles) -> Result<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |flag: &str, path: &Path, e: &dyn std::fmt::Display| {
        Error::Config(format!("{flag} {}: {e}", path.display()))
    };
    let certs = |flag: &str, path: &Path| -> Result<Vec<CertificateDer<'static>>> {
        let list = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(flag, path, &e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad(flag, path, &e))?;
        if list.is_empty() {
            return Err(bad(flag, path, &"no PEM certificate in it"));
        }
        Ok(list)
    };
    let chain = certs("--http.tls-cert", &tls.cert)?;
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| bad("--http.tls-key", &tls.key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs("--http.tls-client-ca", ca)? {
                roots
                    .add(c)
                    .map_err(|e| bad("--http.tls-client-ca", ca, &e))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| bad("--http.tls-client-ca", ca, &e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| bad("--http.tls-key", &tls.key, &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One line saying what the listener exposes.
fn describe(url: &str, access: &AccessConfig, policy: &Policy) -> String {
    let browsers = match policy.listener {
        Listener::Http => format!(
            "CORS {}",
            if access.cors.is_empty() {
                "off".to_owned()
            } else {
                access.cors.join(",")
            }
        ),
        Listener::Ws => format!(
            "origins {}",
            if access.ws_origins.is_empty() {
                "http://localhost".to_owned()
            } else {
                access.ws_origins.join(",")
            }
        ),
    };
    let mut methods: Vec<&str> = policy.allowed.iter().map(String::as_str).collect();
    methods.sort_unstable();
    let signing: Vec<&str> = methods
        .iter()
        .copied()
        .filter(|m| SIGNING_METHODS.contains(m))
        .collect();
    let extra: Vec<&str> = methods
        .iter()
        .copied()
        .filter(|m| {
            !policy
                .namespaces
                .contains(m.split('_').next().unwrap_or_default())
        })
        .collect();
    let auth = match (
        &access.jwt_secret,
        access.tls.as_ref().and_then(|t| t.client_ca.as_ref()),
    ) {
        (Some(_), Some(_)) => "JWT and client certificates",
        (Some(_), None) => "JWT",
        (None, Some(_)) => "client certificates",
        (None, None) => "none",
    };
    format!(
        "JSON-RPC on {url}: namespaces {}{}; wallet signing over RPC {}; authentication {auth}; vhosts {}; {browsers}",
        policy
            .namespaces
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
        if extra.is_empty() {
            String::new()
        } else {
            format!(" + {}", extra.join(","))
        },
        if signing.is_empty() {
            "off".to_owned()
        } else {
            format!("ON ({})", signing.join(","))
        },
        access.vhosts.join(","),
    )
}

/// Starts the HTTP server on `addr` with `access`; returns its handle and bound address.
///
/// # Errors
/// [`Error::Config`] for flags that do not hold together or unreadable TLS/JWT files,
/// [`Error::Rpc`] when the address cannot be bound.
pub async fn start(
    addr: SocketAddr,
    ctx: RpcContext,
    access: &AccessConfig,
) -> Result<(ServerHandle, SocketAddr)> {
    let servers = start_listeners(ctx, access, Some(addr), None).await?;
    servers
        .http
        .ok_or_else(|| Error::Config("the HTTP listener did not start".into()))
}

/// The running listeners: each one's handle and bound address.
#[derive(Debug, Default)]
pub struct Servers {
    /// `--http`.
    pub http: Option<(ServerHandle, SocketAddr)>,
    /// `--ws`.
    pub ws: Option<(ServerHandle, SocketAddr)>,
}

impl Servers {
    /// Tells every listener to stop (it closes its socket shortly after; see [`Self::stopped`]).
    pub fn stop(&self) {
        for (handle, _) in self.http.iter().chain(&self.ws) {
            let _ = handle.stop();
        }
    }

    /// Waits until every listener told to stop has closed its socket, so that a stopped node
    /// answers nothing on its ports.
    pub async fn stopped(&self) {
        for (handle, _) in self.http.iter().chain(&self.ws) {
            handle.clone().stopped().await;
        }
    }
}

/// Starts the HTTP listener on `http` and the WebSocket listener on `ws` (each when given),
/// serving one module under `access`.
///
/// # Errors
/// [`Error::Config`] for flags that do not hold together or unreadable TLS/JWT files,
/// [`Error::Rpc`] when an address cannot be bound.
pub async fn start_listeners(
    ctx: RpcContext,
    access: &AccessConfig,
    http: Option<SocketAddr>,
    ws: Option<SocketAddr>,
) -> Result<Servers> {
    for (listener, addr) in [(Listener::Http, http), (Listener::Ws, ws)] {
        if let Some(addr) = addr {
            access.check_on(listener, addr)?;
        }
    }
    let engine = ctx.chain.engine();
    let wallet = ctx.wallet.address();
    // Without its context type, the module can be cloned: one copy per listener.
    let module = super::module(ctx)?.remove_context();
    let known: Arc<HashSet<String>> = Arc::new(module.method_names().map(str::to_owned).collect());
    let mut servers = Servers::default();
    if let Some(addr) = http {
        let mut m = module.clone();
        let policy = Arc::new(Policy::new(access, Listener::Http, engine, wallet, &mut m)?);
        servers.http = Some(serve(addr, m, policy, known.clone(), access).await?);
    }
    if let Some(addr) = ws {
        let mut m = module;
        let policy = Arc::new(Policy::new(access, Listener::Ws, engine, wallet, &mut m)?);
        match serve(addr, m, policy, known, access).await {
            Ok(s) => servers.ws = Some(s),
            Err(e) => {
                servers.stop();
                return Err(e);
            }
        }
    }
    Ok(servers)
}

/// Subscriptions one WebSocket connection may hold.
pub const MAX_SUBSCRIPTIONS_PER_CONNECTION: u32 = 1024;

/// Serves one listener (`policy.listener`) on `addr`.
async fn serve(
    addr: SocketAddr,
    module: RpcModule<()>,
    policy: Arc<Policy>,
    known: Arc<HashSet<String>>,
    access: &AccessConfig,
) -> Result<(ServerHandle, SocketAddr)> {
    let listener_kind = policy.listener;
    let jwt = match &access.jwt_secret {
        Some(path) => Some(JwtAuth::new(&jwt_secret(path)?)),
        None => None,
    };
    let tls = access.tls.as_ref().map(tls_acceptor).transpose()?;
    // CORS is for browsers' HTTP requests; WebSocket handshakes are checked by Origin instead.
    let (cors, origins) = match listener_kind {
        Listener::Http => (cors_layer(&access.cors)?, None),
        Listener::Ws => (None, Some(Origins::new(&access.ws_origins)?)),
    };
    let limits = access.limits;
    let limiter = NonZeroU32::new(limits.rate_per_second).map(|rate| {
        let burst = NonZeroU32::new(limits.rate_burst).unwrap_or(rate).max(rate);
        RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
    });
    let shared = Arc::new(GuardShared {
        vhosts: Vhosts::new(&access.vhosts),
        limiter,
        rate: limits.rate_per_second,
        limit_loopback: limits.rate_limit_loopback,
    });
    let call_rate = (listener_kind == Listener::Ws).then(|| shared.clone());
    let guard = GuardLayer(shared);
    let io_timeout = Duration::from_secs(limits.io_timeout_secs.max(1));

    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Rpc { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Rpc { addr, source })?;
    let line = describe(
        &format!("{}://{bound}", access.scheme_of(listener_kind)),
        access,
        &policy,
    );
    if policy
        .allowed
        .iter()
        .any(|m| SIGNING_METHODS.contains(&m.as_str()))
    {
        tracing::warn!(target: "cachet::rpc", "{line}");
    } else {
        tracing::info!(target: "cachet::rpc", "{line}");
    }
    let steering: Vec<&str> = [
        "admin", "clique", "debug", "istanbul", "personal", "qbft", "txpool",
    ]
    .into_iter()
    .filter(|ns| policy.namespaces.contains(*ns))
    .collect();
    if !is_loopback(bound.ip()) && !access.authenticates() && !steering.is_empty() {
        tracing::warn!(target: "cachet::rpc", namespaces = %steering.join(","), "JSON-RPC serves these namespaces to anyone who reaches {bound}, without authentication: see docs/rpc-security.md");
    }

    let config = ServerConfig::builder()
        .max_request_body_size(limits.max_body_bytes)
        .max_response_body_size(limits.max_response_bytes)
        .max_connections(limits.max_connections)
        .set_batch_request_config(BatchRequestConfig::Limit(limits.max_batch));
    let config = match listener_kind {
        Listener::Http => config.http_only(),
        Listener::Ws => config
            .ws_only()
            .max_subscriptions_per_connection(MAX_SUBSCRIPTIONS_PER_CONNECTION)
            .set_message_buffer_capacity(limits.ws_queue.max(1))
            .set_id_provider(HexIds),
    }
    .build();
    let http_middleware = tower::ServiceBuilder::new()
        .layer(guard)
        .option_layer(cors)
        .option_layer(origins.map(ValidateRequestHeaderLayer::custom))
        .option_layer(jwt.map(ValidateRequestHeaderLayer::custom))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            io_timeout,
        ));
    let rpc_policy = policy.clone();
    let builder = Server::builder()
        .set_config(config)
        .set_http_middleware(http_middleware)
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer_fn(move |inner| Gate {
                    inner,
                    policy: rpc_policy.clone(),
                    rate: call_rate.clone(),
                })
                .layer_fn(move |inner| Metered {
                    inner,
                    known: known.clone(),
                }),
        )
        .to_service_builder();
    let (stop_handle, server_handle) = stop_channel();
    let methods: jsonrpsee::Methods = module.into();
    let connections = Arc::new(Semaphore::new(limits.max_connections as usize));
    let max_connections = limits.max_connections;
    tokio::spawn(async move {
        loop {
            let (socket, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::debug!(target: "cachet::rpc", error = %e, "accept failed");
                        continue;
                    }
                },
                () = stop_handle.clone().shutdown() => break,
            };
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                tokio::spawn(refuse_connection(
                    socket,
                    tls.is_some(),
                    max_connections,
                    io_timeout,
                ));
                continue;
            };
            let _ = socket.set_nodelay(true);
            let svc = builder.clone().build(methods.clone(), stop_handle.clone());
            let svc = tower::service_fn(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Caller(remote));
                let mut svc = svc.clone();
                async move { svc.call(req).await }
            });
            let tls = tls.clone();
            let stop = stop_handle.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let served = match tls {
                    None => serve_connection(socket, svc, stop, io_timeout).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(io_timeout, acceptor.accept(socket)).await {
                            Ok(Ok(stream)) => serve_connection(stream, svc, stop, io_timeout).await,
                            Ok(Err(e)) => Err(BoxError::from(format!("TLS handshake: {e}"))),
                            Err(_) => Err(BoxError::from("TLS handshake timed out".to_owned())),
                        }
                    }
                };
                if let Err(e) = served {
                    tracing::debug!(target: "cachet::rpc", %remote, error = %e, "connection ended");
                }
            });
        }
    });
    Ok((server_handle, bound))
}

/// Past `--http.maxconns`: a plain-HTTP client is told why (503), a TLS one is closed.
async fn refuse_connection(
    mut socket: tokio::net::TcpStream,
    tls: bool,
    max: u32,
    timeout: Duration,
) {
    tracing::debug!(target: "cachet::rpc", max, "refused a connection (--http.maxconns)");
    if tls {
        return;
    }
    let body = format!("too many open connections: at most {max} (--http.maxconns)\n");
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(timeout, socket.write_all(response.as_bytes())).await;
}

type Served = Pin<Box<dyn Future<Output = std::result::Result<(), BoxError>> + Send>>;

/// Serves one HTTP/1.1 connection until it closes or the server stops; headers
/// must arrive within `io_timeout`. (A boxed future: proving `Send` here, not at the spawn.)
fn serve_connection<I, S>(io: I, service: S, stop: StopHandle, io_timeout: Duration) -> Served
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Request<hyper::body::Incoming>, Response = Response<HttpBody>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    Box::pin(async move {
        // HTTP/1.1 only: what JSON-RPC clients speak, and an idle keep-alive connection is
        // closed by the header timeout.
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(TokioExecutor::new()).http1_only();
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(io_timeout);
        // With upgrades: a WebSocket handshake hands the connection to jsonrpsee (which holds
        // its own connection permit for the socket's life).
        let conn = builder.serve_connection_with_upgrades(
            TokioIo::new(io),
            hyper_util::service::TowerToHyperService::new(service),
        );
        tokio::pin!(conn);
        tokio::select! {
            r = conn.as_mut() => r,
            () = stop.shutdown() => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(secret: &[u8], claims: &Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    #[test]
    fn jwt_accepts_a_fresh_token_and_refuses_the_rest() {
        let secret = [7u8; 32];
        let auth = JwtAuth::new(&secret);
        let now = 1_800_000_000;
        let ok = signed(&secret, &serde_json::json!({ "iat": now }));
        assert_eq!(auth.check(Some(&format!("Bearer {ok}")), now), Ok(()));
        assert_eq!(auth.check(Some(&format!("Bearer {ok}")), now + 60), Ok(()));
        assert_eq!(auth.check(Some(&format!("Bearer {ok}")), now - 60), Ok(()));
        assert_eq!(
            auth.check(Some(&format!("Bearer {ok}")), now + 61),
            Err("stale token".into())
        );
        assert_eq!(
            auth.check(Some(&format!("Bearer {ok}")), now - 61),
            Err("future token".into())
        );
        assert_eq!(auth.check(None, now), Err("missing token".into()));
        assert_eq!(
            auth.check(Some("Basic abc"), now),
            Err("missing token".into())
        );
        let no_iat = signed(&secret, &serde_json::json!({ "sub": "x" }));
        assert_eq!(
            auth.check(Some(&format!("Bearer {no_iat}")), now),
            Err("missing issued-at".into())
        );
        let forged = signed(&[8u8; 32], &serde_json::json!({ "iat": now }));
        assert!(
            auth.check(Some(&format!("Bearer {forged}")), now)
                .unwrap_err()
                .starts_with("invalid token")
        );
        // alg "none" and other algorithms are refused (jsonwebtoken checks the header's alg).
        let hs512 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
            &serde_json::json!({ "iat": now }),
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap();
        assert!(auth.check(Some(&format!("Bearer {hs512}")), now).is_err());
        // The valid token's claims under a header saying {"alg":"none","typ":"JWT"}, unsigned.
        let claims = ok.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
        assert!(auth.check(Some(&format!("Bearer {none}")), now).is_err());
    }

    #[test]
    fn vhosts_follow_geth() {
        let v = Vhosts::new(&["localhost".into()]);
        assert!(v.allows(Some("localhost")));
        assert!(v.allows(Some("LOCALHOST:8545")));
        assert!(v.allows(Some("127.0.0.1:8545")));
        assert!(v.allows(Some("[::1]:8545")));
        assert!(v.allows(None));
        assert!(!v.allows(Some("evil.example")));
        assert!(!v.allows(Some("evil.example:8545")));
        assert!(!v.allows(Some("localhost.evil.example")));
        assert!(Vhosts::new(&["*".into()]).allows(Some("evil.example")));
    }

    #[test]
    fn origins_follow_geth() {
        let default = Origins::new(&[]).unwrap();
        assert!(default.allows(None), "not a browser");
        assert!(default.allows(Some("http://localhost")));
        assert!(default.allows(Some("http://LOCALHOST:3000")));
        assert!(!default.allows(Some("https://localhost")));
        assert!(!default.allows(Some("http://localhost.evil.example")));
        assert!(!default.allows(Some("http://evil.example")));
        assert!(!default.allows(Some("null")));
        assert!(!default.allows(Some("")));
        // geth's rule parts: a rule without a scheme or port matches any.
        let list = Origins::new(&["dapp.example".into(), "https://w.example:8443".into()]).unwrap();
        assert!(list.allows(Some("http://dapp.example")));
        assert!(list.allows(Some("https://dapp.example:9000")));
        assert!(list.allows(Some("https://w.example:8443")));
        assert!(!list.allows(Some("https://w.example")));
        assert!(!list.allows(Some("http://w.example:8443")));
        assert!(
            !list.allows(Some("http://localhost")),
            "a list replaces the default"
        );
        let v6 = Origins::new(&["http://[::1]".into()]).unwrap();
        assert!(v6.allows(Some("http://[::1]:8080")));
        assert!(
            Origins::new(&["*".into()])
                .unwrap()
                .allows(Some("http://evil.example"))
        );
        assert!(Origins::new(&["http://x:port".into()]).is_err());
    }

    #[test]
    fn jwt_secret_is_created_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.hex");
        let first = jwt_secret(&path).unwrap();
        assert_eq!(first.len(), 32);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(jwt_secret(&path).unwrap(), first);
        // geth writes 0x-prefixed hex; a bare one is read too.
        std::fs::write(&path, "ab".repeat(32)).unwrap();
        assert_eq!(jwt_secret(&path).unwrap(), vec![0xab; 32]);
        std::fs::write(&path, "abcd").unwrap();
        assert!(jwt_secret(&path).is_err());
    }

    #[test]
    fn unreadable_tls_or_jwt_files_refuse_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing = AccessConfig {
            tls: Some(TlsFiles {
                cert: dir.path().join("nope.pem"),
                key: dir.path().join("nope.key"),
                client_ca: None,
            }),
            ..AccessConfig::default()
        };
        let e = missing.check_files().unwrap_err().to_string();
        assert!(
            e.contains("--http.tls-cert") && e.contains("nope.pem"),
            "{e}"
        );
        std::fs::write(dir.path().join("jwt"), "not hex").unwrap();
        let bad_jwt = AccessConfig {
            jwt_secret: Some(dir.path().join("jwt")),
            ..AccessConfig::default()
        };
        let e = bad_jwt.check_files().unwrap_err().to_string();
        assert!(e.contains("--http.jwtsecret"), "{e}");
    }

    #[test]
    fn startup_refuses_remote_signing_without_auth() {
        let remote: SocketAddr = "0.0.0.0:8545".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8545".parse().unwrap();
        let mut c = AccessConfig {
            wallet_rpc: true,
            audit_dir: Some("/tmp".into()),
            ..AccessConfig::default()
        };
        assert!(c.check(local).is_ok());
        let e = c.check(remote).unwrap_err().to_string();
        assert!(e.contains("--wallet.rpc.allow-remote"), "{e}");
        c.wallet_allow_remote = true;
        let e = c.check(remote).unwrap_err().to_string();
        assert!(e.contains("needs authentication"), "{e}");
        c.tls = Some(TlsFiles {
            cert: "c".into(),
            key: "k".into(),
            client_ca: None,
        });
        assert!(
            c.check(remote).is_err(),
            "TLS without client certs is not authentication"
        );
        c.jwt_secret = Some("j".into());
        assert!(c.check(remote).is_ok());
        let bad = AccessConfig {
            apis: Some(vec!["eth".into(), "wallet".into()]),
            ..AccessConfig::default()
        };
        assert!(bad.check(local).is_err());
    }
}
