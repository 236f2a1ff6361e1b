//! `cachet devnet`: a local master key, N node bundles and a clique genesis in one directory,
//! then the nodes as child processes (`cachet node …`, the same binary).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use alloy_primitives::Address;
use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::LocalMasterKey;
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::error::{Error, Result};

/// Devnet parameters.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// The directory (created; must be empty or absent).
    pub dir: PathBuf,
    /// Seconds between blocks.
    pub period: u64,
    /// Number of nodes (all signers).
    pub nodes: usize,
    /// Chain id.
    pub chain_id: u64,
    /// First RLPx port (node i uses `p2p_port + i`).
    pub p2p_port: u16,
    /// First JSON-RPC port (node i uses `http_port + i`).
    pub http_port: u16,
}

/// One prepared node.
#[derive(Debug, Clone)]
pub struct DevnetNode {
    /// Its datadir.
    pub datadir: PathBuf,
    /// Its sealing address.
    pub signer: Address,
    /// Its enode URL on 127.0.0.1.
    pub enode: String,
    /// RLPx port.
    pub p2p_port: u16,
    /// JSON-RPC port.
    pub http_port: u16,
}

fn cfg(e: impl std::fmt::Display) -> Error {
    Error::Config(e.to_string())
}

/// Creates the master key, the bundles and `genesis.json` in `config.dir`.
///
/// # Errors
/// [`Error::Config`] if the directory is not empty, key-provider errors.
pub async fn prepare(config: &DevnetConfig) -> Result<Vec<DevnetNode>> {
    let dir = &config.dir;
    if dir.exists() && std::fs::read_dir(dir).map_err(cfg)?.next().is_some() {
        return Err(cfg(format!(
            "devnet directory {} is not empty: pass a fresh --dir",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(cfg)?;
    let master = LocalMasterKey::create(&dir.join("master.key")).map_err(cfg)?;
    let mut nodes = Vec::new();
    for i in 0..config.nodes {
        let datadir = dir.join(format!("node{i}"));
        let options = InitOptions {
            datadir: datadir.clone(),
            chain_id: config.chain_id,
            sealing_key: SealingKeyMode::Separate,
        };
        let init = cachet_keyprovider::init(&options, &master, ImportedKeys::default()).await?;
        let p2p_port = config.p2p_port.saturating_add(i as u16);
        nodes.push(DevnetNode {
            signer: init.identities.sealer_address,
            enode: format!("enode://{}@127.0.0.1:{p2p_port}", init.identities.enode_id),
            datadir,
            p2p_port,
            http_port: config.http_port.saturating_add(i as u16),
        });
    }
    let mut extra = "0x".to_owned() + &"00".repeat(32);
    let mut signers: Vec<Address> = nodes.iter().map(|n| n.signer).collect();
    signers.sort();
    for s in &signers {
        extra.push_str(&hex::encode(s));
    }
    extra.push_str(&"00".repeat(65));
    let genesis = json!({
        "config": {
            "chainId": config.chain_id,
            "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
            "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": { "period": config.period, "epoch": 30000 }
        },
        "nonce": "0x0",
        "timestamp": format!("{:#x}", now()),
        "extraData": extra,
        "gasLimit": "0x1c9c380",
        "difficulty": "0x1",
        "mixHash": "0x0000000000000000000000000000000000000000000000000000000000000000",
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": nodes.iter().map(|n| (format!("{:x}", n.signer), json!({"balance": "0x3635c9adc5dea00000"}))).collect::<serde_json::Map<_, _>>(),
    });
    let text = serde_json::to_string_pretty(&genesis).map_err(cfg)?;
    std::fs::write(dir.join("genesis.json"), text).map_err(cfg)?;
    Ok(nodes)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Starts node `i` as a child process of `exe` (`cachet node …`), its log in
/// `<datadir>/node.log`.
///
/// # Errors
/// [`Error::Config`] when the process cannot be started.
pub fn spawn(exe: &Path, dir: &Path, nodes: &[DevnetNode], i: usize, log: &str) -> Result<Child> {
    let node = nodes.get(i).ok_or_else(|| cfg("no such devnet node"))?;
    let bootnodes: Vec<&str> = nodes
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, n)| n.enode.as_str())
        .collect();
    let logfile = std::fs::File::create(node.datadir.join("node.log")).map_err(cfg)?;
    let mut cmd = Command::new(exe);
    cmd.arg("--log")
        .arg(log)
        .arg("node")
        .arg("--datadir")
        .arg(&node.datadir)
        .arg("--genesis")
        .arg(dir.join("genesis.json"))
        // A devnet is a local thing: RLPx and discovery on loopback only.
        .arg("--addr")
        .arg("127.0.0.1")
        .arg("--port")
        .arg(node.p2p_port.to_string())
        .arg("--http.port")
        .arg(node.http_port.to_string())
        .arg("--mine");
    if !bootnodes.is_empty() {
        cmd.arg("--bootnodes").arg(bootnodes.join(","));
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(logfile))
        .kill_on_drop(true);
    cmd.spawn().map_err(cfg)
}

/// Reads the child's first stdout line (the node's JSON "started" line).
///
/// # Errors
/// [`Error::Config`] if the node exits first.
pub async fn started_line(child: &mut Child) -> Result<String> {
    let out = child
        .stdout
        .take()
        .ok_or_else(|| cfg("child has no stdout"))?;
    let mut lines = BufReader::new(out).lines();
    lines
        .next_line()
        .await
        .map_err(cfg)?
        .ok_or_else(|| cfg("node exited before it started; see its node.log"))
}
