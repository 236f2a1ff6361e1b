//! Startup and shutdown: config → unlock (one master-key call, nothing listens before) →
//! genesis and chain store → devp2p and discovery on the node key → the engine's sealer
//! (clique: the sealing key; IBFT/QBFT and the raft minter: the node key) → JSON-RPC; then wait
//! for a stop (SIGINT/SIGTERM via `stop`, or the key status turning [`KeyStatus::Revoked`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig};
use cachet_genesis::{Engine, Genesis, RaftMarker};
use cachet_seal::RaftMembers;
use tokio::sync::watch;

use crate::chain::Chain;
use crate::clique::Proposals;
use crate::config::{NodeConfig, Started};
use crate::consensus::ProducerConfig;
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::rpc::{self, RpcContext};
use crate::store::ChainStore;

/// The master key's status while the node runs (fed by the KMS lease when configured).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeyStatus {
    /// Keys usable.
    #[default]
    Valid,
    /// Access revoked (or degraded past the grace period): stop sealing, wipe keys, exit 10.
    Revoked(String),
}

/// How the node is told to stop.
#[derive(Debug)]
pub struct Controls {
    /// Becomes true on SIGINT/SIGTERM.
    pub shutdown: watch::Receiver<bool>,
    /// The master key's status; `None` when no lease watches it.
    pub key_status: Option<watch::Receiver<KeyStatus>>,
}

/// Runs the node until stopped. `on_started` is called once everything listens.
///
/// # Errors
/// [`Error::Unlock`] (exit codes 10–14 by class), [`Error::Genesis`], store, network or RPC
/// bind errors; [`Error::KeysRevoked`] when the key status turns revoked.
pub async fn run(
    config: NodeConfig,
    controls: Controls,
    on_started: impl FnOnce(&Started),
) -> Result<()> {
    let marker = RaftMarker::from_flag(config.raft.flag);
    let genesis = Genesis::from_file(&config.genesis, marker)?;
    if config.mine && genesis.engine() == Engine::Raft && config.raft.raft_id.is_none() {
        return Err(Error::Config(
            "minting on a raft chain (--mine) needs --raft-id".into(),
        ));
    }
    if config.mine && !genesis.engine().seals() {
        return Err(Error::Config(
            "--mine on an ethash genesis: cachet seals clique, IBFT, QBFT and raft chains only"
                .into(),
        ));
    }
    let mut raft_members = match &config.raft.members {
        Some(path) => read_raft_members(path)?,
        None => RaftMembers::new(),
    };
    // Nothing listens before the keys are unlocked.
    let unlocked = cachet_keyprovider::unlock(&config.datadir, &config.kms).await?;
    let keys = &unlocked.keys;
    let node_key = keys.node_key();
    if let Some(id) = config.raft.raft_id {
        let own = node_key.signer().public_key();
        match raft_members.get(id) {
            Some(k) if *k != own => {
                return Err(Error::Config(format!(
                    "--raft-members gives raft id {id} to another enode than this node's: check --raft-id"
                )));
            }
            _ => raft_members.insert(id, own),
        }
    }
    let store = ChainStore::open(&config.datadir.join("chain.redb"))?;
    let chain = Arc::new(Chain::open_with(store, genesis, raft_members)?);
    let genesis_hash = chain.genesis_hash();
    let g = chain.genesis();
    let head = chain.head();
    let network_id = config.network_id.unwrap_or(chain.chain_id());
    let net_chain = ChainConfig {
        network_id,
        genesis: genesis_hash,
        forks: g.fork_schedule(),
    };
    let net_head = ChainHead {
        number: head.header.number,
        hash: head.hash,
        total_difficulty: head.total_difficulty,
        timestamp: head.header.timestamp,
    };
    let mut net_config = NetworkConfig::new(config.p2p_listen, net_chain, net_head);
    net_config.bootnodes = config.bootnodes.clone();
    net_config.max_peers = config.max_peers;
    let fork_id = net_config
        .chain
        .forks
        .fork_id(net_head.number, net_head.timestamp);
    let (net, events) = Network::start(keys.node_key(), net_config).await?;
    let net = Arc::new(net);
    let mut enode = net.local_enode();
    let discovery = match &config.discovery {
        Some(d) => {
            let started = Discovery::start(
                keys.node_key(),
                d,
                config.p2p_listen.ip(),
                enode,
                &config.bootnodes,
                fork_id,
                net.clone(),
            )
            .await;
            let started = match started {
                Ok(s) => s,
                Err(e) => {
                    net.shutdown();
                    return Err(e);
                }
            };
            let udp = started.v4_port();
            enode.discport = (udp != enode.addr.port()).then_some(udp);
            Some(started)
        }
        None => None,
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let (seal_tx, seal_rx) = watch::channel(true);
    let proposals = Proposals::default();
    let signer = if chain.engine().seals_with_node_key() {
        node_key.signer().address()
    } else {
        keys.sealing_key().address()
    };
    let producer = if config.mine {
        let producer_config = ProducerConfig {
            datadir: &config.datadir,
            proposals: proposals.clone(),
            extra_data: &config.extra_data,
            raft_id: config.raft.raft_id,
            raft_block_time: Duration::from_millis(config.raft.block_time_ms),
        };
        // None on ethash, refused before the unlock (above).
        crate::consensus::producer(&chain, keys, producer_config)?
    } else {
        None
    };
    let sealer_task =
        producer.map(|p| tokio::spawn(crate::produce::run(p, chain.clone(), seal_rx)));
    let sync_status = crate::sync_status::SyncStatus::default();
    let sync_task = tokio::spawn(crate::sync::run(
        chain.clone(),
        net.clone(),
        events,
        stop_rx,
        sync_status.clone(),
    ));

    let client_version = format!("cachet/v{}", env!("CARGO_PKG_VERSION"));
    let rpc = match config.http {
        Some(addr) => {
            let ctx = RpcContext {
                chain: chain.clone(),
                net: net.clone(),
                proposals,
                wallet: keys.wallet_key(),
                network_id,
                client_version,
                sync: sync_status,
                discovery_port: discovery.as_ref().map(Discovery::v4_port),
            };
            Some(rpc::start(addr, ctx).await?)
        }
        None => None,
    };
    on_started(&Started {
        enode: enode.to_string(),
        enr: discovery.as_ref().and_then(Discovery::v5_enr),
        rpc_url: rpc.as_ref().map(|(_, a)| format!("http://{a}")),
        signer,
        genesis_hash,
    });

    let mut shutdown = controls.shutdown;
    // The lease re-proves master-key access while the node runs; its verdict arrives as a
    // KeyStatus like any other (tests and embedders may pass their own channel instead).
    let _lease;
    let mut key_status = match (controls.key_status, config.lease) {
        (Some(status), _) => Some(status),
        (None, Some(lease_config)) => {
            let lease =
                cachet_keyprovider::Lease::start_audited(&unlocked, &config.datadir, lease_config);
            let status = lease_status(&lease);
            _lease = lease;
            Some(status)
        }
        (None, None) => None,
    };
    let outcome = loop {
        tokio::select! {
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() { break Ok(()); }
            }
            status = next_status(&mut key_status) => {
                if let Some(KeyStatus::Revoked(why)) = status {
                    tracing::error!(target: "cachet::node", reason = %why, "master key revoked: stopping sealing and wiping keys");
                    break Err(Error::KeysRevoked(why));
                }
            }
        }
    };
    seal_tx.send_replace(false);
    if let Some(t) = sealer_task {
        let _ = t.await;
    }
    if let Err(Error::KeysRevoked(why)) = &outcome {
        keys.wipe();
        cachet_keyprovider::AuditLog::new(&config.datadir).record(
            cachet_keyprovider::AuditEvent::new("revoked")
                .with_key(
                    unlocked.bundle.master_key(),
                    &unlocked.bundle.header().encryption_context,
                )
                .detail("error", why.clone())
                .detail("keys_wiped", true)
                .detail("sealing_stopped", true),
        );
    } else if outcome.is_err() {
        keys.wipe();
    }
    if let Some((handle, _)) = rpc {
        let _ = handle.stop();
    }
    net.shutdown();
    if let Some(d) = discovery {
        d.shutdown().await;
    }
    stop_tx.send_replace(true);
    let _ = sync_task.await;
    drop(unlocked);
    tracing::info!(target: "cachet::node", "stopped");
    outcome
}

/// Reads `--raft-members`.
fn read_raft_members(path: &Path) -> Result<RaftMembers> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    RaftMembers::from_json(&text).map_err(|source| Error::RaftMembers {
        path: path.to_path_buf(),
        source,
    })
}

/// Maps the lease's states to [`KeyStatus`]: Revoked (definitive, or degraded past the grace
/// period) → `Revoked`; Degraded is logged and tolerated.
fn lease_status(lease: &cachet_keyprovider::Lease) -> watch::Receiver<KeyStatus> {
    use cachet_keyprovider::LeaseState;
    let mut states = lease.subscribe();
    let (tx, rx) = watch::channel(KeyStatus::Valid);
    tokio::spawn(async move {
        while states.changed().await.is_ok() {
            let state = states.borrow_and_update().clone();
            match state {
                LeaseState::Healthy => {}
                LeaseState::Degraded { since, error } => {
                    tracing::warn!(target: "cachet::node", error = %error, seconds = since.elapsed().as_secs(), "master key unreachable; sealing continues within --kms-grace");
                }
                LeaseState::Revoked { error } => {
                    tx.send_replace(KeyStatus::Revoked(error.to_string()));
                    return;
                }
            }
        }
    });
    rx
}

/// The next status change, or pending forever when there is no status channel.
async fn next_status(rx: &mut Option<watch::Receiver<KeyStatus>>) -> Option<KeyStatus> {
    match rx {
        Some(r) => {
            if r.changed().await.is_err() {
                *rx = None;
                return None;
            }
            Some(r.borrow_and_update().clone())
        }
        None => std::future::pending().await,
    }
}
