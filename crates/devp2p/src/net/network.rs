//! The service handle: listen, dial, send, broadcast, events.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cachet_primitives::NodeSigner;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::eth::{EthMessage, Status, eth68};
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
        let shared = Arc::new(Shared {
            key: Box::new(key),
            local_id,
            local_enode,
            head: watch::channel(config.head).0,
            config,
            peers: Mutex::new(HashMap::new()),
            dialing: Mutex::new(HashSet::new()),
            pending: AtomicUsize::new(0),
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

    /// Sends a message to every connected peer; returns how many queued it. Peers whose
    /// queue is full are skipped.
    pub fn broadcast(&self, message: &EthMessage) -> usize {
        let peers = self.shared.peers();
        peers
            .values()
            .filter(|p| p.tx.try_send(Command::Send(message.clone())).is_ok())
            .count()
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

    /// Our Hello.
    pub(crate) fn hello(&self) -> Hello {
        Hello {
            protocol_version: P2P_VERSION,
            client_id: self.config.client_id.clone(),
            capabilities: vec![eth68().capability],
            listen_port: u64::from(self.local_enode.addr.port()),
            id: self.key.public_key(),
        }
    }

    /// Our Status at the current head.
    pub(crate) fn status(&self) -> Status {
        let head = *self.head.borrow();
        Status {
            version: crate::eth::ETH_VERSION,
            network_id: self.config.chain.network_id,
            total_difficulty: head.total_difficulty,
            head: head.hash,
            genesis: self.config.chain.genesis,
            fork_id: self.config.chain.forks.fork_id(head.number, head.timestamp),
        }
    }
}

fn spawn_dial(shared: &Arc<Shared>, enode: Enode) {
    if enode.id == shared.local_id || shared.peers().contains_key(&enode.id) {
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
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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

async fn dial_loop(shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    loop {
        for enode in shared.config.bootnodes.clone() {
            if shared.peers().len() < shared.config.max_peers {
                spawn_dial(&shared, enode);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.redial_interval) => {}
            _ = stop.changed() => return,
        }
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
