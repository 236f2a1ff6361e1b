//! discv5 through sigp's crate: Cachet to Cachet and `@chainsafe/discv5` 10.0.1, both ways.

use std::process::Stdio;
use std::time::Duration;

use cachet_discovery::{Discv5Config, Discv5Service, ForkId};
use cachet_primitives::Ecdh;
use enr::EnrPublicKey;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::node_key;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn config(fork_id: Option<ForkId>) -> Discv5Config {
    Discv5Config {
        listen: format!("127.0.0.1:{}", free_udp_port()).parse().unwrap(),
        external_ip: None,
        tcp_port: 30303,
        fork_id,
        enr_seq: 1,
        bootnodes: Vec::new(),
    }
}

const FORK: ForkId = ForkId {
    hash: cachet_primitives::ForkHash([0xfc, 0x64, 0xec, 0x04]),
    next: 1_150_000,
};

#[tokio::test]
async fn accepts_ping_between_two_cachet_discv5_nodes_on_the_node_key() {
    let key = node_key(71);
    let a = Discv5Service::spawn(&key, config(Some(FORK)))
        .await
        .unwrap();
    let b = Discv5Service::spawn(&node_key(72), config(None))
        .await
        .unwrap();
    let enr = a.local_enr();
    // Same identity as discv4 and RLPx: the record's key is the node key.
    assert_eq!(
        enr.public_key().encode().as_slice(),
        &key.public_key().serialize()[..]
    );
    assert_eq!(enr.tcp4(), Some(30303));
    assert_eq!(
        hex::encode(enr.get_raw_rlp("eth").unwrap()),
        "cac984fc64ec0483118c30"
    );
    assert_eq!(b.ping(enr).await.unwrap(), 1);
    assert_eq!(a.ping(b.local_enr()).await.unwrap(), 1);
}

#[tokio::test]
#[ignore = "needs @chainsafe/discv5: run scripts/test"]
async fn accepts_chainsafe_discv5_ping_both_ways() {
    let key = node_key(73);
    let cachet = Discv5Service::spawn(&key, config(Some(FORK)))
        .await
        .unwrap();
    let cachet_enr = cachet.local_enr();
    let cfg = json!({"key": "5d".repeat(32), "port": free_udp_port(), "cachetEnr": cachet_enr.to_base64()});
    let mut child = Command::new("node")
        .arg(cachet_testkit::node_peers_dir().join("discv5_ping.mjs"))
        .arg(cfg.to_string())
        .current_dir(cachet_testkit::node_peers_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("chainsafe script silent for 15 s")
            .unwrap()
            .expect("chainsafe script exited");
        serde_json::from_str(&line).unwrap()
    };
    let ready = next().await;
    assert_eq!(ready["event"], "ready", "{ready}");

    // Our ENR as @chainsafe/enr reads it.
    let seen = next().await;
    assert_eq!(seen["event"], "cachet-enr");
    assert_eq!(seen["nodeId"], hex::encode(cachet_enr.node_id().raw()));
    assert_eq!(seen["publicKey"], hex::encode(key.public_key().serialize()));
    assert_eq!(seen["ip"], "127.0.0.1");
    assert_eq!(seen["udp"], cachet_enr.udp4().unwrap());
    assert_eq!(seen["tcp"], 30303);
    assert_eq!(seen["eth"], "cac984fc64ec0483118c30");

    // @chainsafe/discv5 → Cachet.
    let pong = next().await;
    assert_eq!(pong, json!({"event": "pong", "enrSeq": "1"}));

    // Cachet → @chainsafe/discv5.
    let js_enr: discv5::Enr = ready["enr"].as_str().unwrap().parse().unwrap();
    let want_seq = js_enr.seq();
    let got_seq = cachet
        .ping(js_enr)
        .await
        .expect("no pong from @chainsafe/discv5");
    assert_eq!(got_seq, want_seq);
    drop(child.stdin.take());
    let _ = child.wait().await;
}
