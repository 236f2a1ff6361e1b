//! discv4 bodies on the one bounded RLP reader ([`cachet_primitives::rlp::Reader`]): lists are
//! read field by field and extra trailing elements are ignored (EIP-8).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use alloy_rlp::{Encodable, Header};
use cachet_primitives::rlp::Reader;

use crate::error::DecodeError;
use crate::node::{Endpoint, NodeId, NodeRecord};

/// The fields of one RLP list, read in order.
pub(crate) struct ListReader<'a> {
    message: &'static str,
    list: Reader<'a>,
}

impl<'a> ListReader<'a> {
    /// Opens the list at the front of `buf` and advances `buf` past it.
    pub(crate) fn open(message: &'static str, buf: &mut &'a [u8]) -> Result<Self, DecodeError> {
        let mut outer = Reader::new(buf);
        let list = outer.list(message).map_err(|e| rlp(message, e))?;
        *buf = outer.rest();
        Ok(Self { message, list })
    }

    /// The next field as a canonical unsigned integer.
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        self.list
            .u64(self.message)
            .map_err(|e| rlp(self.message, e))
    }

    /// The next field as a port.
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        self.list
            .u16(self.message)
            .map_err(|e| rlp(self.message, e))
    }

    /// The next field as a string of exactly `N` bytes.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.list
            .array(self.message)
            .map_err(|e| rlp(self.message, e))
    }

    /// Opens the next field as a list.
    pub(crate) fn list(&mut self) -> Result<Self, DecodeError> {
        let list = self
            .list
            .list(self.message)
            .map_err(|e| rlp(self.message, e))?;
        Ok(Self {
            message: self.message,
            list,
        })
    }

    /// The next field, which must be a list, as its full encoding (header included).
    pub(crate) fn raw_list(&mut self) -> Result<&'a [u8], DecodeError> {
        let mut probe = self.list;
        probe.list(self.message).map_err(|e| rlp(self.message, e))?;
        self.list
            .raw(self.message)
            .map_err(|e| rlp(self.message, e))
    }

    /// Decodes the next field as a byte string.
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        self.list
            .bytes(self.message)
            .map_err(|e| rlp(self.message, e))
    }

    /// The next field as a `u64` if there is one and it is one; any other extra element is
    /// ignored (EIP-8), so an optional trailing field never makes a packet fail.
    pub(crate) fn optional_u64(&mut self) -> Option<u64> {
        self.list.optional_u64()
    }

    /// Whether every field was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
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
        let udp = list.u16()?;
        let tcp = list.u16()?;
        Ok(Endpoint { ip, udp, tcp })
    }

    /// A node `[ip, udp, tcp, id, …]`.
    pub(crate) fn node(&mut self) -> Result<NodeRecord, DecodeError> {
        let mut list = self.list()?;
        let ip = list.ip()?;
        let udp = list.u16()?;
        let tcp = list.u16()?;
        let id = NodeId(list.array()?);
        Ok(NodeRecord {
            id,
            endpoint: Endpoint { ip, udp, tcp },
        })
    }
}

fn rlp(message: &'static str, reason: cachet_primitives::DecodeError) -> DecodeError {
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
