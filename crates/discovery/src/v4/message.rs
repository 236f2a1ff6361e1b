//! discv4 messages and their RLP bodies (discv4.md "Wire protocol", EIP-8, EIP-868).

use crate::error::DecodeError;
use crate::node::{Endpoint, NodeRecord};
use crate::v4::rlp::{ListReader, ListWriter};

/// The discv4 protocol version we send in Ping (received versions are not checked, EIP-8).
pub const PING_VERSION: u64 = 4;

/// EIP-778's limit on an encoded node record, which bounds an `ENRResponse`.
pub const MAX_ENR_SIZE: usize = 300;

/// Ping (0x01): `[version, from, to, expiration, enr-seq?, …]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    /// The sender's protocol version (4; not validated).
    pub version: u64,
    /// The sender's endpoint as it believes it to be.
    pub from: Endpoint,
    /// The recipient's endpoint as the sender sees it.
    pub to: Endpoint,
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868).
    pub enr_seq: Option<u64>,
}

/// Pong (0x02): `[to, ping-hash, expiration, enr-seq?, …]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pong {
    /// The endpoint the Ping came from, as the replier saw it.
    pub to: Endpoint,
    /// The hash of the Ping packet this answers.
    pub ping_hash: [u8; 32],
    /// Unix time after which the packet is void.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868).
    pub enr_seq: Option<u64>,
}

/// `FindNode` (0x03): `[target, expiration, …]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindNode {
    /// The public key whose neighbourhood is wanted.
    pub target: [u8; 64],
    /// Unix time after which the packet is void.
    pub expiration: u64,
}

/// Neighbors (0x04): `[[node, …], expiration, …]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbors {
    /// The nodes, at most [`MAX_NEIGHBORS`] per packet when we send.
    pub nodes: Vec<NodeRecord>,
    /// Unix time after which the packet is void.
    pub expiration: u64,
}

/// How many nodes we put in one Neighbors packet (12 × 79 bytes keeps it under 1280 bytes,
/// as geth does).
pub const MAX_NEIGHBORS: usize = 12;

/// `ENRRequest` (0x05): `[expiration, …]` (EIP-868).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrRequest {
    /// Unix time after which the packet is void.
    pub expiration: u64,
}

/// `ENRResponse` (0x06): `[request-hash, record, …]` (EIP-868).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrResponse {
    /// The hash of the `ENRRequest` packet this answers.
    pub request_hash: [u8; 32],
    /// The encoded node record (an RLP list, at most [`MAX_ENR_SIZE`] bytes).
    pub enr: Vec<u8>,
}

/// One discv4 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// 0x01.
    Ping(Ping),
    /// 0x02.
    Pong(Pong),
    /// 0x03.
    FindNode(FindNode),
    /// 0x04.
    Neighbors(Neighbors),
    /// 0x05.
    EnrRequest(EnrRequest),
    /// 0x06.
    EnrResponse(EnrResponse),
}

impl Message {
    /// The packet-type byte.
    pub fn packet_type(&self) -> u8 {
        match self {
            Self::Ping(_) => 0x01,
            Self::Pong(_) => 0x02,
            Self::FindNode(_) => 0x03,
            Self::Neighbors(_) => 0x04,
            Self::EnrRequest(_) => 0x05,
            Self::EnrResponse(_) => 0x06,
        }
    }

    /// The message name, for logs and errors.
    pub fn name(&self) -> &'static str {
        name_of(self.packet_type())
    }

    /// The expiration time, for the messages that carry one (`ENRResponse` does not).
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Self::Ping(m) => Some(m.expiration),
            Self::Pong(m) => Some(m.expiration),
            Self::FindNode(m) => Some(m.expiration),
            Self::Neighbors(m) => Some(m.expiration),
            Self::EnrRequest(m) => Some(m.expiration),
            Self::EnrResponse(_) => None,
        }
    }

    /// Encodes the RLP body (without the type byte).
    pub fn encode_body(&self) -> Vec<u8> {
        let mut w = ListWriter::new();
        match self {
            Self::Ping(m) => {
                w.field(&m.version)
                    .endpoint(&m.from)
                    .endpoint(&m.to)
                    .field(&m.expiration);
                if let Some(seq) = m.enr_seq {
                    w.field(&seq);
                }
            }
            Self::Pong(m) => {
                w.endpoint(&m.to).field(&m.ping_hash).field(&m.expiration);
                if let Some(seq) = m.enr_seq {
                    w.field(&seq);
                }
            }
            Self::FindNode(m) => {
                w.field(&m.target).field(&m.expiration);
            }
            Self::Neighbors(m) => {
                let mut nodes = ListWriter::new();
                for n in &m.nodes {
                    nodes.node(n);
                }
                w.raw(&nodes.finish()).field(&m.expiration);
            }
            Self::EnrRequest(m) => {
                w.field(&m.expiration);
            }
            Self::EnrResponse(m) => {
                w.field(&m.request_hash).raw(&m.enr);
            }
        }
        w.finish()
    }

    /// Decodes the body of a packet of type `packet_type`. Extra list elements and data after
    /// the list are ignored (EIP-8).
    ///
    /// # Errors
    /// [`DecodeError::UnknownType`] for a type discv4 does not define, [`DecodeError::Rlp`] or
    /// [`DecodeError::IpLength`] for a malformed body.
    pub fn decode_body(packet_type: u8, mut body: &[u8]) -> Result<Self, DecodeError> {
        let message = name_of(packet_type);
        if message == "unknown" {
            return Err(DecodeError::UnknownType(packet_type));
        }
        let mut r = ListReader::open(message, &mut body)?;
        Ok(match packet_type {
            0x01 => Self::Ping(Ping {
                version: r.u64()?,
                from: r.endpoint()?,
                to: r.endpoint()?,
                expiration: r.u64()?,
                enr_seq: r.optional_u64(),
            }),
            0x02 => Self::Pong(Pong {
                to: r.endpoint()?,
                ping_hash: r.array()?,
                expiration: r.u64()?,
                enr_seq: r.optional_u64(),
            }),
            0x03 => Self::FindNode(FindNode {
                target: r.array()?,
                expiration: r.u64()?,
            }),
            0x04 => {
                let mut list = r.list()?;
                let mut nodes = Vec::new();
                // Bounded by the 1280-byte packet: each node takes at least 70 bytes.
                while !list.is_empty() {
                    nodes.push(list.node()?);
                }
                Self::Neighbors(Neighbors {
                    nodes,
                    expiration: r.u64()?,
                })
            }
            0x05 => Self::EnrRequest(EnrRequest {
                expiration: r.u64()?,
            }),
            _ => {
                let request_hash = r.array()?;
                let enr = r.raw_list()?;
                if enr.len() > MAX_ENR_SIZE {
                    return Err(DecodeError::EnrTooLarge { size: enr.len() });
                }
                Self::EnrResponse(EnrResponse {
                    request_hash,
                    enr: enr.to_vec(),
                })
            }
        })
    }
}

fn name_of(packet_type: u8) -> &'static str {
    match packet_type {
        0x01 => "ping",
        0x02 => "pong",
        0x03 => "findnode",
        0x04 => "neighbors",
        0x05 => "enrrequest",
        0x06 => "enrresponse",
        _ => "unknown",
    }
}
