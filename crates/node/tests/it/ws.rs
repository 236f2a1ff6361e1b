//! JSON-RPC over WebSocket (`--ws`): a real WebSocket client (jsonrpsee's) subscribes with
//! `eth_subscribe` to `newHeads`, `logs` and `newPendingTransactions` on a clique chain whose
//! blocks carry really signed transactions; a reorg sends the logs of the dropped block again
//! with `removed: true`. The access policy holds on the WebSocket listener: its own namespaces
//! (`--ws.api`), JWT on the upgrade request (401 without), the `Origin` check (403), and on HTTP
//! subscriptions get geth's "notifications not supported".
//!
//! Expected values are facts of the test's own making: the log a hand-assembled contract
//! emits (LOG1 of one topic and the word 0x2a), the hashes of the transactions it signed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::TxLegacy;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig};
use cachet_execution::Candidate;
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::consensus::TxSource;
use cachet_node::pool::TxPool;
use cachet_node::produce::{self, BuildConfig};
use cachet_node::rpc::access::{AccessConfig, Servers};
use cachet_node::rpc::{self, RpcContext};
use cachet_node::store::ChainStore;
use cachet_node::testing::VecTxSource;
use jsonrpsee::core::client::{ClientT as _, Subscription, SubscriptionClientT as _};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::build::{address_of, key, sign};

/// The contract: MSTORE 0x2a at 0, LOG1(0, 32, TOPIC), STOP.
const EMITTER: Address = Address::repeat_byte(0xe1);
const TOPIC: B256 = B256::repeat_byte(0x70);
const GAS_PRICE: u128 = 2_000_000_000;

fn emitter_code() -> String {
    // PUSH1 2a PUSH1 00 MSTORE PUSH32 TOPIC PUSH1 20 PUSH1 00 LOG1 STOP
    format!("0x602a6000527f{}60206000a100", hex::encode(TOPIC))
}

struct Node {
    chain: Arc<Chain>,
    sealer: CliqueSealer,
    keys: UnlockedKeys,
    http: SocketAddr,
    ws: SocketAddr,
    servers: Servers,
    dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.servers.stop();
    }
}

/// A one-signer clique chain (the emitter contract and `funded` in its alloc) served on HTTP
/// and WebSocket (loopback, free ports) with `access` as `configure` leaves it, and a pool.
async fn node(
    funded: &[Address],
    configure: impl FnOnce(&mut AccessConfig, &std::path::Path),
) -> Node {
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let mut g: Value = serde_json::from_slice(&crate::clique::genesis_json(
        &[keys.sealing_key().address()],
        1,
    ))
    .unwrap();
    for a in funded {
        g["alloc"][format!("{a:x}")] = json!({"balance": "0xde0b6b3a7640000"});
    }
    g["alloc"][format!("{EMITTER:x}")] = json!({"balance": "0x0", "code": emitter_code()});
    let genesis =
        Genesis::from_json(&serde_json::to_vec(&g).unwrap(), RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.path().join("chain.redb")).unwrap();
    let chain = Arc::new(Chain::open(store, genesis).unwrap());
    let sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        keys.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let gh = chain.genesis_hash();
    let cfg = NetworkConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        ChainConfig {
            network_id: 1337,
            genesis: gh,
            forks: ForkSchedule::new(gh, vec![], vec![]),
        },
        ChainHead {
            number: 0,
            hash: gh,
            total_difficulty: Default::default(),
            timestamp: 0,
        },
    );
    let (net, _events) = Network::start(keys.node_key(), cfg).await.unwrap();
    let pool = Arc::new(TxPool::new(chain.clone(), cachet_node::PoolConfig::default()).unwrap());
    let mut eth = rpc::EthState::default();
    eth.pending = Some(pool.clone() as Arc<dyn rpc::PendingTransactions>);
    let ctx = RpcContext {
        chain: chain.clone(),
        net: Arc::new(net),
        proposals: Proposals::default(),
        wallet: keys.wallet_key(),
        network_id: 1337,
        client_version: "cachet/test".into(),
        sync: Default::default(),
        discovery_port: None,
        hardening: Default::default(),
        eth,
        pool: Some(pool),
        raft: None,
    };
    let mut access = AccessConfig {
        audit_dir: Some(dir.path().to_owned()),
        ..AccessConfig::default()
    };
    configure(&mut access, dir.path());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let servers = rpc::start_listeners(ctx, &access, Some(any), Some(any))
        .await
        .unwrap();
    let http = servers.http.as_ref().unwrap().1;
    let ws = servers.ws.as_ref().unwrap().1;
    Node {
        chain,
        sealer,
        keys,
        http,
        ws,
        servers,
        dir,
    }
}

impl Node {
    /// Seals the next block with `txs` and imports it.
    fn mine(&mut self, txs: Vec<Candidate>) -> cachet_seal::Header {
        let build = BuildConfig {
            source: Some(Arc::new(VecTxSource::new(txs)) as Arc<dyn TxSource>),
            gas_limit: None,
        };
        produce::produce_now(&mut self.sealer, &self.chain, &build)
            .unwrap()
            .expect("a block")
    }

    async fn client(&self) -> WsClient {
        WsClientBuilder::default()
            .build(format!("ws://{}", self.ws))
            .await
            .unwrap()
    }
}

/// A legacy transaction from `k` (nonce `nonce`) calling the emitter (`to` = EMITTER) or
/// sending 1 wei elsewhere.
fn tx(k: &secp256k1::SecretKey, nonce: u64, to: Address) -> Candidate {
    let tx = TxLegacy {
        chain_id: Some(1337),
        nonce,
        gas_price: GAS_PRICE,
        gas_limit: 100_000,
        to: TxKind::Call(to),
        value: U256::from(1),
        input: Bytes::new(),
    };
    Candidate {
        tx: sign(tx, k).into(),
        sender: address_of(k),
    }
}

async fn next(sub: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("a notification within 30 s")
        .expect("subscription open")
        .expect("a JSON notification")
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_follow_the_chain_and_the_pool() {
    let sender = key(0xa1);
    let mut n = node(&[address_of(&sender)], |_, _| {}).await;
    let client = n.client().await;
    let mut heads: Subscription<Value> = client
        .subscribe("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .unwrap();
    let mut logs: Subscription<Value> = client
        .subscribe(
            "eth_subscribe",
            rpc_params!["logs", json!({"address": EMITTER, "topics": [TOPIC]})],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let mut other_logs: Subscription<Value> = client
        .subscribe(
            "eth_subscribe",
            rpc_params!["logs", json!({"topics": [B256::repeat_byte(1)]})],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    // geth's ids: hex strings.
    match heads.kind() {
        jsonrpsee::core::client::SubscriptionKind::Subscription(
            jsonrpsee::types::SubscriptionId::Str(id),
        ) => assert!(id.starts_with("0x"), "{id}"),
        other => panic!("subscription id {other:?}"),
    }

    // Block 1: a plain transfer; block 2: the emitter's call.
    let b1 = n.mine(vec![tx(&sender, 0, Address::repeat_byte(0x22))]);
    let b2 = n.mine(vec![tx(&sender, 1, EMITTER)]);
    let h1 = next(&mut heads).await;
    let h2 = next(&mut heads).await;
    let hash1 = n.chain.store().canonical_hash(1).unwrap().unwrap();
    let hash2 = n.chain.store().canonical_hash(2).unwrap().unwrap();
    assert_eq!(h1["number"], "0x1");
    assert_eq!(h1["hash"], json!(hash1));
    assert_eq!(h1["stateRoot"], json!(b1.state_root));
    assert_eq!(h2["number"], "0x2");
    assert_eq!(h2["parentHash"], json!(hash1));
    assert_eq!(h2["receiptsRoot"], json!(b2.receipts_root));
    assert_eq!(h2["miner"], json!(b2.beneficiary));
    // A header, as geth's newHeads: no body fields.
    assert!(h2.get("transactions").is_none() && h2.get("totalDifficulty").is_none());

    let call_hash = *tx(&sender, 1, EMITTER).tx.tx_hash();
    let log = next(&mut logs).await;
    assert_eq!(log["address"], json!(EMITTER));
    assert_eq!(log["topics"], json!([TOPIC]));
    assert_eq!(log["data"], json!(format!("0x{:064x}", 0x2a)));
    assert_eq!(log["blockNumber"], "0x2");
    assert_eq!(log["blockHash"], json!(hash2));
    assert_eq!(log["transactionHash"], json!(call_hash));
    assert_eq!(log["logIndex"], "0x0");
    assert_eq!(log["removed"], false);

    // The pool: hashes, and with `true` the transactions.
    let mut hashes: Subscription<Value> = client
        .subscribe(
            "eth_subscribe",
            rpc_params!["newPendingTransactions"],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let mut full: Subscription<Value> = client
        .subscribe(
            "eth_subscribe",
            rpc_params!["newPendingTransactions", true],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let pending = tx(&sender, 2, Address::repeat_byte(0x22));
    let raw = alloy_eips::eip2718::Encodable2718::encoded_2718(&pending.tx);
    let sent: String = client
        .request(
            "eth_sendRawTransaction",
            rpc_params![format!("0x{}", hex::encode(raw))],
        )
        .await
        .unwrap();
    assert_eq!(sent, pending.tx.tx_hash().to_string());
    assert_eq!(next(&mut hashes).await, json!(pending.tx.tx_hash()));
    let t = next(&mut full).await;
    assert_eq!(t["hash"], json!(pending.tx.tx_hash()));
    assert_eq!(t["from"], json!(address_of(&sender)));
    assert_eq!(t["nonce"], "0x2");
    assert_eq!(t["blockHash"], Value::Null);

    // Unsubscribed: no more heads; the other subscriptions go on.
    heads.unsubscribe().await.unwrap();
    n.mine(vec![]);
    let unsubscribed: bool = client
        .request("eth_unsubscribe", rpc_params!["0x1234"])
        .await
        .unwrap();
    assert!(!unsubscribed, "an unknown id");
    // The logs subscription whose topic never appeared got nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), other_logs.next())
            .await
            .is_err(),
        "a log that does not match"
    );

    // Malformed subscriptions get errors, not a dead connection.
    let e = client
        .subscribe::<Value, _>("eth_subscribe", rpc_params!["nope"], "eth_unsubscribe")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nope") && e.contains("subscription in eth namespace"),
        "{e}"
    );
    let e = client
        .subscribe::<Value, _>(
            "eth_subscribe",
            rpc_params!["logs", json!({"topics": "x"})],
            "eth_unsubscribe",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid topic"), "{e}");
    let chain_id: String = client.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(chain_id, "0x539");
}

/// A reorg: the logs of the block taken off the chain come again with `removed: true`.
#[tokio::test(flavor = "multi_thread")]
async fn a_reorg_sends_removed_logs() {
    let sender = key(0xa2);
    let mut n = node(&[address_of(&sender)], |_, _| {}).await;
    let client = n.client().await;
    n.mine(vec![]);
    let mut logs: Subscription<Value> = client
        .subscribe(
            "eth_subscribe",
            rpc_params!["logs", json!({"address": [EMITTER]})],
            "eth_unsubscribe",
        )
        .await
        .unwrap();
    let parent = n.chain.head();
    n.mine(vec![tx(&sender, 0, EMITTER)]);
    let dropped = n.chain.head().hash;
    let log = next(&mut logs).await;
    assert_eq!(log["blockHash"], json!(dropped));
    assert_eq!(log["removed"], false);

    // A heavier branch from block 1 (two blocks, no logs), sealed by the same key through
    // another journal (the first refuses to sign height 2 twice).
    let side = n.dir.path().join("side");
    std::fs::create_dir_all(&side).unwrap();
    let mut other = CliqueSealer::new(
        n.chain.clone(),
        &side,
        n.keys.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let author = n.keys.sealing_key().address();
    let mut head = parent;
    for _ in 0..2 {
        let snap = n.chain.snapshot(&head.hash).unwrap();
        let template = other
            .build(&head, &snap, head.header.timestamp + 1)
            .expect("in turn");
        let (header, body) = n.chain.build_child(template, author, &[]).unwrap();
        let (sealed, body) = other.seal(&header, &body).unwrap();
        n.chain.import(&sealed.encode(), &body).unwrap();
        let hash = n.chain.hash_rlp(&sealed.encode());
        head = cachet_node::chain::HeadInfo {
            header: sealed,
            hash,
            total_difficulty: head.total_difficulty + U256::from(2),
        };
    }
    assert_eq!(
        n.chain.head().hash,
        head.hash,
        "the heavier branch is the head"
    );
    assert_ne!(n.chain.store().canonical_hash(2).unwrap(), Some(dropped));
    let removed = next(&mut logs).await;
    assert_eq!(removed["blockHash"], json!(dropped));
    assert_eq!(
        removed["transactionHash"],
        json!(tx(&sender, 0, EMITTER).tx.tx_hash())
    );
    assert_eq!(removed["removed"], true);
}

/// One WebSocket upgrade request with `headers`; the response's status code.
async fn handshake(addr: SocketAddr, headers: &[(&str, String)]) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: localhost:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        addr.port()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn origins_follow_geth() {
    let n = node(&[], |_, _| {}).await;
    // No Origin (not a browser), or http://localhost on any port: served.
    assert_eq!(handshake(n.ws, &[]).await, 101);
    assert_eq!(
        handshake(n.ws, &[("Origin", "http://localhost:3000".into())]).await,
        101
    );
    // A page elsewhere: 403.
    assert_eq!(
        handshake(n.ws, &[("Origin", "http://evil.example".into())]).await,
        403
    );
    let listed = node(&[], |a, _| {
        a.ws_origins = vec!["https://dapp.example".into()]
    })
    .await;
    assert_eq!(
        handshake(listed.ws, &[("Origin", "https://dapp.example".into())]).await,
        101
    );
    assert_eq!(
        handshake(listed.ws, &[("Origin", "http://dapp.example".into())]).await,
        403,
        "the scheme the rule names"
    );
    assert_eq!(
        handshake(listed.ws, &[("Origin", "http://localhost".into())]).await,
        403,
        "a list replaces the default"
    );
    let any = node(&[], |a, _| a.ws_origins = vec!["*".into()]).await;
    assert_eq!(
        handshake(any.ws, &[("Origin", "http://evil.example".into())]).await,
        101
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_is_checked_on_the_handshake() {
    let n = node(&[], |a, dir| a.jwt_secret = Some(dir.join("jwt.hex"))).await;
    let secret = rpc::access::jwt_secret(&n.dir.path().join("jwt.hex")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |secret: &[u8], iat: u64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({ "iat": iat }),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    assert_eq!(handshake(n.ws, &[]).await, 401, "no token");
    assert_eq!(
        handshake(
            n.ws,
            &[("Authorization", format!("Bearer {}", token(&[9; 32], now)))]
        )
        .await,
        401,
        "forged"
    );
    assert_eq!(
        handshake(
            n.ws,
            &[(
                "Authorization",
                format!("Bearer {}", token(&secret, now - 3600))
            )]
        )
        .await,
        401,
        "stale"
    );
    // A real client with the token subscribes.
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {}", token(&secret, now)).parse().unwrap(),
    );
    let client = WsClientBuilder::default()
        .set_headers(headers)
        .build(format!("ws://{}", n.ws))
        .await
        .unwrap();
    let _heads: Subscription<Value> = client
        .subscribe("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .unwrap();
    // Without it, jsonrpsee's client cannot connect.
    assert!(
        WsClientBuilder::default()
            .build(format!("ws://{}", n.ws))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_are_per_listener_and_subscriptions_need_websocket() {
    let n = node(&[], |a, _| {
        a.apis = Some(vec!["eth".into(), "admin".into()]);
        a.ws_apis = Some(vec!["eth".into(), "net".into()]);
    })
    .await;
    let client = n.client().await;
    // admin is in --http.api only.
    let e = client
        .request::<Value, _>("admin_peers", rpc_params![])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("-32601")
            || e.contains("the method admin_peers does not exist/is not available"),
        "{e}"
    );
    let v = crate::rpc::call(n.http, "admin_peers", json!([])).await;
    assert!(v.get("result").is_some(), "{v}");
    // net is in --ws.api only.
    let version: String = client.request("net_version", rpc_params![]).await.unwrap();
    assert_eq!(version, "1337");
    let v = crate::rpc::call(n.http, "net_version", json!([])).await;
    assert_eq!(v["error"]["code"], -32601, "{v}");
    // Signing stays off on WebSocket too.
    let e = client
        .request::<Value, _>("eth_sign", rpc_params![Address::ZERO, "0x00"])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("eth_sign does not exist/is not available"),
        "{e}"
    );
    // On HTTP, geth's "notifications not supported".
    let v = crate::rpc::call(n.http, "eth_subscribe", json!(["newHeads"])).await;
    assert_eq!(v["error"]["code"], -32601, "{v}");
    assert_eq!(v["error"]["message"], "notifications not supported", "{v}");
    // Without eth on the WebSocket listener, no subscriptions either.
    let no_eth = node(&[], |a, _| a.ws_apis = Some(vec!["net".into()])).await;
    let e = no_eth
        .client()
        .await
        .subscribe::<Value, _>("eth_subscribe", rpc_params!["newHeads"], "eth_unsubscribe")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("eth_subscribe does not exist/is not available"),
        "{e}"
    );
    // An unknown --ws.api namespace refuses the start, naming the flag.
    let bad = AccessConfig {
        ws_apis: Some(vec!["wallet".into()]),
        ..AccessConfig::default()
    };
    let e = bad
        .check_on(rpc::access::Listener::Ws, "127.0.0.1:0".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--ws.api"), "{e}");
    // Wallet gating holds against the WebSocket address too.
    let remote_signing = AccessConfig {
        wallet_rpc: true,
        audit_dir: Some(n.dir.path().to_owned()),
        ..AccessConfig::default()
    };
    let e = remote_signing
        .check_on(rpc::access::Listener::Ws, "0.0.0.0:8546".parse().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--wallet.rpc.allow-remote"), "{e}");
    assert!(
        remote_signing
            .check_on(rpc::access::Listener::Ws, "127.0.0.1:8546".parse().unwrap())
            .is_ok()
    );
}

/// Every call that runs is counted by method and outcome, over HTTP and WebSocket alike
/// (`net_listening` is called by no other test in this binary, so its count is exact).
#[tokio::test(flavor = "multi_thread")]
async fn rpc_calls_are_counted_in_metrics() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let exporter = cachet_node::metrics::serve(metrics_addr).unwrap();
    let n = node(&[], |_, _| {}).await;
    let client = n.client().await;
    for _ in 0..3 {
        let up: bool = client
            .request("net_listening", rpc_params![])
            .await
            .unwrap();
        assert!(up);
    }
    for _ in 0..2 {
        let v = crate::rpc::call(n.http, "net_listening", json!([])).await;
        assert_eq!(v["result"], true, "{v}");
    }
    let v = crate::rpc::call(
        n.http,
        "eth_getStorageAt",
        json!([Address::ZERO, "not a slot", "latest"]),
    )
    .await;
    assert!(v.get("error").is_some(), "{v}");

    let mut s = tokio::net::TcpStream::connect(metrics_addr).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    exporter.abort();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        line(r#"cachet_rpc_requests_total{method="net_listening",outcome="ok"}"#),
        "5"
    );
    assert_eq!(
        line(r#"cachet_rpc_request_seconds_count{method="net_listening"}"#),
        "5"
    );
    line(r#"cachet_rpc_requests_total{method="eth_getStorageAt",outcome="error"}"#);
}

/// A raw WebSocket connection (soketto) to `addr` with a 4 KiB receive buffer, so that a test
/// can stop reading and let the server's queue fill.
async fn raw_ws(
    addr: SocketAddr,
) -> (
    soketto::Sender<tokio_util::compat::Compat<tokio::net::TcpStream>>,
    soketto::Receiver<tokio_util::compat::Compat<tokio::net::TcpStream>>,
) {
    use tokio_util::compat::TokioAsyncReadCompatExt as _;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let host = format!("localhost:{}", addr.port());
    let mut client = soketto::handshake::Client::new(stream.compat(), &host, "/");
    match client.handshake().await.unwrap() {
        soketto::handshake::ServerResponse::Accepted { .. } => {}
        other => panic!("handshake: {other:?}"),
    }
    client.into_builder().finish()
}

async fn raw_call(
    tx: &mut soketto::Sender<tokio_util::compat::Compat<tokio::net::TcpStream>>,
    id: u64,
    method: &str,
    params: Value,
) {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    tx.send_text(body.to_string()).await.unwrap();
    tx.flush().await.unwrap();
}

/// Reads messages until the response with `id`; returns it and the notifications before it.
async fn raw_response(
    rx: &mut soketto::Receiver<tokio_util::compat::Compat<tokio::net::TcpStream>>,
    id: u64,
) -> (Value, usize) {
    let mut notifications = 0;
    loop {
        let mut data = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), rx.receive_data(&mut data))
            .await
            .expect("a message within 60 s")
            .unwrap();
        let v: Value = serde_json::from_slice(&data).unwrap();
        if v["id"] == json!(id) {
            return (v, notifications);
        }
        notifications += 1;
    }
}

/// A subscriber that stops reading loses its subscription once its connection's queue is full;
/// the node goes on serving everyone else.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_loses_its_subscription() {
    let sender = key(0xa3);
    let n = node(&[address_of(&sender)], |a, _| a.limits.ws_queue = 4).await;
    let (mut tx, mut rx) = raw_ws(n.ws).await;
    raw_call(
        &mut tx,
        1,
        "eth_subscribe",
        json!(["newPendingTransactions", true]),
    )
    .await;
    let (answer, _) = raw_response(&mut rx, 1).await;
    let id = answer["result"]
        .as_str()
        .expect("a subscription id")
        .to_owned();

    // 60 transactions of 100 kB each: about 12 MB of notifications the client does not read.
    let client = n.client().await;
    let sent = 60;
    for nonce in 0..sent {
        let big = TxLegacy {
            chain_id: Some(1337),
            nonce,
            gas_price: GAS_PRICE,
            gas_limit: 500_000,
            to: TxKind::Call(Address::repeat_byte(0x22)),
            value: U256::ZERO,
            input: Bytes::from(vec![0u8; 100_000]),
        };
        let raw = alloy_eips::eip2718::Encodable2718::encoded_2718(
            &alloy_consensus::TxEnvelope::from(sign(big, &sender)),
        );
        let _: String = client
            .request(
                "eth_sendRawTransaction",
                rpc_params![format!("0x{}", hex::encode(raw))],
            )
            .await
            .unwrap();
    }
    let chain_id: String = client.request("eth_chainId", rpc_params![]).await.unwrap();
    assert_eq!(chain_id, "0x539", "the node serves others meanwhile");

    // Reading again: fewer notifications than transactions, and the subscription is gone.
    raw_call(&mut tx, 2, "eth_unsubscribe", json!([id])).await;
    let (answer, notified) = raw_response(&mut rx, 2).await;
    assert_eq!(answer["result"], false, "the slow subscription was dropped");
    assert!(
        notified < sent as usize,
        "{notified} of {sent} notifications"
    );
}

/// On WebSocket the per-client rate counts each call on the open socket, not only the handshake.
#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_counts_calls_on_an_open_socket() {
    let n = node(&[], |a, _| {
        a.limits.rate_per_second = 1;
        a.limits.rate_burst = 3;
        a.limits.rate_limit_loopback = true;
    })
    .await;
    let client = n.client().await;
    let mut refused = 0;
    for _ in 0..20 {
        match client
            .request::<String, _>("eth_chainId", rpc_params![])
            .await
        {
            Ok(id) => assert_eq!(id, "0x539"),
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains("rate limit exceeded"), "{e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "20 calls at once, 1 per second allowed");
}
