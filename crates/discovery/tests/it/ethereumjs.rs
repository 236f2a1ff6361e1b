//! Interop with `@ethereumjs/devp2p` 10.0.0's DPT (discv4), both directions.

use std::process::Stdio;
use std::time::Duration;

use cachet_discovery::{Endpoint, NodeId, NodeRecord};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::spawn_local;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn id_of(hex_id: &str) -> NodeId {
    let mut id = [0u8; 64];
    hex::decode_to_slice(hex_id, &mut id).unwrap();
    NodeId(id)
}

#[tokio::test]
#[ignore = "needs ethereumjs: run scripts/test"]
async fn accepts_ethereumjs_dpt_ping_and_findnode_both_ways() {
    dpt_both_ways().await;
}

/// EthereumJS's `DPT` pings A and asks it for neighbours; A pings it back.
async fn dpt_both_ways() {
    let (a, _) = spawn_local(51).await;
    let (b, _) = spawn_local(52).await;
    // A knows B, so A's Neighbors to EthereumJS must contain B.
    a.ping(b.local_record()).await.unwrap();

    let js_key = "4c".repeat(32);
    let js_port = free_udp_port();
    let me = a.local_record();
    let cfg = json!({
        "key": js_key,
        "port": js_port,
        "cachet": {"id": me.id.to_string(), "address": "127.0.0.1", "udpPort": me.endpoint.udp, "tcpPort": me.endpoint.tcp},
        "target": b.local_record().id.to_string(),
    });
    let mut child = Command::new("node")
        .arg(cachet_testkit::node_peers_dir().join("dpt_discv4.mjs"))
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
            .expect("ethereumjs script silent for 15 s")
            .unwrap()
            .expect("ethereumjs script exited");
        serde_json::from_str(&line).unwrap()
    };

    // EthereumJS → Cachet: ping/pong, then findneighbours/neighbours.
    let ready = next().await;
    assert_eq!(ready["event"], "ready");
    let js_id = id_of(ready["id"].as_str().unwrap());
    let pong = next().await;
    assert_eq!(
        pong,
        json!({"event": "pong", "id": me.id.to_string()}),
        "EthereumJS saw another id"
    );
    let neighbours = loop {
        let event = next().await;
        if event["event"] == "neighbours" {
            break event;
        }
    };
    assert_eq!(neighbours["from"], me.id.to_string());
    let want = b.local_record();
    assert!(
        neighbours["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == want.id.to_string()
                && n["udpPort"] == want.endpoint.udp
                && n["address"] == "127.0.0.1"),
        "B missing from Cachet's neighbours: {neighbours}"
    );

    // Cachet → EthereumJS: ping/pong, then findnode/neighbours.
    let js = NodeRecord {
        id: js_id,
        endpoint: Endpoint {
            ip: "127.0.0.1".parse().unwrap(),
            udp: js_port,
            tcp: js_port,
        },
    };
    let pong = a
        .ping(js)
        .await
        .expect("EthereumJS did not answer Cachet's ping");
    assert_eq!(pong.to.udp, me.endpoint.udp);
    let found = a
        .find_node(js, b.local_record().id)
        .await
        .expect("no neighbours from EthereumJS");
    // EthereumJS's table holds Cachet A (it bonded with us above).
    assert!(
        found
            .iter()
            .any(|n| n.id == me.id && n.endpoint.udp == me.endpoint.udp),
        "{found:?}"
    );
    drop(child.stdin.take());
    let _ = child.wait().await;
}
