//! Revocation of a running node with discv5: sealing and discv5 stop (discv5 holds its own
//! copy of the node key) before the keys are wiped, and the audit line says so.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{KmsConfig, LocalMasterKey};
use cachet_node::discovery::DiscoveryConfig;
use cachet_node::{Error, KeyStatus, NodeConfig};

use super::run::{free_port, start_with_key_status};

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn revocation_stops_discv5_and_frees_its_port() {
    let dir = tempfile::tempdir().unwrap();
    let master = LocalMasterKey::create(&dir.path().join("master.key")).unwrap();
    let datadir = dir.path().join("node");
    let init = cachet_keyprovider::init(
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
    std::fs::write(
        dir.path().join("genesis.json"),
        super::clique::genesis_json(&[init.identities.sealer_address], 1),
    )
    .unwrap();
    let v5_port = free_udp_port();
    let config = NodeConfig {
        skip_pow: false,
        lease: None,
        datadir: datadir.clone(),
        genesis: dir.path().join("genesis.json"),
        network_id: None,
        p2p_listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
        bootnodes: Vec::new(),
        max_peers: 5,
        discovery: Some(DiscoveryConfig {
            v4_port: None,
            v5_port: Some(v5_port),
        }),
        http: None,
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
    };
    let (node, status_tx, _shutdown_tx, started) = start_with_key_status(config).await;
    assert!(started.enr.is_some(), "discv5 runs");
    assert!(
        UdpSocket::bind(("127.0.0.1", v5_port)).is_err(),
        "discv5 holds its port while running"
    );
    status_tx.send_replace(KeyStatus::Revoked("test".into()));
    let err = tokio::time::timeout(Duration::from_secs(30), node)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::KeysRevoked(_)), "{err}");
    let log = std::fs::read_to_string(datadir.join("audit.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "revoked", "{last}");
    assert_eq!(last["details"]["keys_wiped"], true, "{last}");
    assert_eq!(last["details"]["sealing_stopped"], true, "{last}");
    assert_eq!(last["details"]["discv5_stopped"], true, "{last}");
    UdpSocket::bind(("127.0.0.1", v5_port)).expect("discv5's port is free after revocation");
}
