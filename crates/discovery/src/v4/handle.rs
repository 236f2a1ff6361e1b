//! The public face of the discv4 service: [`Discv4::spawn`] and the cloneable [`Discv4Handle`].

use std::collections::HashSet;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use cachet_primitives::NodeSigner;

use crate::enr::{EnrFields, LocalEnr, local_enr};
use crate::error::{Error, Result};
use crate::node::{Endpoint, NodeId, NodeRecord};
use crate::v4::config::Discv4Config;
use crate::v4::message::Pong;
use crate::v4::service::{Command, Service};
use crate::v4::table::{BUCKET_SIZE, xor};

/// A node record received in an `ENRResponse` (signature verified).
pub type RemoteEnr = enr::Enr<enr::k256::ecdsa::SigningKey>;

/// Parallel requests per lookup round (Kademlia alpha).
const ALPHA: usize = 3;

/// What the service reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discv4Event {
    /// A node proved its endpoint and entered the table.
    NodeAdded(NodeRecord),
    /// A node stopped answering and left the table.
    NodeRemoved(NodeId),
}

/// Starts the discv4 service.
#[derive(Debug)]
pub struct Discv4;

impl Discv4 {
    /// Binds `config.listen`, signs our ENR, pings the bootnodes and runs the service on the
    /// current tokio runtime. Returns a handle and the event stream (events are dropped when
    /// the receiver lags by 1024).
    ///
    /// # Errors
    /// [`Error::Bind`] when the socket cannot be bound, [`Error::Enr`] when the record cannot
    /// be signed (keys wiped).
    pub async fn spawn(
        node_key: impl NodeSigner + 'static,
        config: Discv4Config,
    ) -> Result<(Discv4Handle, mpsc::Receiver<Discv4Event>)> {
        let socket = UdpSocket::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let bound = socket.local_addr().map_err(|source| Error::Bind {
            addr: config.listen,
            source,
        })?;
        let ip = config.external_ip.unwrap_or(bound.ip());
        let local = NodeRecord {
            id: node_key.node_id(),
            endpoint: Endpoint {
                ip,
                udp: bound.port(),
                tcp: config.tcp_port,
            },
        };
        let enr = local_enr(
            &node_key,
            &EnrFields {
                seq: config.enr_seq,
                ip,
                udp: bound.port(),
                tcp: config.tcp_port,
                fork_id: config.fork_id,
            },
        )?;
        let (commands, command_rx) = mpsc::channel(256);
        let (events, event_rx) = mpsc::channel(1024);
        let handle = Discv4Handle {
            commands,
            local,
            enr: enr.clone(),
        };
        let bootnodes = config.bootnodes.clone();
        let service = Service::new(
            Box::new(node_key),
            config,
            socket,
            local,
            enr,
            events,
            command_rx,
        );
        tokio::spawn(service.run(handle.commands.downgrade()));
        for node in bootnodes {
            let h = handle.clone();
            tokio::spawn(async move {
                if h.ping(node).await.is_ok() {
                    let _ = h.lookup(h.local.id).await;
                }
            });
        }
        Ok((handle, event_rx))
    }
}

/// Talks to a running discv4 service. Cloneable; the service stops with
/// [`Discv4Handle::shutdown`] or when every handle is dropped.
#[derive(Clone, Debug)]
pub struct Discv4Handle {
    pub(crate) commands: mpsc::Sender<Command>,
    local: NodeRecord,
    enr: LocalEnr,
}

impl Discv4Handle {
    pub(crate) fn new(commands: mpsc::Sender<Command>, local: NodeRecord, enr: LocalEnr) -> Self {
        Self {
            commands,
            local,
            enr,
        }
    }

    /// Our node: id and announced endpoint (its `Display` is the enode URL).
    pub fn local_record(&self) -> NodeRecord {
        self.local
    }

    /// Our signed ENR.
    pub fn local_enr(&self) -> &LocalEnr {
        &self.enr
    }

    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Pings `node` and waits for its Pong; a Pong bonds it and adds it to the table.
    ///
    /// # Errors
    /// [`Error::Timeout`] without an answer, [`Error::Stopped`] after shutdown.
    pub async fn ping(&self, node: NodeRecord) -> Result<Pong> {
        self.call(|reply| Command::Ping { node, reply }).await?
    }

    /// Asks `node` for the nodes closest to `target`, bonding first if `node` has no proof of
    /// our endpoint (as geth does: ping, then give it time to ping back).
    ///
    /// # Errors
    /// [`Error::Timeout`] when neither a Pong nor any Neighbors arrive.
    pub async fn find_node(&self, node: NodeRecord, target: NodeId) -> Result<Vec<NodeRecord>> {
        self.ensure_bond(node).await?;
        self.call(|reply| Command::FindNode {
            node,
            target,
            reply,
        })
        .await?
    }

    /// Asks `node` for its ENR (EIP-868), bonding first like [`Self::find_node`].
    ///
    /// # Errors
    /// [`Error::Timeout`] without an answer. A record that does not verify or whose key is not
    /// the node's is dropped, so it times out too.
    pub async fn request_enr(&self, node: NodeRecord) -> Result<RemoteEnr> {
        self.ensure_bond(node).await?;
        self.call(|reply| Command::RequestEnr { node, reply })
            .await?
    }

    async fn ensure_bond(&self, node: NodeRecord) -> Result<()> {
        let proven = self
            .call(|reply| Command::HoldsOurProof { node, reply })
            .await?;
        if !proven {
            self.ping(node).await?;
            // Give the node time to ping us back and receive our Pong (geth: respTimeout).
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(())
    }

    /// The table's contents.
    ///
    /// # Errors
    /// [`Error::Stopped`] after shutdown.
    pub async fn table(&self) -> Result<Vec<NodeRecord>> {
        self.call(|reply| Command::Table { reply }).await
    }

    /// Iterative Kademlia lookup of `target`: returns up to 16 closest nodes found.
    ///
    /// # Errors
    /// [`Error::Stopped`] after shutdown.
    pub async fn lookup(&self, target: NodeId) -> Result<Vec<NodeRecord>> {
        let key = target.kad_id();
        let mut seen: HashSet<NodeId> = HashSet::from([self.local.id]);
        let mut asked: HashSet<NodeId> = HashSet::new();
        let mut result: Vec<NodeRecord> = self
            .call(|reply| Command::Closest {
                target: key,
                n: BUCKET_SIZE,
                reply,
            })
            .await?;
        seen.extend(result.iter().map(|r| r.id));
        loop {
            let round: Vec<NodeRecord> = result
                .iter()
                .filter(|r| !asked.contains(&r.id))
                .take(ALPHA)
                .copied()
                .collect();
            if round.is_empty() {
                break;
            }
            asked.extend(round.iter().map(|r| r.id));
            let mut tasks = Vec::with_capacity(round.len());
            for node in round {
                let h = self.clone();
                tasks.push(tokio::spawn(async move { h.find_node(node, target).await }));
            }
            for task in tasks {
                if let Ok(Ok(nodes)) = task.await {
                    for n in nodes {
                        if seen.insert(n.id) {
                            result.push(n);
                        }
                    }
                }
            }
            result.sort_by_cached_key(|r| xor(&r.id.kad_id(), &key));
            result.truncate(BUCKET_SIZE);
        }
        Ok(result)
    }

    /// Stops the service (pending requests fail with [`Error::Stopped`]).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown).await;
    }
}
