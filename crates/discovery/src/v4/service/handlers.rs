//! Per-message handling of received datagrams: the checks and rules listed in the parent
//! module's doc.

use std::net::SocketAddr;
use std::time::Instant;

use alloy_rlp::Decodable;
use enr::EnrPublicKey;
use tracing::trace;

use super::{
    FINDNODE_RESULTS, Service, Waiting, bounded_insert, expiry, is_expired, unix_now, usable,
};
use crate::node::{Endpoint, NodeId, NodeRecord};
use crate::v4::handle::RemoteEnr;
use crate::v4::message::{EnrResponse, FindNode, MAX_NEIGHBORS, Message, Neighbors, Ping, Pong};
use crate::v4::packet::{Packet, decode_packet};
use crate::v4::table::BUCKET_SIZE;

impl Service {
    pub(super) async fn on_datagram(&mut self, datagram: &[u8], from: SocketAddr) {
        let now = Instant::now();
        if !self.limiter.allow(from.ip(), now) {
            trace!(target: "cachet::discovery::discv4", %from, "rate limited");
            return;
        }
        let packet = match decode_packet(datagram) {
            Ok(p) => p,
            Err(e) => {
                trace!(target: "cachet::discovery::discv4", %from, error = %e, "dropped");
                return;
            }
        };
        if packet
            .message
            .expiration()
            .is_some_and(|t| is_expired(t, unix_now()))
        {
            trace!(target: "cachet::discovery::discv4", %from, message = packet.message.name(), "expired");
            return;
        }
        if packet.node_id == self.local.id {
            return;
        }
        trace!(target: "cachet::discovery::discv4", %from, message = packet.message.name(), "received");
        let Packet {
            hash,
            node_id,
            message,
        } = packet;
        match message {
            Message::Ping(ping) => self.on_ping(hash, node_id, ping, from, now).await,
            Message::Pong(pong) => self.on_pong(node_id, pong, from, now),
            Message::FindNode(find) => self.on_find_node(node_id, find, from).await,
            Message::Neighbors(neighbors) => self.on_neighbors(node_id, neighbors, from),
            Message::EnrRequest(_) => self.on_enr_request(hash, node_id, from).await,
            Message::EnrResponse(response) => self.on_enr_response(node_id, response, from),
        }
    }

    async fn on_ping(
        &mut self,
        hash: [u8; 32],
        id: NodeId,
        ping: Ping,
        from: SocketAddr,
        now: Instant,
    ) {
        let pong = Message::Pong(Pong {
            to: Endpoint {
                ip: from.ip(),
                udp: from.port(),
                tcp: ping.from.tcp,
            },
            ping_hash: hash,
            expiration: expiry(),
            enr_seq: Some(self.enr_seq),
        });
        if self.send(&pong, from).await.is_none() {
            return;
        }
        bounded_insert(
            &mut self.ping_received,
            (id, from.ip()),
            now,
            self.config.bond_expiration,
        );
        let record = NodeRecord {
            id,
            endpoint: Endpoint {
                ip: from.ip(),
                udp: from.port(),
                tcp: ping.from.tcp,
            },
        };
        if self.is_fresh(&self.pong_received, id, from.ip()) {
            self.add(record, now);
        } else {
            self.send_ping(record, None).await;
        }
    }

    fn on_pong(&mut self, id: NodeId, pong: Pong, from: SocketAddr, now: Instant) {
        let Some(pos) = self.pending.iter().position(|p| {
            p.node == id
                && p.addr.ip() == from.ip()
                && matches!(p.waiting, Waiting::Pong { hash, .. } if hash == pong.ping_hash)
        }) else {
            trace!(target: "cachet::discovery::discv4", %from, "unsolicited pong");
            return;
        };
        let p = self.pending.swap_remove(pos);
        bounded_insert(
            &mut self.pong_received,
            (id, from.ip()),
            now,
            self.config.bond_expiration,
        );
        if let Waiting::Pong { record, reply, .. } = p.waiting {
            let mut record = record;
            record.endpoint.ip = from.ip();
            record.endpoint.udp = from.port();
            self.add(record, now);
            if let Some(reply) = reply {
                let _ = reply.send(Ok(pong));
            }
        }
    }

    async fn on_find_node(&mut self, id: NodeId, find: FindNode, from: SocketAddr) {
        if !self.is_fresh(&self.pong_received, id, from.ip()) {
            trace!(target: "cachet::discovery::discv4", %from, "findnode without endpoint proof");
            return;
        }
        let target = NodeId(find.target).kad_id();
        let closest = self.table.closest(&target, BUCKET_SIZE);
        let mut chunks = closest.chunks(MAX_NEIGHBORS).peekable();
        if chunks.peek().is_none() {
            let empty = Message::Neighbors(Neighbors {
                nodes: Vec::new(),
                expiration: expiry(),
            });
            self.send(&empty, from).await;
        }
        for chunk in chunks {
            let message = Message::Neighbors(Neighbors {
                nodes: chunk.to_vec(),
                expiration: expiry(),
            });
            self.send(&message, from).await;
        }
    }

    fn on_neighbors(&mut self, id: NodeId, neighbors: Neighbors, from: SocketAddr) {
        let Some(pos) = self.pending.iter().position(|p| {
            p.node == id
                && p.addr.ip() == from.ip()
                && matches!(p.waiting, Waiting::Neighbors { .. })
        }) else {
            trace!(target: "cachet::discovery::discv4", %from, "unsolicited neighbors");
            return;
        };
        let done = match self.pending.get_mut(pos).map(|p| &mut p.waiting) {
            Some(Waiting::Neighbors { nodes, .. }) => {
                let room = FINDNODE_RESULTS.saturating_sub(nodes.len());
                nodes.extend(neighbors.nodes.into_iter().filter(usable).take(room));
                nodes.len() >= FINDNODE_RESULTS
            }
            _ => false,
        };
        if done {
            let p = self.pending.swap_remove(pos);
            if let Waiting::Neighbors { nodes, reply } = p.waiting {
                let _ = reply.send(Ok(nodes));
            }
        }
    }

    async fn on_enr_request(&mut self, hash: [u8; 32], id: NodeId, from: SocketAddr) {
        if !self.is_fresh(&self.pong_received, id, from.ip()) {
            trace!(target: "cachet::discovery::discv4", %from, "enrrequest without endpoint proof");
            return;
        }
        let message = Message::EnrResponse(EnrResponse {
            request_hash: hash,
            enr: self.enr_rlp.clone(),
        });
        self.send(&message, from).await;
    }

    fn on_enr_response(&mut self, id: NodeId, response: EnrResponse, from: SocketAddr) {
        let Some(pos) = self.pending.iter().position(|p| {
            p.node == id
                && p.addr.ip() == from.ip()
                && matches!(p.waiting, Waiting::Enr { hash, .. } if hash == response.request_hash)
        }) else {
            return;
        };
        // Decoding verifies the record's signature; the key must also be the sender's.
        let Ok(record) = RemoteEnr::decode(&mut response.enr.as_slice()) else {
            return;
        };
        if record.public_key().encode_uncompressed() != id.0 {
            return;
        }
        let p = self.pending.swap_remove(pos);
        if let Waiting::Enr { reply, .. } = p.waiting {
            let _ = reply.send(Ok(record));
        }
    }
}
