//! The doppelganger check with in-process nodes on one clique chain (RLPx on 127.0.0.1): two
//! datadirs holding copies of one bundle. The copy started later refuses to seal and stops
//! with `Error::Doppelganger`, having signed nothing; a node already sealing stops when a
//! block its key signed elsewhere arrives; a node restarted on its own datadir takes its
//! earlier blocks back from a peer and keeps sealing.
//!
//! Every wait is for an event (a block number, a task's end) under a generous deadline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use cachet_devp2p::eth::EthMessage;
use cachet_devp2p::net::{ChainConfig, ChainHead, Enode, Network, NetworkConfig, NetworkEvent};
use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{KmsConfig, LocalMasterKey};
use cachet_node::chain::Chain;
use cachet_node::consensus::ProducerConfig;
use cachet_node::produce::{BuildConfig, produce_now};
use cachet_node::store::ChainStore;
use cachet_node::{Controls, Error, NodeConfig, Started};
use cachet_seal::Engine;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::rpc::call;
use super::run::free_port;

/// Generous: every wait below ends on an event long before this.
const DEADLINE: Duration = Duration::from_secs(120);

struct Node {
    task: JoinHandle<cachet_node::Result<()>>,
    started: Started,
    http: SocketAddr,
    stop: watch::Sender<bool>,
}

impl Node {
    fn enode(&self) -> Enode {
        self.started.enode.parse().unwrap()
    }

    async fn head(&self) -> u64 {
        let r = call(self.http, "eth_blockNumber", json!([])).await;
        u64::from_str_radix(r["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    /// The block hash and header at `number` (JSON-RPC).
    async fn block(&self, number: u64) -> (B256, cachet_seal::Header) {
        let r = call(
            self.http,
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), false]),
        )
        .await;
        let block = &r["result"];
        let hash = block["hash"].as_str().unwrap().parse().unwrap();
        let header = cachet_seal::header_from_json(&block.to_string()).unwrap();
        (hash, header)
    }

    /// Waits until the head reaches `number`; panics if the node stops first.
    async fn wait_for_block(&self, number: u64) {
        tokio::time::timeout(DEADLINE, async {
            while self.head().await < number {
                assert!(
                    !self.task.is_finished(),
                    "the node stopped before block {number}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no block {number} before the deadline"));
    }

    /// Stops the node and waits for it.
    async fn shut_down(self) -> cachet_node::Result<()> {
        self.stop.send_replace(true);
        tokio::time::timeout(DEADLINE, self.task)
            .await
            .unwrap()
            .unwrap()
    }
}

/// A master key and a datadir initialised with it, and a clique genesis naming its sealing
/// key; returns the datadir and the sealing address.
async fn init(dir: &Path) -> (PathBuf, Address) {
    init_for(dir, Engine::Clique).await
}

/// As [`init`], for `engine` (BFT: the node key's address is the single validator).
async fn init_for(dir: &Path, engine: Engine) -> (PathBuf, Address) {
    let master = LocalMasterKey::create(&dir.join("master.key")).unwrap();
    let datadir = dir.join("a");
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
    let (genesis, signer) = if engine == Engine::Clique {
        let a = init.identities.sealer_address;
        (super::clique::genesis_json(&[a], 1), a)
    } else {
        let a = init.identities.node_address;
        (super::engines::genesis_json(engine, &[a]), a)
    };
    std::fs::write(dir.join("genesis.json"), genesis).unwrap();
    (datadir, signer)
}

/// A second datadir holding a copy of `from`'s bundle (what an operator cloning a validator
/// does), nothing else.
fn copy_bundle(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::copy(from.join("keys.cachet"), to.join("keys.cachet")).unwrap();
    std::fs::set_permissions(
        to.join("keys.cachet"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

async fn start(
    datadir: &Path,
    genesis: &Path,
    bootnodes: Vec<Enode>,
    mine: bool,
    doppelganger_periods: u32,
) -> Node {
    let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let config = NodeConfig {
        skip_pow: false,
        lease: None,
        datadir: datadir.to_owned(),
        genesis: genesis.to_owned(),
        network_id: None,
        p2p_listen: SocketAddr::from(([127, 0, 0, 1], free_port())),
        bootnodes,
        max_peers: 5,
        discovery: None,
        http: Some(http),
        ws: None,
        rpc_access: Default::default(),
        mine,
        doppelganger_periods,
        extra_data: Vec::new(),
        miner_gas_limit: None,
        txpool: cachet_node::PoolConfig::default(),
        rpc_gas_cap: cachet_node::rpc::DEFAULT_GAS_CAP,
        rpc_evm_timeout: cachet_node::rpc::DEFAULT_EVM_TIMEOUT,
        metrics: None,
        kms: KmsConfig::default(),
        raft: Default::default(),
    };
    let (stop, shutdown) = watch::channel(false);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(cachet_node::run(
        config,
        Controls {
            shutdown,
            key_status: None,
        },
        move |s| {
            let _ = tx.send(s.clone());
        },
    ));
    let started = tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .unwrap()
        .expect("the node started");
    Node {
        task,
        started,
        http,
        stop,
    }
}

/// Waits for the node to stop on its own and returns its error.
async fn stopped_with(node: Node) -> Error {
    let result = tokio::time::timeout(DEADLINE, node.task)
        .await
        .expect("the node stopped before the deadline")
        .unwrap();
    drop(node.stop);
    result.expect_err("the node stopped with an error")
}

/// The canonical block hashes `1..=head` of a stopped node's chain store (once the node's
/// aborted background tasks have let go of it).
async fn canonical_hashes(datadir: &Path) -> Vec<B256> {
    let path = datadir.join("chain.redb");
    let store = tokio::time::timeout(DEADLINE, async {
        loop {
            match ChainStore::open(&path) {
                Ok(store) => return store,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("the stopped node's chain store opens");
    let head = store.head().unwrap().map_or(0, |h| h.number);
    (1..=head)
        .map(|n| store.canonical_hash(n).unwrap().unwrap())
        .collect()
}

/// The copy started second, peered with the first, refuses to seal: it stops with the
/// doppelganger error naming our key, its seal journal is empty (it signed nothing), every
/// block it synced is the first node's block at that height (no height signed twice), and
/// the first node keeps sealing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn second_copy_of_a_bundle_refuses_to_seal() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, signer) = init(dir.path()).await;
    let genesis = dir.path().join("genesis.json");
    let b_dir = dir.path().join("b");
    copy_bundle(&a_dir, &b_dir);

    let a = start(&a_dir, &genesis, Vec::new(), true, 1).await;
    a.wait_for_block(3).await;
    // The copies share a node id, so they cannot peer (RLPx refuses a connection to self) nor
    // share a peer (it refuses the second as already connected): A's blocks reach B through
    // two followers with bundles of their own, A - F1 - F2 - B.
    let f1 = start(
        &follower(dir.path(), "f1").await,
        &genesis,
        vec![a.enode()],
        false,
        0,
    )
    .await;
    let f2 = start(
        &follower(dir.path(), "f2").await,
        &genesis,
        vec![f1.enode()],
        false,
        0,
    )
    .await;
    f2.wait_for_block(3).await;
    // A window far longer than B needs to hear from A (the deadline is what ends a failure).
    let b = start(&b_dir, &genesis, vec![f2.enode()], true, 60).await;
    assert_eq!(b.started.signer, signer, "B holds A's key");
    let err = stopped_with(b).await;
    let Error::Doppelganger(found) = &err else {
        panic!("B stopped with {err}, not the doppelganger error");
    };
    assert_eq!(found.signer, signer);
    assert!(err.to_string().starts_with("doppelganger: block "), "{err}");
    assert_eq!(
        std::fs::read(b_dir.join(cachet_seal::JOURNAL_FILE)).unwrap(),
        b"",
        "B signed nothing"
    );
    // The block B named is A's, and A signed it.
    let (hash, header) = a.block(found.number).await;
    assert_eq!(hash, found.hash);
    assert_eq!(
        cachet_seal::signers(Engine::Clique, &header).unwrap(),
        vec![signer]
    );
    // No fork: whatever B stored is A's chain.
    for (i, h) in canonical_hashes(&b_dir).await.iter().enumerate() {
        assert_eq!(*h, a.block(i as u64 + 1).await.0, "height {}", i + 1);
    }
    // A was not disturbed.
    let head = a.head().await;
    a.wait_for_block(head + 2).await;
    a.shut_down().await.unwrap();
    f1.shut_down().await.unwrap();
    f2.shut_down().await.unwrap();
}

/// A datadir `dir/name` with a bundle of its own (a follower).
async fn follower(dir: &Path, name: &str) -> PathBuf {
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
    datadir
}

/// A node past its window, sealing, stops when a peer sends a block signed by its key that it
/// did not seal: here the copy of its bundle seals block 1 on its own chain store and journal
/// (the copy never ran the check), and a peer with a node key of its own announces it.
async fn stops_on_a_block_its_key_signed_elsewhere(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, signer) = init_for(dir.path(), engine).await;
    let genesis = dir.path().join("genesis.json");
    let c_dir = dir.path().join("c");
    copy_bundle(&a_dir, &c_dir);

    let a = start(&a_dir, &genesis, Vec::new(), true, 1).await;
    a.wait_for_block(3).await;
    // The copy's block 1: the same key, its own journal, sealed now (A's block 1 is older).
    let c_keys = cachet_keyprovider::unlock(&c_dir, &KmsConfig::default())
        .await
        .unwrap()
        .keys;
    let g = cachet_genesis::Genesis::from_file(&genesis, cachet_genesis::RaftMarker::FromGenesis)
        .unwrap();
    let c_chain =
        Arc::new(Chain::open(ChainStore::open(&c_dir.join("chain.redb")).unwrap(), g).unwrap());
    let mut c_producer = cachet_node::consensus::producer(
        &c_chain,
        &c_keys,
        ProducerConfig {
            datadir: &c_dir,
            proposals: Default::default(),
            extra_data: &[],
            raft_id: None,
            raft_block_time: Duration::from_secs(1),
        },
    )
    .unwrap()
    .unwrap();
    let sealed = produce_now(c_producer.as_mut(), &c_chain, &BuildConfig::default())
        .unwrap()
        .expect("the copy seals block 1");
    drop(c_producer);
    assert_eq!(sealed.number, 1);
    let c_head = c_chain.head();
    let block = cachet_node::block::block_rlp(
        &c_chain.header_rlp_by_number(1).unwrap().unwrap(),
        &cachet_node::block::EMPTY_BODY_RLP,
    )
    .unwrap();
    let peer_keys = cachet_keyprovider::UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let (net, mut events) = Network::start(
        peer_keys.node_key(),
        NetworkConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            ChainConfig {
                network_id: 1337,
                genesis: c_chain.genesis_hash(),
                forks: c_chain.genesis().fork_schedule(),
            },
            ChainHead {
                number: c_head.header.number,
                hash: c_head.hash,
                total_difficulty: c_head.total_difficulty,
                timestamp: c_head.header.timestamp,
            },
        ),
    )
    .await
    .unwrap();
    net.dial(a.enode());
    let peer = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(NetworkEvent::PeerConnected(info)) = events.recv().await {
                return info.id;
            }
        }
    })
    .await
    .expect("the test peer connected to A");
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    net.send(
        &peer,
        EthMessage::NewBlock {
            block: block.into(),
            total_difficulty: c_head.total_difficulty,
        },
    )
    .await
    .unwrap();
    let a_http = a.http;
    let err = stopped_with(a).await;
    let Error::Doppelganger(found) = &err else {
        panic!("A stopped with {err}, not the doppelganger error");
    };
    assert_eq!(found.signer, signer);
    assert_eq!(found.number, 1);
    assert_eq!(found.hash, c_head.hash, "the copy's block");
    // A's journal holds its own block 1, not the copy's: the hash the journal keys a block by
    // (clique: the seal hash; QBFT: the block hash without seals and round).
    let journal_hash = match engine {
        Engine::Clique => cachet_seal::clique::seal_hash(&sealed).unwrap(),
        _ => c_head.hash,
    };
    let journal = std::fs::read_to_string(a_dir.join(cachet_seal::JOURNAL_FILE)).unwrap();
    assert!(journal.lines().count() >= 3, "A sealed: {journal}");
    assert!(
        journal
            .lines()
            .any(|l| l.starts_with(&format!("{} 1 ", engine.name()))),
        "A sealed its own block 1: {journal}"
    );
    assert!(
        !journal.contains(&journal_hash.to_string()),
        "A's journal holds {journal_hash}: {journal}"
    );
    assert!(
        tokio::net::TcpStream::connect(a_http).await.is_err(),
        "A's JSON-RPC is down"
    );
    net.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sealing_clique_node_stops_on_a_block_its_key_signed_elsewhere() {
    stops_on_a_block_its_key_signed_elsewhere(Engine::Clique).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sealing_qbft_node_stops_on_a_block_its_key_signed_elsewhere() {
    stops_on_a_block_its_key_signed_elsewhere(Engine::Qbft).await;
}

/// Restarted on its own datadir with its chain store gone, a node takes its earlier blocks
/// back from a peer (every one signed by its key, every one in its journal) and keeps sealing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_keeps_sealing_past_its_own_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, _) = init(dir.path()).await;
    let genesis = dir.path().join("genesis.json");
    // A follower with its own bundle, which keeps A's blocks while A is down.
    let f_master = LocalMasterKey::create(&dir.path().join("f.key")).unwrap();
    let f_dir = dir.path().join("f");
    cachet_keyprovider::init(
        &InitOptions {
            datadir: f_dir.clone(),
            chain_id: 1337,
            sealing_key: SealingKeyMode::Separate,
        },
        &f_master,
        ImportedKeys::default(),
    )
    .await
    .unwrap();

    let a = start(&a_dir, &genesis, Vec::new(), true, 1).await;
    let f = start(&f_dir, &genesis, vec![a.enode()], false, 0).await;
    a.wait_for_block(4).await;
    f.wait_for_block(4).await;
    a.shut_down().await.unwrap();
    let sealed = f.head().await;
    std::fs::remove_file(a_dir.join("chain.redb")).unwrap();

    let a = start(&a_dir, &genesis, vec![f.enode()], true, 2).await;
    // Past the blocks it sealed before the restart (taken back from F), then its own again.
    a.wait_for_block(sealed + 3).await;
    assert!(!a.task.is_finished(), "A is still running");
    a.shut_down().await.unwrap();
    f.shut_down().await.unwrap();
}

/// A node migrated from another client (GoQuorum): a fresh datadir holding the key that
/// sealed the chain's earlier blocks elsewhere, with an empty seal journal. Those blocks were
/// stamped before the node started, so they are history, not a doppelganger: it syncs them
/// from a peer and seals after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_migrated_node_keeps_sealing_past_blocks_its_key_sealed_before_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let (old_dir, signer) = init(dir.path()).await;
    let genesis = dir.path().join("genesis.json");
    // The old client: seals blocks 1..=3 with the key, then stops for good.
    let old = start(&old_dir, &genesis, Vec::new(), true, 1).await;
    let f = start(
        &follower(dir.path(), "f").await,
        &genesis,
        vec![old.enode()],
        false,
        0,
    )
    .await;
    old.wait_for_block(3).await;
    f.wait_for_block(3).await;
    old.shut_down().await.unwrap();
    let sealed = f.head().await;
    let (_, last) = f.block(sealed).await;
    assert_eq!(
        cachet_seal::signers(Engine::Clique, &last).unwrap(),
        vec![signer]
    );
    // The migration takes time; here, until the clock is past the old client's last block.
    tokio::time::timeout(DEADLINE, async {
        while cachet_node::block::now_secs() <= last.timestamp {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();

    // The new node: the same key in a datadir of its own, nothing in its journal.
    let new_dir = dir.path().join("new");
    copy_bundle(&old_dir, &new_dir);
    let new = start(&new_dir, &genesis, vec![f.enode()], true, 2).await;
    new.wait_for_block(sealed + 3).await;
    assert!(
        !new.task.is_finished(),
        "the migrated node is still running"
    );
    let journal = std::fs::read_to_string(new_dir.join(cachet_seal::JOURNAL_FILE)).unwrap();
    assert!(
        journal
            .lines()
            .any(|l| l.starts_with(&format!("clique {} ", sealed + 1))),
        "the migrated node sealed block {}: {journal}",
        sealed + 1
    );
    new.shut_down().await.unwrap();
    f.shut_down().await.unwrap();
}
