//! Node identities and addresses: [`NodeId`], [`Endpoint`], [`NodeRecord`] (enode URLs).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use sha3::{Digest, Keccak256};

use crate::discovery::error::Error;

/// A node's identity: its 64-byte uncompressed secp256k1 public key without the `0x04` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 64]);

impl NodeId {
    /// keccak256 of the id: the point in the Kademlia keyspace.
    pub fn kad_id(&self) -> [u8; 32] {
        Keccak256::digest(self.0).into()
    }

    /// The id as a secp256k1 public key, if it is a point on the curve.
    pub fn public_key(&self) -> Option<secp256k1::PublicKey> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..].copy_from_slice(&self.0);
        secp256k1::PublicKey::from_slice(&sec1).ok()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Short form, as logs want it: the first 8 bytes.
        write!(
            f,
            "NodeId({}…)",
            hex::encode(self.0.get(..8).unwrap_or_default())
        )
    }
}

/// Where a node listens: its IP, UDP (discovery) port and TCP (`RLPx`) port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 or IPv6 address.
    pub ip: IpAddr,
    /// Discovery port.
    pub udp: u16,
    /// `RLPx` port (0 when the node does not accept connections).
    pub tcp: u16,
}

impl Endpoint {
    /// The UDP socket address.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp)
    }
}

/// A node: its identity and its endpoint; displayed and parsed as an enode URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// The node id.
    pub id: NodeId,
    /// Where it listens.
    pub endpoint: Endpoint,
}

impl fmt::Display for NodeRecord {
    /// `enode://<128 hex>@ip:tcp[?discport=udp]`, `discport` only when it differs from tcp.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Endpoint { ip, udp, tcp } = self.endpoint;
        write!(f, "enode://{}@{}", self.id, SocketAddr::new(ip, tcp))?;
        if udp != tcp {
            write!(f, "?discport={udp}")?;
        }
        Ok(())
    }
}

impl FromStr for NodeRecord {
    type Err = Error;

    /// Parses `enode://<128 hex>@ip:tcp[?discport=udp]` (IPv6 in brackets).
    ///
    /// # Errors
    /// [`Error::EnodeUrl`] for anything else; host names are not resolved.
    fn from_str(url: &str) -> Result<Self, Error> {
        let bad = || Error::EnodeUrl {
            url: url.to_owned(),
        };
        let rest = url.strip_prefix("enode://").ok_or_else(bad)?;
        let (id_hex, addr) = rest.split_once('@').ok_or_else(bad)?;
        let mut id = [0u8; 64];
        hex::decode_to_slice(id_hex, &mut id).map_err(|_| bad())?;
        let (addr, query) = match addr.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (addr, None),
        };
        let socket: SocketAddr = addr.parse().map_err(|_| bad())?;
        let mut udp = socket.port();
        if let Some(query) = query {
            for pair in query.split('&') {
                if let Some(port) = pair.strip_prefix("discport=") {
                    udp = port.parse().map_err(|_| bad())?;
                }
            }
        }
        let id = NodeId(id);
        id.public_key().ok_or_else(bad)?;
        Ok(Self {
            id,
            endpoint: Endpoint {
                ip: socket.ip(),
                udp,
                tcp: socket.port(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "ac6b1096ca56b9f6d004b779ae3728bf83f8e22453404cc3cef16a3d9b96608bc67c4b30db88e0a5a6c6390213f7acbe1153ff6d23ce57380104288ae19373ef";

    #[test]
    fn round_trips_enode_urls() {
        for url in [
            format!("enode://{ID}@127.0.0.1:30303"),
            format!("enode://{ID}@127.0.0.1:30303?discport=30301"),
            format!("enode://{ID}@[::1]:30303?discport=1"),
        ] {
            let node: NodeRecord = url.parse().unwrap();
            assert_eq!(node.to_string(), url);
        }
    }

    #[test]
    fn accepts_quorum_enode_with_extra_query() {
        // nodekey.json (Consensys/quorum-examples): discport=0 and raftport.
        let url = format!("enode://{ID}@127.0.0.1:21000?discport=0&raftport=50401");
        let node: NodeRecord = url.parse().unwrap();
        assert_eq!(node.endpoint.udp, 0);
        assert_eq!(node.endpoint.tcp, 21000);
    }

    #[test]
    fn rejects_bad_enode_urls() {
        for url in [
            "enode://00@127.0.0.1:1".to_owned(),
            format!("enode://{ID}@localhost:1"),
            format!("enode://{ID}127.0.0.1:1"),
            format!("enr://{ID}@127.0.0.1:1"),
            format!("enode://{}@127.0.0.1:1", "00".repeat(64)),
        ] {
            assert!(url.parse::<NodeRecord>().is_err(), "{url}");
        }
    }

    #[test]
    fn computes_kad_id_as_keccak_of_pubkey() {
        // nodekey.json: discv4_node_id_keccak256_pubkey.
        let mut id = [0u8; 64];
        hex::decode_to_slice(ID, &mut id).unwrap();
        assert_eq!(
            hex::encode(NodeId(id).kad_id()),
            "7577115fd9184a27da527128d8dba507e85f116b1f7e231ca8525fc9008a6966"
        );
    }
}
