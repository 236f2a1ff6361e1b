//! geth's `devp2p discv4` tool (v1.17.10): `ping` and the conformance suite hive's devp2p
//! simulator runs (`discv4 test`), against an in-process Cachet service.

use tokio::process::Command;

use crate::support::spawn;

#[tokio::test]
#[ignore = "needs geth's devp2p tool (Go): run scripts/test"]
async fn accepts_geth_devp2p_discv4_ping_and_conformance_suite() {
    let Some(tool) = cachet_testkit::go_tool("devp2p") else {
        assert!(
            std::process::Command::new("go")
                .arg("version")
                .output()
                .is_err(),
            "Go is installed but .tools/devp2p is missing: run scripts/install-test-peers"
        );
        eprintln!("note: Go is not installed; running the EthereumJS discv4 probe instead");
        crate::ethereumjs::dpt_both_ways().await;
        return;
    };
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
