//! Enode URLs: `enode://<128 hex node id>@ip:tcp[?discport=udp]`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use secp256k1::PublicKey;

use crate::Error;
use crate::rlpx::handshake::{node_id, public_key};

/// A node's 64-byte id: its uncompressed secp256k1 public key without the `0x04` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 64]);

impl PeerId {
    /// The id of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        Self(node_id(key))
    }

    /// The public key, if the id is a curve point.
    pub fn public_key(&self) -> Option<PublicKey> {
        public_key(&self.0, "node id").ok()
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = hex::encode(self.0.get(..8).unwrap_or_default());
        write!(f, "PeerId({short}…)")
    }
}

/// A parsed enode URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enode {
    /// The node id.
    pub id: PeerId,
    /// The TCP (RLPx) address.
    pub addr: SocketAddr,
    /// The UDP discovery port when it differs from the TCP port.
    pub discport: Option<u16>,
}

impl Enode {
    /// The node's public key.
    ///
    /// # Errors
    /// [`Error::InvalidEnode`] when the id is not on the curve (checked at parse time too).
    pub fn public_key(&self) -> Result<PublicKey, Error> {
        self.id.public_key().ok_or_else(|| Error::InvalidEnode {
            url: self.to_string(),
            reason: "node id is not a secp256k1 public key",
        })
    }
}

impl fmt::Display for Enode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enode://{}@{}", self.id, self.addr)?;
        if let Some(d) = self.discport.filter(|d| *d != self.addr.port()) {
            write!(f, "?discport={d}")?;
        }
        Ok(())
    }
}

impl FromStr for Enode {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidEnode {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("enode://")
            .ok_or_else(|| bad("missing enode:// scheme"))?;
        let (id_hex, rest) = rest
            .split_once('@')
            .ok_or_else(|| bad("missing @host:port"))?;
        let mut id = [0u8; 64];
        hex::decode_to_slice(id_hex, &mut id).map_err(|_| bad("node id is not 128 hex digits"))?;
        let id = PeerId(id);
        id.public_key()
            .ok_or_else(|| bad("node id is not a secp256k1 public key"))?;
        let (host, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let addr: SocketAddr = host
            .parse()
            .map_err(|_| bad("host is not ip:port (DNS names are not resolved)"))?;
        let discport = match query {
            None => None,
            Some(q) => {
                let v = q
                    .strip_prefix("discport=")
                    .ok_or_else(|| bad("unknown query parameter"))?;
                Some(
                    v.parse::<u16>()
                        .map_err(|_| bad("discport is not a port number"))?,
                )
            }
        };
        Ok(Self { id, addr, discport })
    }
}

/// The address to advertise for a listener bound to `addr` (unspecified → loopback).
pub(crate) fn advertised(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip: IpAddr = if addr.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd31387574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f";

    #[test]
    fn round_trips_enode_urls() {
        for url in [
            format!("enode://{ID}@127.0.0.1:30303"),
            format!("enode://{ID}@10.0.0.1:30303?discport=30301"),
            format!("enode://{ID}@[::1]:30303"),
        ] {
            let e: Enode = url.parse().unwrap();
            assert_eq!(e.to_string(), url);
        }
    }

    #[test]
    fn rejects_malformed_enode_urls() {
        for url in [
            format!("enode://{ID}"),
            format!("enr://{ID}@127.0.0.1:1"),
            format!("enode://{}@127.0.0.1:1", &ID[..126]),
            format!("enode://{}@127.0.0.1:1", "00".repeat(64)),
            format!("enode://{ID}@localhost:1"),
            format!("enode://{ID}@127.0.0.1:1?x=1"),
            format!("enode://{ID}@127.0.0.1:1?discport=70000"),
        ] {
            assert!(url.parse::<Enode>().is_err(), "{url}");
        }
    }
}
