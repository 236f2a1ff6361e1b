//! One task per peer: handshake (RLPx, Hello, Status) under a timeout, then the message loop
//! with pings and an idle limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::eth::{EthMessage, EthVersion, Status, id as eth_id};
use crate::net::backoff::Ended;
use crate::net::network::{Admission, PEER_QUEUE, PeerEntry, Shared, direction};
use crate::net::{Enode, NetworkEvent, PeerId, PeerInfo};
use crate::p2p::message::{self, DISCONNECT, EMPTY_LIST, PING, PONG};
use crate::p2p::{BASE_PROTOCOL_LENGTH, DisconnectReason, Session, SharedCapability};
use crate::rlpx::{self, RlpxStream};
use crate::{ChainMismatch, Error, PeerLabel, Result};

/// What the handle asks a peer task to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send an eth message.
    Send(EthMessage),
    /// Send an `istanbul/100` message (code relative to its offset, payload as on the wire).
    Consensus {
        /// The relative code.
        code: u64,
        /// The payload.
        payload: alloy_primitives::Bytes,
    },
    /// Send a `raft/1` message (one encoded raft message).
    Raft(alloy_primitives::Bytes),
    /// Disconnect with a reason.
    Disconnect(DisconnectReason),
}

/// How the connection started.
#[derive(Debug)]
pub(crate) enum Origin {
    /// We dial this node.
    Dial(Enode),
    /// The node dialled us.
    Accepted(TcpStream, SocketAddr),
}

/// Runs a peer from TCP connect or accept to the end, logging failures and recording in the
/// redial backoff how our dials and every admitted session ended.
pub(crate) async fn run(shared: Arc<Shared>, origin: Origin) {
    shared.pending.fetch_add(1, Ordering::Relaxed);
    let dialled = match &origin {
        Origin::Dial(e) => Some(e.id),
        Origin::Accepted(..) => None,
    };
    let dial = dialled.is_some();
    let (label, addr) = match &origin {
        Origin::Dial(e) => (PeerLabel(e.to_string()), e.addr),
        Origin::Accepted(_, addr) => (PeerLabel::from(*addr), *addr),
    };
    let timeout = shared.config.handshake_timeout;
    let established =
        tokio::time::timeout(timeout, establish(&shared, origin, label.clone(), dial)).await;
    shared.pending.fetch_sub(1, Ordering::Relaxed);
    let (session, id, status, eth) = match established {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::info!(target: "cachet::devp2p", peer = %label, error = &e as &dyn std::error::Error, "peer handshake failed");
            // A dial that lost to the crossing connection ("already connected", from either
            // side) is no failure of the peer.
            let duplicate = matches!(
                e,
                Error::Disconnected {
                    reason: DisconnectReason::AlreadyConnected,
                    ..
                }
            );
            if let Some(id) = dialled.filter(|_| !duplicate) {
                shared.connection_ended(id, Ended::Failed);
            }
            return;
        }
        Err(_) => {
            let e = Error::Timeout {
                step: "devp2p handshake",
                peer: label,
                secs: timeout.as_secs(),
            };
            tracing::info!(target: "cachet::devp2p", error = %e, "peer handshake failed");
            if let Some(id) = dialled {
                shared.connection_ended(id, Ended::Failed);
            }
            return;
        }
    };
    let info = PeerInfo {
        id,
        addr,
        direction: direction(dial),
        hello: session.remote_hello().clone(),
        eth,
        status,
        istanbul: istanbul_capability(&session).is_some(),
        raft: raft_capability(&session).is_some(),
    };
    let (tx, rx) = mpsc::channel(PEER_QUEUE);
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let (refused, replaced) = {
        let mut peers = shared.peers();
        match shared.admit(&peers, &id, info.direction) {
            Admission::Refuse(reason) => (Some(reason), None),
            admission => {
                let entry = PeerEntry {
                    tx,
                    info: info.clone(),
                    connection,
                    since: Instant::now(),
                };
                let old = peers.insert(id, entry);
                (None, old.filter(|_| admission == Admission::Replace))
            }
        }
    };
    let mut session = session;
    if let Some(reason) = refused {
        session.disconnect(reason).await;
        if reason != DisconnectReason::AlreadyConnected
            && let Some(id) = dialled
        {
            shared.connection_ended(id, Ended::Failed);
        }
        return;
    }
    let admitted = Instant::now();
    if let Some(old) = replaced {
        // The crossing connection we drop; its task sees it was replaced and stays silent, so
        // the node sees it leave here, before this one arrives.
        let _ = old
            .tx
            .try_send(Command::Disconnect(DisconnectReason::AlreadyConnected));
        tracing::debug!(target: "cachet::devp2p", peer = %id, "crossing connection replaced");
        let _ = shared
            .events
            .send(NetworkEvent::PeerDisconnected {
                peer: id,
                reason: DisconnectReason::AlreadyConnected,
                cause: "replaced by the crossing connection the node with the smaller id dialled"
                    .to_owned(),
            })
            .await;
    }
    if shared
        .events
        .send(NetworkEvent::PeerConnected(info))
        .await
        .is_err()
    {
        remove_if_current(&shared, &id, connection);
        session.disconnect(DisconnectReason::ClientQuitting).await;
        return;
    }
    let (reason, cause) = match serve(&shared, &mut session, id, rx).await {
        Ok(reason) => (reason, reason.to_string()),
        Err(e) => {
            let reason = e.disconnect_reason();
            if !matches!(
                e,
                Error::Disconnected { .. } | Error::Closed { .. } | Error::Io { .. }
            ) {
                session.disconnect(reason).await;
            }
            (reason, e.to_string())
        }
    };
    if !remove_if_current(&shared, &id, connection) {
        // Replaced by the crossing connection, which reported the change.
        return;
    }
    tracing::info!(target: "cachet::devp2p", peer = %id, %reason, %cause, "peer disconnected");
    shared.connection_ended(id, Ended::Session(admitted.elapsed()));
    let _ = shared
        .events
        .send(NetworkEvent::PeerDisconnected {
            peer: id,
            reason,
            cause,
        })
        .await;
}

/// Removes `id`'s entry if it is still `connection` (not replaced); returns whether it was.
fn remove_if_current(shared: &Shared, id: &PeerId, connection: u64) -> bool {
    let mut peers = shared.peers();
    if peers.get(id).is_some_and(|e| e.connection == connection) {
        peers.remove(id);
        true
    } else {
        false
    }
}

/// TCP, RLPx, capacity check, Hello and Status.
async fn establish(
    shared: &Arc<Shared>,
    origin: Origin,
    label: PeerLabel,
    dial: bool,
) -> Result<(Session<TcpStream>, PeerId, Status, EthVersion)> {
    let (mut rlpx, remote) = match origin {
        Origin::Dial(enode) => {
            let key = enode.id.public_key().ok_or_else(|| Error::Protocol {
                peer: label.clone(),
                reason: "node id is not a secp256k1 public key",
            })?;
            let tcp = TcpStream::connect(enode.addr)
                .await
                .map_err(|source| Error::Io {
                    action: "connecting to",
                    peer: label.clone(),
                    source,
                })?;
            let _ = tcp.set_nodelay(true);
            (
                rlpx::connect(tcp, shared.key.as_ref(), key, label.clone()).await?,
                key,
            )
        }
        Origin::Accepted(tcp, _) => {
            let _ = tcp.set_nodelay(true);
            rlpx::accept(tcp, shared.key.as_ref(), label.clone()).await?
        }
    };
    let id = PeerId::from_public_key(&remote);
    let label = PeerLabel(format!("{id:?}@{label}"));
    // Refuse before Hello when full or already connected (the crossing-connection rule is
    // checked again when the peer is added): Disconnect is the one message allowed in Hello's
    // place.
    let admission = {
        let peers = shared.peers();
        shared.admit(&peers, &id, direction(dial))
    };
    if let Admission::Refuse(reason) = admission {
        return Err(refuse(&mut rlpx, label, reason).await);
    }
    let mut session = Session::handshake(
        rlpx,
        &shared.hello(),
        &shared.protocols(),
        remote,
        label.clone(),
    )
    .await?;
    let (offset, version) = eth_capability(&session)?;
    session
        .send(offset + eth_id::STATUS, &shared.status(version).encode())
        .await?;
    let status = loop {
        let (msg_id, data) = session.recv().await?;
        match msg_id {
            PING => session.send(PONG, &EMPTY_LIST).await?,
            id if id < BASE_PROTOCOL_LENGTH => {}
            id if id == offset + eth_id::STATUS => {
                break Status::decode(&data).map_err(|e| Error::decode(label.clone(), e))?;
            }
            // istanbul/100 is usable only after Status (GoQuorum attaches it to the eth peer
            // once registered): an early frame is dropped, not a breach.
            id if istanbul_capability(&session).is_some_and(|c| c.relative(id).is_some()) => {
                tracing::debug!(target: "cachet::devp2p", peer = %label, msg_id = id, "istanbul/100 message before status dropped");
            }
            id if raft_capability(&session).is_some_and(|c| c.relative(id).is_some()) => {
                tracing::debug!(target: "cachet::devp2p", peer = %label, msg_id = id, "raft/1 message before status dropped");
            }
            _ => {
                return Err(Error::Protocol {
                    peer: label,
                    reason: "eth message before status",
                });
            }
        }
    };
    if let Err(e) = check_status(shared, &status, version, &label) {
        session.disconnect(e.disconnect_reason()).await;
        return Err(e);
    }
    Ok((session, id, status, version))
}

/// The message loop of an established peer. Returns the reason we disconnected, or the error.
async fn serve(
    shared: &Arc<Shared>,
    session: &mut Session<TcpStream>,
    id: PeerId,
    mut rx: mpsc::Receiver<Command>,
) -> Result<DisconnectReason> {
    let (offset, version) = eth_capability(session)?;
    let istanbul = istanbul_capability(session).cloned();
    let raft = raft_capability(session).cloned();
    let mut stop = shared.shutdown.subscribe();
    let mut ping = tokio::time::interval(shared.config.ping_interval);
    ping.tick().await;
    let mut last_seen = Instant::now();
    loop {
        let idle = tokio::time::sleep_until(last_seen + shared.config.idle_timeout);
        tokio::select! {
            r = session.recv() => {
                let (msg_id, data) = r?;
                last_seen = Instant::now();
                match msg_id {
                    PING => session.send(PONG, &EMPTY_LIST).await?,
                    PONG => {}
                    // Reserved p2p ids: ignored for forward compatibility.
                    m if m < BASE_PROTOCOL_LENGTH => {}
                    m => {
                        if let Some(code) = istanbul.as_ref().and_then(|c| c.relative(m)) {
                            if !crate::istanbul::accept(code, &data).map_err(|e| Error::decode(session.peer().clone(), e))? {
                                tracing::debug!(target: "cachet::devp2p", peer = %id, code, "istanbul/100 message with an unused code ignored");
                                continue;
                            }
                            let event = NetworkEvent::Consensus { peer: id, code, payload: data.into() };
                            if shared.events.send(event).await.is_err() {
                                session.disconnect(DisconnectReason::ClientQuitting).await;
                                return Ok(DisconnectReason::ClientQuitting);
                            }
                            continue;
                        }
                        if let Some(code) = raft.as_ref().and_then(|c| c.relative(m)) {
                            if !crate::raft::accept(code, &data).map_err(|e| Error::decode(session.peer().clone(), e))? {
                                tracing::debug!(target: "cachet::devp2p", peer = %id, code, "raft/1 message with an unknown code ignored");
                                continue;
                            }
                            let event = NetworkEvent::Raft { peer: id, payload: data.into() };
                            if shared.events.send(event).await.is_err() {
                                session.disconnect(DisconnectReason::ClientQuitting).await;
                                return Ok(DisconnectReason::ClientQuitting);
                            }
                            continue;
                        }
                        let rel = m.checked_sub(offset).filter(|r| *r < version.messages());
                        let Some(rel) = rel else {
                            return Err(Error::decode(session.peer().clone(), crate::DecodeError::UnknownMessage { id: m }));
                        };
                        if rel == eth_id::STATUS {
                            return Err(Error::Protocol { peer: session.peer().clone(), reason: "second status" });
                        }
                        let message = EthMessage::decode(version, rel, &data).map_err(|e| Error::decode(session.peer().clone(), e))?;
                        // eth/66 `GetNodeData`: we hold no hash-addressed state to serve; an
                        // empty answer is valid ("may return fewer") and keeps the peer.
                        if let EthMessage::GetNodeData { request_id, .. } = message {
                            let answer = EthMessage::NodeData { request_id, values: Vec::new() };
                            session.send(offset + answer.id(), &answer.encode()).await?;
                            continue;
                        }
                        if shared.events.send(NetworkEvent::Message { peer: id, message }).await.is_err() {
                            session.disconnect(DisconnectReason::ClientQuitting).await;
                            return Ok(DisconnectReason::ClientQuitting);
                        }
                    }
                }
            }
            cmd = rx.recv() => {
                // `None`: the handle's entry (and sender) is gone; end the session.
                let reason = match cmd {
                    Some(Command::Send(m)) => {
                        if m.fits(version) {
                            session.send(offset + m.id(), &m.encode()).await?;
                        } else {
                            // The caller's mistake, not the peer's: drop the message, keep the peer.
                            tracing::debug!(target: "cachet::devp2p", peer = %id, %version, msg_id = m.id(), "message not sent: not in the peer's eth version");
                        }
                        continue;
                    }
                    Some(Command::Consensus { code, payload }) => {
                        // `send_consensus` only queues for peers that negotiated it.
                        if let Some(c) = &istanbul {
                            session.send(c.offset + code, &payload).await?;
                        }
                        continue;
                    }
                    Some(Command::Raft(payload)) => {
                        // `send_raft` only queues for peers that negotiated it.
                        if let Some(c) = &raft {
                            session.send(c.offset + crate::raft::RAFT_MSG, &payload).await?;
                        }
                        continue;
                    }
                    Some(Command::Disconnect(reason)) => reason,
                    None => DisconnectReason::Requested,
                };
                session.disconnect(reason).await;
                return Ok(reason);
            }
            _ = ping.tick() => session.send(PING, &EMPTY_LIST).await?,
            () = idle => {
                session.disconnect(DisconnectReason::PingTimeout).await;
                return Ok(DisconnectReason::PingTimeout);
            }
            _ = stop.changed() => {
                session.disconnect(DisconnectReason::ClientQuitting).await;
                return Ok(DisconnectReason::ClientQuitting);
            }
        }
    }
}

/// The negotiated eth capability: its offset and version.
fn eth_capability(session: &Session<TcpStream>) -> Result<(u64, EthVersion)> {
    session
        .shared()
        .iter()
        .find(|c| c.capability.name == "eth")
        .and_then(|c| Some((c.offset, EthVersion::from_number(c.capability.version)?)))
        .ok_or_else(|| Error::Protocol {
            peer: session.peer().clone(),
            reason: "no shared eth capability",
        })
}

/// The negotiated `istanbul/100`, if both sides offered it.
fn istanbul_capability(session: &Session<TcpStream>) -> Option<&SharedCapability> {
    session
        .shared()
        .iter()
        .find(|c| c.capability.name == crate::istanbul::NAME)
}

/// The negotiated `raft/1`, if both sides offered it.
fn raft_capability(session: &Session<TcpStream>) -> Option<&SharedCapability> {
    session
        .shared()
        .iter()
        .find(|c| c.capability.name == crate::raft::NAME)
}

fn check_status(
    shared: &Shared,
    status: &Status,
    version: EthVersion,
    label: &PeerLabel,
) -> Result<()> {
    let chain = &shared.config.chain;
    let bad = |mismatch| {
        Err(Error::IncompatibleChain {
            peer: label.clone(),
            mismatch,
        })
    };
    if status.version != version.number() {
        return Err(Error::Protocol {
            peer: label.clone(),
            reason: "status version differs from the negotiated eth version",
        });
    }
    if status.network_id != chain.network_id {
        return bad(ChainMismatch::NetworkId {
            theirs: status.network_id,
            ours: chain.network_id,
        });
    }
    if status.genesis != chain.genesis {
        return bad(ChainMismatch::Genesis {
            theirs: status.genesis,
            ours: chain.genesis,
        });
    }
    let head = *shared.head.borrow();
    if let Err(reason) = chain
        .forks
        .validate(status.fork_id, head.number, head.timestamp)
    {
        return bad(ChainMismatch::ForkId {
            theirs: status.fork_id,
            reason,
        });
    }
    Ok(())
}

async fn refuse(
    rlpx: &mut RlpxStream<TcpStream>,
    peer: PeerLabel,
    reason: DisconnectReason,
) -> Error {
    let frame = message::join(DISCONNECT, &reason.encode(), false);
    let _ = rlpx.send(&frame[..]).await;
    let _ = rlpx.close().await;
    Error::Disconnected { peer, reason }
}
