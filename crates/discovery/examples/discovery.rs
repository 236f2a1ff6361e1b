//! Runs discovery alone on a throwaway node key, for pointing external tools at it:
//!
//! ```text
//! cargo run -p cachet-discovery --example discovery -- [--listen 127.0.0.1:30301] [--v5 127.0.0.1:30302] [--bootnode enode://…]
//! ```
//! Prints one JSON line `{"enode":…,"enr":…,"v5_enr":…}`, then serves until Ctrl-C. Real nodes
//! run discovery through `cachet p2p` on their unlocked key.

use std::net::SocketAddr;

use cachet_discovery::{Discv4, Discv4Config, Discv5Config, Discv5Service, NodeRecord};
use cachet_primitives::testing::TestNodeKey;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen: SocketAddr = "127.0.0.1:30301".parse()?;
    let mut v5: Option<SocketAddr> = None;
    let mut bootnodes: Vec<NodeRecord> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--listen" => listen = value.parse()?,
            "--v5" => v5 = Some(value.parse()?),
            "--bootnode" => bootnodes.push(value.parse()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let key = TestNodeKey::generate();
    let mut config = Discv4Config::new(listen, listen.port());
    config.bootnodes = bootnodes;
    let (handle, _events) = Discv4::spawn(key.clone(), config).await?;
    let mut v5_enr = None;
    let mut _v5_service = None;
    if let Some(v5) = v5 {
        let service = Discv5Service::spawn(
            &key,
            Discv5Config {
                listen: v5,
                external_ip: None,
                tcp_port: listen.port(),
                fork_id: None,
                enr_seq: 1,
                bootnodes: Vec::new(),
            },
        )
        .await?;
        v5_enr = Some(service.local_enr().to_base64());
        _v5_service = Some(service);
    }
    println!(
        "{}",
        serde_json::json!({
            "enode": handle.local_record().to_string(),
            "enr": handle.local_enr().to_base64(),
            "v5_enr": v5_enr,
        })
    );
    tokio::signal::ctrl_c().await?;
    handle.shutdown().await;
    Ok(())
}
