//! Node identity and address: [`NodeId`] and [`Enode`], with the one enode URL parser that
//! `--bootnodes`, `admin_addPeer`, raft members and discovery share.
//!
//! The accepted form is geth's and GoQuorum's `static-nodes.json` form:
//! `enode://<128 hex node id>@<ip>:<tcp port>[?discport=<udp port>][&raftport=<port>]`
//! (parameters in any order, each at most once). Host names are not resolved.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use alloy_primitives::keccak256;
use secp256k1::PublicKey;

use crate::error::DecodeError;

/// A node's 64-byte id: its uncompressed secp256k1 public key without the `0x04` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 64]);

/// A parsed enode URL: who a node is and where it listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node id.
    pub id: NodeId,
    /// The TCP (RLPx) address.
    pub addr: SocketAddr,
    /// The UDP discovery port when it differs from the TCP port (`Some(0)`: GoQuorum's "no
    /// discovery").
    pub discport: Option<u16>,
    /// GoQuorum's raft transport port (`raftport=`), for raft members.
    pub raftport: Option<u16>,
}

impl NodeId {
    /// The id of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let mut id = [0u8; 64];
        let sec1 = key.serialize_uncompressed();
        if let Some(xy) = sec1.get(1..) {
            id.copy_from_slice(xy);
        }
        Self(id)
    }

    /// The id as a secp256k1 public key, if it is a point on the curve.
    pub fn public_key(&self) -> Option<PublicKey> {
        let mut sec1 = [0x04u8; 65];
        if let Some(xy) = sec1.get_mut(1..) {
            xy.copy_from_slice(&self.0);
        }
        PublicKey::from_slice(&sec1).ok()
    }

    /// keccak256 of the id: the point in the Kademlia keyspace (discv4).
    pub fn kad_id(&self) -> [u8; 32] {
        keccak256(self.0).0
    }
}

impl Enode {
    /// The node id of an enode URL or of a bare id: `enode://<id>@…` (what follows `@` is not
    /// read, so a host name is allowed) or 128 hex digits with an optional `0x`. For callers
    /// that need only who a node is (raft members).
    ///
    /// # Errors
    /// [`DecodeError::InvalidHex`] when the id is not 128 hex digits on secp256k1.
    pub fn id_of(s: &str) -> Result<NodeId, DecodeError> {
        let s = s.trim();
        match s.strip_prefix("enode://") {
            Some(rest) => rest.split('@').next().unwrap_or(rest).parse(),
            None => s.parse(),
        }
    }

    /// The UDP discovery port: `discport`, else the TCP port.
    pub fn udp_port(&self) -> u16 {
        self.discport.unwrap_or(self.addr.port())
    }

    /// The node's public key.
    ///
    /// # Errors
    /// [`DecodeError::InvalidEnode`] when the id is not on the curve (parsing checks it too).
    pub fn public_key(&self) -> Result<PublicKey, DecodeError> {
        self.id
            .public_key()
            .ok_or_else(|| DecodeError::InvalidEnode {
                url: self.to_string(),
                reason: "node id is not a secp256k1 public key",
            })
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
        let short = hex::encode(self.0.get(..8).unwrap_or_default());
        write!(f, "NodeId({short}…)")
    }
}

impl FromStr for NodeId {
    type Err = DecodeError;

    /// Parses 128 hex digits (an optional `0x` prefix and surrounding blanks allowed) that are a
    /// secp256k1 public key.
    fn from_str(s: &str) -> Result<Self, DecodeError> {
        let s = s.trim();
        let hex_id = s.strip_prefix("0x").unwrap_or(s);
        let bad = |reason: &str| DecodeError::InvalidHex {
            what: "node id",
            reason: reason.to_owned(),
        };
        let mut id = [0u8; 64];
        hex::decode_to_slice(hex_id, &mut id).map_err(|_| bad("want 128 hex chars"))?;
        let id = Self(id);
        id.public_key()
            .ok_or_else(|| bad("not a point on secp256k1"))?;
        Ok(id)
    }
}

impl fmt::Display for Enode {
    /// `enode://<id>@ip:tcp`, then `?discport=` when it differs from tcp and `raftport=` when
    /// set: what [`Enode::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enode://{}@{}", self.id, self.addr)?;
        let mut sep = '?';
        if let Some(d) = self.discport.filter(|d| *d != self.addr.port()) {
            write!(f, "{sep}discport={d}")?;
            sep = '&';
        }
        if let Some(r) = self.raftport {
            write!(f, "{sep}raftport={r}")?;
        }
        Ok(())
    }
}

impl FromStr for Enode {
    type Err = DecodeError;

    /// Parses `enode://<128 hex>@ip:port[?discport=udp][&raftport=port]` (IPv6 in brackets).
    ///
    /// # Errors
    /// [`DecodeError::InvalidEnode`] naming what is wrong; host names are not resolved.
    fn from_str(url: &str) -> Result<Self, DecodeError> {
        let bad = |reason| DecodeError::InvalidEnode {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("enode://")
            .ok_or_else(|| bad("missing enode:// scheme"))?;
        let (id_hex, rest) = rest
            .split_once('@')
            .ok_or_else(|| bad("missing @host:port"))?;
        if id_hex.len() != 128 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("node id is not 128 hex digits"));
        }
        let id: NodeId = id_hex
            .parse()
            .map_err(|_| bad("node id is not a secp256k1 public key"))?;
        let (host, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let addr: SocketAddr = host
            .parse()
            .map_err(|_| bad("host is not ip:port (DNS names are not resolved)"))?;
        let mut enode = Self {
            id,
            addr,
            discport: None,
            raftport: None,
        };
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad("query parameter without a value"))?;
            let slot = match key {
                "discport" => &mut enode.discport,
                "raftport" => &mut enode.raftport,
                _ => {
                    return Err(bad(
                        "unknown query parameter (discport and raftport are known)",
                    ));
                }
            };
            if slot.is_some() {
                return Err(bad("query parameter given twice"));
            }
            *slot = Some(
                value
                    .parse::<u16>()
                    .map_err(|_| bad("discport or raftport is not a port number"))?,
            );
        }
        Ok(enode)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    // nodekey.json (Consensys/quorum-examples 7nodes, node 1).
    const ID: &str = "ac6b1096ca56b9f6d004b779ae3728bf83f8e22453404cc3cef16a3d9b96608bc67c4b30db88e0a5a6c6390213f7acbe1153ff6d23ce57380104288ae19373ef";

    proptest! {
        #[test]
        fn round_trips_any_enode(
            ip in any::<[u8; 4]>(),
            ip6 in any::<[u8; 16]>(),
            v6 in any::<bool>(),
            tcp in any::<u16>(),
            discport in proptest::option::of(any::<u16>()),
            raftport in proptest::option::of(any::<u16>()),
        ) {
            let ip: std::net::IpAddr = if v6 { ip6.into() } else { ip.into() };
            let e = Enode {
                id: ID.parse().unwrap(),
                addr: SocketAddr::new(ip, tcp),
                // A discport equal to the TCP port is not written, so it reads back as none.
                discport: discport.filter(|d| *d != tcp),
                raftport,
            };
            prop_assert_eq!(e.to_string().parse::<Enode>().unwrap(), e);
        }
    }

    #[test]
    fn round_trips_enode_urls() {
        for url in [
            format!("enode://{ID}@127.0.0.1:30303"),
            format!("enode://{ID}@10.0.0.1:30303?discport=30301"),
            format!("enode://{ID}@[::1]:30303?discport=1"),
            format!("enode://{ID}@127.0.0.1:30303?discport=0&raftport=50401"),
            format!("enode://{ID}@127.0.0.1:30303?raftport=50401"),
        ] {
            let e: Enode = url.parse().unwrap();
            assert_eq!(e.to_string(), url);
        }
    }

    #[test]
    fn accepts_the_goquorum_static_nodes_form() {
        // GoQuorum static-nodes.json / raft: discport=0 (no discovery) and the raft port.
        let url = format!("enode://{ID}@127.0.0.1:21000?discport=0&raftport=50401");
        let e: Enode = url.parse().unwrap();
        assert_eq!(e.addr, "127.0.0.1:21000".parse().unwrap());
        assert_eq!(e.discport, Some(0));
        assert_eq!(e.udp_port(), 0);
        assert_eq!(e.raftport, Some(50401));
        assert_eq!(hex::encode(e.id.0), ID);
    }

    #[test]
    fn accepts_query_parameters_in_any_order() {
        let url = format!("enode://{ID}@127.0.0.1:21000?raftport=50401&discport=30301");
        let e: Enode = url.parse().unwrap();
        assert_eq!((e.discport, e.raftport), (Some(30301), Some(50401)));
    }

    #[test]
    fn rejects_malformed_enode_urls() {
        for url in [
            format!("enode://{ID}"),
            format!("enode://{ID}127.0.0.1:1"),
            format!("enr://{ID}@127.0.0.1:1"),
            "enode://00@127.0.0.1:1".to_owned(),
            format!("enode://{}@127.0.0.1:1", &ID[..126]),
            format!("enode://{}@127.0.0.1:1", "00".repeat(64)),
            format!("enode://{ID}@localhost:1"),
            format!("enode://{ID}@127.0.0.1:1?x=1"),
            format!("enode://{ID}@127.0.0.1:1?"),
            format!("enode://{ID}@127.0.0.1:1?discport"),
            format!("enode://{ID}@127.0.0.1:1?discport=70000"),
            format!("enode://{ID}@127.0.0.1:1?raftport=-1"),
            format!("enode://{ID}@127.0.0.1:1?discport=1&discport=2"),
        ] {
            assert!(
                matches!(url.parse::<Enode>(), Err(DecodeError::InvalidEnode { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn rejects_node_ids_off_the_curve_or_of_the_wrong_length() {
        assert!(format!("0x{ID}").parse::<NodeId>().is_ok());
        assert!(format!(" {ID}\n").parse::<NodeId>().is_ok());
        assert!(ID[..126].parse::<NodeId>().is_err());
        assert!("00".repeat(64).parse::<NodeId>().is_err());
    }

    #[test]
    fn accepts_ids_of_urls_with_host_names_for_raft_members() {
        let id = Enode::id_of(&format!("enode://{ID}@node1:21000?raftport=50401")).unwrap();
        assert_eq!(hex::encode(id.0), ID);
        assert_eq!(Enode::id_of(ID).unwrap(), id);
        assert!(Enode::id_of("enode://00@node1:1").is_err());
    }

    #[test]
    fn computes_kad_id_as_keccak_of_pubkey() {
        // nodekey.json: discv4_node_id_keccak256_pubkey.
        let id: NodeId = ID.parse().unwrap();
        assert_eq!(
            hex::encode(id.kad_id()),
            "7577115fd9184a27da527128d8dba507e85f116b1f7e231ca8525fc9008a6966"
        );
        assert_eq!(NodeId::from_public_key(&id.public_key().unwrap()), id);
    }
}
