//! The discv4 service task: one UDP socket, the table, pending requests and bonds.
//!
//! Checks on every datagram, in order: source rate limit, size (1280), hash, signature,
//! message decoding, expiration, not from ourselves. Then per message:
//! - Ping: answered with Pong; if the sender holds no bond with us we ping it back.
//! - Pong: accepted only if it answers a Ping we sent to that node at that IP (hash match);
//!   it bonds the node (endpoint proof) and puts it in the table.
//! - `FindNode` / `ENRRequest`: answered only to bonded nodes at the bonded IP (no amplification).
//! - Neighbors / `ENRResponse`: accepted only as answers to our requests.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, trace};

use cachet_primitives::NodeSigner;

use crate::enr::LocalEnr;
use crate::error::{Error, Result};
use crate::node::{NodeId, NodeRecord};
use crate::v4::config::Discv4Config;
use crate::v4::handle::{Discv4Event, Discv4Handle, RemoteEnr};
use crate::v4::message::{EnrRequest, FindNode, Message, PING_VERSION, Ping, Pong};
use crate::v4::packet::{MAX_PACKET_SIZE, encode_packet};
use crate::v4::rate_limit::RateLimiter;
use crate::v4::table::{BUCKET_SIZE, Inserted, Table};

/// How far in the future our packets expire (geth: 20 s).
const EXPIRATION: u64 = 20;
/// Outstanding requests at most; further ones fail at once.
const MAX_PENDING: usize = 1024;
/// Bonds remembered at most.
const MAX_BONDS: usize = 10_000;
/// How many nodes one `FindNode` collects before it completes (Kademlia k).
const FINDNODE_RESULTS: usize = BUCKET_SIZE;

pub(crate) enum Command {
    Ping {
        node: NodeRecord,
        reply: oneshot::Sender<Result<Pong>>,
    },
    FindNode {
        node: NodeRecord,
        target: NodeId,
        reply: oneshot::Sender<Result<Vec<NodeRecord>>>,
    },
    RequestEnr {
        node: NodeRecord,
        reply: oneshot::Sender<Result<RemoteEnr>>,
    },
    HoldsOurProof {
        node: NodeRecord,
        reply: oneshot::Sender<bool>,
    },
    Closest {
        target: [u8; 32],
        n: usize,
        reply: oneshot::Sender<Vec<NodeRecord>>,
    },
    Table {
        reply: oneshot::Sender<Vec<NodeRecord>>,
    },
    Shutdown,
}

enum Waiting {
    /// `reply` is None for our own pings (bond-back, revalidation).
    Pong {
        hash: [u8; 32],
        record: NodeRecord,
        reply: Option<oneshot::Sender<Result<Pong>>>,
    },
    Neighbors {
        nodes: Vec<NodeRecord>,
        reply: oneshot::Sender<Result<Vec<NodeRecord>>>,
    },
    Enr {
        hash: [u8; 32],
        reply: oneshot::Sender<Result<RemoteEnr>>,
    },
}

struct Pending {
    node: NodeId,
    addr: SocketAddr,
    deadline: Instant,
    waiting: Waiting,
}

mod handlers;

pub(crate) struct Service {
    key: Box<dyn NodeSigner>,
    config: Discv4Config,
    socket: UdpSocket,
    local: NodeRecord,
    enr: LocalEnr,
    enr_rlp: Vec<u8>,
    enr_seq: u64,
    table: Table,
    limiter: RateLimiter,
    pending: Vec<Pending>,
    /// When each (node, ip) last answered our Ping: it proved its endpoint to us.
    pong_received: HashMap<(NodeId, IpAddr), Instant>,
    /// When each (node, ip) last pinged us: we answered, so it holds our endpoint proof.
    ping_received: HashMap<(NodeId, IpAddr), Instant>,
    events: mpsc::Sender<Discv4Event>,
    commands: mpsc::Receiver<Command>,
}

impl Service {
    pub(crate) fn new(
        key: Box<dyn NodeSigner>,
        config: Discv4Config,
        socket: UdpSocket,
        local: NodeRecord,
        enr: LocalEnr,
        events: mpsc::Sender<Discv4Event>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        let enr_seq = enr.seq();
        let enr_rlp = enr.as_rlp().to_vec();
        Self {
            key,
            limiter: RateLimiter::new(config.rate_limit),
            config,
            socket,
            table: Table::new(local.id),
            local,
            enr,
            enr_rlp,
            enr_seq,
            pending: Vec::new(),
            pong_received: HashMap::new(),
            ping_received: HashMap::new(),
            events,
            commands,
        }
    }

    pub(crate) async fn run(mut self, weak: mpsc::WeakSender<Command>) {
        let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut next_refresh = Instant::now() + self.config.refresh_interval;
        let mut next_revalidate = Instant::now() + self.config.revalidate_interval;
        loop {
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        let datagram = buf.get(..len).unwrap_or_default().to_vec();
                        self.on_datagram(&datagram, from).await;
                    }
                    Err(e) => debug!(target: "cachet::discovery::discv4", error = %e, "udp receive failed"),
                },
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => self.on_command(command).await,
                },
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.expire(now);
                    if !self.config.refresh_interval.is_zero() && now >= next_refresh {
                        next_refresh = now + self.config.refresh_interval;
                        if let Some(commands) = weak.upgrade() {
                            refresh(commands, self.local, self.enr.clone());
                        }
                    }
                    if now >= next_revalidate {
                        next_revalidate = now + self.config.revalidate_interval;
                        self.revalidate(now).await;
                    }
                }
            }
        }
        for p in self.pending.drain(..) {
            fail(p.waiting, Error::Stopped);
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Ping { node, reply } => self.send_ping(node, Some(reply)).await,
            Command::FindNode {
                node,
                target,
                reply,
            } => {
                if self.pending.len() >= MAX_PENDING {
                    let _ = reply.send(Err(Error::Timeout {
                        peer: node.endpoint.udp_addr(),
                    }));
                    return;
                }
                let message = Message::FindNode(FindNode {
                    target: target.0,
                    expiration: expiry(),
                });
                if self
                    .send(&message, node.endpoint.udp_addr())
                    .await
                    .is_some()
                {
                    self.pending.push(Pending {
                        node: node.id,
                        addr: node.endpoint.udp_addr(),
                        deadline: Instant::now() + self.config.request_timeout,
                        waiting: Waiting::Neighbors {
                            nodes: Vec::new(),
                            reply,
                        },
                    });
                }
            }
            Command::RequestEnr { node, reply } => {
                let message = Message::EnrRequest(EnrRequest {
                    expiration: expiry(),
                });
                if let Some(hash) = self.send(&message, node.endpoint.udp_addr()).await {
                    self.pending.push(Pending {
                        node: node.id,
                        addr: node.endpoint.udp_addr(),
                        deadline: Instant::now() + self.config.request_timeout,
                        waiting: Waiting::Enr { hash, reply },
                    });
                }
            }
            Command::HoldsOurProof { node, reply } => {
                let _ = reply.send(self.is_fresh(&self.ping_received, node.id, node.endpoint.ip));
            }
            Command::Closest { target, n, reply } => {
                let mut nodes = self.table.closest(&target, n);
                if nodes.is_empty() {
                    nodes = self.config.bootnodes.clone();
                }
                let _ = reply.send(nodes);
            }
            Command::Table { reply } => {
                let _ = reply.send(self.table.entries().map(|e| e.record).collect());
            }
            Command::Shutdown => {}
        }
    }

    async fn send_ping(&mut self, node: NodeRecord, reply: Option<oneshot::Sender<Result<Pong>>>) {
        if self.pending.len() >= MAX_PENDING {
            if let Some(reply) = reply {
                let _ = reply.send(Err(Error::Timeout {
                    peer: node.endpoint.udp_addr(),
                }));
            }
            return;
        }
        let message = Message::Ping(Ping {
            version: PING_VERSION,
            from: self.local.endpoint,
            to: node.endpoint,
            expiration: expiry(),
            enr_seq: Some(self.enr_seq),
        });
        if let Some(hash) = self.send(&message, node.endpoint.udp_addr()).await {
            self.pending.push(Pending {
                node: node.id,
                addr: node.endpoint.udp_addr(),
                deadline: Instant::now() + self.config.request_timeout,
                waiting: Waiting::Pong {
                    hash,
                    record: node,
                    reply,
                },
            });
        }
    }

    /// Signs and sends; returns the packet hash. Failures are logged (a wiped key stops
    /// discovery from answering, which is what revocation wants).
    async fn send(&self, message: &Message, to: SocketAddr) -> Option<[u8; 32]> {
        let (packet, hash) = match encode_packet(self.key.as_ref(), message) {
            Ok(p) => p,
            Err(e) => {
                debug!(target: "cachet::discovery::discv4", error = %e, "cannot sign a discv4 packet");
                return None;
            }
        };
        match self.socket.send_to(&packet, to).await {
            Ok(_) => {
                trace!(target: "cachet::discovery::discv4", %to, message = message.name(), "sent");
                Some(hash)
            }
            Err(e) => {
                debug!(target: "cachet::discovery::discv4", %to, error = %e, "udp send failed");
                None
            }
        }
    }

    fn add(&mut self, record: NodeRecord, now: Instant) {
        if !usable(&record) {
            return;
        }
        if self.table.insert(record, now) == Inserted::Added {
            let _ = self.events.try_send(Discv4Event::NodeAdded(record));
        }
    }

    fn is_fresh(&self, map: &HashMap<(NodeId, IpAddr), Instant>, id: NodeId, ip: IpAddr) -> bool {
        map.get(&(id, ip))
            .is_some_and(|t| t.elapsed() < self.config.bond_expiration)
    }

    fn expire(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending.get(i).is_some_and(|p| p.deadline <= now) {
                let p = self.pending.swap_remove(i);
                match p.waiting {
                    // Whatever Neighbors arrived before the deadline is the answer.
                    Waiting::Neighbors { nodes, reply } if !nodes.is_empty() => {
                        let _ = reply.send(Ok(nodes));
                    }
                    Waiting::Pong { reply: None, .. } => {
                        if self.table.remove(&p.node, now) {
                            let _ = self.events.try_send(Discv4Event::NodeRemoved(p.node));
                        }
                    }
                    waiting => fail(waiting, Error::Timeout { peer: p.addr }),
                }
            } else {
                i += 1;
            }
        }
    }

    async fn revalidate(&mut self, now: Instant) {
        let oldest = self
            .table
            .entries()
            .filter(|e| {
                now.saturating_duration_since(e.last_seen) >= self.config.revalidate_interval
            })
            .min_by_key(|e| e.last_seen)
            .map(|e| e.record);
        if let Some(record) = oldest {
            self.send_ping(record, None).await;
        }
    }
}

fn refresh(commands: mpsc::Sender<Command>, local: NodeRecord, enr: LocalEnr) {
    tokio::spawn(async move {
        let handle = Discv4Handle::new(commands, local, enr);
        let mut target = [0u8; 64];
        rand::Rng::fill(&mut rand::thread_rng(), &mut target[..]);
        let _ = handle.lookup(NodeId(target)).await;
    });
}

fn fail(waiting: Waiting, error: Error) {
    match waiting {
        Waiting::Pong {
            reply: Some(reply), ..
        } => {
            let _ = reply.send(Err(error));
        }
        Waiting::Pong { reply: None, .. } => {}
        Waiting::Neighbors { reply, .. } => {
            let _ = reply.send(Err(error));
        }
        Waiting::Enr { reply, .. } => {
            let _ = reply.send(Err(error));
        }
    }
}

/// A node we can talk to: a unicast address and a discovery port.
fn usable(record: &NodeRecord) -> bool {
    let ip = record.endpoint.ip;
    record.endpoint.udp != 0
        && !ip.is_unspecified()
        && !ip.is_multicast()
        && record.id.public_key().is_some()
}

fn bounded_insert(
    map: &mut HashMap<(NodeId, IpAddr), Instant>,
    key: (NodeId, IpAddr),
    now: Instant,
    ttl: Duration,
) {
    if map.len() >= MAX_BONDS && !map.contains_key(&key) {
        map.retain(|_, t| now.saturating_duration_since(*t) < ttl);
        if map.len() >= MAX_BONDS {
            map.clear();
        }
    }
    map.insert(key, now);
}

/// Whether a packet's expiration has passed. Like geth, the field is read as a signed 64-bit
/// time: values of 2^63 and above are negative, hence expired (geth's conformance suite sends
/// `-(now + 20)` as an expired timestamp).
pub(crate) fn is_expired(expiration: u64, now: u64) -> bool {
    i64::try_from(expiration).is_err() || expiration < now
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn expiry() -> u64 {
    unix_now() + EXPIRATION
}

#[cfg(test)]
mod tests {
    use super::is_expired;

    #[test]
    fn rejects_past_and_negative_expirations() {
        let now = 1_800_000_000;
        assert!(!is_expired(now, now));
        assert!(!is_expired(now + 20, now));
        assert!(is_expired(now - 1, now));
        // geth's suite: uint64(-(now + 20)).
        assert!(is_expired((now + 20).wrapping_neg(), now));
        assert!(is_expired(1 << 63, now));
        assert!(!is_expired(i64::MAX as u64, now));
    }
}
