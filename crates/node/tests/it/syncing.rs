//! `eth_syncing` while a node downloads a longer chain from a peer (two in-process nodes over
//! RLPx on 127.0.0.1): the answer is geth's object at least once, with the peer's head as
//! `highestBlock`, and `false` once the head is reached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::rpc::{self, RpcContext};
use cachet_node::store::ChainStore;
use cachet_node::sync_status::SyncStatus;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::rpc::call;

/// Blocks on the longer chain (several 128-header batches, so the download takes a while).
const BLOCKS: u64 = 1_000;

struct Node {
    chain: Arc<Chain>,
    net: Arc<Network>,
    status: SyncStatus,
    _stop: watch::Sender<bool>,
}

async fn start_node(
    keys: &UnlockedKeys,
    chain: Arc<Chain>,
    bootnodes: Vec<cachet_devp2p::net::Enode>,
) -> Node {
    let gh = chain.genesis_hash();
    let head = chain.head();
    let mut cfg = NetworkConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        ChainConfig {
            network_id: 1337,
            genesis: gh,
            forks: ForkSchedule::new(gh, vec![], vec![]),
        },
        ChainHead {
            number: head.header.number,
            hash: head.hash,
            total_difficulty: head.total_difficulty,
            timestamp: head.header.timestamp,
        },
    );
    cfg.bootnodes = bootnodes;
    let (net, events) = Network::start(keys.node_key(), cfg).await.unwrap();
    let net = Arc::new(net);
    let status = SyncStatus::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(cachet_node::sync::run(
        chain.clone(),
        net.clone(),
        events,
        stop_rx,
        status.clone(),
        None,
        None,
    ));
    Node {
        chain,
        net,
        status,
        _stop: stop_tx,
    }
}

fn open_chain(dir: &std::path::Path, genesis: &[u8]) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
    Arc::new(Chain::open(store, g).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_eth_syncing_object_while_downloading_a_longer_chain() {
    let signer = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let follower = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let genesis = super::clique::genesis_json(&[signer.sealing_key().address()], 1);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let chain_a = open_chain(dir_a.path(), &genesis);
    let mut sealer = CliqueSealer::new(
        chain_a.clone(),
        dir_a.path(),
        signer.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    for n in 1..=BLOCKS {
        sealer.seal_now(1_700_000_000 + n).unwrap().unwrap();
    }
    let a = start_node(&signer, chain_a, Vec::new()).await;
    let chain_b = open_chain(dir_b.path(), &genesis);
    let b = start_node(&follower, chain_b, Vec::new()).await;
    let ctx = RpcContext {
        chain: b.chain.clone(),
        net: b.net.clone(),
        proposals: Proposals::default(),
        wallet: follower.wallet_key(),
        network_id: 1337,
        client_version: "cachet/test".into(),
        sync: b.status.clone(),
        discovery_port: None,
        hardening: Default::default(),
        eth: Default::default(),
        pool: None,
        raft: None,
    };
    let (handle, addr) = rpc::start("127.0.0.1:0".parse().unwrap(), ctx)
        .await
        .unwrap();
    assert_eq!(
        call(addr, "eth_syncing", json!([])).await["result"],
        false,
        "not syncing before a peer is known"
    );
    b.net.dial(a.net.local_enode());
    let mut seen: Vec<Value> = Vec::new();
    let start = Instant::now();
    while b.chain.head().header.number < BLOCKS && start.elapsed() < Duration::from_secs(120) {
        let v = call(addr, "eth_syncing", json!([])).await["result"].clone();
        if v.is_object() {
            seen.push(v);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(b.chain.head().header.number, BLOCKS, "the follower synced");
    assert!(
        !seen.is_empty(),
        "eth_syncing never reported progress during the download (last finished: {:?})",
        b.status.last_finished()
    );
    eprintln!("eth_syncing objects seen: {}", seen.len());
    let hex = |n: u64| format!("{n:#x}");
    for v in &seen {
        assert_eq!(v["startingBlock"], "0x0", "{v}");
        assert_eq!(v["highestBlock"], hex(BLOCKS).as_str(), "{v}");
        let current = u64::from_str_radix(
            v["currentBlock"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap();
        assert!(current < BLOCKS, "{v}");
    }
    let done = Instant::now();
    let mut last = Value::Null;
    while done.elapsed() < Duration::from_secs(10) {
        last = call(addr, "eth_syncing", json!([])).await["result"].clone();
        if last == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, false, "not syncing once the head is reached");
    let _ = handle.stop();
    a.net.shutdown();
    b.net.shutdown();
}
