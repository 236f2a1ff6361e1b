//! The cost of RPC access control: sequential JSON-RPC calls over one keep-alive HTTP/1.1
//! connection on 127.0.0.1, each row as calls/s and as a ratio to the baseline measured in the
//! same run — the same method module served by a bare jsonrpsee `Server` (no gate, no HTTP
//! middleware, no own connection handling).
//!
//! Rows: `eth_chainId` with the default access (gate, vhosts, rate limiter), with JWT + CORS +
//! the rate limiter applied to loopback; `personal_sign` bare vs. with `--wallet.rpc` (each
//! signature an fsynced audit line before it is returned); `eth_chainId` over one WebSocket
//! (jsonrpsee's client) to the node's `--ws` listener next to the bare server's WebSocket.
//! Run: `cargo bench -p cachet-node --bench rpc_access`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::Proposals;
use cachet_node::rpc::access::AccessConfig;
use cachet_node::rpc::{self, RpcContext};
use cachet_node::store::ChainStore;

use http_client::Client;

#[path = "shared/http_client.rs"]
mod http_client;

const CALLS: u32 = 4_000;
const SIGNS: u32 = 300;

fn genesis(signer: alloy_primitives::Address) -> Vec<u8> {
    let extra = format!(
        "0x{}{}{}",
        "00".repeat(32),
        hex::encode(signer),
        "00".repeat(65)
    );
    format!(
        r#"{{"config":{{"chainId":1337,"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":0,"clique":{{"period":1,"epoch":30000}}}},"timestamp":"0x0","extraData":"{extra}","gasLimit":"0x1c9c380","difficulty":"0x1","alloc":{{}}}}"#
    )
    .into_bytes()
}

fn rate(addr: SocketAddr, auth: Option<String>, body: &str, n: u32) -> f64 {
    let mut c = Client::connect(addr, auth);
    for _ in 0..20 {
        c.call(body);
    }
    let start = Instant::now();
    for _ in 0..n {
        c.call(body);
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

/// Sequential `eth_chainId` calls over one WebSocket connection, calls/s.
fn ws_rate(rt: &tokio::runtime::Runtime, addr: SocketAddr, n: u32) -> f64 {
    use jsonrpsee::core::client::ClientT as _;
    rt.block_on(async {
        let client = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(format!("ws://{addr}"))
            .await
            .expect("ws connect");
        for _ in 0..20 {
            let _: String = client
                .request("eth_chainId", jsonrpsee::rpc_params![])
                .await
                .expect("call");
        }
        let start = Instant::now();
        for _ in 0..n {
            let _: String = client
                .request("eth_chainId", jsonrpsee::rpc_params![])
                .await
                .expect("call");
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    })
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let dir = tempfile::tempdir().expect("tempdir");
    let g = Genesis::from_json(
        &genesis(keys.sealing_key().address()),
        RaftMarker::FromGenesis,
    )
    .expect("genesis");
    let store = ChainStore::open(&dir.path().join("chain.redb")).expect("store");
    let chain = Arc::new(Chain::open(store, g).expect("chain"));
    let gh = chain.genesis_hash();
    let net_config = NetworkConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
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
    let net = Arc::new(
        rt.block_on(Network::start(keys.node_key(), net_config))
            .expect("network")
            .0,
    );
    let ctx = || RpcContext {
        chain: chain.clone(),
        net: net.clone(),
        proposals: Proposals::default(),
        wallet: keys.wallet_key(),
        network_id: 1337,
        client_version: "cachet/bench".into(),
        sync: Default::default(),
        discovery_port: None,
        hardening: Default::default(),
        eth: Default::default(),
        pool: None,
        raft: None,
    };
    let local: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (bare_handle, bare) = rt.block_on(async {
        let server = jsonrpsee::server::Server::builder()
            .build(local)
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        (server.start(rpc::module(ctx()).expect("module")), addr)
    });
    let start = |access: AccessConfig| {
        rt.block_on(rpc::start_with(local, ctx(), &access))
            .expect("start")
    };
    let (h1, default) = start(AccessConfig::default());
    let secret_path = dir.path().join("jwt.hex");
    let mut jwt = AccessConfig {
        jwt_secret: Some(secret_path.clone()),
        cors: vec!["http://dapp.example".into()],
        ..AccessConfig::default()
    };
    jwt.limits.rate_limit_loopback = true;
    jwt.limits.rate_per_second = 1_000_000;
    jwt.limits.rate_burst = 1_000_000;
    let (h2, jwt_addr) = start(jwt);
    let secret = rpc::access::jwt_secret(&secret_path).expect("secret");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({ "iat": now }),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .expect("token");
    let (h3, wallet_addr) = start(AccessConfig {
        wallet_rpc: true,
        audit_dir: Some(dir.path().to_owned()),
        ..AccessConfig::default()
    });

    let ws = rt
        .block_on(rpc::start_listeners(
            ctx(),
            &AccessConfig::default(),
            None,
            Some(local),
        ))
        .expect("start ws");
    let ws_addr = ws.ws.as_ref().expect("ws").1;
    let chain_id = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let sign = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"personal_sign","params":["0x68656c6c6f","{}"]}}"#,
        keys.wallet_key().address()
    );
    let base = rate(bare, None, chain_id, CALLS);
    let rows = [
        ("eth_chainId, bare jsonrpsee (baseline)", base, base),
        (
            "eth_chainId, default access",
            rate(default, None, chain_id, CALLS),
            base,
        ),
        (
            "eth_chainId, JWT + CORS + rate limit",
            rate(jwt_addr, Some(token), chain_id, CALLS),
            base,
        ),
    ];
    let ws_base = ws_rate(&rt, bare, CALLS);
    let ws_rows = [
        (
            "eth_chainId over WebSocket, bare jsonrpsee (baseline)",
            ws_base,
            ws_base,
        ),
        (
            "eth_chainId over WebSocket, --ws default access",
            ws_rate(&rt, ws_addr, CALLS),
            ws_base,
        ),
    ];
    let sign_base = rate(bare, None, &sign, SIGNS);
    let sign_rows = [
        (
            "personal_sign, bare jsonrpsee (baseline)",
            sign_base,
            sign_base,
        ),
        (
            "personal_sign, --wallet.rpc + fsynced audit line",
            rate(wallet_addr, None, &sign, SIGNS),
            sign_base,
        ),
    ];
    println!("{:<56} {:>12} {:>8}", "row", "calls/s", "ratio");
    for (name, r, b) in rows.iter().chain(&ws_rows).chain(&sign_rows) {
        println!("{name:<56} {r:>12.0} {:>8.2}", r / b);
    }
    ws.stop();
    for h in [bare_handle, h1, h2, h3] {
        let _ = h.stop();
    }
}
