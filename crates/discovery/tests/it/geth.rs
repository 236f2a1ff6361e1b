//! geth's `devp2p discv4` tool (v1.17.10): `ping` and the conformance suite hive's devp2p
//! simulator runs (`discv4 test`), against an in-process Cachet service.

use tokio::process::Command;

use crate::support::spawn;

#[tokio::test]
#[ignore = "needs geth's devp2p tool (Go): run scripts/test"]
async fn accepts_geth_devp2p_discv4_ping_and_conformance_suite() {
    let tool = cachet_testkit::go_tool("devp2p");
    // Listen on 127.0.0.1: the suite's second tester (127.0.0.2) reaches it over loopback.
    let (a, _) = spawn(61, crate::support::config("127.0.0.1:0")).await;
    let enode = a.local_record().to_string();

    let ping = Command::new(&tool)
        .args(["discv4", "ping", &enode])
        .output()
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&ping.stdout).to_string() + &String::from_utf8_lossy(&ping.stderr);
    assert!(
        ping.status.success() && text.contains("node responded to ping"),
        "{text}"
    );

    let suite = Command::new(&tool)
        .args([
            "discv4",
            "test",
            "-remote",
            &enode,
            "-listen1",
            "127.0.0.1",
            "-listen2",
            "127.0.0.2",
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&suite.stdout).to_string()
        + &String::from_utf8_lossy(&suite.stderr);
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("-- FAIL")).collect();
    let passed = text.lines().filter(|l| l.starts_with("-- OK")).count();
    assert!(failed.is_empty(), "failing cases: {failed:?}\n{text}");
    assert!(passed >= 15, "only {passed} cases ran:\n{text}");
    assert!(suite.status.success(), "{text}");
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real geth discv4 node (`devp2p discv4 listen`, geth's `p2p/discover`) with Cachet as its
/// bootnode: Cachet pings it, asks its ENR and its neighbours; geth asks Cachet's ENR.
#[tokio::test]
#[ignore = "needs geth's devp2p tool (Go): run scripts/test"]
async fn accepts_geth_discv4_node_both_ways() {
    let tool = cachet_testkit::go_tool("devp2p");
    use cachet_discovery::{Endpoint, NodeId, NodeRecord};
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, BufReader};

    let (a, _) = spawn(62, crate::support::config("127.0.0.1:0")).await;
    let (b, _) = spawn(63, crate::support::config("127.0.0.1:0")).await;
    a.ping(b.local_record()).await.unwrap();

    let geth_port = free_udp_port();
    let mut geth = Command::new(&tool)
        .args(["discv4", "listen", "--nodekey", &"40".repeat(32)])
        .args(["--addr", &format!("127.0.0.1:{geth_port}")])
        .args(["--bootnodes", &a.local_record().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(geth.stdout.take().unwrap()).lines();
    let self_enr = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .expect("geth printed no record")
        .unwrap()
        .unwrap();
    assert!(self_enr.starts_with("enr:"), "{self_enr}");
    // The same secret as --nodekey above.
    let geth_id = NodeId(crate::support::node_key(0x40).enode_id());
    let geth_node = NodeRecord {
        id: geth_id,
        endpoint: Endpoint {
            ip: "127.0.0.1".parse().unwrap(),
            udp: geth_port,
            tcp: 0,
        },
    };

    // Cachet → geth.
    a.ping(geth_node)
        .await
        .expect("geth did not answer Cachet's ping");
    let record = a
        .request_enr(geth_node)
        .await
        .expect("geth did not answer ENRRequest");
    assert_eq!(record.udp4(), Some(geth_port));
    // geth bonded with its bootnode A and looked itself up through A, so it learnt B.
    let mut found = Vec::new();
    for _ in 0..20 {
        found = a
            .find_node(geth_node, b.local_record().id)
            .await
            .unwrap_or_default();
        if found.iter().any(|n| n.id == b.local_record().id) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        found.contains(&b.local_record()),
        "geth's neighbours lack B: {found:?}"
    );

    // geth → Cachet: its EIP-868 client reads our record byte for byte.
    let out = Command::new(&tool)
        .args(["discv4", "requestenr", &a.local_record().to_string()])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), a.local_enr().to_base64());
}
