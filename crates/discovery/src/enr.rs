//! Our node record (EIP-778) with the `eth` fork-id entry (EIP-2124 "ENR"), signed through the
//! node-key handle.

use std::net::IpAddr;

use alloy_rlp::{BufMut, Encodable, Header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use enr::{Enr, EnrKey};
use sha3::{Digest, Keccak256};

use cachet_primitives::NodeSigner;

use crate::error::Error;

pub use cachet_primitives::ForkId;

/// The `eth` ENR entry: `[[fork-hash, fork-next]]` (a list whose first element is the fork id).
struct EthEntry(ForkId);

impl Encodable for EthEntry {
    fn encode(&self, out: &mut dyn BufMut) {
        Header {
            list: true,
            payload_length: self.0.length(),
        }
        .encode(out);
        self.0.encode(out);
    }

    fn length(&self) -> usize {
        let payload = self.0.length();
        payload + alloy_rlp::length_of_length(payload)
    }
}

/// What our record says about us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrFields {
    /// Sequence number; raise it whenever a field changes.
    pub seq: u64,
    /// The IP other nodes should use.
    pub ip: IpAddr,
    /// Discovery (UDP) port.
    pub udp: u16,
    /// `RLPx` (TCP) port; 0 leaves it out.
    pub tcp: u16,
    /// The `eth` fork id, if the node serves eth.
    pub fork_id: Option<ForkId>,
}

/// Our signed node record (EIP-778), encoded by us: the `enr` crate's `EnrKey` trait cannot
/// be implemented outside that crate (its `SigningError` type is not exported), and the node
/// key must sign through [`NodeSigner::sign_digest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalEnr {
    seq: u64,
    rlp: Vec<u8>,
}

impl LocalEnr {
    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The RLP encoding `[signature, seq, k, v, …]`.
    pub fn as_rlp(&self) -> &[u8] {
        &self.rlp
    }

    /// The text form `enr:<base64url>`.
    pub fn to_base64(&self) -> String {
        format!("enr:{}", URL_SAFE_NO_PAD.encode(&self.rlp))
    }
}

/// EIP-778's limit on an encoded record.
const MAX_ENR_SIZE: usize = 300;

/// Builds and signs our record: the "v4" identity scheme, keys in lexicographic order.
///
/// # Errors
/// [`Error::Signing`] when the keys were wiped; [`Error::EnrTooLarge`] if the record exceeds 300 bytes.
pub fn local_enr(key: &dyn NodeSigner, fields: &EnrFields) -> Result<LocalEnr, Error> {
    let compressed = key.public_key().serialize();
    // (key, encoded value) in key order: eth < id < ip/ip6 < secp256k1 < tcp/tcp6 < udp/udp6.
    let mut pairs: Vec<(&str, Vec<u8>)> = Vec::with_capacity(6);
    if let Some(fork_id) = fields.fork_id {
        pairs.push(("eth", alloy_rlp::encode(EthEntry(fork_id))));
    }
    pairs.push(("id", alloy_rlp::encode("v4".as_bytes())));
    let (tcp_key, udp_key) = match fields.ip {
        IpAddr::V4(ip) => {
            pairs.push(("ip", alloy_rlp::encode(&ip.octets()[..])));
            ("tcp", "udp")
        }
        IpAddr::V6(ip) => {
            pairs.push(("ip6", alloy_rlp::encode(&ip.octets()[..])));
            ("tcp6", "udp6")
        }
    };
    pairs.push(("secp256k1", alloy_rlp::encode(&compressed[..])));
    if fields.tcp != 0 {
        pairs.push((tcp_key, alloy_rlp::encode(fields.tcp)));
    }
    pairs.push((udp_key, alloy_rlp::encode(fields.udp)));

    let mut content = Vec::with_capacity(MAX_ENR_SIZE);
    fields.seq.encode(&mut content);
    for (k, v) in &pairs {
        k.as_bytes().encode(&mut content);
        content.extend_from_slice(v);
    }
    let digest: [u8; 32] = Keccak256::digest(list(&content)).into();
    let signature = key.sign_digest(&digest).map_err(Error::Signing)?;
    let mut signed = Vec::with_capacity(content.len() + 66);
    signature.get(..64).unwrap_or_default().encode(&mut signed);
    signed.extend_from_slice(&content);
    let rlp = list(&signed);
    if rlp.len() > MAX_ENR_SIZE {
        return Err(Error::EnrTooLarge { size: rlp.len() });
    }
    Ok(LocalEnr {
        seq: fields.seq,
        rlp,
    })
}

fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// Builds a record with any `enr` key type (sigp discv5 needs its own `CombinedKey`).
pub(crate) fn build_enr<K: EnrKey>(key: &K, fields: &EnrFields) -> Result<Enr<K>, Error> {
    let mut builder = Enr::builder();
    builder.seq(fields.seq).ip(fields.ip);
    match fields.ip {
        IpAddr::V4(_) => {
            builder.udp4(fields.udp);
            if fields.tcp != 0 {
                builder.tcp4(fields.tcp);
            }
        }
        IpAddr::V6(_) => {
            builder.udp6(fields.udp);
            if fields.tcp != 0 {
                builder.tcp6(fields.tcp);
            }
        }
    }
    if let Some(fork_id) = fields.fork_id {
        builder.add_value("eth", &EthEntry(fork_id));
    }
    builder.build(key).map_err(Error::Enr)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use cachet_primitives::testing::TestNodeKey;

    use super::*;

    fn node_key(secret_hex: &str) -> TestNodeKey {
        let mut secret = [0u8; 32];
        hex::decode_to_slice(secret_hex, &mut secret).unwrap();
        TestNodeKey::from_secret(secret)
    }

    /// Decodes with sigp's `enr` crate, which verifies the signature: an independent check.
    fn parse(enr: &LocalEnr) -> Enr<enr::k256::ecdsa::SigningKey> {
        alloy_rlp::Decodable::decode(&mut enr.as_rlp()).unwrap()
    }

    #[test]
    fn accepts_eip778_example_record_byte_for_byte() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../testdata/vectors/enr.json")).unwrap();
        let key = node_key(v["private_key"].as_str().unwrap());
        let fields = EnrFields {
            seq: v["seq"].as_u64().unwrap(),
            ip: v["ip"].as_str().unwrap().parse().unwrap(),
            udp: u16::try_from(v["udp"].as_u64().unwrap()).unwrap(),
            tcp: 0,
            fork_id: None,
        };
        let enr = local_enr(&key, &fields).unwrap();
        assert_eq!(enr.to_base64(), v["enr"].as_str().unwrap());
        let decoded = parse(&enr);
        assert_eq!(
            hex::encode(decoded.node_id().raw()),
            v["node_id"].as_str().unwrap()
        );
    }

    #[test]
    fn accepts_eth_entry_as_geth_encodes_it() {
        let key = node_key(&"11".repeat(32));
        let fork_id = ForkId {
            hash: cachet_primitives::ForkHash([0xfc, 0x64, 0xec, 0x04]),
            next: 1_150_000,
        };
        let fields = EnrFields {
            seq: 3,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp: 30301,
            tcp: 30303,
            fork_id: Some(fork_id),
        };
        let enr = parse(&local_enr(&key, &fields).unwrap());
        // [[0xfc64ec04, 1150000]] by hand: ca (c9 (84 fc64ec04) (83 118c30)).
        assert_eq!(
            hex::encode(enr.get_raw_rlp("eth").unwrap()),
            "cac984fc64ec0483118c30"
        );
        assert_eq!(enr.tcp4(), Some(30303));
        assert_eq!(enr.udp4(), Some(30301));
        assert_eq!(enr.seq(), 3);
    }

    #[test]
    fn rejects_signing_with_wiped_keys() {
        let key = TestNodeKey::from_secret([0x11; 32]);
        key.wipe();
        let fields = EnrFields {
            seq: 1,
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            udp: 1,
            tcp: 1,
            fork_id: None,
        };
        assert!(matches!(local_enr(&key, &fields), Err(Error::Signing(_))));
    }
}
