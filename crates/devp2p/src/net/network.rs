//! The service handle: listen, dial, send, broadcast, events.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alloy_primitives::Bytes;
use cachet_primitives::NodeSigner;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use crate::eth::{EthMessage, EthVersion, Status};
use crate::net::backoff::{Backoffs, Ended};
use crate::net::peer::{self, Command};
use crate::net::{ChainHead, Direction, Enode, NetworkConfig, NetworkEvent, PeerId, PeerInfo};
use crate::p2p::{DisconnectReason, Hello, P2P_VERSION};
use crate::{Error, Result};

/// Capacity of the event channel. When the node falls behind, peer tasks wait (back-pressure)
/// instead of queueing without bound.
const EVENT_QUEUE: usize = 1024;
/// Capacity of each peer's outgoing queue; [`Network::broadcast`] skips peers whose queue is
/// full (slow peers) rather than growing it.
pub(crate) const PEER_QUEUE: usize = 64;

/// A handle to the running devp2p service. Cheap to clone; the service stops when
/// [`Network::shutdown`] is called.
#[derive(Clone, Debug)]
pub struct Network {
    shared: Arc<Shared>,
}

/// State shared by the handle, the listener and the peer tasks.
pub(crate) struct Shared {
    pub(crate) key: Box<dyn NodeSigner>,
    pub(crate) local_id: PeerId,
    pub(crate) local_enode: Enode,
    pub(crate) config: NetworkConfig,
    pub(crate) head: watch::Sender<ChainHead>,
    pub(crate) peers: Mutex<HashMap<PeerId, PeerEntry>>,
    /// Node ids with a dial or handshake in progress (outbound dedup).
    pub(crate) dialing: Mutex<HashSet<PeerId>>,
    pub(crate) pending: AtomicUsize,
    /// Numbers connections, so a replaced connection's task does not remove its successor.
    pub(crate) next_connection: AtomicU64,
    /// Per-peer redial backoff ([`crate::net::RedialBackoff`]).
    pub(crate) backoff: Mutex<Backoffs>,
    /// Woken when a connection to a known peer ends (and its backoff is recorded): the dial
    /// loop dials the bootnodes whose wait is over and sleeps until the next one's.
    pub(crate) redial: Notify,
    pub(crate) events: mpsc::Sender<NetworkEvent>,
    pub(crate) shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("local_enode", &self.local_enode.to_string())
            .finish_non_exhaustive()
    }
}

/// A connected peer as the service tracks it.
#[derive(Debug)]
pub(crate) struct PeerEntry {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) info: PeerInfo,
    /// Which connection this is ([`Shared::next_connection`]).
    pub(crate) connection: u64,
    /// When it was admitted.
    pub(crate) since: Instant,
}

/// What to do with a new connection to a node (see [`Shared::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// No connection to the node yet.
    New,
    /// The existing connection is the crossing one the rule drops: this one replaces it.
    Replace,
    /// Refuse this connection with the reason.
    Refuse(DisconnectReason),
}

impl Network {
    /// Binds the listener and starts the service on an unlocked node key. Nothing listens
    /// before this call, and this call needs the unlocked key.
    ///
    /// # Errors
    /// [`Error::Listen`] when the address cannot be bound.
    pub async fn start(
        key: impl NodeSigner + 'static,
        config: NetworkConfig,
    ) -> Result<(Self, mpsc::Receiver<NetworkEvent>)> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| Error::Listen {
            addr: config.listen,
            source,
        })?;
        let local_id = PeerId::from_public_key(&key.public_key());
        let local_enode = Enode {
            id: local_id,
            addr: super::enode::advertised(bound),
            discport: None,
            raftport: None,
        };
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let (shutdown, _) = watch::channel(false);
        let backoff = Mutex::new(Backoffs::new(config.redial_backoff));
        let shared = Arc::new(Shared {
            key: Box::new(key),
            local_id,
            local_enode,
            head: watch::channel(config.head).0,
            config,
            peers: Mutex::new(HashMap::new()),
            dialing: Mutex::new(HashSet::new()),
            pending: AtomicUsize::new(0),
            next_connection: AtomicU64::new(0),
            backoff,
            redial: Notify::new(),
            events,
            shutdown,
        });
        tracing::info!(target: "cachet::devp2p", enode = %shared.local_enode, "rlpx listening");
        tokio::spawn(accept_loop(shared.clone(), listener));
        tokio::spawn(dial_loop(shared.clone()));
        Ok((Self { shared }, rx))
    }

    /// Our enode URL (an unspecified listen address is shown as loopback).
    pub fn local_enode(&self) -> Enode {
        self.shared.local_enode
    }

    /// Dials a node (in the background); the outcome arrives as an event or a log line.
    pub fn dial(&self, enode: Enode) {
        spawn_dial(&self.shared, enode);
    }

    /// Sends a message to one peer, waiting if its queue is full.
    ///
    /// # Errors
    /// [`Error::Protocol`] when the peer is not connected.
    pub async fn send(&self, peer: &PeerId, message: EthMessage) -> Result<()> {
        let tx = self.shared.peers().get(peer).map(|p| p.tx.clone());
        let tx = tx.ok_or_else(|| Error::Protocol {
            peer: peer.to_string().as_str().into(),
            reason: "not connected",
        })?;
        tx.send(Command::Send(message))
            .await
            .map_err(|_| Error::Protocol {
                peer: peer.to_string().as_str().into(),
                reason: "disconnected while sending",
            })
    }

    /// Queues a message for one peer without waiting; false when the peer is not connected or
    /// its queue is full (gossip drops rather than waits, so one slow peer holds no one up).
    pub fn try_send(&self, peer: &PeerId, message: EthMessage) -> bool {
        self.shared
            .peers()
            .get(peer)
            .is_some_and(|p| p.tx.try_send(Command::Send(message)).is_ok())
    }

    /// Sends a message to every connected peer; returns how many queued it. Peers whose
    /// queue is full are skipped.
    pub fn broadcast(&self, message: &EthMessage) -> usize {
        let peers = self.shared.peers();
        peers
            .values()
            .filter(|p| p.tx.try_send(Command::Send(message.clone())).is_ok())
            .count()
    }

    /// Queues an `istanbul/100` message (`code` relative to the sub-protocol, `payload` as it
    /// goes on the wire) for one peer without waiting; false when the peer is not connected,
    /// did not negotiate `istanbul/100`, its queue is full, or the frame is not valid to send
    /// (code outside the 22-id space, payload over [`crate::istanbul::MAX_PAYLOAD`]).
    pub fn send_consensus(&self, peer: &PeerId, code: u64, payload: Bytes) -> bool {
        if !consensus_frame_ok(code, &payload) {
            return false;
        }
        self.shared.peers().get(peer).is_some_and(|p| {
            p.info.istanbul && p.tx.try_send(Command::Consensus { code, payload }).is_ok()
        })
    }

    /// Queues an `istanbul/100` message for every connected peer that negotiated it, never
    /// waiting: peers whose queue is full miss it. Returns how many queued it (0 for a frame
    /// [`Network::send_consensus`] would refuse).
    pub fn broadcast_consensus(&self, code: u64, payload: &Bytes) -> usize {
        if !consensus_frame_ok(code, payload) {
            return 0;
        }
        let peers = self.shared.peers();
        peers
            .values()
            .filter(|p| p.info.istanbul)
            .filter(|p| {
                p.tx.try_send(Command::Consensus {
                    code,
                    payload: payload.clone(),
                })
                .is_ok()
            })
            .count()
    }

    /// The connected peers that negotiated `istanbul/100`.
    pub fn consensus_peers(&self) -> Vec<PeerId> {
        self.shared
            .peers()
            .values()
            .filter(|p| p.info.istanbul)
            .map(|p| p.info.id)
            .collect()
    }

    /// Queues a `raft/1` message (one encoded raft message) for one peer without waiting;
    /// false when the peer is not connected, did not negotiate `raft/1`, its queue is full, or
    /// the payload is over [`crate::raft::MAX_PAYLOAD`].
    pub fn send_raft(&self, peer: &PeerId, payload: Bytes) -> bool {
        if payload.len() > crate::raft::MAX_PAYLOAD {
            return false;
        }
        self.shared
            .peers()
            .get(peer)
            .is_some_and(|p| p.info.raft && p.tx.try_send(Command::Raft(payload)).is_ok())
    }

    /// The connected peers that negotiated `raft/1`.
    pub fn raft_peers(&self) -> Vec<PeerId> {
        self.shared
            .peers()
            .values()
            .filter(|p| p.info.raft)
            .map(|p| p.info.id)
            .collect()
    }

    /// Disconnects a peer with a reason.
    pub fn disconnect(&self, peer: &PeerId, reason: DisconnectReason) {
        if let Some(p) = self.shared.peers().get(peer) {
            let _ = p.tx.try_send(Command::Disconnect(reason));
        }
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.shared
            .peers()
            .values()
            .map(|p| p.info.clone())
            .collect()
    }

    /// Updates the head announced in future Status messages.
    pub fn update_head(&self, head: ChainHead) {
        self.shared.head.send_replace(head);
    }

    /// Stops listening and dialling and disconnects every peer ("client quitting").
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }
}

impl Shared {
    pub(crate) fn peers(&self) -> MutexGuard<'_, HashMap<PeerId, PeerEntry>> {
        // A poisoned lock means a peer task panicked mid-update; the map is still usable.
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn dialing(&self) -> MutexGuard<'_, HashSet<PeerId>> {
        self.dialing.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn backoff(&self) -> MutexGuard<'_, Backoffs> {
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to `id` ended: unless `id` is still connected over another connection
    /// (the crossing one), records it in the redial backoff, then wakes the dial loop so it
    /// dials the bootnodes whose wait is over and sleeps until the next one's.
    pub(crate) fn connection_ended(&self, id: PeerId, ended: Ended) {
        if self.peers().contains_key(&id) {
            return;
        }
        let jitter = rand::random::<f64>();
        let wait = self.backoff().record(id, ended, Instant::now(), jitter);
        tracing::debug!(target: "cachet::devp2p", peer = %id, ?ended, wait_ms = wait.as_millis(), "peer redial backoff");
        if !*self.shutdown.borrow() {
            self.redial.notify_one();
        }
    }

    /// Whether a new connection to `id` in `direction` may proceed, given `peers`.
    ///
    /// Two nodes that dial each other at the same moment end up with two crossing connections,
    /// and each side sees both. Both sides keep the same one: the connection opened by the node
    /// with the smaller node id ([`kept_direction`]); the other is refused. A second
    /// connection in the same direction as an established one is refused ("already
    /// connected"), and a new node beyond `max_peers` gets "too many peers".
    pub(crate) fn admit(
        &self,
        peers: &HashMap<PeerId, PeerEntry>,
        id: &PeerId,
        direction: Direction,
    ) -> Admission {
        match peers.get(id) {
            Some(existing)
                if existing.info.direction != direction
                    && direction == kept_direction(&self.local_id, id) =>
            {
                Admission::Replace
            }
            Some(_) => Admission::Refuse(DisconnectReason::AlreadyConnected),
            None if peers.len() >= self.config.max_peers => {
                Admission::Refuse(DisconnectReason::TooManyPeers)
            }
            None => Admission::New,
        }
    }

    /// Our Hello.
    pub(crate) fn hello(&self) -> Hello {
        Hello {
            protocol_version: P2P_VERSION,
            client_id: self.config.client_id.clone(),
            capabilities: self.protocols().into_iter().map(|p| p.capability).collect(),
            listen_port: u64::from(self.local_enode.addr.port()),
            id: self.key.public_key(),
        }
    }

    /// The eth versions we advertise, as protocols, and `istanbul/100` and `raft/1` when
    /// configured.
    pub(crate) fn protocols(&self) -> Vec<crate::p2p::Protocol> {
        let eth = self.config.eth_versions.iter().map(|v| v.protocol());
        let istanbul = self.config.istanbul.then(crate::istanbul::protocol);
        let raft = self.config.raft.then(crate::raft::protocol);
        eth.chain(istanbul).chain(raft).collect()
    }

    /// Our Status at the current head, for the negotiated `version`.
    pub(crate) fn status(&self, version: EthVersion) -> Status {
        let head = *self.head.borrow();
        Status {
            version: version.number(),
            network_id: self.config.chain.network_id,
            total_difficulty: head.total_difficulty,
            head: head.hash,
            genesis: self.config.chain.genesis,
            fork_id: self.config.chain.forks.fork_id(head.number, head.timestamp),
        }
    }
}

fn spawn_dial(shared: &Arc<Shared>, enode: Enode) {
    if enode.id == shared.local_id {
        return;
    }
    let connected = shared
        .peers()
        .get(&enode.id)
        .map(|p| (p.info.direction, p.since));
    if let Some((direction, since)) = connected {
        // Already connected. Dial anyway only to open the connection the crossing rule keeps
        // when the existing one is the other and brand new: the other node dialled us while
        // this dial was being asked for, and both must end on the same connection as if the
        // two dials had crossed on the wire (decision 450).
        let crossing = direction != kept_direction(&shared.local_id, &enode.id)
            && since.elapsed() < shared.config.handshake_timeout;
        if !crossing {
            return;
        }
    }
    if let Some(until) = shared.backoff().waiting_until(&enode.id, Instant::now()) {
        tracing::debug!(target: "cachet::devp2p", peer = %enode, wait_ms = until.saturating_duration_since(Instant::now()).as_millis(), "not dialling: peer in redial backoff");
        return;
    }
    if !shared.dialing().insert(enode.id) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        peer::run(shared.clone(), peer::Origin::Dial(enode)).await;
        shared.dialing().remove(&enode.id);
    });
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, addr)) => accept_one(&shared, stream, addr),
                Err(e) => {
                    tracing::warn!(target: "cachet::devp2p", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

fn accept_one(shared: &Arc<Shared>, stream: tokio::net::TcpStream, addr: SocketAddr) {
    if shared.pending.load(Ordering::Relaxed) >= shared.config.max_pending {
        tracing::debug!(target: "cachet::devp2p", %addr, "too many handshakes in progress; closing");
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move { peer::run(shared, peer::Origin::Accepted(stream, addr)).await });
}

/// Dials the bootnodes that are not connected and not waiting out their backoff, then sleeps
/// until the next tick, the end of the first bootnode's backoff, or a connection's end.
async fn dial_loop(shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        let now = Instant::now();
        let mut wake = now + shared.config.redial_interval;
        for enode in &shared.config.bootnodes {
            if shared.peers().len() < shared.config.max_peers {
                spawn_dial(&shared, *enode);
            }
            if let Some(until) = shared.backoff().waiting_until(&enode.id, now) {
                wake = wake.min(until);
            }
        }
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            // A connection ended: its backoff is recorded; recompute the wake-up.
            () = shared.redial.notified() => {}
            _ = stop.changed() => return,
        }
    }
}

/// Whether an outgoing `istanbul/100` frame may go out: a code in its space, a payload the
/// receiver accepts.
fn consensus_frame_ok(code: u64, payload: &[u8]) -> bool {
    code < crate::istanbul::MESSAGES && payload.len() <= crate::istanbul::MAX_PAYLOAD
}

/// Of two crossing connections between us (`local`) and `remote`, the direction of the one
/// both sides keep: the connection dialled by the node with the smaller node id. Seen from
/// the other side the same connection has the other direction, so both agree.
pub(crate) fn kept_direction(local: &PeerId, remote: &PeerId) -> Direction {
    if local < remote {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}

/// Direction of an origin, for [`PeerInfo`].
pub(crate) fn direction(dial: bool) -> Direction {
    if dial {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}
