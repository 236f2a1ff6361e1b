//! A Quorum Raft cluster in the node: [`Driver`] runs `cachet-raft`'s [`RaftNode`] over the
//! `raft/1` RLPx sub-protocol (`docs/dev/raft.md`, "What the node must do to drive it";
//! decisions 480–499).
//!
//! - **Cluster.** The founders are `<datadir>/static-nodes.json` (GoQuorum's file: a JSON
//!   array of enode URLs), raft id = 1-based position ([`ClusterPlan::read`]). A raft chain
//!   without that file keeps the single minter of [`crate::raft::RaftMinter`]. A member added
//!   later (`raft_addPeer`) starts with `--raft-join-existing <id>`: its static-nodes.json
//!   lists members to dial, its store starts empty and the leader's snapshot teaches it the
//!   members ([`first_contact`], decisions 520–524); its chain syncs only after that
//!   ([`hold_until`]).
//! - **Store.** `<datadir>/raft.redb`; founders write the founding snapshot once (its node bytes:
//!   the genesis hash).
//! - **Transport.** Every message goes to the peer whose node key the membership binds to its
//!   `to`; a received frame is stepped as the raft id of the key the RLPx handshake proved
//!   ([`route`] splits the frames off the devp2p events). A non-member's frames are dropped
//!   unread; undecodable ones are dropped and, after [`MAX_BAD_FRAMES`], the peer is
//!   disconnected.
//! - **Driver.** A tick every 100 ms; after every input `ready()` is drained: messages sent,
//!   committed blocks imported when they extend the head (skipped when known or not
//!   extending), a refused entry stops the node ([`Error::RaftRefused`], exit 16).
//! - **Minting.** Only while [`RaftNode::may_mint`] and transactions are pending, at most every
//!   `--raftblocktime`: built on the head, signed with the node key through the seal journal
//!   ([`RaftMinter::seal`]), proposed; a block is imported only once committed.
//! - **Revocation.** When sealing is switched off (a revoked master key), a leader stops
//!   minting, hands leadership to the most up-to-date voter and the node goes on to exit 10.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use alloy_primitives::{B256, Bytes};
use cachet_devp2p::net::{Enode, Network, NetworkEvent, PeerId};
use cachet_devp2p::p2p::DisconnectReason;
use cachet_raft::eraftpb::{Message, MessageType};
use cachet_raft::{Config, Event, MembershipChange, RaftNode, RedbStorage, StateRole, wire};
use secp256k1::PublicKey;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::chain::Chain;
use crate::error::{Error, Result};
use crate::produce::BuildConfig;
use crate::raft::{RaftMinter, now_nanos};

/// GoQuorum's static peers file in the datadir: the founders, raft id = position.
pub const STATIC_NODES: &str = "static-nodes.json";
/// The raft store in the datadir.
pub const RAFT_DB: &str = "raft.redb";
/// GoQuorum's raft clock (`tickerMS`).
pub const TICK: Duration = Duration::from_millis(100);
/// Capacity of the driver's inbound frame queue (beyond it frames are dropped; raft resends).
pub const INBOUND_QUEUE: usize = 4096;
/// Undecodable or refused frames from one peer before it is disconnected.
pub const MAX_BAD_FRAMES: u32 = 16;
/// GoQuorum compacts the log every 250 applied entries.
pub const COMPACT_EVERY: u64 = 250;
/// How long a revoked leader waits for its successor before the node stops anyway.
pub const STEP_DOWN_WAIT: Duration = Duration::from_secs(3);
/// Events a joining member holds back before it drops eth messages ([`hold_until`]).
pub const HOLD_CAP: usize = 4096;

/// The initial cluster and this node's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPlan {
    /// This node's raft id.
    pub id: u16,
    /// The founders: raft id → node key, ids 1..=n; empty for a member joining a running
    /// cluster (`--raft-join-existing`), which learns the members from the leader.
    pub founders: Vec<(u16, PublicKey)>,
    /// The other members' enodes (dialled as static peers); a joining member takes its first
    /// raft frames only from these keys.
    pub peers: Vec<Enode>,
}

impl ClusterPlan {
    /// Reads `<datadir>/static-nodes.json`; `None` when there is no such file (a single
    /// minter, or a follower with `--raft-members`).
    ///
    /// # Errors
    /// [`Error::ReadFile`]; [`Error::Config`] when the file is not a list of enode URLs, this
    /// node's key is not in it, or `--raft-id` disagrees with its position.
    pub fn read(
        datadir: &Path,
        own: &PublicKey,
        raft_id: Option<u16>,
        join: Option<u16>,
    ) -> Result<Option<Self>> {
        let path = datadir.join(STATIC_NODES);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return match join {
                    Some(id) => Err(Error::Config(format!(
                        "--raft-join-existing {id} needs {}: a JSON list of the running cluster's enode URLs to dial",
                        path.display()
                    ))),
                    None => Ok(None),
                };
            }
            Err(source) => return Err(Error::ReadFile { path, source }),
        };
        match join {
            Some(id) => Self::parse_joining(&path, &text, own, raft_id, id).map(Some),
            None => Self::parse(&path, &text, own, raft_id).map(Some),
        }
    }

    /// Whether this node joins a running cluster (it knows no founders).
    pub const fn joining(&self) -> bool {
        self.founders.is_empty()
    }

    /// Parses the static-nodes list `text` (read from `path`).
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn parse(path: &Path, text: &str, own: &PublicKey, raft_id: Option<u16>) -> Result<Self> {
        let bad = |why: String| {
            Error::Config(format!(
                "{}: {why}: it lists the raft cluster's founders as enode URLs, raft id = position from 1",
                path.display()
            ))
        };
        let (enodes, keys) = enode_list(text, &bad)?;
        let mut founders = Vec::with_capacity(keys.len());
        for (i, key) in keys.into_iter().enumerate() {
            let id = u16::try_from(i + 1).map_err(|_| bad("too many entries".into()))?;
            founders.push((id, key));
        }
        let id = founders
            .iter()
            .find(|(_, k)| k == own)
            .map(|(id, _)| *id)
            .ok_or_else(|| bad("this node's enode is not in it".into()))?;
        if let Some(flag) = raft_id
            && flag != id
        {
            return Err(bad(format!(
                "this node is entry {id} but --raft-id is {flag}"
            )));
        }
        let own_id = PeerId::from_public_key(own);
        let peers = enodes.into_iter().filter(|e| e.id != own_id).collect();
        Ok(Self {
            id,
            founders,
            peers,
        })
    }

    /// Parses the static-nodes list of a member joining a running cluster as `join`: the
    /// members to dial, in any order (this node's own entry, if listed, is skipped).
    ///
    /// # Errors
    /// [`Error::Config`] when the file is not a list of enode URLs or names no other node, or
    /// `--raft-id` disagrees with `join`.
    pub fn parse_joining(
        path: &Path,
        text: &str,
        own: &PublicKey,
        raft_id: Option<u16>,
        join: u16,
    ) -> Result<Self> {
        let bad = |why: String| {
            Error::Config(format!(
                "{}: {why}: a member joining a running cluster lists the members to dial as enode URLs",
                path.display()
            ))
        };
        if let Some(flag) = raft_id
            && flag != join
        {
            return Err(Error::Config(format!(
                "--raft-id {flag} disagrees with --raft-join-existing {join}: give the id raft_addPeer returned"
            )));
        }
        let (enodes, _) = enode_list(text, &bad)?;
        let own_id = PeerId::from_public_key(own);
        let peers: Vec<Enode> = enodes.into_iter().filter(|e| e.id != own_id).collect();
        if peers.is_empty() {
            return Err(bad("it names no member of the running cluster".into()));
        }
        Ok(Self {
            id: join,
            founders: Vec::new(),
            peers,
        })
    }
}

/// The enodes of a static-nodes list and their keys, refusing repeats.
fn enode_list(text: &str, bad: &dyn Fn(String) -> Error) -> Result<(Vec<Enode>, Vec<PublicKey>)> {
    let urls: Vec<String> =
        serde_json::from_str(text).map_err(|e| bad(format!("not a JSON list of strings ({e})")))?;
    if urls.is_empty() || urls.len() > usize::from(u16::MAX) {
        return Err(bad(format!("{} entries", urls.len())));
    }
    let mut keys: Vec<PublicKey> = Vec::with_capacity(urls.len());
    let mut enodes = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let enode: Enode = url
            .parse()
            .map_err(|e| bad(format!("entry {} is not an enode URL ({e})", i + 1)))?;
        let key = enode
            .id
            .public_key()
            .ok_or_else(|| bad(format!("entry {} is not a secp256k1 node id", i + 1)))?;
        if keys.contains(&key) {
            return Err(bad(format!("entry {} repeats a node id", i + 1)));
        }
        keys.push(key);
        enodes.push(enode);
    }
    Ok((enodes, keys))
}

/// What the `raft_*` RPCs read: updated by the driver after every input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaftStatus {
    /// This node's raft id.
    pub id: u64,
    /// Its raft role.
    pub role: Option<StateRole>,
    /// The leader known (0: none).
    pub leader: u64,
    /// The term.
    pub term: u64,
    /// The members: raft id → node key and role.
    pub members: Vec<(u64, PublicKey, cachet_raft::Role)>,
}

/// The driver's shared status.
pub type SharedStatus = Arc<RwLock<RaftStatus>>;

/// A membership change asked over JSON-RPC, carried out by the driver (the leader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipCall {
    /// `raft_addPeer`: a new voter with this enode.
    AddPeer(Enode),
    /// `raft_addLearner`: a new learner with this enode.
    AddLearner(Enode),
    /// `raft_promoteToPeer`: learner → voter.
    Promote(u64),
    /// `raft_removePeer`: the member leaves for ever.
    Remove(u64),
}

/// A membership call and where its answer goes (the new raft id for adds, 0 otherwise).
pub type MembershipRequest = (
    MembershipCall,
    std::sync::mpsc::SyncSender<std::result::Result<u64, String>>,
);

/// What the `raft_*` RPCs hold: the driver's status, its membership channel and the address
/// book (raft id → enode) for `raft_cluster`.
#[derive(Debug, Clone)]
pub struct RaftHandle {
    /// The driver's status.
    pub status: SharedStatus,
    /// Membership calls to the driver.
    pub calls: mpsc::Sender<MembershipRequest>,
    /// Known members' enodes.
    pub addresses: Arc<RwLock<HashMap<u64, Enode>>>,
    /// True once this member knows the cluster's members ([`Driver::members_known`]).
    pub members_known: watch::Receiver<bool>,
}

impl RaftHandle {
    /// The current status.
    pub fn status(&self) -> RaftStatus {
        self.status
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Hands `call` to the driver and waits up to `timeout` for its answer (call it from a
    /// blocking thread).
    ///
    /// # Errors
    /// The raft rule that refused it (a follower: `NotLeader` names the leader), or that the
    /// driver did not answer.
    pub fn call(
        &self,
        call: MembershipCall,
        timeout: Duration,
    ) -> std::result::Result<u64, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.calls
            .try_send((call, tx))
            .map_err(|_| "the raft driver is not running or busy: try again".to_owned())?;
        rx.recv_timeout(timeout)
            .map_err(|_| "the raft driver did not answer in time".to_owned())?
    }

    /// The enode of `id` when known.
    pub fn address(&self, id: u64) -> Option<Enode> {
        self.addresses
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }
}

/// A frame of `raft/1` from a proven peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRaft {
    /// The RLPx-proven sender.
    pub peer: PeerId,
    /// The encoded raft message.
    pub payload: Bytes,
}

/// Takes the devp2p `events` apart: `raft/1` frames to `driver` without waiting (dropped when
/// its queue is full: raft resends), every other event to the returned receiver, in order.
pub fn route(
    mut events: mpsc::Receiver<NetworkEvent>,
    driver: mpsc::Sender<InboundRaft>,
) -> (mpsc::Receiver<NetworkEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(crate::istanbul::EVENT_QUEUE);
    let task = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                NetworkEvent::Raft { peer, payload } => {
                    if driver.try_send(InboundRaft { peer, payload }).is_err() {
                        metrics::counter!("cachet_raft_frames_dropped_total", "reason" => "queue_full").increment(1);
                    }
                }
                other => {
                    if tx.send(other).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    (rx, task)
}

/// The raft id a frame from `peer` (the node id the RLPx handshake proved) is stepped as: the
/// current member (voter or learner) holding that key; `None` for anyone else, removed
/// members included.
pub fn proven_member(members: &cachet_raft::Members, peer: &PeerId) -> Option<u64> {
    peer.public_key().and_then(|k| members.id_of(&k))
}

/// The raft id a frame from `key` is stepped as while this member (`me`, holding `own`) knows
/// no members yet (it joins with an empty store): `key` is one of the static nodes, and the
/// frame is one only a leader sends (append, heartbeat, snapshot); a snapshot must also give
/// its sender's id to `key` and `me` to `own`, or it would teach this member a wrong cluster.
/// raft-rs refuses the appends of an empty log, so the leader soon sends its snapshot.
///
/// # Errors
/// Why the frame is not taken.
pub fn first_contact(
    msg: &Message,
    key: &PublicKey,
    me: u64,
    own: &PublicKey,
) -> std::result::Result<u64, String> {
    let t = msg.get_msg_type();
    if !matches!(
        t,
        MessageType::MsgAppend | MessageType::MsgHeartbeat | MessageType::MsgSnapshot
    ) {
        return Err(format!(
            "{t:?} from raft id {} before this joining member knows the cluster: only the leader's appends, heartbeats and snapshot are taken",
            msg.from
        ));
    }
    if t == MessageType::MsgSnapshot {
        let data = msg
            .snapshot
            .as_ref()
            .map(|s| cachet_raft::snapshot::decode(&s.data))
            .transpose()
            .map_err(|e| format!("snapshot from raft id {}: {e}", msg.from))?
            .ok_or_else(|| {
                format!(
                    "snapshot message from raft id {} without a snapshot",
                    msg.from
                )
            })?;
        let holds = |id: u64, k: &PublicKey| data.keys.iter().any(|(i, x)| *i == id && x == k);
        if !holds(msg.from, key) {
            return Err(format!(
                "the snapshot from raft id {} does not give that id to the node key that sent it",
                msg.from
            ));
        }
        if !holds(me, own) {
            return Err(format!(
                "the cluster's snapshot does not list this node as raft id {me}: start it with --raft-join-existing <the id raft_addPeer returned for its enode>"
            ));
        }
    }
    Ok(msg.from)
}

/// Holds every devp2p event back (in order) until `open` turns true, then passes them on:
/// a joining member must not import blocks before it knows who may mint (sync would refuse
/// them and drop the peer). Reading goes on while held, so raft frames routed before this are
/// never blocked; beyond [`HOLD_CAP`] held events, eth messages are dropped (peers announce
/// again) but connections and disconnections are kept.
pub fn hold_until(
    mut events: mpsc::Receiver<NetworkEvent>,
    mut open: watch::Receiver<bool>,
) -> (mpsc::Receiver<NetworkEvent>, Option<JoinHandle<()>>) {
    if *open.borrow() {
        return (events, None);
    }
    let (tx, rx) = mpsc::channel(crate::istanbul::EVENT_QUEUE);
    let task = tokio::spawn(async move {
        let mut held = std::collections::VecDeque::new();
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(NetworkEvent::Message { .. }) if held.len() >= HOLD_CAP => {
                        metrics::counter!("cachet_raft_held_events_dropped_total").increment(1);
                    }
                    Some(ev) => held.push_back(ev),
                    None => return,
                },
                r = open.wait_for(|o| *o) => {
                    if r.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
        for ev in held {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        while let Some(ev) = events.recv().await {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    (rx, Some(task))
}

/// Opens `<datadir>/raft.redb`, founding the cluster in it on first start.
///
/// # Errors
/// [`Error::Raft`] when the store cannot be opened or written.
pub fn open_store(datadir: &Path, plan: &ClusterPlan, genesis: B256) -> Result<RedbStorage> {
    let path: PathBuf = datadir.join(RAFT_DB);
    let db = redb::Database::create(&path).map_err(|e| Error::Raft {
        what: format!(
            "cannot open the raft store {}: {e}; check the disk and that no other cachet uses this datadir",
            path.display()
        ),
        source: None,
    })?;
    let mut storage =
        RedbStorage::open(Arc::new(db)).map_err(|e| raft_err("open the raft store", e))?;
    // A joining member's store stays empty until the leader's snapshot fills it.
    if !storage.is_initialized() && !plan.joining() {
        let keys: Vec<(u64, PublicKey)> = plan
            .founders
            .iter()
            .map(|(id, k)| (u64::from(*id), *k))
            .collect();
        storage
            .initialize(&keys, genesis.as_slice())
            .map_err(|e| raft_err("found the cluster in the raft store", e))?;
    }
    Ok(storage)
}

fn raft_err(what: &str, source: cachet_raft::Error) -> Error {
    Error::Raft {
        what: format!("{what} failed"),
        source: Some(source),
    }
}

/// The cluster member's driver.
pub struct Driver {
    node: RaftNode,
    chain: Arc<Chain>,
    net: Arc<Network>,
    minter: RaftMinter,
    build: BuildConfig,
    allowed: watch::Receiver<bool>,
    block_time: Duration,
    last_mint: Option<Instant>,
    status: SharedStatus,
    addresses: Arc<RwLock<HashMap<u64, Enode>>>,
    calls: Option<mpsc::Receiver<MembershipRequest>>,
    calls_tx: mpsc::Sender<MembershipRequest>,
    bad_frames: HashMap<PeerId, u32>,
    last_applied: u64,
    confirmed: u64,
    last_compact: u64,
    /// This node's key.
    own: PublicKey,
    /// The static nodes: while joining, the only senders taken before the snapshot.
    static_peers: Vec<Enode>,
    /// While joining: the ids those senders claimed ([`first_contact`]), to answer them.
    learned: HashMap<u64, PublicKey>,
    /// True once the store knows the cluster's members (at once for a founder).
    known: watch::Sender<bool>,
    /// A membership change was applied: compact at once, so the snapshot a new member receives
    /// lists it (raft-rs refuses a snapshot whose conf state lacks the receiver).
    compact_now: bool,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver for member `plan.id` on `storage`, minting with `minter` from `build`'s source
    /// at most every `block_time` while `allowed`.
    ///
    /// # Errors
    /// [`Error::Raft`] when raft-rs refuses the stored state.
    #[allow(
        clippy::too_many_arguments,
        reason = "the node's parts, passed once at startup"
    )]
    pub fn new(
        plan: &ClusterPlan,
        storage: RedbStorage,
        chain: Arc<Chain>,
        net: Arc<Network>,
        minter: RaftMinter,
        build: BuildConfig,
        allowed: watch::Receiver<bool>,
        block_time: Duration,
    ) -> Result<Self> {
        let last_applied = storage.applied();
        let last_compact = storage.snapshot_metadata().index;
        let node = RaftNode::new(&Config::new(u64::from(plan.id)), storage)
            .map_err(|e| raft_err("start raft", e))?;
        let mut book: HashMap<u64, Enode> = HashMap::new();
        for enode in &plan.peers {
            let id = enode.id.public_key().and_then(|k| {
                plan.founders
                    .iter()
                    .find(|(_, f)| *f == k)
                    .map(|(id, _)| u64::from(*id))
                    .or_else(|| node.storage().members().id_of(&k))
            });
            if let Some(id) = id {
                book.insert(id, *enode);
            }
        }
        let own =
            net.local_enode().id.public_key().ok_or_else(|| {
                Error::Config("this node's enode holds no secp256k1 node key".into())
            })?;
        book.insert(u64::from(plan.id), net.local_enode());
        let known = watch::channel(node.storage().is_initialized()).0;
        let (calls_tx, calls) = mpsc::channel(16);
        let driver = Self {
            node,
            chain,
            net,
            minter,
            build,
            allowed,
            block_time: block_time.max(Duration::from_millis(1)),
            last_mint: None,
            status: SharedStatus::default(),
            addresses: Arc::new(RwLock::new(book)),
            calls: Some(calls),
            calls_tx,
            bad_frames: HashMap::new(),
            last_applied,
            confirmed: last_applied,
            last_compact,
            own,
            static_peers: plan.peers.clone(),
            learned: HashMap::new(),
            known,
            compact_now: false,
        };
        // Members added before a restart are in the store, not in the chain's rules.
        driver.teach_rules();
        driver.publish();
        Ok(driver)
    }

    /// True once this member knows the cluster's members: a joining member's chain syncs only
    /// then ([`hold_until`]).
    pub fn members_known(&self) -> watch::Receiver<bool> {
        self.known.subscribe()
    }

    /// Gives the chain's raft rules every member key the store holds, removed members' too
    /// (their blocks still verify).
    fn teach_rules(&self) {
        let Some(rules) = self.chain.rules_as::<crate::raft::RaftRules>() else {
            return;
        };
        for (id, key) in self.node.storage().members().keys() {
            if let Ok(id) = u16::try_from(*id) {
                rules.add_member(id, *key);
            }
        }
    }

    /// A joining member's store has just learned the members: the chain may sync now.
    fn check_known(&mut self) {
        if *self.known.borrow() || !self.node.storage().is_initialized() {
            return;
        }
        self.teach_rules();
        self.learned.clear();
        // raft_cluster shows the static nodes' addresses under the ids now known.
        let members = self.node.storage().members();
        let mut book = self
            .addresses
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for enode in &self.static_peers {
            if let Some(id) = enode.id.public_key().and_then(|k| members.id_of(&k)) {
                book.entry(id).or_insert(*enode);
            }
        }
        drop(book);
        self.known.send_replace(true);
        tracing::info!(target: "cachet::raft", raft_id = self.node.id(), members = ?self.node.storage().members().keys().keys().collect::<Vec<_>>(),
            "joined the raft cluster: members learned from the leader's snapshot; the chain syncs now");
    }

    /// What the `raft_*` RPCs hold.
    pub fn handle(&self) -> RaftHandle {
        RaftHandle {
            status: self.status.clone(),
            calls: self.calls_tx.clone(),
            addresses: self.addresses.clone(),
            members_known: self.members_known(),
        }
    }

    /// Runs until sealing is switched off (then a leader hands over first) or a fatal error,
    /// which is sent on `fatal` (the node stops with it).
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<InboundRaft>,
        fatal: oneshot::Sender<Error>,
    ) {
        tracing::info!(target: "cachet::raft", raft_id = self.node.id(), members = ?self.node.storage().members().voters(),
            block_time_ms = self.block_time.as_millis() as u64, "raft member started");
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ready = self.build.source.as_ref().map(|s| s.subscribe_ready());
        let mut calls = self.calls.take();
        let outcome = loop {
            if !*self.allowed.borrow() {
                break self.step_down(&mut inbound).await;
            }
            let mint_due = self.mint_delay();
            tokio::select! {
                _ = ticker.tick() => self.node.tick(),
                frame = inbound.recv() => match frame {
                    Some(f) => self.receive(f),
                    None => break Ok(()),
                },
                r = self.allowed.changed() => if r.is_err() { break Ok(()) },
                () = crate::produce::ready_changed(&mut ready) => {}
                () = sleep_opt(mint_due) => {}
                call = next_call(&mut calls) => self.membership(call),
            }
            if let Err(e) = self.drain().and_then(|()| self.maybe_mint()) {
                break Err(e);
            }
        };
        match outcome {
            Ok(()) => tracing::info!(target: "cachet::raft", "raft member stopped"),
            Err(e) => {
                tracing::error!(target: "cachet::raft", error = &e as &dyn std::error::Error, "raft member stopping the node");
                let _ = fatal.send(e);
            }
        }
    }

    /// When a mint may be due: `Some(delay)` while this member may mint with transactions
    /// pending, `None` otherwise (the tick, a frame or a new transaction wakes the loop).
    fn mint_delay(&self) -> Option<Duration> {
        if !self.node.may_mint() || !self.build.source.as_ref().is_some_and(|s| s.has_pending()) {
            return None;
        }
        Some(self.last_mint.map_or(Duration::ZERO, |last| {
            (last + self.block_time).saturating_duration_since(Instant::now())
        }))
    }

    /// One frame: stepped as the raft id the sender's proven key holds, dropped otherwise
    /// (before a joining member knows the cluster: as [`first_contact`] allows).
    fn receive(&mut self, frame: InboundRaft) {
        let proven = proven_member(self.node.storage().members(), &frame.peer);
        let contact = (!self.node.storage().is_initialized()
            && self.static_peers.iter().any(|e| e.id == frame.peer))
        .then(|| frame.peer.public_key())
        .flatten();
        // A member's id, or the key of a static node a joining member may hear first.
        let sender = match (proven, contact) {
            (Some(id), _) => Ok(id),
            (None, Some(key)) => Err(key),
            (None, None) => {
                metrics::counter!("cachet_raft_frames_dropped_total", "reason" => "not_member")
                    .increment(1);
                tracing::debug!(target: "cachet::raft", peer = %frame.peer, "raft frame from a node that is no member dropped");
                return;
            }
        };
        let result = wire::decode_message(&frame.payload)
            .map_err(|e| e.to_string())
            .and_then(|msg| {
                let id = match sender {
                    Ok(id) => id,
                    Err(key) => {
                        let id = first_contact(&msg, &key, self.node.id(), &self.own)?;
                        self.learned.insert(id, key);
                        id
                    }
                };
                self.node.step(id, msg).map_err(|e| e.to_string())
            });
        if let Err(why) = result {
            metrics::counter!("cachet_raft_frames_dropped_total", "reason" => "refused")
                .increment(1);
            tracing::debug!(target: "cachet::raft", peer = %frame.peer, raft_id = ?proven, %why, "raft frame dropped");
            let bad = self.bad_frames.entry(frame.peer).or_default();
            *bad += 1;
            if *bad >= MAX_BAD_FRAMES {
                tracing::warn!(target: "cachet::raft", peer = %frame.peer, raft_id = ?proven, %why, "disconnecting a peer after {MAX_BAD_FRAMES} refused raft frames");
                self.net
                    .disconnect(&frame.peer, DisconnectReason::ProtocolBreach);
                self.bad_frames.remove(&frame.peer);
            }
        }
    }

    /// Drains `ready()`: sends, applies, records what was applied, compacts.
    fn drain(&mut self) -> Result<()> {
        while let Some(rd) = self
            .node
            .ready()
            .map_err(|e| raft_err("store raft state", e))?
        {
            for msg in rd.messages {
                self.send(msg);
            }
            for event in rd.events {
                self.apply(event)?;
            }
        }
        // Everything handed out has been carried out: confirm it (raft-rs clamps the index to
        // what it handed out).
        let committed = self.node.committed();
        if committed > self.confirmed {
            self.node
                .applied(committed)
                .map_err(|e| raft_err("record the applied index", e))?;
            self.confirmed = committed;
            self.last_applied = self.node.storage().applied();
        }
        self.check_known();
        if self.compact_now || self.last_applied >= self.last_compact + COMPACT_EVERY {
            let head = self.chain.head().hash;
            self.node
                .compact(self.last_applied, head.as_slice())
                .map_err(|e| raft_err("compact the raft log", e))?;
            self.last_compact = self.last_applied;
            self.compact_now = false;
        }
        self.publish();
        Ok(())
    }

    /// Sends one message to the member it is for; a failed send is reported to raft-rs, and
    /// every snapshot's fate too (the leader waits for it).
    fn send(&mut self, msg: Message) {
        let to = msg.to;
        let snapshot = msg.get_msg_type() == MessageType::MsgSnapshot;
        let peer = self
            .node
            .storage()
            .members()
            .key(to)
            .or_else(|| self.learned.get(&to))
            .map(PeerId::from_public_key);
        let sent = peer.is_some_and(|p| {
            self.net
                .send_raft(&p, Bytes::from(wire::encode_message(&msg)))
        });
        if !sent {
            metrics::counter!("cachet_raft_frames_unsent_total").increment(1);
            self.node.report_unreachable(to);
        }
        if snapshot {
            self.node.report_snapshot(to, sent);
        }
    }

    fn apply(&mut self, event: Event) -> Result<()> {
        match event {
            Event::Block {
                index, data, block, ..
            } => self.import(index, &data, &block),
            Event::Refused { index, term, rule } => Err(Error::RaftRefused { index, term, rule }),
            Event::Snapshot { index, data, .. } => {
                // The chain catches up over eth (sync runs beside the driver), checking the
                // signatures of members this snapshot taught.
                self.teach_rules();
                tracing::info!(target: "cachet::raft", index, head = %alloy_primitives::hex::encode(&data), "raft snapshot installed; the chain syncs over eth");
                Ok(())
            }
            Event::Membership { index, change } => {
                tracing::info!(target: "cachet::raft", index, ?change, "raft membership changed");
                self.compact_now = true;
                if let MembershipChange::Added { id, key, .. } = &change
                    && let (Ok(id16), Some(rules)) = (
                        u16::try_from(*id),
                        self.chain.rules_as::<crate::raft::RaftRules>(),
                    )
                {
                    rules.add_member(id16, *key);
                }
                if let MembershipChange::Removed { id } = change
                    && id != self.node.id()
                    && let Some(key) = self.node.storage().members().key(id)
                {
                    // Its raft frames are dropped from now on; the session goes too (it may
                    // come back as an eth peer, never as a member).
                    self.net
                        .disconnect(&PeerId::from_public_key(key), DisconnectReason::Requested);
                }
                if let MembershipChange::Removed { id } = change
                    && id == self.node.id()
                {
                    return Err(Error::Raft {
                        what: format!(
                            "this member (raft id {id}) was removed from the cluster; a removed id never returns: join again under a new id (raft_addPeer)"
                        ),
                        source: None,
                    });
                }
                Ok(())
            }
            Event::Discarded { hash } => {
                tracing::info!(target: "cachet::raft", %hash, "minted block not committed; dropped");
                Ok(())
            }
            Event::Role { role, leader, term } => {
                tracing::info!(target: "cachet::raft", raft_id = self.node.id(), ?role, leader, term, "raft role");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Imports a committed block when it extends the head; skips it when known or not
    /// extending (GoQuorum's rule).
    fn import(&mut self, index: u64, data: &[u8], block: &cachet_raft::MintedBlock) -> Result<()> {
        let head = self.chain.head();
        if block.header.parent_hash != head.hash {
            tracing::debug!(target: "cachet::raft", index, number = block.header.number, hash = %block.hash, "committed block does not extend the head; skipped");
            return Ok(());
        }
        let (header, body) =
            cachet_primitives::block::split_block(data).map_err(|e| Error::Raft {
                what: format!(
                    "committed block {} at raft index {index} does not decode: {e}",
                    block.hash
                ),
                source: None,
            })?;
        let started = Instant::now();
        match self.chain.import(&header, &body) {
            Ok(imported) => {
                crate::metrics::imported("raft", started.elapsed(), 1, 0);
                tracing::info!(target: "cachet::raft", index, number = block.header.number, hash = %block.hash, minter = block.minter, ?imported, "committed block imported");
                // The block time runs from the previous mint, not from its commit: a block
                // that takes longer than --raftblocktime to commit is followed at once
                // (decision 532).
                Ok(())
            }
            Err(e) => Err(Error::Raft {
                what: format!(
                    "committed block {} ({}) at raft index {index} does not import: {}; this member stopped so its chain does not fork",
                    block.header.number,
                    block.hash,
                    cachet_primitives::error::Chain(&e)
                ),
                source: None,
            }),
        }
    }

    /// Mints and proposes one block when this member may and a mint is due.
    fn maybe_mint(&mut self) -> Result<()> {
        if !*self.allowed.borrow() || self.mint_delay() != Some(Duration::ZERO) {
            return Ok(());
        }
        self.last_mint = Some(Instant::now());
        let head = self.chain.head();
        let unsealed = self.minter.build(&head, now_nanos());
        let number = unsealed.number;
        let built =
            crate::produce::build_for(&self.chain, &unsealed, self.minter.address(), &self.build);
        let (header, body, txs) = match built {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(target: "cachet::raft", number, error = &e as &dyn std::error::Error, "building a block failed; retrying");
                return Ok(());
            }
        };
        if txs == 0 {
            // Nothing pending could be included: no empty blocks.
            return Ok(());
        }
        let (sealed, body) = match self.minter.seal(&header, &body) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "cachet::raft", number, error = &e as &dyn std::error::Error, "signing a block failed; retrying");
                return Ok(());
            }
        };
        let rlp = crate::block::block_rlp(&sealed.encode(), &body)?;
        match self.node.propose_block(rlp) {
            Ok(block) => {
                tracing::info!(target: "cachet::raft", number, hash = %block.hash, txs, "block minted and proposed");
                self.drain()
            }
            Err(e) => {
                tracing::warn!(target: "cachet::raft", number, error = &e as &dyn std::error::Error, "proposing a minted block failed");
                Ok(())
            }
        }
    }

    /// Carries out a membership call (this member must lead) and answers it.
    fn membership(&mut self, (call, reply): MembershipRequest) {
        let key_of = |enode: &Enode| {
            enode
                .id
                .public_key()
                .ok_or_else(|| format!("{enode} does not name a secp256k1 node key"))
        };
        let result = match &call {
            MembershipCall::AddPeer(enode) => {
                key_of(enode).and_then(|k| self.node.add_peer(&k).map_err(|e| e.to_string()))
            }
            MembershipCall::AddLearner(enode) => {
                key_of(enode).and_then(|k| self.node.add_learner(&k).map_err(|e| e.to_string()))
            }
            MembershipCall::Promote(id) => self
                .node
                .promote(*id)
                .map(|()| 0)
                .map_err(|e| e.to_string()),
            MembershipCall::Remove(id) => {
                self.node.remove(*id).map(|()| 0).map_err(|e| e.to_string())
            }
        };
        if let (Ok(id), MembershipCall::AddPeer(enode) | MembershipCall::AddLearner(enode)) =
            (&result, &call)
        {
            self.addresses
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(*id, *enode);
            self.net.dial(*enode);
        }
        tracing::info!(target: "cachet::raft", ?call, ?result, "raft membership call");
        let _ = reply.try_send(result);
    }

    /// Sealing was switched off (revocation or shutdown): a leader hands over to the most
    /// up-to-date voter and waits (ticking, stepping frames) until it is no longer leader or
    /// [`STEP_DOWN_WAIT`] passed.
    async fn step_down(&mut self, inbound: &mut mpsc::Receiver<InboundRaft>) -> Result<()> {
        let Some(target) = self.node.transfer_target() else {
            return Ok(());
        };
        tracing::warn!(target: "cachet::raft", raft_id = self.node.id(), to = target, "sealing stopped: handing raft leadership over");
        self.node.transfer_leader(target);
        self.drain()?;
        let deadline = tokio::time::sleep(STEP_DOWN_WAIT);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(TICK);
        while self.node.role() == StateRole::Leader {
            tokio::select! {
                () = &mut deadline => {
                    tracing::warn!(target: "cachet::raft", to = target, "leadership not handed over in time; stopping anyway (the cluster elects another leader)");
                    break;
                }
                _ = ticker.tick() => self.node.tick(),
                frame = inbound.recv() => match frame {
                    Some(f) => self.receive(f),
                    None => break,
                },
            }
            self.drain()?;
        }
        tracing::info!(target: "cachet::raft", leader = self.node.leader(), "raft leadership handed over");
        Ok(())
    }

    fn publish(&self) {
        let members = self.node.storage().members();
        let list = members
            .keys()
            .iter()
            .filter_map(|(id, k)| members.role(*id).map(|r| (*id, *k, r)))
            .collect();
        let status = RaftStatus {
            id: self.node.id(),
            role: Some(self.node.role()),
            leader: self.node.leader(),
            term: self.node.term(),
            members: list,
        };
        *self.status.write().unwrap_or_else(PoisonError::into_inner) = status;
    }
}

/// The next membership call; pending forever once the channel is gone.
async fn next_call(calls: &mut Option<mpsc::Receiver<MembershipRequest>>) -> MembershipRequest {
    if let Some(c) = calls.as_mut()
        && let Some(call) = c.recv().await
    {
        return call;
    }
    *calls = None;
    std::future::pending().await
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u8) -> PublicKey {
        let secret = secp256k1::SecretKey::from_byte_array(&[i; 32]).unwrap();
        secret.public_key(secp256k1::SECP256K1)
    }

    fn url(i: u8, port: u16) -> String {
        format!(
            "enode://{}@127.0.0.1:{port}?discport=0&raftport=50400",
            PeerId::from_public_key(&key(i))
        )
    }

    #[test]
    fn static_nodes_give_raft_ids_by_position_and_the_other_founders_as_peers() {
        let text = serde_json::to_string(&[url(1, 30301), url(2, 30302), url(3, 30303)]).unwrap();
        let p = Path::new("/d/static-nodes.json");
        let plan = ClusterPlan::parse(p, &text, &key(2), None).unwrap();
        assert_eq!(plan.id, 2);
        assert_eq!(plan.founders, vec![(1, key(1)), (2, key(2)), (3, key(3))]);
        let ports: Vec<u16> = plan.peers.iter().map(|e| e.addr.port()).collect();
        assert_eq!(ports, [30301, 30303]);
        assert_eq!(
            ClusterPlan::parse(p, &text, &key(2), Some(2)).unwrap().id,
            2
        );

        let wrong_id = ClusterPlan::parse(p, &text, &key(2), Some(3))
            .unwrap_err()
            .to_string();
        assert!(
            wrong_id.contains("this node is entry 2 but --raft-id is 3"),
            "{wrong_id}"
        );
        let absent = ClusterPlan::parse(p, &text, &key(9), None)
            .unwrap_err()
            .to_string();
        assert!(
            absent.contains("this node's enode is not in it"),
            "{absent}"
        );
        let twice = serde_json::to_string(&[url(1, 1), url(1, 2)]).unwrap();
        let twice = ClusterPlan::parse(p, &twice, &key(1), None)
            .unwrap_err()
            .to_string();
        assert!(twice.contains("entry 2 repeats a node id"), "{twice}");
        let junk = ClusterPlan::parse(p, "{\"a\":1}", &key(1), None)
            .unwrap_err()
            .to_string();
        assert!(
            junk.contains("/d/static-nodes.json: not a JSON list"),
            "{junk}"
        );
    }

    #[test]
    fn frames_count_only_from_the_member_whose_key_the_session_proved() {
        let keys = (1..=4).map(|i| (u64::from(i), key(i))).collect();
        // 1, 2 vote, 3 learns, 4 was removed.
        let members = cachet_raft::Members::new(keys, [1, 2], [3], [4]);
        let peer = |i: u8| PeerId::from_public_key(&key(i));
        assert_eq!(proven_member(&members, &peer(1)), Some(1));
        assert_eq!(proven_member(&members, &peer(3)), Some(3));
        assert_eq!(proven_member(&members, &peer(4)), None, "removed");
        assert_eq!(proven_member(&members, &peer(9)), None, "never a member");
        assert_eq!(
            proven_member(&members, &PeerId([0xff; 64])),
            None,
            "not a key"
        );
    }

    #[test]
    fn a_joining_member_dials_the_listed_members_and_knows_no_founders() {
        let text = serde_json::to_string(&[url(1, 30301), url(2, 30302), url(4, 30304)]).unwrap();
        let p = Path::new("/d/static-nodes.json");
        let plan = ClusterPlan::parse_joining(p, &text, &key(4), None, 4).unwrap();
        assert_eq!(plan.id, 4);
        assert!(plan.joining() && plan.founders.is_empty());
        let ports: Vec<u16> = plan.peers.iter().map(|e| e.addr.port()).collect();
        assert_eq!(ports, [30301, 30302], "its own entry is skipped");

        let id = ClusterPlan::parse_joining(p, &text, &key(4), Some(3), 4)
            .unwrap_err()
            .to_string();
        assert!(
            id.contains("--raft-id 3 disagrees with --raft-join-existing 4"),
            "{id}"
        );
        let alone = serde_json::to_string(&[url(4, 1)]).unwrap();
        let alone = ClusterPlan::parse_joining(p, &alone, &key(4), None, 4)
            .unwrap_err()
            .to_string();
        assert!(alone.contains("names no member"), "{alone}");
        let dir = tempfile::tempdir().unwrap();
        let missing = ClusterPlan::read(dir.path(), &key(4), None, Some(4))
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("--raft-join-existing 4 needs")
                && missing.contains("static-nodes.json"),
            "{missing}"
        );
    }

    fn message(t: MessageType, from: u64, snapshot: Option<Vec<u8>>) -> Message {
        let mut m = Message::default();
        m.set_msg_type(t);
        m.from = from;
        m.to = 4;
        if let Some(data) = snapshot {
            m.set_snapshot(cachet_raft::eraftpb::Snapshot {
                data: data.into(),
                ..Default::default()
            });
        }
        m
    }

    fn snapshot_of(ids: &[u8]) -> Vec<u8> {
        let keys = ids.iter().map(|i| (u64::from(*i), key(*i))).collect();
        let voters: Vec<u64> = ids.iter().map(|i| u64::from(*i)).collect();
        let members = cachet_raft::Members::new(keys, voters, [], []);
        cachet_raft::snapshot::encode(&members, b"head")
    }

    #[test]
    fn a_joining_member_takes_first_a_leaders_frames_and_a_snapshot_naming_it_and_the_sender() {
        let (leader, me) = (key(1), key(4));
        let good = snapshot_of(&[1, 2, 3, 4]);
        for t in [MessageType::MsgHeartbeat, MessageType::MsgAppend] {
            assert_eq!(first_contact(&message(t, 1, None), &leader, 4, &me), Ok(1));
        }
        let snap = message(MessageType::MsgSnapshot, 1, Some(good.clone()));
        assert_eq!(first_contact(&snap, &leader, 4, &me), Ok(1));

        let vote = first_contact(
            &message(MessageType::MsgRequestVote, 1, None),
            &leader,
            4,
            &me,
        )
        .unwrap_err();
        assert!(vote.contains("only the leader's"), "{vote}");
        // The sender claims an id the snapshot gives to another key.
        let claimed = message(MessageType::MsgSnapshot, 2, Some(good));
        let claimed = first_contact(&claimed, &leader, 4, &me).unwrap_err();
        assert!(claimed.contains("does not give that id"), "{claimed}");
        // A snapshot from before this node was added, or for another id.
        let old = message(MessageType::MsgSnapshot, 1, Some(snapshot_of(&[1, 2, 3])));
        let old = first_contact(&old, &leader, 4, &me).unwrap_err();
        assert!(
            old.contains("does not list this node as raft id 4"),
            "{old}"
        );
        let other_id = first_contact(&snap, &leader, 5, &me).unwrap_err();
        assert!(other_id.contains("raft id 5"), "{other_id}");
        let junk = message(MessageType::MsgSnapshot, 1, Some(vec![1, 2, 3]));
        let junk = first_contact(&junk, &leader, 4, &me).unwrap_err();
        assert!(junk.contains("snapshot from raft id 1"), "{junk}");
    }

    fn frame(i: u8) -> NetworkEvent {
        NetworkEvent::Raft {
            peer: PeerId([i; 64]),
            payload: Bytes::from(vec![i]),
        }
    }

    #[tokio::test]
    async fn held_events_pass_in_order_once_the_members_are_known() {
        let (tx, rx) = mpsc::channel(16);
        let (open, open_rx) = watch::channel(false);
        let (mut out, task) = hold_until(rx, open_rx);
        assert!(task.is_some());
        tx.send(frame(1)).await.unwrap();
        tx.send(frame(2)).await.unwrap();
        let early = tokio::time::timeout(Duration::from_millis(200), out.recv()).await;
        assert!(early.is_err(), "an event passed while held: {early:?}");
        open.send_replace(true);
        assert_eq!(out.recv().await, Some(frame(1)));
        assert_eq!(out.recv().await, Some(frame(2)));
        tx.send(frame(3)).await.unwrap();
        assert_eq!(out.recv().await, Some(frame(3)));

        // A member that knows the cluster holds nothing.
        let (_tx, rx) = mpsc::channel::<NetworkEvent>(1);
        let (_open, open_rx) = watch::channel(true);
        assert!(hold_until(rx, open_rx).1.is_none());
    }

    #[test]
    fn a_datadir_without_static_nodes_has_no_cluster() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            ClusterPlan::read(dir.path(), &key(1), Some(1), None).unwrap(),
            None
        );
    }
}
