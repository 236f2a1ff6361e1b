//! The Hello message (devp2p `rlpx.md`, "Hello (0x00)"):
//! `[protocolVersion, clientId, [[cap, version], ...], listenPort, nodeId, ...]`.

use alloy_rlp::{BufMut, Encodable, Header};
use secp256k1::PublicKey;

use crate::DecodeError;
use crate::cursor::rlp;
use crate::rlpx::handshake::{node_id, public_key};

/// The p2p protocol version we speak (5: snappy, EIP-706).
pub const P2P_VERSION: u64 = 5;
/// Cap on the client id. Deployed ids are ~50 bytes ("Geth/v1.x/linux-amd64/go1.x"); 1 KiB
/// bounds what we keep and log per peer.
pub const MAX_CLIENT_ID: usize = 1024;
/// Cap on advertised capabilities. Clients advertise a handful (eth, snap, les, wit); 64 bounds
/// the negotiation work and memory per peer.
pub const MAX_CAPABILITIES: usize = 64;
/// Cap on a capability name. The spec says at most 8 ASCII characters; we accept up to 32 so a
/// longer unknown name is ignored rather than fatal, while bounding memory.
pub const MAX_CAPABILITY_NAME: usize = 32;

/// A capability: name and version, e.g. `eth/68`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability {
    /// The name (case-sensitive ASCII).
    pub name: String,
    /// The version.
    pub version: u64,
}

impl Capability {
    /// A capability from a name and version.
    pub fn new(name: &str, version: u64) -> Self {
        Self {
            name: name.to_owned(),
            version,
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

/// A Hello message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The sender's p2p version (5 today; mismatches are tolerated).
    pub protocol_version: u64,
    /// The sender's software, as it describes itself (untrusted text).
    pub client_id: String,
    /// What the sender speaks.
    pub capabilities: Vec<Capability>,
    /// Legacy listening port (ignored).
    pub listen_port: u64,
    /// The sender's node id (its static public key).
    pub id: PublicKey,
}

impl Hello {
    /// Encodes the message data (without the message id).
    pub fn encode(&self) -> Vec<u8> {
        let caps: Vec<Vec<u8>> = self
            .capabilities
            .iter()
            .map(|c| {
                let mut out = Vec::new();
                let payload_length = c.name.as_bytes().length() + c.version.length();
                Header {
                    list: true,
                    payload_length,
                }
                .encode(&mut out);
                c.name.as_bytes().encode(&mut out);
                c.version.encode(&mut out);
                out
            })
            .collect();
        let caps_len: usize = caps.iter().map(Vec::len).sum();
        let id = node_id(&self.id);
        let payload_length = self.protocol_version.length()
            + self.client_id.as_bytes().length()
            + Header {
                list: true,
                payload_length: caps_len,
            }
            .length_with_payload()
            + self.listen_port.length()
            + id[..].length();
        let mut out = Vec::with_capacity(payload_length + 4);
        Header {
            list: true,
            payload_length,
        }
        .encode(&mut out);
        self.protocol_version.encode(&mut out);
        self.client_id.as_bytes().encode(&mut out);
        Header {
            list: true,
            payload_length: caps_len,
        }
        .encode(&mut out);
        for c in &caps {
            out.put_slice(c);
        }
        self.listen_port.encode(&mut out);
        id[..].encode(&mut out);
        out
    }

    /// Decodes the message data. Extra list elements are ignored (EIP-8); trailing bytes after
    /// the list are not.
    ///
    /// # Errors
    /// [`DecodeError`] on malformed RLP, a cap exceeded, a non-UTF-8 client id or capability
    /// name, or an id that is not a secp256k1 public key.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "hello";
        let mut buf = data;
        let mut list = rlp::list(&mut buf, WHAT)?;
        rlp::finish(buf, WHAT)?;
        let protocol_version = rlp::u64(&mut list, WHAT)?;
        let client_id = rlp::bytes(&mut list, WHAT)?;
        if client_id.len() > MAX_CLIENT_ID {
            return Err(DecodeError::TooLarge {
                what: "hello client id",
                size: client_id.len(),
                cap: MAX_CLIENT_ID,
            });
        }
        let client_id = String::from_utf8_lossy(client_id).into_owned();
        let mut caps_rlp = rlp::list(&mut list, WHAT)?;
        let mut capabilities = Vec::new();
        while !caps_rlp.is_empty() {
            if capabilities.len() == MAX_CAPABILITIES {
                return Err(DecodeError::TooLarge {
                    what: "hello capabilities",
                    size: MAX_CAPABILITIES + 1,
                    cap: MAX_CAPABILITIES,
                });
            }
            let mut cap = rlp::list(&mut caps_rlp, "hello capability")?;
            let name = rlp::bytes(&mut cap, "hello capability")?;
            if name.len() > MAX_CAPABILITY_NAME {
                return Err(DecodeError::TooLarge {
                    what: "hello capability name",
                    size: name.len(),
                    cap: MAX_CAPABILITY_NAME,
                });
            }
            let name = std::str::from_utf8(name).map_err(|_| DecodeError::InvalidValue {
                what: "hello capability name",
                reason: "not utf-8",
            })?;
            let version = rlp::u64(&mut cap, "hello capability")?;
            capabilities.push(Capability {
                name: name.to_owned(),
                version,
            });
        }
        let listen_port = rlp::u64(&mut list, WHAT)?;
        let id = public_key(&rlp::array::<64>(&mut list, WHAT)?, "hello node id")?;
        Ok(Self {
            protocol_version,
            client_id,
            capabilities,
            listen_port,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Hello {
        let v = crate::rlpx::handshake::tests::Vectors::load();
        Hello {
            protocol_version: 5,
            client_id: "cachet/v0.1".into(),
            capabilities: vec![Capability::new("eth", 68), Capability::new("snap", 1)],
            listen_port: 30303,
            id: cachet_primitives::Ecdh::public_key(&v.node("static_key_a")),
        }
    }

    #[test]
    fn round_trips_hello() {
        let h = sample();
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
    }

    #[test]
    fn accepts_the_eip8_hello_with_extra_elements() {
        let v = crate::rlpx::handshake::tests::Vectors::load();
        let h = Hello::decode(&v.bytes("hello_v22")).unwrap();
        assert_eq!(h.protocol_version, 55);
        assert_eq!(h.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            h.capabilities,
            vec![Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(h.listen_port, 9999);
    }

    #[test]
    fn rejects_every_truncation() {
        let enc = sample().encode();
        for n in 0..enc.len() {
            assert!(Hello::decode(&enc[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn rejects_client_ids_over_the_cap_and_accepts_the_cap() {
        let mut h = sample();
        h.client_id = "x".repeat(MAX_CLIENT_ID);
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        h.client_id.push('x');
        assert!(matches!(
            Hello::decode(&h.encode()),
            Err(DecodeError::TooLarge {
                what: "hello client id",
                ..
            })
        ));
    }

    #[test]
    fn rejects_capability_lists_over_the_cap_and_accepts_the_cap() {
        let mut h = sample();
        h.capabilities = (0..MAX_CAPABILITIES as u64)
            .map(|v| Capability::new("eth", v))
            .collect();
        assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        h.capabilities.push(Capability::new("x", 1));
        assert!(matches!(
            Hello::decode(&h.encode()),
            Err(DecodeError::TooLarge {
                what: "hello capabilities",
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn round_trips_any_hello(
            version in 0u64..,
            client in "[ -~]{0,64}",
            caps in proptest::collection::vec(("[a-z]{1,8}", 0u64..), 0..8),
            port in 0u64..=65535,
        ) {
            let mut h = sample();
            h.protocol_version = version;
            h.client_id = client;
            h.capabilities = caps.into_iter().map(|(n, v)| Capability { name: n, version: v }).collect();
            h.listen_port = port;
            proptest::prop_assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
        }

        #[test]
        fn never_panics_on_any_input(data in proptest::collection::vec(0u8.., 0..300)) {
            let _ = Hello::decode(&data);
        }
    }
}
