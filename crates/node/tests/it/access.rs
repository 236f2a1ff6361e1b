//! RPC access control (issue 17, docs/rpc-security.md): who may call what, checked over real
//! HTTP connections to the server the node starts.

use std::net::SocketAddr;
use std::path::Path;

use cachet_keyprovider::AuditLog;
use cachet_node::rpc::access::{self, AccessConfig, TlsFiles};
use proptest::prelude::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::rpc::{Fixture, fixture, fixture_on, fixture_with};

/// One HTTP/1.1 request with `headers` (a `Host: localhost` unless given); the status, the
/// response head (lower-cased) and body.
async fn request(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} / HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str("Host: localhost\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn rpc_body(method: &str, params: &Value) -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// An HS256 token with `iat` = now + `skew` seconds, signed with `secret`.
fn token(secret: &[u8], skew: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "iat": now + skew }),
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

async fn call_with(f: &Fixture, auth: Option<&str>, method: &str, params: Value) -> (u16, Value) {
    let headers: Vec<(&str, String)> = auth
        .map(|t| vec![("Authorization", format!("Bearer {t}"))])
        .unwrap_or_default();
    let (status, _, body) = request(f.addr, "POST", &headers, &rpc_body(method, &params)).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The method ran (a result, or its own error — not -32601).
    Served,
    /// geth's -32601 "the method … does not exist/is not available".
    Refused,
    /// The node does not start; the error names this.
    StartRefused(&'static str),
}

type Flags = fn(&mut AccessConfig, &Path);

fn apis(list: &[&str]) -> Option<Vec<String>> {
    Some(list.iter().map(|s| (*s).to_owned()).collect())
}

/// The table of (listener address, flags, method) → outcome.
#[tokio::test]
async fn table_of_listener_flags_and_methods() {
    let wallet_params = |f: &Fixture| json!([f.keys.wallet_key().address(), "0x68656c6c6f"]);
    let none: Flags = |_, _| {};
    let wallet: Flags = |a, _| a.wallet_rpc = true;
    let remote_no_auth: Flags = |a, _| {
        a.wallet_rpc = true;
        a.wallet_allow_remote = true;
    };
    let remote_jwt: Flags = |a, dir| {
        a.wallet_rpc = true;
        a.wallet_allow_remote = true;
        a.jwt_secret = Some(dir.join("jwt.hex"));
    };
    let clique: Flags = |a, _| a.apis = apis(&["eth", "clique"]);
    let admin: Flags = |a, _| a.apis = apis(&["eth", "admin"]);
    let table: &[(&str, Flags, &str, Expect)] = &[
        // Defaults on loopback: eth/net/web3 and the engine's read-only methods, no signing,
        // no votes, no admin, no debug.
        ("127.0.0.1:0", none, "eth_chainId", Expect::Served),
        ("127.0.0.1:0", none, "net_version", Expect::Served),
        ("127.0.0.1:0", none, "web3_clientVersion", Expect::Served),
        ("127.0.0.1:0", none, "clique_getSigners", Expect::Served),
        ("127.0.0.1:0", none, "clique_proposals", Expect::Served),
        ("127.0.0.1:0", none, "eth_sign", Expect::Refused),
        ("127.0.0.1:0", none, "personal_sign", Expect::Refused),
        ("127.0.0.1:0", none, "eth_signTransaction", Expect::Refused),
        ("127.0.0.1:0", none, "clique_propose", Expect::Refused),
        ("127.0.0.1:0", none, "admin_addPeer", Expect::Refused),
        ("127.0.0.1:0", none, "admin_nodeInfo", Expect::Refused),
        ("127.0.0.1:0", none, "admin_peers", Expect::Refused),
        ("127.0.0.1:0", none, "debug_getRawHeader", Expect::Refused),
        ("127.0.0.1:0", none, "eth_nope", Expect::Refused),
        // Not listening on loopback, signing off: the node starts, signing is refused.
        ("0.0.0.0:0", none, "eth_sign", Expect::Refused),
        ("0.0.0.0:0", none, "eth_chainId", Expect::Served),
        // --wallet.rpc on loopback: the wallet signs.
        ("127.0.0.1:0", wallet, "eth_sign", Expect::Served),
        ("127.0.0.1:0", wallet, "personal_sign", Expect::Served),
        ("127.0.0.1:0", wallet, "eth_signTransaction", Expect::Served),
        ("127.0.0.1:0", wallet, "admin_addPeer", Expect::Refused),
        // --wallet.rpc on a remote listener: refused at startup without allow-remote + auth.
        (
            "0.0.0.0:0",
            wallet,
            "eth_sign",
            Expect::StartRefused("--wallet.rpc.allow-remote"),
        ),
        (
            "0.0.0.0:0",
            remote_no_auth,
            "eth_sign",
            Expect::StartRefused("needs authentication"),
        ),
        // ... and served with a JWT (the token is sent; see jwt_* for the 401s).
        ("0.0.0.0:0", remote_jwt, "eth_sign", Expect::Served),
        ("0.0.0.0:0", remote_jwt, "clique_propose", Expect::Refused),
        // Namespaces listed explicitly: exactly those.
        ("127.0.0.1:0", clique, "clique_propose", Expect::Served),
        ("127.0.0.1:0", clique, "clique_getSigners", Expect::Served),
        ("127.0.0.1:0", clique, "net_version", Expect::Refused),
        ("127.0.0.1:0", clique, "admin_addPeer", Expect::Refused),
        ("127.0.0.1:0", admin, "admin_addPeer", Expect::Served),
        ("127.0.0.1:0", admin, "admin_nodeInfo", Expect::Served),
        ("127.0.0.1:0", admin, "clique_propose", Expect::Refused),
        ("127.0.0.1:0", admin, "clique_getSigners", Expect::Refused),
    ];
    for (listen, flags, method, expect) in table {
        let dir = tempfile::tempdir().unwrap();
        let mut config = AccessConfig::default();
        flags(&mut config, dir.path());
        let started = fixture_on(listen.parse().unwrap(), config.clone()).await;
        let f = match (started, expect) {
            (Err(e), Expect::StartRefused(text)) => {
                assert!(e.to_string().contains(text), "{listen} {method}: {e}");
                continue;
            }
            (Err(e), _) => panic!("{listen} {method}: did not start: {e}"),
            (Ok(_), Expect::StartRefused(_)) => panic!("{listen} {method}: started"),
            (Ok(f), _) => f,
        };
        let jwt = config
            .jwt_secret
            .as_ref()
            .map(|p| token(&access::jwt_secret(p).unwrap(), 0));
        let params = match *method {
            "eth_sign" => wallet_params(&f),
            "personal_sign" => json!(["0x68656c6c6f", f.keys.wallet_key().address()]),
            "eth_signTransaction" => json!([{"from": f.keys.wallet_key().address(),
                "to": f.keys.wallet_key().address(), "gas": "0x5208", "gasPrice": "0x1",
                "nonce": "0x0", "value": "0x0"}]),
            "clique_propose" => json!([f.keys.wallet_key().address(), true]),
            "clique_getSigners" => json!(["latest"]),
            "debug_getRawHeader" => json!(["0x1"]),
            "admin_addPeer" => json!(["enode://nothex@127.0.0.1:1"]),
            _ => json!([]),
        };
        let (status, v) = call_with(&f, jwt.as_deref(), method, params).await;
        assert_eq!(status, 200, "{listen} {method}: {v}");
        let code = v["error"]["code"].as_i64();
        match expect {
            Expect::Served => assert_ne!(code, Some(-32601), "{listen} {method}: {v}"),
            Expect::Refused => {
                assert_eq!(code, Some(-32601), "{listen} {method}: {v}");
                assert_eq!(
                    v["error"]["message"],
                    format!("the method {method} does not exist/is not available"),
                );
            }
            Expect::StartRefused(_) => unreachable!(),
        }
    }
}

#[tokio::test]
async fn eth_accounts_lists_the_wallet_only_when_signing_is_on() {
    let off = fixture_with(|_| {}).await;
    assert_eq!(
        call_with(&off, None, "eth_accounts", json!([])).await.1["result"],
        json!([])
    );
    let on = fixture_with(|a| a.wallet_rpc = true).await;
    assert_eq!(
        call_with(&on, None, "eth_accounts", json!([])).await.1["result"],
        json!([on.keys.wallet_key().address()])
    );
    // The refusal says which flag would expose it.
    let (_, v) = call_with(&off, None, "eth_sign", json!([])).await;
    assert!(
        v["error"]["data"]
            .as_str()
            .unwrap()
            .contains("--wallet.rpc"),
        "{v}"
    );
}

#[tokio::test]
async fn jwt_tokens_missing_expired_or_forged_get_401() {
    let f = fixture_on(
        "0.0.0.0:0".parse().unwrap(),
        AccessConfig {
            wallet_rpc: true,
            wallet_allow_remote: true,
            jwt_secret: Some(
                std::env::temp_dir().join(format!("cachet-jwt-{}", std::process::id())),
            ),
            ..AccessConfig::default()
        },
    )
    .await
    .unwrap();
    let path = std::env::temp_dir().join(format!("cachet-jwt-{}", std::process::id()));
    let secret = access::jwt_secret(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    let body = rpc_body("eth_chainId", &json!([]));
    let auth = |t: String| vec![("Authorization", format!("Bearer {t}"))];
    let (status, _, out) = request(f.addr, "POST", &auth(token(&secret, 0)), &body).await;
    assert_eq!(status, 200, "{out}");
    let (status, _, out) = request(f.addr, "POST", &[], &body).await;
    assert_eq!((status, out.trim()), (401, "missing token"));
    let (status, _, out) = request(f.addr, "POST", &auth(token(&secret, -120)), &body).await;
    assert_eq!((status, out.trim()), (401, "stale token"));
    let (status, _, out) = request(f.addr, "POST", &auth(token(&secret, 120)), &body).await;
    assert_eq!((status, out.trim()), (401, "future token"));
    let (status, _, out) = request(f.addr, "POST", &auth(token(&[0u8; 32], 0)), &body).await;
    assert_eq!(status, 401, "{out}");
    assert!(out.starts_with("invalid token"), "{out}");
}

#[tokio::test]
async fn hosts_not_in_vhosts_get_403() {
    let f = fixture_with(|_| {}).await;
    let body = rpc_body("eth_chainId", &json!([]));
    let host = |h: &str| vec![("Host", h.to_owned())];
    let (status, _, out) = request(f.addr, "POST", &host("evil.example"), &body).await;
    assert_eq!((status, out.trim()), (403, "invalid host specified"));
    let (status, _, out) = request(f.addr, "POST", &host("evil.example:8545"), &body).await;
    assert_eq!(status, 403, "{out}");
    for ok in ["localhost", "localhost:8545", "127.0.0.1:8545"] {
        let (status, _, out) = request(f.addr, "POST", &host(ok), &body).await;
        assert_eq!(status, 200, "{ok}: {out}");
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["result"],
            "0x539"
        );
    }
    let any = fixture_with(|a| a.vhosts = vec!["*".into()]).await;
    assert_eq!(
        request(any.addr, "POST", &host("evil.example"), &body)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn cors_headers_only_for_listed_origins() {
    let preflight = |origin: &str| {
        vec![
            ("Origin", origin.to_owned()),
            ("Access-Control-Request-Method", "POST".to_owned()),
            ("Access-Control-Request-Headers", "content-type".to_owned()),
        ]
    };
    // Default: no CORS at all.
    let f = fixture_with(|_| {}).await;
    let (_, head, _) = request(f.addr, "OPTIONS", &preflight("http://evil.example"), "").await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    // Listed origin: allowed; unlisted: no CORS headers.
    let f = fixture_with(|a| a.cors = vec!["http://good.example".into()]).await;
    let (_, head, _) = request(f.addr, "OPTIONS", &preflight("http://evil.example"), "").await;
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    let (status, head, _) = request(f.addr, "OPTIONS", &preflight("http://good.example"), "").await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("access-control-allow-origin: http://good.example"),
        "{head}"
    );
    let body = rpc_body("eth_chainId", &json!([]));
    let (_, head, _) = request(
        f.addr,
        "POST",
        &[("Origin", "http://good.example".to_owned())],
        &body,
    )
    .await;
    assert!(
        head.contains("access-control-allow-origin: http://good.example"),
        "{head}"
    );
}

/// keccak256("\x19Ethereum Signed Message:\n" + len + message), written out.
fn eip191(message: &[u8]) -> alloy_primitives::B256 {
    let mut bytes = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    bytes.extend_from_slice(message);
    alloy_primitives::keccak256(bytes)
}

#[tokio::test]
async fn every_rpc_signature_is_one_chained_audit_line() {
    let f = fixture().await;
    let wallet = f.keys.wallet_key().address();
    let log = AuditLog::new(f.dir.path());
    // Something already in the log (as `cachet init` leaves it): the lines chain onto it.
    log.append(cachet_keyprovider::AuditEvent::new("init"))
        .unwrap();
    let sign = call_with(&f, None, "eth_sign", json!([wallet, "0x68656c6c6f"]))
        .await
        .1;
    assert!(sign["result"].is_string(), "{sign}");
    let personal = call_with(&f, None, "personal_sign", json!(["0x776f726c64", wallet]))
        .await
        .1;
    assert!(personal["result"].is_string(), "{personal}");
    let tx = json!({"from": wallet, "to": wallet, "gas": "0x5208", "gasPrice": "0x1",
        "nonce": "0x0", "value": "0x0"});
    let signed = call_with(&f, None, "eth_signTransaction", json!([tx]))
        .await
        .1;
    let raw = signed["result"]["raw"].as_str().unwrap();
    let tx_hash = alloy_primitives::keccak256(alloy_primitives::hex::decode(raw).unwrap());
    // A batch: the signature in it is audited, the other call is not.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "personal_sign", "params": ["0x21", wallet]},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
    ]);
    let (status, _, out) = request(f.addr, "POST", &[], &batch.to_string()).await;
    assert_eq!(status, 200, "{out}");
    // Refused and failed signing attempts make no signature, so no line.
    let other = alloy_primitives::Address::repeat_byte(7);
    let failed = call_with(&f, None, "eth_sign", json!([other, "0x00"]))
        .await
        .1;
    assert!(failed["error"].is_object(), "{failed}");

    let text = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let signs: Vec<&Value> = lines.iter().filter(|l| l["op"] == "rpc_sign").collect();
    let expected = [
        ("eth_sign", eip191(b"hello")),
        ("personal_sign", eip191(b"world")),
        ("eth_signTransaction", tx_hash),
        ("personal_sign", eip191(b"!")),
    ];
    assert_eq!(signs.len(), expected.len(), "{text}");
    for (line, (method, hash)) in signs.iter().zip(expected) {
        assert_eq!(line["details"]["method"], method, "{line}");
        assert_eq!(line["details"]["hash"], hash.to_string(), "{line}");
        assert_eq!(line["details"]["account"], wallet.to_string(), "{line}");
        let caller: SocketAddr = line["details"]["caller"].as_str().unwrap().parse().unwrap();
        assert!(caller.ip().is_loopback(), "{line}");
    }
    let report = log.verify().unwrap();
    assert_eq!(report.first_broken, None);
    assert_eq!(report.valid_lines, 1 + expected.len());
}

#[tokio::test]
async fn limits_answer_with_clear_errors() {
    let f = fixture_with(|a| {
        a.limits.max_body_bytes = 1024;
        a.limits.max_batch = 3;
        a.limits.rate_per_second = 1;
        a.limits.rate_burst = 6;
        // The test's client is on loopback, which is not limited by default.
        a.limits.rate_limit_loopback = true;
    })
    .await;
    // Body over the limit: 413 and a JSON-RPC error.
    let big = rpc_body("eth_chainId", &json!(["x".repeat(2000)]));
    let (status, _, out) = request(f.addr, "POST", &[], &big).await;
    assert_eq!(status, 413, "{out}");
    // Batch over the limit.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let batch = Value::Array(vec![call; 4]).to_string();
    let (status, _, out) = request(f.addr, "POST", &[], &batch).await;
    assert_eq!(status, 200, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("batch"),
        "{v}"
    );
    // Past the burst, the client is told to slow down (-32005, HTTP 429).
    let mut limited = None;
    for _ in 0..12 {
        let (status, _, out) =
            request(f.addr, "POST", &[], &rpc_body("eth_chainId", &json!([]))).await;
        if status == 429 {
            limited = Some(out);
            break;
        }
    }
    let out = limited.expect("no request was rate limited");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["error"]["code"], -32005);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--http.ratelimit")
    );

    // Loopback callers (this host's own processes) are not rate limited unless asked.
    let local = fixture_with(|a| {
        a.limits.rate_per_second = 1;
        a.limits.rate_burst = 1;
    })
    .await;
    for _ in 0..12 {
        let (status, _, out) = request(
            local.addr,
            "POST",
            &[],
            &rpc_body("eth_chainId", &json!([])),
        )
        .await;
        assert_eq!(status, 200, "{out}");
    }
}

#[tokio::test]
async fn connections_past_the_limit_get_503() {
    let f = fixture_with(|a| a.limits.max_connections = 2).await;
    // Two idle connections hold both slots (the server has accepted them once it answers
    // the third).
    let _a = tokio::net::TcpStream::connect(f.addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(f.addr).await.unwrap();
    let (status, _, out) = request(f.addr, "POST", &[], &rpc_body("eth_chainId", &json!([]))).await;
    assert_eq!(status, 503, "{out}");
    assert!(out.contains("--http.maxconns"), "{out}");
    drop((_a, _b));
}

/// Writes a CA, a server certificate for 127.0.0.1 and a client certificate (PEM files).
fn tls_files(
    dir: &Path,
) -> (
    TlsFiles,
    rcgen::Certificate,
    rcgen::KeyPair,
    rcgen::Issuer<'static, rcgen::KeyPair>,
) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["client".into()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    (
        TlsFiles {
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_ca: Some(dir.join("ca.pem")),
        },
        client,
        client_key,
        issuer,
    )
}

/// A TLS client trusting `ca`, presenting `client` when given; sends one JSON-RPC call.
async fn tls_call(
    addr: SocketAddr,
    ca: &Path,
    client: Option<(&rcgen::Certificate, &rcgen::KeyPair)>,
    body: &str,
) -> Result<(u16, String), String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio_rustls::rustls;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut s = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.map_err(|e| e.to_string())?;
    let out = String::from_utf8_lossy(&out).into_owned();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    Ok((
        status,
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    ))
}

#[tokio::test]
async fn tls_client_certificates_authenticate_remote_signing() {
    let certs = tempfile::tempdir().unwrap();
    let (tls, client, client_key, _issuer) = tls_files(certs.path());
    let f = fixture_on(
        "0.0.0.0:0".parse().unwrap(),
        AccessConfig {
            wallet_rpc: true,
            wallet_allow_remote: true,
            tls: Some(tls),
            ..AccessConfig::default()
        },
    )
    .await
    .unwrap();
    let wallet = f.keys.wallet_key().address();
    let body = rpc_body("personal_sign", &json!(["0x68656c6c6f", wallet]));
    let ca = certs.path().join("ca.pem");
    let (status, out) = tls_call(f.addr, &ca, Some((&client, &client_key)), &body)
        .await
        .unwrap();
    assert_eq!(status, 200, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["result"].is_string(), "{v}");
    // No client certificate: the handshake (or the first read) fails; nothing is served.
    let refused = tls_call(f.addr, &ca, None, &body).await;
    assert!(
        refused.as_ref().map_or(true, |(status, _)| *status == 0),
        "{refused:?}"
    );
    // Plain HTTP on the TLS port is not served either.
    let (status, _, _) = request(f.addr, "POST", &[], &body).await;
    assert_eq!(status, 0);
}

/// Arbitrary bodies (malformed JSON, deep nesting, oversized): always an HTTP answer with a
/// JSON-RPC error or a 413, never a dropped connection or a crashed server.
fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        "[\\[{]{0,400}".prop_map(String::into_bytes),
        (1usize..5000).prop_map(|n| format!("[{}]", "[".repeat(n)).into_bytes()),
        (0usize..3000).prop_map(|n| {
            json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sign", "params": ["x".repeat(n)]})
                .to_string()
                .into_bytes()
        }),
        proptest::collection::vec(
            prop_oneof![
                Just("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}"),
                Just("1"),
                Just("null"),
                Just("{}")
            ],
            0..40
        )
        .prop_map(|v| format!("[{}]", v.join(",")).into_bytes()),
    ]
}

#[test]
fn request_parsing_survives_arbitrary_bodies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(fixture_with(|a| {
        a.limits.max_body_bytes = 2048;
        a.limits.max_batch = 20;
        a.limits.rate_per_second = 0;
    }));
    let addr = f.addr;
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    runner
        .run(&bodies(), |body| {
            let (status, body_len, out) = rt.block_on(async {
                let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                let head = format!(
                    "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                s.write_all(head.as_bytes()).await.unwrap();
                // The server may answer 413 and close before reading it all.
                let _ = s.write_all(&body).await;
                let mut out = Vec::new();
                let _ = s.read_to_end(&mut out).await;
                let out = String::from_utf8_lossy(&out).into_owned();
                let status: u16 = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
                (status, body.len(), out)
            });
            // 200 with results/errors, 400 with a JSON-RPC parse/invalid-request error, 413
            // only past the body limit.
            prop_assert!(
                status == 200 || status == 400 || (status == 413 && body_len > 2048),
                "status {} for {} bytes: {}", status, body_len, out
            );
            if status != 413 {
                let json = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
                let v: Value = serde_json::from_str(json).map_err(|e| TestCaseError::fail(format!("{e}: {out}")))?;
                prop_assert!(v.is_object() || v.is_array(), "{}", v);
                if status == 400 {
                    prop_assert!(v["error"]["code"].is_i64(), "{}", v);
                }
            }
            Ok(())
        })
        .unwrap();
    // Still serving.
    let v = rt.block_on(super::rpc::call(addr, "eth_chainId", json!([])));
    assert_eq!(v["result"], "0x539");
}
