//! Public identities derived from the key set: what `cachet inspect` prints with no master-key
//! call, and what unlock checks the decrypted keys against.

use std::fmt;

use alloy_primitives::{Address, keccak256};
use serde::{Deserialize, Serialize};

/// Whether clique seals with a separate key (geth style) or with the node key (Besu style).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealingKeyMode {
    /// A key of its own (default).
    #[default]
    Separate,
    /// The node key seals too.
    Node,
}

impl fmt::Display for SealingKeyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Separate => "separate",
            Self::Node => "node",
        })
    }
}

/// The public half of a key set. Stored in the bundle header (authenticated) so that identities
/// are known without a master-key call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentities {
    /// The node key's 64-byte public key, 128 lowercase hex (the enode id).
    pub enode_id: String,
    /// The node key's address (IBFT/QBFT/Raft validator address).
    #[serde(with = "lowercase_address")]
    pub node_address: Address,
    /// The clique sealing key's address.
    #[serde(with = "lowercase_address")]
    pub sealer_address: Address,
    /// Whether the sealer is a separate key or the node key.
    pub sealing_key: SealingKeyMode,
    /// The wallet account's address.
    #[serde(with = "lowercase_address")]
    pub wallet_address: Address,
    /// The PTM X25519 public key, standard base64 (Tessera `.pub` form).
    pub ptm_public_key: String,
}

impl PublicIdentities {
    /// `enode://<id>@host:tcp[?discport=udp]`, with `discport` only when it differs.
    pub fn enode_url(&self, host: &str, tcp: u16, udp: u16) -> String {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        if tcp == udp {
            format!("enode://{}@{host}:{tcp}", self.enode_id)
        } else {
            format!("enode://{}@{host}:{tcp}?discport={udp}", self.enode_id)
        }
    }
}

/// The Ethereum address of a secp256k1 public key: the last 20 bytes of keccak(x ‖ y).
pub fn address_of(public: &secp256k1::PublicKey) -> Address {
    let uncompressed = public.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

/// The enode id of a public key: 128 lowercase hex chars of x ‖ y.
pub fn enode_id_hex(public: &secp256k1::PublicKey) -> String {
    hex::encode(&public.serialize_uncompressed()[1..])
}

/// Lowercase `0x` hex, the form `cachet inspect --json` promises (not EIP-55 checksummed).
pub(crate) fn lowercase_hex(address: &Address) -> String {
    format!("0x{}", hex::encode(address.as_slice()))
}

mod lowercase_address {
    use alloy_primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(address: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::lowercase_hex(address))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let text = String::deserialize(d)?;
        let hex_part = text
            .strip_prefix("0x")
            .filter(|h| {
                h.len() == 40
                    && h.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            })
            .ok_or_else(|| serde::de::Error::custom("expected 0x and 40 lowercase hex digits"))?;
        let bytes = hex::decode(hex_part).map_err(serde::de::Error::custom)?;
        Ok(Address::from_slice(&bytes))
    }
}
