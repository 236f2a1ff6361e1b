//! Startup and shutdown of `cachet_node::run`: fails closed before anything listens; a revoked
//! master key stops the node with `KeysRevoked` (exit 10 in the binary); a shutdown is clean.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{KmsConfig, LocalMasterKey};
use cachet_node::{Controls, Error, KeyStatus, NodeConfig, Started};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(dir: &std::path::Path, signer: alloy_primitives::Address) -> NodeConfig {
    std::fs::write(
        dir.join("genesis.json"),
        super::clique::genesis_json(&[signer], 1),
    )
    .unwrap();
    NodeConfig {
        skip_pow: false,
        lease: None,
        datadir: dir.join("node"),
        genesis: dir.join("genesis.json"),
        network_id: None,
        p2p_listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
        bootnodes: Vec::new(),
        max_peers: 5,
        discovery: None,
        http: Some(SocketAddr::from(([127, 0, 0, 1], free_port()))),
        ws: None,
        rpc_access: Default::default(),
        mine: true,
        doppelganger_periods: cachet_node::doppelganger::DEFAULT_PERIODS,
        extra_data: Vec::new(),
        miner_gas_limit: None,
        txpool: cachet_node::PoolConfig::default(),
        rpc_gas_cap: cachet_node::rpc::DEFAULT_GAS_CAP,
        rpc_evm_timeout: cachet_node::rpc::DEFAULT_EVM_TIMEOUT,
        metrics: None,
        kms: KmsConfig::default(),
        raft: Default::default(),
    }
}

#[tokio::test]
async fn rejects_start_without_bundle_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), alloy_primitives::Address::ZERO);
    let (_tx, rx) = watch::channel(false);
    let controls = Controls {
        shutdown: rx,
        key_status: None,
    };
    let err = cachet_node::run(cfg.clone(), controls, |_| panic!("must not start"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unlock(_)), "{err}");
    // Nothing was bound: both ports are still free.
    TcpListener::bind(cfg.p2p_listen).unwrap();
    TcpListener::bind(cfg.http.unwrap()).unwrap();
}

#[tokio::test]
async fn accepts_revocation_stopping_the_node_with_keys_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let master = LocalMasterKey::create(&dir.path().join("master.key")).unwrap();
    let init = cachet_keyprovider::init(
        &InitOptions {
            datadir: dir.path().join("node"),
            chain_id: 1337,
            sealing_key: SealingKeyMode::Separate,
        },
        &master,
        ImportedKeys::default(),
    )
    .await
    .unwrap();
    let cfg = config(dir.path(), init.identities.sealer_address);
    let (node, status_tx, _shutdown_tx, started) = start_with_key_status(cfg).await;
    assert_eq!(started.signer, init.identities.sealer_address);
    status_tx.send_replace(KeyStatus::Revoked("test".into()));
    let err = tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::KeysRevoked(_)), "{err}");
}

/// Starts `config` with an embedder's key-status channel and waits for its "started" report.
/// Returns the task, the status sender, the shutdown sender (dropping it stops the node) and
/// the report.
pub(crate) async fn start_with_key_status(
    config: NodeConfig,
) -> (
    JoinHandle<Result<(), Error>>,
    watch::Sender<KeyStatus>,
    watch::Sender<bool>,
    Started,
) {
    let (shutdown_tx, shutdown) = watch::channel(false);
    let (status_tx, status) = watch::channel(KeyStatus::Valid);
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let node = tokio::spawn(cachet_node::run(
        config,
        Controls {
            shutdown,
            key_status: Some(status),
        },
        move |s| {
            let _ = started_tx.send(s.clone());
        },
    ));
    let started = tokio::time::timeout(Duration::from_secs(30), started_rx.recv())
        .await
        .unwrap()
        .unwrap();
    (node, status_tx, shutdown_tx, started)
}

/// Starts a node with its own bundle and master key under `dir/<name>`; returns the task and
/// its "started" report.
async fn start_node(
    dir: &std::path::Path,
    name: &str,
    genesis: &std::path::Path,
    bootnodes: Vec<cachet_devp2p::net::Enode>,
    shutdown: watch::Receiver<bool>,
) -> (JoinHandle<cachet_node::Result<()>>, Started, SocketAddr) {
    let master = LocalMasterKey::create(&dir.join(format!("{name}.key"))).unwrap();
    let datadir = dir.join(name);
    cachet_keyprovider::init(
        &InitOptions {
            datadir: datadir.clone(),
            chain_id: 1337,
            sealing_key: SealingKeyMode::Separate,
        },
        &master,
        ImportedKeys::default(),
    )
    .await
    .unwrap();
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let cfg = NodeConfig {
        skip_pow: false,
        lease: None,
        datadir,
        genesis: genesis.to_owned(),
        network_id: None,
        p2p_listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
        bootnodes,
        max_peers: 5,
        discovery: Some(cachet_node::discovery::DiscoveryConfig::default()),
        raft: Default::default(),
        http: Some(http),
        // admin_peers/admin_nodeInfo below.
        ws: None,
        rpc_access: cachet_node::rpc::access::AccessConfig {
            apis: Some(vec!["eth".into(), "admin".into()]),
            ..Default::default()
        },
        mine: false,
        doppelganger_periods: cachet_node::doppelganger::DEFAULT_PERIODS,
        extra_data: Vec::new(),
        miner_gas_limit: None,
        txpool: cachet_node::PoolConfig::default(),
        rpc_gas_cap: cachet_node::rpc::DEFAULT_GAS_CAP,
        rpc_evm_timeout: cachet_node::rpc::DEFAULT_EVM_TIMEOUT,
        metrics: None,
        kms: KmsConfig::default(),
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(cachet_node::run(
        cfg,
        Controls {
            shutdown,
            key_status: None,
        },
        move |s| {
            let _ = tx.send(s.clone());
        },
    ));
    let started = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap()
        .unwrap();
    (task, started, http)
}

/// B and C know only A; C finds B through A's discv4 table and connects to it.
#[tokio::test]
async fn accepts_a_peer_found_only_through_discovery() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = dir.path().join("genesis.json");
    std::fs::write(
        &genesis,
        super::clique::genesis_json(&[alloy_primitives::Address::ZERO], 1),
    )
    .unwrap();
    let (stop_tx, stop) = watch::channel(false);
    let (a, a_started, _) = start_node(dir.path(), "a", &genesis, Vec::new(), stop.clone()).await;
    let boot: cachet_devp2p::net::Enode = a_started.enode.parse().unwrap();
    let (b, b_started, b_http) =
        start_node(dir.path(), "b", &genesis, vec![boot], stop.clone()).await;
    // Give B time to bond with A so that A's table holds B when C asks.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (c, c_started, _) = start_node(dir.path(), "c", &genesis, vec![boot], stop.clone()).await;
    let c_enode: cachet_devp2p::net::Enode = c_started.enode.parse().unwrap();
    // admin_peers shows geth's node id: keccak256 of the public key.
    let c_id = hex::encode(alloy_primitives::keccak256(c_enode.id.0));
    let mut found = false;
    for _ in 0..60 {
        let peers = super::rpc::call(b_http, "admin_peers", serde_json::json!([])).await;
        let ids: Vec<String> = peers["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.contains(&c_id) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_ne!(b_started.enode, c_started.enode);
    let info = super::rpc::call(b_http, "admin_nodeInfo", serde_json::json!([])).await;
    let b_enode: cachet_devp2p::net::Enode = b_started.enode.parse().unwrap();
    assert_eq!(
        info["result"]["ports"]["discovery"],
        b_enode.addr.port(),
        "discv4 shares the RLPx port by default: {info}"
    );
    stop_tx.send_replace(true);
    for t in [a, b, c] {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    assert!(found, "B never connected to C (C knows only A)");
}
