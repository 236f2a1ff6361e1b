//! `istanbul/100` against EthereumJS (`@ethereumjs/devp2p` 10.0.0 offering eth/6x and
//! istanbul/100, `tests/peers/istanbul-peer.mjs`): the capability is negotiated by both, its ids
//! sit where GoQuorum puts them, a frame the peer sends reaches the node's driver channel as an
//! [`InboundFrame`], and a frame the node broadcasts reaches the peer with the right id.
//!
//! Expected offsets (known answers from GoQuorum's source, `ConsenSys/quorum@0d4a719f`): eth/66–68
//! span 17 ids from 0x10 (`eth/protocols/eth/protocol.go` `protocolLengths`), so istanbul/100
//! starts at 0x21 and spans 22 (`consensus/protocol.go` `IstanbulProtocol`); QBFT PRE-PREPARE
//! (0x12, `qbft/types/message.go`) is wire id 0x33, ROUND-CHANGE (0x15) 0x36.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{B256, Bytes, U256};
use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig, NetworkEvent};
use cachet_keyprovider::SealingKeyMode;
use cachet_node::consensus_net::{ConsensusFrame, ConsensusNet, InboundFrame};
use cachet_node::istanbul::{IstanbulNet, route};
use serde_json::Value;
use tokio::sync::mpsc;

const GENESIS: [u8; 32] = [0x11; 32];

/// The EthereumJS peer; killed when the test ends, pass or fail.
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
            .arg(dir.join("istanbul-peer.mjs"))
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start node (Node.js)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self { child, lines }
    }

    /// The next line, which must be the event `name`.
    async fn event(&self, name: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(40);
        loop {
            match self.lines.try_recv() {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    assert_eq!(v["event"], name, "EthereumJS peer reported {v}");
                    return v;
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

/// A message GoQuorum's own code produced (`testdata/bft/<file>`, by name): its code and payload.
fn vector(file: &str, name: &str) -> (u64, Bytes) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/bft")
        .join(file);
    let all: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = all.iter().find(|v| v["name"] == name).unwrap();
    let code = v["p2p_msg_code"]
        .as_u64()
        .expect("p2p_msg_code is a number");
    let payload = hex::decode(v["p2p_payload"].as_str().unwrap().trim_start_matches("0x"));
    (code, payload.unwrap().into())
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

#[tokio::test]
#[ignore = "needs ethereumjs: run scripts/test"]
async fn ethereumjs_and_cachet_exchange_istanbul100_frames_at_goquorum_offsets() {
    let keys = cachet_keyprovider::UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
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
    config.istanbul = true;
    let (net, events) = Network::start(keys.node_key(), config).await.unwrap();
    let net = Arc::new(net);
    let (driver_tx, mut driver) = mpsc::channel::<InboundFrame>(16);
    let (mut events, router) = route(events, Some(driver_tx));
    let consensus = IstanbulNet::new(net.clone());

    // The peer sends a ROUND-CHANGE a running GoQuorum validator broadcast.
    let (in_code, in_payload) = vector(
        "qbft-goquorum-devnet.json",
        "qbft-goquorum-devnet-roundchange-h1-r1",
    );
    assert_eq!(in_code, 0x15);
    let genesis_file = format!(
        "{}/../devp2p/testdata/genesis/interop-clique.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let peer = Peer::spawn(&[
        "66",
        &genesis_file,
        &hex0x(&GENESIS),
        &net.local_enode().to_string(),
        &in_code.to_string(),
        &hex0x(&in_payload),
    ]);
    let ready = peer.event("ready").await;
    let info = loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await {
            Ok(Some(NetworkEvent::PeerConnected(info))) => break info,
            Ok(Some(_)) => {}
            other => panic!("no connection from the EthereumJS peer: {other:?}"),
        }
    };
    assert_eq!(info.id.to_string(), ready["id"].as_str().unwrap());
    assert!(info.istanbul, "istanbul/100 not negotiated on our side");
    let caps: Vec<String> = info
        .hello
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["eth/66", "istanbul/100"]);

    let sent = peer.event("sent").await;
    assert!(
        sent["hello"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&Value::from("istanbul/100")),
        "{sent}"
    );
    // EthereumJS placed the two capabilities by its own rule: GoQuorum's offsets.
    assert_eq!(
        sent["protocols"],
        serde_json::json!([
            {"name": "eth", "version": 66, "offset": 0x10, "length": 17},
            {"name": "istanbul", "version": 100, "offset": 0x21, "length": 22},
        ])
    );
    // The first frame the driver sees is the ROUND-CHANGE: the 0x07 sent before it was ignored
    // (and the peer kept).
    let got = tokio::time::timeout(Duration::from_secs(30), driver.recv())
        .await
        .expect("an inbound frame within 30 s")
        .expect("router running");
    assert_eq!(
        got,
        InboundFrame {
            peer: info.id,
            frame: ConsensusFrame {
                code: 0x15,
                payload: in_payload,
            },
        }
    );

    // The node broadcasts a PRE-PREPARE GoQuorum's encoder made; the peer reads it at 0x21 + 0x12.
    let (out_code, out_payload) = vector("qbft-messages.json", "qbft-preprepare-h1-r0");
    assert_eq!(out_code, 0x12);
    consensus.broadcast(ConsensusFrame {
        code: out_code,
        payload: out_payload.clone(),
    });
    let received = peer.event("received").await;
    assert_eq!(received["code"], 0x12);
    assert_eq!(received["wireId"], 0x33);
    assert_eq!(received["payload"].as_str().unwrap(), hex0x(&out_payload));
    assert_eq!(net.peers().len(), 1);
    net.shutdown();
    router.abort();
}
