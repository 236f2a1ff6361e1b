//! `cachet devnet`: a local master key, N node bundles and a genesis in one directory, then
//! the nodes as child processes (`cachet node …`, the same binary).
//!
//! - clique: every node is a signer (its sealing key);
//! - qbft, ibft (GoQuorum `istanbul`): every node's node-key address is a validator in the
//!   genesis extraData (with more than one, the nodes run the BFT driver over `istanbul/100`);
//! - ibft2 (Besu): node 0's node-key address is the single validator; the other nodes follow
//!   (multi-validator IBFT 2.0 is not built);
//! - raft: one node, raft id 1, minting while transactions are pending (`--raftblocktime`);
//!   with more than one, a raft cluster: every node's `static-nodes.json` lists all of them
//!   (raft id = position), the leader mints;
//!
//! every node's wallet account is funded (1,000,000 ETH) and so is every `--prefund` account.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use alloy_primitives::{Address, U256};
use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::LocalMasterKey;
use cachet_seal::Engine;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST};
use serde_json::json;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::error::{Error, Result};

/// Devnet parameters.
#[derive(Debug, Clone)]
pub struct DevnetConfig {
    /// The consensus engine.
    pub engine: Engine,
    /// The directory (created; must be empty or absent).
    pub dir: PathBuf,
    /// Seconds between blocks.
    pub period: u64,
    /// Number of nodes (clique: all signers; BFT: node 0 validates, the others follow;
    /// raft: one minter, or a cluster of all of them).
    pub nodes: usize,
    /// Chain id.
    pub chain_id: u64,
    /// First RLPx port (node i uses `p2p_port + i`).
    pub p2p_port: u16,
    /// First JSON-RPC port (node i uses `http_port + i`).
    pub http_port: u16,
    /// First JSON-RPC WebSocket port (node i uses `ws_port + i`; 0: each node picks a free one).
    pub ws_port: u16,
    /// Accounts funded in the genesis besides the nodes' signers and wallets (`--prefund`).
    pub prefund: Vec<(Address, U256)>,
    /// London at block 0 (base fee, EIP-1559 transactions). False (`--no-london`): a genesis
    /// without `londonBlock`, whose headers carry no base fee, as GoQuorum's chains. Raft never
    /// has London.
    pub london: bool,
}

/// What `--prefund ADDR` gives when no amount is named, and each node's wallet: 1,000,000 ETH.
/// (10^24 wei.)
pub const DEVNET_FUNDS: U256 = U256::from_limbs([0x1bce_cced_a100_0000, 0xd3c2, 0, 0]);

/// One prepared node.
#[derive(Debug, Clone)]
pub struct DevnetNode {
    /// Its datadir.
    pub datadir: PathBuf,
    /// Its sealing address (clique: the sealing key's; other engines: the node key's).
    pub signer: Address,
    /// Its wallet account (funded; signs `eth_sendTransaction`).
    pub wallet: Address,
    /// True when it seals (every clique node; node 0 otherwise).
    pub seals: bool,
    /// Its enode URL on 127.0.0.1.
    pub enode: String,
    /// RLPx port.
    pub p2p_port: u16,
    /// JSON-RPC port.
    pub http_port: u16,
    /// JSON-RPC WebSocket port (0: a free one, printed in the node's started line).
    pub ws_port: u16,
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
    if !config.engine.seals() {
        return Err(cfg(format!(
            "a devnet seals blocks: {} is not a sealing engine (use clique, ibft, ibft2, qbft or raft)",
            config.engine
        )));
    }
    let span = u16::try_from(config.nodes).unwrap_or(u16::MAX);
    let overlap = |a: u16, b: u16| {
        a != 0 && b != 0 && a < b.saturating_add(span) && b < a.saturating_add(span)
    };
    if overlap(config.http_port, config.ws_port) {
        return Err(cfg(format!(
            "JSON-RPC ports {}–{} and WebSocket ports {}–{} overlap for {} nodes: pass --ws.port outside the first range (or 0 for free ports)",
            config.http_port,
            config.http_port.saturating_add(span - 1),
            config.ws_port,
            config.ws_port.saturating_add(span - 1),
            config.nodes
        )));
    }
    if dir.exists() && std::fs::read_dir(dir).map_err(cfg)?.next().is_some() {
        return Err(cfg(format!(
            "devnet directory {} is not empty: pass a fresh --dir",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|source| Error::StateWrite {
        path: dir.clone(),
        source,
    })?;
    let master = LocalMasterKey::create(&dir.join("master.key"))?;
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
            signer: if config.engine == Engine::Clique {
                init.identities.sealer_address
            } else {
                init.identities.node_address
            },
            wallet: init.identities.wallet_address,
            // QBFT and GoQuorum IBFT run the multi-validator driver (istanbul/100): every node
            // is a validator; every raft member mints when it leads.
            seals: matches!(
                config.engine,
                Engine::Clique | Engine::Ibft | Engine::Qbft | Engine::Raft
            ) || i == 0,
            enode: format!("enode://{}@127.0.0.1:{p2p_port}", init.identities.enode_id),
            datadir,
            p2p_port,
            http_port: config.http_port.saturating_add(i as u16),
            ws_port: if config.ws_port == 0 {
                0
            } else {
                config.ws_port.saturating_add(i as u16)
            },
        });
    }
    if config.engine == Engine::Raft && nodes.len() > 1 {
        // The cluster's founders, raft id = position (GoQuorum's static-nodes.json).
        let founders: Vec<&str> = nodes.iter().map(|n| n.enode.as_str()).collect();
        let text = serde_json::to_string_pretty(&founders).map_err(cfg)?;
        for n in &nodes {
            let path = n.datadir.join(crate::raft_cluster::STATIC_NODES);
            std::fs::write(&path, &text).map_err(|source| Error::StateWrite { path, source })?;
        }
    }
    let genesis = genesis_json(config, &nodes);
    let text = serde_json::to_string_pretty(&genesis).map_err(cfg)?;
    let path = dir.join("genesis.json");
    std::fs::write(&path, text).map_err(|source| Error::StateWrite { path, source })?;
    Ok(nodes)
}

/// The devnet genesis: the engine's section and extraData (sealers listed), the same forks
/// as a clique devnet; without London when `config.london` is false (raft: never, as
/// GoQuorum's minter sets no base fee).
fn genesis_json(config: &DevnetConfig, nodes: &[DevnetNode]) -> serde_json::Value {
    let mut sealers: Vec<Address> = nodes.iter().filter(|n| n.seals).map(|n| n.signer).collect();
    sealers.sort();
    let extra;
    let mut mix = alloy_primitives::B256::ZERO;
    let mut difficulty = "0x1";
    let mut fork_config = json!({
        "chainId": config.chain_id,
        "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
        "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
        "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
    });
    let section = match config.engine {
        Engine::Clique => {
            let mut bytes = vec![0u8; 32];
            for s in &sealers {
                bytes.extend_from_slice(s.as_slice());
            }
            bytes.extend_from_slice(&[0u8; 65]);
            extra = bytes;
            ("clique", json!({ "period": config.period, "epoch": 30000 }))
        }
        Engine::Ibft => {
            mix = ISTANBUL_DIGEST;
            extra = cachet_seal::ibft::IstanbulExtra {
                vanity: [0u8; 32],
                validators: sealers,
                seal: Vec::new(),
                committed_seals: Vec::new(),
            }
            .encode();
            (
                "istanbul",
                json!({ "epoch": 30000, "policy": 0, "ceil2Nby3Block": 0, "blockperiodseconds": config.period }),
            )
        }
        Engine::Ibft2 | Engine::Qbft => {
            mix = ISTANBUL_DIGEST;
            let bft = BftExtra {
                vanity: vec![0u8; 32],
                validators: sealers,
                ..BftExtra::default()
            };
            let (name, bytes) = if config.engine == Engine::Ibft2 {
                ("ibft2", cachet_seal::ibft2::encode_extra(&bft))
            } else {
                ("qbft", cachet_seal::qbft::encode_extra(&bft))
            };
            extra = bytes;
            (
                name,
                json!({ "blockperiodseconds": config.period, "epochlength": 30000, "requesttimeoutseconds": 10 }),
            )
        }
        Engine::Raft => {
            difficulty = "0x0";
            extra = vec![0u8; 32];
            if let Some(map) = fork_config.as_object_mut() {
                map.remove("londonBlock");
                map.insert("isQuorum".into(), json!(true));
            }
            ("raft", json!(true))
        }
        // Refused by `prepare`; written as the section it is.
        Engine::Ethash => {
            extra = Vec::new();
            ("ethash", json!({}))
        }
    };
    if let Some(map) = fork_config.as_object_mut() {
        if !config.london {
            map.remove("londonBlock");
        }
        map.insert(section.0.into(), section.1);
    }
    json!({
        "config": fork_config,
        "nonce": "0x0",
        "timestamp": format!("{:#x}", if config.engine == Engine::Raft { 0 } else { crate::block::now_secs() }),
        "extraData": format!("0x{}", hex::encode(&extra)),
        "gasLimit": "0x1c9c380",
        "difficulty": difficulty,
        "mixHash": mix,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": alloc(config, nodes),
    })
}

/// The genesis allocations: each signer 1,000 ETH (as before), each wallet and every
/// `--prefund` account its amount (a later entry for the same address wins).
fn alloc(
    config: &DevnetConfig,
    nodes: &[DevnetNode],
) -> serde_json::Map<String, serde_json::Value> {
    let signer_funds = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
    nodes
        .iter()
        .map(|n| (n.signer, signer_funds))
        .chain(nodes.iter().map(|n| (n.wallet, DEVNET_FUNDS)))
        .chain(config.prefund.iter().copied())
        .map(|(a, wei)| (format!("{a:x}"), json!({ "balance": format!("{wei:#x}") })))
        .collect()
}

/// Starts node `i` as a child process of `exe` (`cachet node …`), its log in
/// `<datadir>/node.log`. The child gets SIGTERM when the thread that spawned it exits
/// (`PR_SET_PDEATHSIG` follows the forking thread): call this from the devnet's main thread
/// (inside `block_on`), not from a pool thread that may end earlier.
///
/// # Errors
/// [`Error::Config`] when the process cannot be started.
pub fn spawn(
    exe: &Path,
    config: &DevnetConfig,
    nodes: &[DevnetNode],
    i: usize,
    log: &str,
) -> Result<Child> {
    let dir = &config.dir;
    let node = nodes.get(i).ok_or_else(|| cfg("no such devnet node"))?;
    let bootnodes: Vec<&str> = nodes
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, n)| n.enode.as_str())
        .collect();
    let log_path = node.datadir.join("node.log");
    let logfile = std::fs::File::create(&log_path).map_err(|source| Error::StateWrite {
        path: log_path,
        source,
    })?;
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
        // A devnet's JSON-RPC listens on loopback (the default --http.addr) and is for its
        // developer: the wallet signs over it and every namespace the node has is served.
        .arg("--wallet.rpc")
        .arg("--http.api")
        .arg(devnet_apis(config.engine))
        // WebSocket (subscriptions) on loopback with the same namespaces.
        .arg("--ws")
        .arg("--ws.port")
        .arg(node.ws_port.to_string())
        .arg("--ws.api")
        .arg(devnet_apis(config.engine))
        // The child exits (SIGTERM) when this process dies, even by SIGKILL.
        .arg(PARENT_FLAG)
        .arg(std::process::id().to_string());
    if node.seals {
        // The doppelganger check on, listening one period: a devnet's first block is due a
        // period after its genesis anyway, so it comes as promptly as without the check.
        cmd.arg("--mine").arg("--doppelganger-periods").arg("1");
    }
    if config.engine == Engine::Raft {
        cmd.arg("--raft-id")
            .arg((i + 1).to_string())
            .arg("--raftblocktime")
            .arg(config.period.max(1).saturating_mul(1000).to_string());
    }
    if !bootnodes.is_empty() {
        cmd.arg("--bootnodes").arg(bootnodes.join(","));
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(logfile))
        .kill_on_drop(true);
    cmd.spawn().map_err(cfg)
}

/// The namespaces a devnet node serves: all but the other engines'.
pub fn devnet_apis(engine: Engine) -> String {
    let engine_ns = match engine {
        Engine::Clique => "clique",
        Engine::Ibft | Engine::Ibft2 | Engine::Qbft => "istanbul,qbft",
        Engine::Raft => "raft",
        Engine::Ethash => "",
    };
    let mut apis = "eth,net,web3,txpool,admin,debug,personal".to_owned();
    if !engine_ns.is_empty() {
        apis.push(',');
        apis.push_str(engine_ns);
    }
    apis
}

/// The hidden `cachet node` flag naming the devnet process the node must not outlive.
pub const PARENT_FLAG: &str = "--devnet-parent";

/// Makes this process receive SIGTERM when its parent dies (Linux `PR_SET_PDEATHSIG`), then
/// checks that the parent is still `parent`: had it died between our fork and the `prctl`,
/// the signal would never come, so we refuse to start instead.
///
/// # Errors
/// [`Error::ParentGone`] when the parent is no longer `parent`, or the signal cannot be set.
pub fn exit_with_parent(parent: u32) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Signal, getppid, set_parent_process_death_signal};
        set_parent_process_death_signal(Some(Signal::TERM)).map_err(|e| Error::ParentGone {
            parent,
            source: Some(e.into()),
        })?;
        let now = getppid().map_or(0, |p| p.as_raw_nonzero().get().unsigned_abs());
        if now != parent {
            return Err(Error::ParentGone {
                parent,
                source: None,
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    Ok(())
}

/// How long [`stop`] waits for the nodes to stop after SIGTERM before it kills them.
pub const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops the nodes: SIGTERM to each (a node stops sealing, wipes its keys and exits), then
/// waits; a node still running after [`STOP_TIMEOUT`] is killed.
pub async fn stop(children: &mut [Child]) {
    for child in children.iter_mut() {
        let Some(pid) = child.id() else { continue };
        #[cfg(unix)]
        {
            let pid = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (pid, child.start_kill());
        }
    }
    for child in children.iter_mut() {
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, http_port: u16, ws_port: u16) -> DevnetConfig {
        DevnetConfig {
            engine: Engine::Raft,
            dir: dir.to_path_buf(),
            period: 1,
            nodes: 3,
            chain_id: 1337,
            p2p_port: 30303,
            http_port,
            ws_port,
            prefund: Vec::new(),
            london: false,
        }
    }

    #[tokio::test]
    async fn refuses_websocket_ports_that_overlap_the_json_rpc_ports() {
        let dir = tempfile::tempdir().unwrap();
        // geth's 8545/8546 for three nodes: node 0's WebSocket is node 1's HTTP port.
        let err = prepare(&config(&dir.path().join("a"), 8545, 8546))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "JSON-RPC ports 8545–8547 and WebSocket ports 8546–8548 overlap for 3 nodes"
            ),
            "{err}"
        );
        assert!(!dir.path().join("a").exists(), "nothing written");
        // Adjacent ranges and free ports are fine.
        let nodes = prepare(&config(&dir.path().join("b"), 8545, 8548))
            .await
            .unwrap();
        let ports: Vec<(u16, u16)> = nodes.iter().map(|n| (n.http_port, n.ws_port)).collect();
        assert_eq!(ports, [(8545, 8548), (8546, 8549), (8547, 8550)]);
        prepare(&config(&dir.path().join("c"), 8545, 0))
            .await
            .unwrap();
    }
}
