//! Discovery's view of a node: [`NodeRecord`] = the node id ([`NodeId`], the one node-id type
//! from `cachet_primitives`) and its [`Endpoint`], as discv4 packets carry them. Displayed and
//! parsed as an enode URL through [`Enode`], the one parser.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

pub use cachet_primitives::{Enode, NodeId};

use cachet_primitives::DecodeError;

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

impl From<Enode> for NodeRecord {
    /// The UDP port is `discport` when given (GoQuorum's `discport=0` too), else the TCP port;
    /// `raftport` has no place in discovery.
    fn from(enode: Enode) -> Self {
        Self {
            id: enode.id,
            endpoint: Endpoint {
                ip: enode.addr.ip(),
                udp: enode.udp_port(),
                tcp: enode.addr.port(),
            },
        }
    }
}

impl From<NodeRecord> for Enode {
    fn from(node: NodeRecord) -> Self {
        let Endpoint { ip, udp, tcp } = node.endpoint;
        Self {
            id: node.id,
            addr: SocketAddr::new(ip, tcp),
            discport: (udp != tcp).then_some(udp),
            raftport: None,
        }
    }
}

impl fmt::Display for NodeRecord {
    /// `enode://<128 hex>@ip:tcp[?discport=udp]`, `discport` only when it differs from tcp.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Enode::from(*self).fmt(f)
    }
}

impl FromStr for NodeRecord {
    type Err = DecodeError;

    /// Parses an enode URL with [`Enode`]'s parser.
    ///
    /// # Errors
    /// [`DecodeError::InvalidEnode`] for anything else; host names are not resolved.
    fn from_str(url: &str) -> Result<Self, DecodeError> {
        url.parse::<Enode>().map(Self::from)
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
}
