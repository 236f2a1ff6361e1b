//! Bounded RLP reading for discv4 bodies: lists are read field by field and extra trailing
//! elements are ignored (EIP-8). Every read goes through `alloy_rlp`, which checks lengths.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_rlp::{Decodable, Encodable, Header};

use crate::discovery::error::DecodeError;
use crate::discovery::node::{Endpoint, NodeId, NodeRecord};

/// The fields of one RLP list, read in order.
pub(crate) struct ListReader<'a> {
    message: &'static str,
    rest: &'a [u8],
}

impl<'a> ListReader<'a> {
    /// Opens the list at the front of `buf` and advances `buf` past it.
    pub(crate) fn open(message: &'static str, buf: &mut &'a [u8]) -> Result<Self, DecodeError> {
        let rest = Header::decode_bytes(buf, true).map_err(|reason| rlp(message, reason))?;
        Ok(Self { message, rest })
    }

    /// Decodes the next field.
    pub(crate) fn next<T: Decodable>(&mut self) -> Result<T, DecodeError> {
        T::decode(&mut self.rest).map_err(|reason| rlp(self.message, reason))
    }

    /// Opens the next field as a list.
    pub(crate) fn list(&mut self) -> Result<Self, DecodeError> {
        Self::open(self.message, &mut self.rest)
    }

    /// Decodes the next field as a byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        Header::decode_bytes(&mut self.rest, false).map_err(|reason| rlp(self.message, reason))
    }

    /// The next field as a `u64` if there is one and it is one; any other extra element is
    /// ignored (EIP-8), so an optional trailing field never makes a packet fail.
    pub(crate) fn optional_u64(&mut self) -> Option<u64> {
        let mut probe = self.rest;
        let value = u64::decode(&mut probe).ok()?;
        self.rest = probe;
        Some(value)
    }

    /// The unread part of the list.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Whether every field was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// An IP address field: 4 or 16 bytes (an empty string reads as 0.0.0.0, as some
    /// implementations send for an unknown address).
    pub(crate) fn ip(&mut self) -> Result<IpAddr, DecodeError> {
        let bytes = self.bytes()?;
        if bytes.is_empty() {
            return Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
            return Ok(IpAddr::V4(Ipv4Addr::from(v4)));
        }
        if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
            return Ok(IpAddr::V6(Ipv6Addr::from(v6)));
        }
        Err(DecodeError::IpLength {
            message: self.message,
            len: bytes.len(),
        })
    }

    /// An endpoint `[ip, udp, tcp, …]`.
    pub(crate) fn endpoint(&mut self) -> Result<Endpoint, DecodeError> {
        let mut list = self.list()?;
        let ip = list.ip()?;
        let udp = list.next()?;
        let tcp = list.next()?;
        Ok(Endpoint { ip, udp, tcp })
    }

    /// A node `[ip, udp, tcp, id, …]`.
    pub(crate) fn node(&mut self) -> Result<NodeRecord, DecodeError> {
        let mut list = self.list()?;
        let ip = list.ip()?;
        let udp = list.next()?;
        let tcp = list.next()?;
        let id = NodeId(list.next()?);
        Ok(NodeRecord {
            id,
            endpoint: Endpoint { ip, udp, tcp },
        })
    }
}

fn rlp(message: &'static str, reason: alloy_rlp::Error) -> DecodeError {
    DecodeError::Rlp { message, reason }
}

/// Builds an RLP list from already-encoded fields.
pub(crate) struct ListWriter {
    payload: Vec<u8>,
}

impl ListWriter {
    pub(crate) fn new() -> Self {
        Self {
            payload: Vec::with_capacity(128),
        }
    }

    pub(crate) fn field<T: Encodable + ?Sized>(&mut self, value: &T) -> &mut Self {
        value.encode(&mut self.payload);
        self
    }

    pub(crate) fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.payload.extend_from_slice(encoded);
        self
    }

    pub(crate) fn ip(&mut self, ip: IpAddr) -> &mut Self {
        match ip {
            IpAddr::V4(v4) => self.field(&v4.octets()[..]),
            IpAddr::V6(v6) => self.field(&v6.octets()[..]),
        }
    }

    pub(crate) fn endpoint(&mut self, e: &Endpoint) -> &mut Self {
        let list = Self::new().ip(e.ip).field(&e.udp).field(&e.tcp).finish();
        self.raw(&list)
    }

    pub(crate) fn node(&mut self, n: &NodeRecord) -> &mut Self {
        let e = &n.endpoint;
        let list = Self::new()
            .ip(e.ip)
            .field(&e.udp)
            .field(&e.tcp)
            .field(&n.id.0)
            .finish();
        self.raw(&list)
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 9);
        Header {
            list: true,
            payload_length: self.payload.len(),
        }
        .encode(&mut out);
        out.append(&mut self.payload);
        out
    }
}
