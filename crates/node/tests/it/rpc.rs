//! JSON-RPC over HTTP: geth-shaped answers and JSON-RPC errors (never a crash) for malformed
//! input. Expected shapes follow geth's JSON-RPC documentation (ethereum.org JSON-RPC spec).

use std::net::SocketAddr;
use std::sync::Arc;

use alloy_primitives::B256;
use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::rpc::access::{self, AccessConfig};
use cachet_node::rpc::{self, RpcContext};
use cachet_node::store::ChainStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub(crate) async fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

pub(crate) async fn call(addr: SocketAddr, method: &str, params: Value) -> Value {
    let (_, body) = post(
        addr,
        &json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string(),
    )
    .await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method}: {e}: {body}"))
}

pub(crate) struct Fixture {
    pub(crate) addr: SocketAddr,
    pub(crate) keys: UnlockedKeys,
    pub(crate) chain: Arc<Chain>,
    /// Holds the chain and `audit.log`.
    pub(crate) dir: tempfile::TempDir,
}

/// A node on loopback serving every namespace, with `--wallet.rpc`.
pub(crate) async fn fixture() -> Fixture {
    fixture_with(|a| {
        a.apis = Some(access::NAMESPACES.iter().map(|s| (*s).to_owned()).collect());
        a.wallet_rpc = true;
    })
    .await
}

/// A clique node with three blocks whose RPC listens on `127.0.0.1:0` with `access` as
/// `configure` leaves it (its audit log in the fixture's directory).
pub(crate) async fn fixture_with(configure: impl FnOnce(&mut AccessConfig)) -> Fixture {
    let mut access = AccessConfig::default();
    configure(&mut access);
    fixture_on("127.0.0.1:0".parse().unwrap(), access)
        .await
        .unwrap()
}

/// As [`fixture_with`] on `listen`; the start error when the flags are refused.
pub(crate) async fn fixture_on(
    listen: SocketAddr,
    mut access: AccessConfig,
) -> Result<Fixture, cachet_node::Error> {
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().unwrap();
    let genesis = super::clique::genesis_json(&[keys.sealing_key().address()], 1);
    let g = Genesis::from_json(&genesis, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.path().join("chain.redb")).unwrap();
    let chain = Arc::new(Chain::open(store, g).unwrap());
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        keys.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    for n in 1..=3 {
        sealer.seal_now(1_700_000_000 + n).unwrap().unwrap();
    }
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
        eth: Default::default(),
        pool: None,
        raft: None,
    };
    access
        .audit_dir
        .get_or_insert_with(|| dir.path().to_owned());
    let (handle, mut addr) = rpc::start_with(listen, ctx, &access).await?;
    std::mem::forget(handle);
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    Ok(Fixture {
        addr,
        keys,
        chain,
        dir,
    })
}

#[tokio::test]
async fn accepts_geth_shaped_queries() {
    let f = fixture().await;
    assert_eq!(
        call(f.addr, "eth_chainId", json!([])).await["result"],
        "0x539"
    );
    assert_eq!(
        call(f.addr, "net_version", json!([])).await["result"],
        "1337"
    );
    assert_eq!(
        call(f.addr, "eth_blockNumber", json!([])).await["result"],
        "0x3"
    );
    assert_eq!(
        call(f.addr, "eth_syncing", json!([])).await["result"],
        false
    );
    let b = call(f.addr, "eth_getBlockByNumber", json!(["0x2", false])).await["result"].clone();
    assert_eq!(b["number"], "0x2");
    assert_eq!(b["difficulty"], "0x2");
    let hash: B256 = serde_json::from_value(b["hash"].clone()).unwrap();
    let by_hash = call(f.addr, "eth_getBlockByHash", json!([hash, false])).await["result"].clone();
    assert_eq!(by_hash, b);
    // The raw header hashes to the block hash.
    let raw = call(f.addr, "debug_getRawHeader", json!(["0x2"])).await["result"].clone();
    let raw = hex::decode(raw.as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_eq!(alloy_primitives::keccak256(&raw), hash);
    assert_eq!(
        call(f.addr, "clique_getSigners", json!(["latest"])).await["result"],
        json!([f.keys.sealing_key().address()])
    );
    assert_eq!(
        call(f.addr, "eth_getBlockByNumber", json!(["0x99", false])).await["result"],
        Value::Null
    );
    let info = call(f.addr, "admin_nodeInfo", json!([])).await["result"].clone();
    assert!(info["enode"].as_str().unwrap().starts_with("enode://"));
    assert_eq!(info["protocols"]["eth"]["consensus"], "clique");
    // The istanbul namespace answers on IBFT/QBFT chains only, and says where to look.
    let validators = call(f.addr, "istanbul_getValidators", json!([])).await;
    let message = validators["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("clique_getSigners"), "{validators}");
    assert_eq!(
        call(f.addr, "eth_accounts", json!([])).await["result"],
        json!([f.keys.wallet_key().address()])
    );
    assert_eq!(f.chain.head().header.number, 3);
}

#[tokio::test]
async fn accepts_personal_sign_recoverable_to_the_wallet() {
    let f = fixture().await;
    let wallet = f.keys.wallet_key().address();
    let sig =
        call(f.addr, "personal_sign", json!(["0x68656c6c6f", wallet])).await["result"].clone();
    let sig = hex::decode(sig.as_str().unwrap().trim_start_matches("0x")).unwrap();
    assert_eq!(sig.len(), 65);
    assert!(sig[64] == 27 || sig[64] == 28);
    let parsed = alloy_primitives::Signature::try_from(sig.as_slice()).unwrap();
    assert_eq!(parsed.recover_address_from_msg(b"hello").unwrap(), wallet);
    let same = call(f.addr, "eth_sign", json!([wallet, "0x68656c6c6f"])).await["result"].clone();
    assert_eq!(same.as_str().unwrap().len(), 132);
}

#[tokio::test]
async fn rejects_malformed_requests_with_json_rpc_errors() {
    let f = fixture().await;
    // Not JSON at all: parse error -32700.
    let (_, body) = post(f.addr, "{not json").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32700);
    // Unknown method: -32601.
    assert_eq!(
        call(f.addr, "eth_nope", json!([])).await["error"]["code"],
        -32601
    );
    // Bad parameters: -32602, for every method taking some.
    for (m, p) in [
        ("eth_getBlockByNumber", json!(["0xzz", false])),
        ("eth_getBlockByNumber", json!([{"a": 1}])),
        (
            "eth_getBlockByNumber",
            json!(["0x11111111111111111", false]),
        ),
        ("eth_getBlockByHash", json!(["0x12"])),
        ("eth_getBlockByHash", json!([])),
        ("debug_getRawHeader", json!([7])),
        ("admin_addPeer", json!(["enode://nothex@1.2.3.4:1"])),
        ("clique_propose", json!(["0x1234", true])),
        (
            "clique_propose",
            json!([f.keys.wallet_key().address(), "yes"]),
        ),
        ("eth_sign", json!([f.keys.wallet_key().address(), "nothex"])),
        ("personal_sign", json!(["0x00"])),
        ("eth_getBlockByNumber", json!({"named": true})),
    ] {
        let v = call(f.addr, m, p.clone()).await;
        assert_eq!(v["error"]["code"], -32602, "{m} {p}: {v}");
    }
    // Signing for an unknown account is refused.
    let v = call(
        f.addr,
        "eth_sign",
        json!(["0x0000000000000000000000000000000000000001", "0x00"]),
    )
    .await;
    assert!(v["error"]["code"].is_number());
    // The server still answers.
    assert_eq!(
        call(f.addr, "eth_chainId", json!([])).await["result"],
        "0x539"
    );
}
