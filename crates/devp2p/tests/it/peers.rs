//! Interop with EthereumJS (`@ethereumjs/devp2p` 10.0.0, `tests/peers/rlpx-peer.mjs`) and geth's
//! `devp2p` tool.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::{B256, U256};
use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig, NetworkEvent, PeerInfo};
use cachet_primitives::testing::TestNodeKey;
use serde_json::Value;
use tokio::sync::mpsc::Receiver;

use crate::network::next;

/// Kills the child when the test ends, pass or fail.
struct Peer {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn spawn(args: &[&str]) -> Self {
        let dir = cachet_testkit::node_peers_dir();
        let mut child = Command::new("node")
            .arg(dir.join("rlpx-peer.mjs"))
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    async fn event(&self, name: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(25);
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    if v["event"] == name {
                        return v;
                    }
                    panic!("EthereumJS peer reported {v}");
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no {name} event from the EthereumJS peer"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("EthereumJS peer exited before {name}: {e}"),
            }
        }
    }
}

const GENESIS: [u8; 32] = [0x11; 32];

fn genesis_file() -> String {
    format!(
        "{}/testdata/genesis/interop-clique.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The interop genesis: chain id 1337, every fork at block 0 except London at 10.
async fn cachet() -> (Network, Receiver<NetworkEvent>, TestNodeKey) {
    let keys = TestNodeKey::generate();
    let genesis = B256::from(GENESIS);
    let chain = ChainConfig {
        network_id: 1337,
        genesis,
        forks: ForkSchedule::new(genesis, vec![0, 10], vec![]),
    };
    let head = ChainHead {
        number: 0,
        hash: genesis,
        total_difficulty: U256::from(1u64),
        timestamp: 0,
    };
    let mut config = NetworkConfig::new("127.0.0.1:0".parse().unwrap(), chain, head);
    // Ping fast so EthereumJS sees our ping, and keep the idle limit short so the session
    // survives only if EthereumJS answers our pings (it pings on its own only every 15 s).
    config.ping_interval = Duration::from_millis(300);
    config.idle_timeout = Duration::from_millis(1500);
    let (net, rx) = Network::start(keys.clone(), config).await.unwrap();
    (net, rx, keys)
}

fn check(ready: &Value, done: &Value, ours: &PeerInfo, net: &Network, keys: &TestNodeKey) {
    // Each side sees the other's exact node id.
    assert_eq!(ours.id.to_string(), ready["id"].as_str().unwrap());
    assert_eq!(
        done["remoteId"].as_str().unwrap(),
        hex::encode(keys.enode_id())
    );
    assert_eq!(
        done["hello"]["id"].as_str().unwrap(),
        hex::encode(keys.enode_id())
    );
    assert_eq!(done["hello"]["protocolVersion"], 5);
    assert!(
        done["hello"]["clientId"]
            .as_str()
            .unwrap()
            .starts_with("cachet/")
    );
    assert_eq!(
        done["hello"]["capabilities"],
        serde_json::json!(["eth/66", "eth/67", "eth/68"])
    );
    assert!(
        ours.hello.client_id.starts_with("ethereumjs-devp2p"),
        "{}",
        ours.hello.client_id
    );
    // Status both ways, with one fork id computed independently on each side.
    let ours_fork = ForkSchedule::new(B256::from(GENESIS), vec![0, 10], vec![]).fork_id(0, 0);
    assert_eq!(
        ready["forkHash"].as_str().unwrap(),
        format!("0x{}", hex::encode(ours_fork.hash.0))
    );
    assert_eq!(ready["forkNext"], "10");
    assert_eq!(ours.status.fork_id, ours_fork);
    assert_eq!(ours.status.network_id, 1337);
    assert_eq!(ours.status.genesis, B256::from(GENESIS));
    assert_eq!(
        done["status"]["genesisHash"].as_str().unwrap(),
        format!("0x{}", hex::encode(GENESIS))
    );
    assert_eq!(
        done["status"]["forkHash"].as_str().unwrap(),
        format!("0x{}", hex::encode(ours_fork.hash.0))
    );
    assert_eq!(done["status"]["forkNext"], "0x0a");
    assert_eq!(done["status"]["networkId"], "0x0539");
    // Ping both ways: EthereumJS answered our pings (else our 1.5 s idle limit would have
    // dropped it) and we answered its ping.
    assert_eq!(done["pingFromRemote"], true);
    assert_eq!(done["pongFromRemote"], true);
    assert_eq!(net.peers()[0].id, ours.id);
}

#[tokio::test]
#[ignore = "needs ethereumjs: run scripts/test"]
async fn ethereumjs_dials_cachet() {
    let (net, mut rx, keys) = cachet().await;
    let enode = net.local_enode().to_string();
    let peer = Peer::spawn(&[
        "dial",
        &genesis_file(),
        &format!("0x{}", hex::encode(GENESIS)),
        &enode,
    ]);
    let ready = peer.event("ready").await;
    let NetworkEvent::PeerConnected(info) = next(&mut rx).await else {
        panic!("expected a connection")
    };
    // Past the 1.5 s idle limit: still connected only if EthereumJS answers our pings.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(net.peers().len(), 1);
    let done = peer.event("done").await;
    check(&ready, &done, &info, &net, &keys);
}

#[tokio::test]
#[ignore = "needs ethereumjs: run scripts/test"]
async fn cachet_dials_ethereumjs() {
    let (net, mut rx, keys) = cachet().await;
    let peer = Peer::spawn(&[
        "listen",
        &genesis_file(),
        &format!("0x{}", hex::encode(GENESIS)),
    ]);
    let ready = peer.event("ready").await;
    net.dial(ready["enode"].as_str().unwrap().parse().unwrap());
    let NetworkEvent::PeerConnected(info) = next(&mut rx).await else {
        panic!("expected a connection")
    };
    // Past the 1.5 s idle limit: still connected only if EthereumJS answers our pings.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(net.peers().len(), 1);
    let done = peer.event("done").await;
    check(&ready, &done, &info, &net, &keys);
}
