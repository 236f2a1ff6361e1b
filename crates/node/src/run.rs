//! Startup and shutdown, one path for `cachet node` ([`run`]) and `cachet p2p` ([`run_p2p`]):
//!
//! 1. read the configuration (genesis, raft members) and refuse what cannot run;
//! 2. harden the process and unlock (one master-key call; nothing listens before);
//! 3. node: open the chain store;
//! 4. devp2p and discovery on the node key;
//! 5. node: the engine's sealer (clique: the sealing key; IBFT/QBFT and the raft minter: the
//!    node key), sync, JSON-RPC;
//! 6. wait for a stop: `Controls::shutdown`, or the key status turning
//!    [`KeyStatus::Revoked`] (the lease, or an embedder's channel);
//! 7. shut down. On revocation sealing and discv5 (which holds its own copy of the node key)
//!    stop first, then the lease's [`Revocation`] wipes the keys and audits it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cachet_devp2p::net::{ChainConfig, ChainHead, Enode, Network, NetworkConfig, NetworkEvent};
use cachet_genesis::{Engine, Genesis, RaftMarker};
use cachet_keyprovider::{Revocation, RevocationCause, Unlocked, UnlockedKeys};
use cachet_seal::RaftMembers;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::chain::{Chain, Options};
use crate::clique::Proposals;
use crate::config::{NodeConfig, Started};
use crate::consensus::ProducerConfig;
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::gossip::Gossip;
use crate::pool::TxPool;
use crate::rpc::access::{Listener, Servers};
use crate::rpc::{self, RpcContext};
use crate::store::ChainStore;
use crate::sync_status::SyncStatus;

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
    let plan = read_plan(&config)?;
    let held = unlock(&config).await?;
    let cluster = cluster_plan(&config, &plan, &held.unlocked.keys)?;
    let chain = open_chain(&config, plan, &held.unlocked.keys, cluster.as_ref())?;
    let metrics = match config.metrics {
        Some(addr) => Some(crate::metrics::serve(addr)?),
        None => None,
    };
    let pool = Arc::new(TxPool::new(chain.clone(), config.txpool.clone())?);
    let istanbul = crate::istanbul::offers_istanbul(chain.engine());
    let raft_peers = cluster.as_ref().map(|c| c.peers.as_slice());
    let (mut p2p, events) = start_p2p(
        &config,
        net_chain(&config, &chain),
        &held,
        true,
        istanbul,
        raft_peers,
    )
    .await?;
    // istanbul/100 frames go to the QBFT driver when this node runs one; otherwise they are
    // counted and dropped (a follower needs nothing from them: blocks come over eth).
    let qbft_plan = qbft_plan(&config, &chain, &held.unlocked.keys);
    let (frames_tx, frames_rx) = match qbft_plan {
        Some(_) => {
            let (tx, rx) = mpsc::channel(crate::istanbul::INBOUND_QUEUE);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let (events, consensus_route) = crate::istanbul::route_if(istanbul, events, frames_tx);
    // raft/1 frames go to the raft member's driver.
    let (events, raft_route, raft_inbound) = match &cluster {
        Some(_) => {
            let (tx, rx) = mpsc::channel(crate::raft_cluster::INBOUND_QUEUE);
            let (events, task) = crate::raft_cluster::route(events, tx);
            (events, Some(task), Some(rx))
        }
        None => (events, None, None),
    };
    let proposals = Proposals::default();
    let (seal_tx, seal_rx) = watch::channel(true);
    // The doppelganger check: sync shows it what peers send, the sealer judges.
    // A raft cluster member has none: its blocks commit through the log, bound to the raft
    // id of the key the transport proved (decision 486).
    let (check, mut guard, doppelganger) = if config.mine
        && config.doppelganger_periods > 0
        && cluster.is_none()
    {
        let address = signer(&chain, &held.unlocked.keys);
        let (w, g, found) =
            crate::doppelganger::arm(chain.clone(), address, config.doppelganger_periods);
        (Some(w), Some(g), Some(found))
    } else {
        if config.mine {
            tracing::warn!(target: "cachet::doppelganger", "doppelganger check off (--doppelganger-periods 0): a second node sealing with this key would equivocate unnoticed");
        }
        (None, None, None)
    };
    let (raft_driver, raft_fatal, raft_handle) = match (&cluster, raft_inbound) {
        (Some(plan), Some(inbound)) => {
            let (task, fatal, handle) = start_raft(
                &config,
                &chain,
                &held.unlocked.keys,
                seal_rx.clone(),
                &pool,
                &p2p,
                plan,
                inbound,
            )?;
            (Some(task), Some(fatal), Some(handle))
        }
        _ => (None, None, None),
    };
    // A joining member's chain syncs once the leader's snapshot named the members.
    let (events, held_route) = match &raft_handle {
        Some(h) => crate::raft_cluster::hold_until(events, h.members_known.clone()),
        None => (events, None),
    };
    let sealer = if raft_driver.is_some() {
        raft_driver
    } else {
        match start_qbft(
            &config,
            &chain,
            &held.unlocked.keys,
            &seal_rx,
            &pool,
            &p2p,
            &proposals,
            // The driver takes the doppelganger check when it runs (decision 470).
            qbft_plan
                .zip(frames_rx)
                .map(|(validators, rx)| (validators, rx, guard.take())),
        )? {
            Some(driver) => driver,
            None => start_sealer(
                &config,
                &chain,
                &held.unlocked.keys,
                &proposals,
                seal_rx,
                &pool,
                guard,
            )?,
        }
    };
    let (stop_sync, sync_stop) = watch::channel(false);
    let sync_status = SyncStatus::default();
    let gossip = Arc::new(Gossip::new(pool.clone(), p2p.net.clone()));
    // The pool follows the head and gossip broadcasts its new transactions: background tasks
    // stopped at shutdown.
    let background = [
        tokio::spawn(pool.clone().follow()),
        tokio::spawn(gossip.clone().run(sync_stop.clone())),
    ];
    // Only when something reads the gauges: sampling takes the pool's lock every second.
    let sampler = metrics.is_some().then(|| {
        tokio::spawn(crate::metrics::sample(
            chain.clone(),
            p2p.net.clone(),
            pool.clone(),
        ))
    });
    let sync = tokio::spawn(crate::sync::run(
        chain.clone(),
        p2p.net.clone(),
        events,
        sync_stop,
        sync_status.clone(),
        Some(gossip),
        check,
    ));
    let rpc = start_rpc(
        &config,
        &chain,
        &p2p,
        &held,
        (proposals, raft_handle),
        sync_status,
        &pool,
    )
    .await?;
    on_started(&Started {
        enode: p2p.enode.to_string(),
        enr: p2p.discovery.as_ref().and_then(Discovery::v5_enr),
        rpc_url: rpc
            .http
            .as_ref()
            .map(|(_, a)| format!("{}://{a}", config.rpc_access.scheme_of(Listener::Http))),
        ws_url: rpc
            .ws
            .as_ref()
            .map(|(_, a)| format!("{}://{a}", config.rpc_access.scheme_of(Listener::Ws))),
        signer: signer(&chain, &held.unlocked.keys),
        genesis_hash: chain.genesis_hash(),
        hardening: held.hardening.clone(),
    });

    let stop = wait_for_stop(controls, &config, &held.unlocked, doppelganger, raft_fatal).await;
    // Sealing stops first in every case: no block is signed while the rest shuts down.
    seal_tx.send_replace(false);
    if let Some(task) = sealer {
        let _ = task.await;
    }
    let outcome = finish(stop, &held, &mut p2p, &["sealing"]).await;
    rpc.stop();
    rpc.stopped().await;
    p2p.shutdown().await;
    stop_sync.send_replace(true);
    let _ = sync.await;
    for task in background
        .into_iter()
        .chain(sampler)
        .chain(metrics)
        .chain(consensus_route)
        .chain(raft_route)
        .chain(held_route)
    {
        task.abort();
    }
    drop(held);
    tracing::info!(target: "cachet::node", "stopped");
    outcome
}

/// `cachet p2p`: the same startup without a chain store, sealer, sync or JSON-RPC. The head
/// announced in Status is the genesis; discovered nodes are not dialled (connectivity checks
/// see only the peers they ask for). Every network event goes to `on_event` until stopped.
///
/// # Errors
/// As [`run`]: unlock, genesis, network and discovery errors; [`Error::KeysRevoked`].
pub async fn run_p2p(
    config: NodeConfig,
    controls: Controls,
    on_started: impl FnOnce(&Started),
    mut on_event: impl FnMut(&NetworkEvent),
) -> Result<()> {
    let genesis = Genesis::from_file(&config.genesis, RaftMarker::from_flag(config.raft.flag))?;
    let held = unlock(&config).await?;
    let hash = genesis.hash();
    let chain = ChainConfig {
        network_id: config.network_id.unwrap_or(genesis.config.chain_id),
        genesis: hash,
        forks: genesis.fork_schedule(),
    };
    let head = ChainHead {
        number: 0,
        hash,
        total_difficulty: genesis.difficulty,
        timestamp: genesis.timestamp,
    };
    let istanbul = crate::istanbul::offers_istanbul(genesis.engine());
    let (mut p2p, mut events) =
        start_p2p(&config, (chain, head), &held, false, istanbul, None).await?;
    on_started(&Started {
        enode: p2p.enode.to_string(),
        enr: p2p.discovery.as_ref().and_then(Discovery::v5_enr),
        rpc_url: None,
        ws_url: None,
        signer: held.unlocked.keys.node_key().signer().address(),
        genesis_hash: hash,
        hardening: held.hardening.clone(),
    });
    let stop = tokio::select! {
        stop = wait_for_stop(controls, &config, &held.unlocked, None, None) => stop,
        () = async { while let Some(ev) = events.recv().await { on_event(&ev); } } => Stop::Shutdown,
    };
    let outcome = finish(stop, &held, &mut p2p, &[]).await;
    p2p.shutdown().await;
    drop(held);
    outcome
}

/// Step 1: what must hold before the keys are unlocked.
struct Plan {
    genesis: Genesis,
    raft_members: RaftMembers,
}

fn read_plan(config: &NodeConfig) -> Result<Plan> {
    let genesis = Genesis::from_file(&config.genesis, RaftMarker::from_flag(config.raft.flag))?;
    // What JSON-RPC would expose is refused before the keys are unlocked.
    let access = rpc_access(config);
    for (listener, addr) in [(Listener::Http, config.http), (Listener::Ws, config.ws)] {
        if let Some(addr) = addr {
            access.check_on(listener, addr)?;
        }
    }
    if config.http.is_some() || config.ws.is_some() {
        access.check_files()?;
    }
    if config.raft.join_existing.is_some() && genesis.engine() != Engine::Raft {
        return Err(Error::Config(
            "--raft-join-existing on a genesis that is not a raft network (add --raft or \"raft\": true)".into(),
        ));
    }
    // A cluster member's raft id is its place in static-nodes.json.
    if config.mine
        && genesis.engine() == Engine::Raft
        && config.raft.raft_id.is_none()
        && !config
            .datadir
            .join(crate::raft_cluster::STATIC_NODES)
            .exists()
    {
        return Err(Error::Config(
            "minting on a raft chain (--mine) needs --raft-id (or the cluster's founders in <datadir>/static-nodes.json)".into(),
        ));
    }
    if config.mine && !genesis.engine().seals() {
        return Err(Error::Config(
            "--mine on an ethash genesis: cachet seals clique, IBFT, QBFT and raft chains only"
                .into(),
        ));
    }
    let raft_members = match &config.raft.members {
        Some(path) => read_raft_members(path)?,
        None => RaftMembers::new(),
    };
    Ok(Plan {
        genesis,
        raft_members,
    })
}

/// The unlocked keys, their revocation, and the hardening obtained.
struct Held {
    unlocked: Unlocked,
    revocation: Revocation,
    hardening: serde_json::Value,
}

/// Step 2: hardening (applied once per process; a no-op when the binary already did it), then
/// the one master-key call. Nothing listens before this.
async fn unlock(config: &NodeConfig) -> Result<Held> {
    cachet_keyprovider::harden_process();
    let unlocked = cachet_keyprovider::unlock(&config.datadir, &config.kms).await?;
    let hardening = hardening_json(&unlocked.keys);
    tracing::info!(target: "cachet::node", %hardening, "keys unlocked");
    Ok(Held {
        revocation: Revocation::new(&unlocked, &config.datadir),
        unlocked,
        hardening,
    })
}

/// The process hardening obtained and whether the key memory is locked (or why not): the
/// `hardening` object of the node's startup line, `admin_nodeInfo` and `unlock --check`.
pub fn hardening_json(keys: &UnlockedKeys) -> serde_json::Value {
    let mut out = cachet_keyprovider::harden_process().to_json();
    if let Some(map) = out.as_object_mut() {
        map.insert("memory_locked".into(), keys.memory_locked().into());
        if let Some(e) = keys.memory_lock_error() {
            map.insert("memory_lock_error".into(), e.into());
        }
    }
    out
}

/// The raft cluster this node founds or belongs to: a raft chain with
/// `<datadir>/static-nodes.json` (decision 480).
fn cluster_plan(
    config: &NodeConfig,
    plan: &Plan,
    keys: &UnlockedKeys,
) -> Result<Option<crate::raft_cluster::ClusterPlan>> {
    if plan.genesis.engine() != Engine::Raft {
        return Ok(None);
    }
    let own = keys.node_key().signer().public_key();
    crate::raft_cluster::ClusterPlan::read(
        &config.datadir,
        &own,
        config.raft.raft_id,
        config.raft.join_existing,
    )
}

/// Step 3: the chain store, with this node added to the raft members under `--raft-id` and a
/// cluster's founders under their raft ids.
fn open_chain(
    config: &NodeConfig,
    plan: Plan,
    keys: &UnlockedKeys,
    cluster: Option<&crate::raft_cluster::ClusterPlan>,
) -> Result<Arc<Chain>> {
    let Plan {
        genesis,
        mut raft_members,
    } = plan;
    for (id, key) in cluster.map(|c| c.founders.as_slice()).unwrap_or_default() {
        match raft_members.get(*id) {
            Some(k) if k != key => {
                return Err(Error::Config(format!(
                    "--raft-members gives raft id {id} to another enode than static-nodes.json does"
                )));
            }
            _ => raft_members.insert(*id, *key),
        }
    }
    // This node under its raft id: `--raft-id`, or its place in (or the id it joins) the cluster.
    if let Some(id) = config.raft.raft_id.or(cluster.map(|c| c.id)) {
        let own = keys.node_key().signer().public_key();
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
    let options = Options {
        raft_members,
        skip_pow: config.skip_pow,
    };
    Ok(Arc::new(Chain::open_opts(store, genesis, options)?))
}

/// What devp2p announces: network id, genesis, fork schedule and the stored head.
fn net_chain(config: &NodeConfig, chain: &Chain) -> (ChainConfig, ChainHead) {
    let head = chain.head();
    let net_chain = ChainConfig {
        network_id: config.network_id.unwrap_or(chain.chain_id()),
        genesis: chain.genesis_hash(),
        forks: chain.genesis().fork_schedule(),
    };
    let net_head = ChainHead {
        number: head.header.number,
        hash: head.hash,
        total_difficulty: head.total_difficulty,
        timestamp: head.header.timestamp,
    };
    (net_chain, net_head)
}

/// The running devp2p service and discovery.
struct P2pStack {
    net: Arc<Network>,
    discovery: Option<Discovery>,
    /// Our enode, with `discport` when discv4 listens on another port.
    enode: Enode,
}

impl P2pStack {
    async fn shutdown(self) {
        self.net.shutdown();
        if let Some(d) = self.discovery {
            d.shutdown().await;
        }
    }
}

/// Step 4: RLPx on the node key (with `istanbul/100` beside eth when `istanbul`, and `raft/1`
/// with the other founders dialled as static peers when `raft_peers`), then discovery (discv4,
/// and discv5 when asked) announcing the fork id at the head; with `dial_found` discovered
/// nodes are dialled.
async fn start_p2p(
    config: &NodeConfig,
    (chain, head): (ChainConfig, ChainHead),
    held: &Held,
    dial_found: bool,
    istanbul: bool,
    raft_peers: Option<&[Enode]>,
) -> Result<(P2pStack, mpsc::Receiver<NetworkEvent>)> {
    let keys = &held.unlocked.keys;
    let fork_id = chain.forks.fork_id(head.number, head.timestamp);
    let mut net_config = NetworkConfig::new(config.p2p_listen, chain, head);
    net_config.bootnodes = config.bootnodes.clone();
    for peer in raft_peers.unwrap_or_default() {
        if !net_config.bootnodes.iter().any(|b| b.id == peer.id) {
            net_config.bootnodes.push(*peer);
        }
    }
    net_config.max_peers = config.max_peers;
    net_config.istanbul = istanbul;
    net_config.raft = raft_peers.is_some();
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
                dial_found.then(|| net.clone()),
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
    Ok((
        P2pStack {
            net,
            discovery,
            enode,
        },
        events,
    ))
}

/// The address that seals: clique's sealing key, the node key for the other engines.
fn signer(chain: &Chain, keys: &UnlockedKeys) -> alloy_primitives::Address {
    if chain.engine().seals_with_node_key() {
        keys.node_key().signer().address()
    } else {
        keys.sealing_key().address()
    }
}

/// Step 5a: the engine's block producer, when `--mine`, driven by the one producer loop; it
/// seals while `allowed` is true.
fn start_sealer(
    config: &NodeConfig,
    chain: &Arc<Chain>,
    keys: &UnlockedKeys,
    proposals: &Proposals,
    allowed: watch::Receiver<bool>,
    pool: &Arc<TxPool>,
    guard: Option<crate::doppelganger::Guard>,
) -> Result<Option<JoinHandle<()>>> {
    if !config.mine {
        return Ok(None);
    }
    refuse_remote_sealing_key(chain, keys)?;
    let producer_config = ProducerConfig {
        datadir: &config.datadir,
        proposals: proposals.clone(),
        extra_data: &config.extra_data,
        raft_id: config.raft.raft_id,
        raft_block_time: Duration::from_millis(config.raft.block_time_ms),
    };
    // None on ethash, refused before the unlock (read_plan).
    let producer = crate::consensus::producer(chain, keys, producer_config)?;
    let build = crate::produce::BuildConfig {
        source: Some(pool.clone() as Arc<dyn crate::consensus::TxSource>),
        gas_limit: config.miner_gas_limit,
    };
    Ok(
        producer
            .map(|p| tokio::spawn(crate::produce::run(p, chain.clone(), allowed, build, guard))),
    )
}

/// IBFT, QBFT and raft seal with the node key, which stays in the bundle: with an HSM/KMS
/// sealing key, `--mine` on those engines is refused rather than that key silently not used.
fn refuse_remote_sealing_key(chain: &Chain, keys: &UnlockedKeys) -> Result<()> {
    if chain.engine().seals_with_node_key()
        && let Some(remote) = keys.sealing_key().remote()
    {
        return Err(Error::Config(format!(
            "the sealing key lives in {} but {} seals with the node key (the validator's enode key, which must stay in the bundle for RLPx): an HSM/KMS sealing key is for clique chains",
            remote.location(),
            chain.engine()
        )));
    }
    Ok(())
}

/// The engine and the validators of the next height the BFT driver starts with ([`qbft_plan`]).
type DriverPlan = (Engine, Vec<alloy_primitives::Address>);

/// The engine and validators of the next height when this node runs the BFT driver: `--mine`
/// on a QBFT chain (any number of validators, decision 527), or on a legacy IBFT (`istanbul`)
/// chain whose validator set has more than one member (a single IBFT validator seals alone
/// with `BftSealer`); this node's key among them or not (the driver idles until a vote adds it,
/// decision 526).
fn qbft_plan(config: &NodeConfig, chain: &Chain, keys: &UnlockedKeys) -> Option<DriverPlan> {
    use crate::qbft::check::{NotRun, ibft_plan, plan};
    let me = keys.node_key().signer().address();
    if !config.mine {
        return None;
    }
    let head = chain.head();
    let snapshot = || {
        chain
            .rules_as::<crate::bft::BftRules>()
            .and_then(|r| r.snapshot(&head.hash))
            .map(|s| s.validator_list())
    };
    match plan(chain, &head, me) {
        Ok(p) => return Some((Engine::Qbft, p.config.validators)),
        Err(NotRun::NotValidator) => return snapshot().map(|v| (Engine::Qbft, v)),
        Err(_) => {}
    }
    let validators = match ibft_plan(chain, &head, me) {
        Ok(p) => p.config.validators,
        Err(NotRun::NotValidator) => snapshot()?,
        Err(_) => return None,
    };
    (validators.len() > 1).then_some((Engine::Ibft, validators))
}

/// Step 5a (QBFT, or legacy IBFT with more than one validator; this node a validator or waiting
/// to be voted in): the BFT driver of the chain's engine over the `istanbul/100` network
/// ([`IstanbulNet`](crate::istanbul::IstanbulNet), sending to the validators only, as GoQuorum
/// does), signing while `allowed` is true. `None` when the chain
/// is not such a chain (the producer loop seals, [`start_sealer`]).
#[allow(clippy::too_many_arguments)] // the node's parts the driver is built from
fn start_qbft(
    config: &NodeConfig,
    chain: &Arc<Chain>,
    keys: &UnlockedKeys,
    allowed: &watch::Receiver<bool>,
    pool: &Arc<TxPool>,
    p2p: &P2pStack,
    proposals: &Proposals,
    plan: Option<(
        DriverPlan,
        mpsc::Receiver<crate::consensus_net::InboundFrame>,
        Option<crate::doppelganger::Guard>,
    )>,
) -> Result<Option<Option<JoinHandle<()>>>> {
    let Some(((engine, validators), inbound, guard)) = plan else {
        return Ok(None);
    };
    refuse_remote_sealing_key(chain, keys)?;
    let key = keys.node_key().signer().clone();
    let istanbul = crate::istanbul::IstanbulNet::new(p2p.net.clone());
    // The driver updates the set at every height (votes change it).
    istanbul.set_validators(Some(&validators));
    let net: Arc<dyn crate::consensus_net::ConsensusNet> = Arc::new(istanbul);
    let build = crate::produce::BuildConfig {
        source: Some(pool.clone() as Arc<dyn crate::consensus::TxSource>),
        gas_limit: config.miner_gas_limit,
    };
    let (chain, dir, allowed) = (chain.clone(), config.datadir.as_path(), allowed.clone());
    let task = if engine == Engine::Ibft {
        let driver = crate::qbft::IbftDriver::new(chain, key, dir, net, allowed, build)?;
        spawn_driver(driver, proposals, guard, inbound)
    } else {
        let driver =
            crate::qbft::Driver::<crate::qbft::Qbft>::new(chain, key, dir, net, allowed, build)?;
        spawn_driver(driver, proposals, guard, inbound)
    };
    Ok(Some(Some(task)))
}

/// Runs `driver` with the node's vote map and, when armed, the doppelganger check (it covers
/// the driver's signatures too: decision 470).
fn spawn_driver<E: crate::qbft::BftEngine>(
    driver: crate::qbft::Driver<E>,
    proposals: &Proposals,
    guard: Option<crate::doppelganger::Guard>,
    inbound: mpsc::Receiver<crate::consensus_net::InboundFrame>,
) -> JoinHandle<()> {
    let driver = driver.with_proposals(proposals.clone());
    let driver = match guard {
        Some(g) => driver.with_doppelganger(g),
        None => driver,
    };
    tokio::spawn(driver.run(inbound))
}

/// Step 5a (a raft cluster member): the raft driver over `raft/1`, minting on the leader while
/// `allowed`; its fatal error (a refused committed entry, its store) comes on the receiver.
#[allow(
    clippy::too_many_arguments,
    reason = "the node's parts, passed once at startup"
)]
fn start_raft(
    config: &NodeConfig,
    chain: &Arc<Chain>,
    keys: &UnlockedKeys,
    allowed: watch::Receiver<bool>,
    pool: &Arc<TxPool>,
    p2p: &P2pStack,
    plan: &crate::raft_cluster::ClusterPlan,
    inbound: mpsc::Receiver<crate::raft_cluster::InboundRaft>,
) -> Result<(
    JoinHandle<()>,
    tokio::sync::oneshot::Receiver<Error>,
    crate::raft_cluster::RaftHandle,
)> {
    refuse_remote_sealing_key(chain, keys)?;
    let block_time = Duration::from_millis(config.raft.block_time_ms);
    let minter = crate::raft::RaftMinter::new(
        chain.clone(),
        &config.datadir,
        keys.node_key(),
        plan.id,
        block_time,
    )?;
    let storage = crate::raft_cluster::open_store(&config.datadir, plan, chain.genesis_hash())?;
    let build = crate::produce::BuildConfig {
        source: Some(pool.clone() as Arc<dyn crate::consensus::TxSource>),
        gas_limit: config.miner_gas_limit,
    };
    let driver = crate::raft_cluster::Driver::new(
        plan,
        storage,
        chain.clone(),
        p2p.net.clone(),
        minter,
        build,
        allowed,
        block_time,
    )?;
    let handle = driver.handle();
    let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel();
    Ok((
        tokio::spawn(driver.run(inbound, fatal_tx)),
        fatal_rx,
        handle,
    ))
}

/// Step 5b: JSON-RPC over HTTP and WebSocket, each when enabled.
async fn start_rpc(
    config: &NodeConfig,
    chain: &Arc<Chain>,
    p2p: &P2pStack,
    held: &Held,
    (proposals, raft): (Proposals, Option<crate::raft_cluster::RaftHandle>),
    sync: SyncStatus,
    pool: &Arc<TxPool>,
) -> Result<Servers> {
    if config.http.is_none() && config.ws.is_none() {
        return Ok(Servers::default());
    }
    let mut eth = rpc::EthState::default();
    eth.gas_cap = config.rpc_gas_cap;
    eth.evm_timeout = config.rpc_evm_timeout;
    eth.pending = Some(pool.clone() as Arc<dyn rpc::PendingTransactions>);
    let ctx = RpcContext {
        chain: chain.clone(),
        net: p2p.net.clone(),
        proposals,
        wallet: held.unlocked.keys.wallet_key(),
        network_id: config.network_id.unwrap_or(chain.chain_id()),
        client_version: format!("cachet/v{}", env!("CARGO_PKG_VERSION")),
        sync,
        discovery_port: p2p.discovery.as_ref().map(Discovery::v4_port),
        hardening: held.hardening.clone(),
        eth,
        pool: Some(pool.clone()),
        raft,
    };
    rpc::start_listeners(ctx, &rpc_access(config), config.http, config.ws).await
}

/// The JSON-RPC access settings, auditing to the datadir's log unless told otherwise.
fn rpc_access(config: &NodeConfig) -> rpc::access::AccessConfig {
    let mut access = config.rpc_access.clone();
    access
        .audit_dir
        .get_or_insert_with(|| config.datadir.clone());
    access
}

/// Why the node stops.
enum Stop {
    /// Asked to (a signal, an embedder).
    Shutdown,
    /// The lease revoked master-key access.
    Lease(Arc<cachet_kms::Error>),
    /// An embedder's key-status channel said revoked.
    Revoked(String),
    /// An HSM/KMS-resident key answered a signature with a denial.
    SignerRevoked(cachet_keyprovider::SignerRevoked),
    /// The doppelganger check found another node sealing with our key (sealing has stopped).
    Doppelganger(crate::doppelganger::Doppelganger),
    /// The raft member's driver stopped on a fatal error (a refused committed entry).
    Raft(Error),
}

/// Step 6: waits for a shutdown or a revocation. The lease (`--kms-recheck`) re-proves
/// master-key access while the node runs, unless the embedder passes its own status channel.
async fn wait_for_stop(
    controls: Controls,
    config: &NodeConfig,
    unlocked: &Unlocked,
    mut doppelganger: Option<tokio::sync::oneshot::Receiver<crate::doppelganger::Doppelganger>>,
    mut raft_fatal: Option<tokio::sync::oneshot::Receiver<Error>>,
) -> Stop {
    let mut shutdown = controls.shutdown;
    let lease = match (&controls.key_status, config.lease) {
        (None, Some(lease_config)) => Some(cachet_keyprovider::Lease::start_audited(
            unlocked,
            &config.datadir,
            lease_config,
        )),
        _ => None,
    };
    let mut key_status = controls.key_status;
    let mut signer_revoked = unlocked.keys.signer_revoked();
    loop {
        tokio::select! {
            revoked = revoked_signer(&mut signer_revoked) => return Stop::SignerRevoked(revoked),
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return Stop::Shutdown;
                }
            }
            error = lease_revoked(lease.as_ref()) => return Stop::Lease(error),
            found = found_doppelganger(&mut doppelganger) => return Stop::Doppelganger(found),
            e = raft_failed(&mut raft_fatal) => return Stop::Raft(e),
            status = next_status(&mut key_status) => {
                if let Some(KeyStatus::Revoked(why)) = status {
                    return Stop::Revoked(why);
                }
            }
        }
    }
}

/// Step 7 (the part that depends on why): on revocation, discv5 stops and drops its copy of
/// the node key, then the lease's revocation wipes the keys and writes the audit line naming
/// what was stopped (`stopped` plus `discv5` when it ran).
async fn finish(stop: Stop, held: &Held, p2p: &mut P2pStack, stopped: &[&str]) -> Result<()> {
    if let Stop::Raft(e) = stop {
        return Err(e);
    }
    let why = match &stop {
        Stop::Shutdown | Stop::Raft(_) => return Ok(()),
        // Not a revocation: the keys are dropped (zeroized) as at any stop.
        Stop::Doppelganger(found) => return Err(Error::Doppelganger(found.clone())),
        Stop::Lease(error) => cachet_primitives::error::Chain(&**error).to_string(),
        Stop::Revoked(why) => why.clone(),
        Stop::SignerRevoked(revoked) => revoked.to_string(),
    };
    tracing::error!(target: "cachet::node", reason = %why, "master key revoked: stopping sealing and discv5, wiping keys");
    let mut stopped = stopped.to_vec();
    if let Some(d) = p2p.discovery.as_mut()
        && d.stop_v5().await
    {
        stopped.push("discv5");
    }
    let cause = match &stop {
        Stop::Lease(error) => RevocationCause::MasterKey(error),
        _ => RevocationCause::Other(&why),
    };
    held.revocation.carry_out(cause, &stopped);
    Err(Error::KeysRevoked(why))
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

/// Waits for the lease's revocation, logging degraded checks (tolerated within
/// `--kms-grace`); pending forever without a lease.
async fn lease_revoked(lease: Option<&cachet_keyprovider::Lease>) -> Arc<cachet_kms::Error> {
    use cachet_keyprovider::LeaseState;
    let Some(lease) = lease else {
        return std::future::pending().await;
    };
    let mut states = lease.subscribe();
    loop {
        let state = states.borrow_and_update().clone();
        crate::metrics::lease_checked(match state {
            LeaseState::Healthy => 0,
            LeaseState::Degraded { .. } => 1,
            LeaseState::Revoked { .. } => 2,
        });
        match state {
            LeaseState::Healthy => {}
            LeaseState::Degraded { since, error } => {
                tracing::warn!(target: "cachet::node", error = %error, seconds = since.elapsed().as_secs(), "master key unreachable; sealing continues within --kms-grace");
            }
            LeaseState::Revoked { error } => return error,
        }
        if states.changed().await.is_err() {
            return lease.revoked().await;
        }
    }
}

/// The doppelganger check's finding; pending forever without a check (or once the sealer is
/// gone without one).
async fn found_doppelganger(
    rx: &mut Option<tokio::sync::oneshot::Receiver<crate::doppelganger::Doppelganger>>,
) -> crate::doppelganger::Doppelganger {
    if let Some(r) = rx.as_mut()
        && let Ok(found) = r.await
    {
        return found;
    }
    *rx = None;
    std::future::pending().await
}

/// The raft driver's fatal error; pending forever without a driver (or once it ended
/// without one).
async fn raft_failed(rx: &mut Option<tokio::sync::oneshot::Receiver<Error>>) -> Error {
    if let Some(r) = rx.as_mut()
        && let Ok(e) = r.await
    {
        return e;
    }
    *rx = None;
    std::future::pending().await
}

/// The first HSM/KMS key found revoked; pending forever if none is (or the key set is gone).
async fn revoked_signer(
    rx: &mut watch::Receiver<Option<cachet_keyprovider::SignerRevoked>>,
) -> cachet_keyprovider::SignerRevoked {
    if let Ok(revoked) = rx.wait_for(Option::is_some).await
        && let Some(revoked) = revoked.clone()
    {
        return revoked;
    }
    std::future::pending().await
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
