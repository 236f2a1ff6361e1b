//! Startup and shutdown of `cachet_node::run`: fails closed before anything listens; a revoked
//! master key stops the node with `KeysRevoked` (exit 10 in the binary); a shutdown is clean.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{KmsConfig, LocalMasterKey};
use cachet_node::{Controls, Error, KeyStatus, NodeConfig};
use tokio::sync::{mpsc, watch};

fn free_port() -> u16 {
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
        lease: None,
        datadir: dir.join("node"),
        genesis: dir.join("genesis.json"),
        network_id: None,
        p2p_listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
        bootnodes: Vec::new(),
        max_peers: 5,
        http: Some(SocketAddr::from(([127, 0, 0, 1], free_port()))),
        mine: true,
        kms: KmsConfig::default(),
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
    let (_shutdown_tx, shutdown) = watch::channel(false);
    let (status_tx, status) = watch::channel(KeyStatus::Valid);
    let (started_tx, mut started_rx) = mpsc::unbounded_channel();
    let node = tokio::spawn(cachet_node::run(
        cfg,
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
    assert_eq!(started.signer, init.identities.sealer_address);
    status_tx.send_replace(KeyStatus::Revoked("test".into()));
    let err = tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::KeysRevoked(_)), "{err}");
}
