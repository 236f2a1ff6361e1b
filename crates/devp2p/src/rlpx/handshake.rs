//! The RLPx auth/ack handshake without I/O: building, parsing (EIP-8 and pre-EIP-8) and the
//! secrets both sides derive (devp2p `rlpx.md`, "Initial Handshake"; EIP-8).

use alloy_rlp::{BufMut, Encodable, Header};
use cachet_primitives::Ecdh;
use secp256k1::PublicKey;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use crate::DecodeError;
use crate::cursor::{Cursor, rlp};
use crate::rlpx::ecies::{self, EciesError};
use crate::rlpx::{EphemeralKey, Secrets};

/// The handshake version we send (`auth-vsn`, `ack-vsn`). Mismatches are ignored on receipt.
pub(crate) const VERSION: u64 = 4;

/// Length of a pre-EIP-8 auth on the wire: ECIES over sig (65) ‖ keccak(ephemeral) (32) ‖
/// public key (64) ‖ nonce (32) ‖ token flag (1).
pub(crate) const LEGACY_AUTH_LEN: usize = 194 + ecies::OVERHEAD;
/// Length of a pre-EIP-8 ack on the wire: ECIES over ephemeral key (64) ‖ nonce (32) ‖ flag (1).
pub(crate) const LEGACY_ACK_LEN: usize = 97 + ecies::OVERHEAD;
/// Cap on an EIP-8 auth/ack body after its size prefix. A real auth is ~170 bytes of RLP + 113
/// bytes of ECIES + 100–300 bytes of padding (geth, EthereumJS and reth pad within that), so
/// 4 KiB leaves room for future list elements while bounding what an unauthenticated peer makes
/// us buffer before it has proven anything.
pub(crate) const MAX_EIP8_LEN: usize = 4096;

/// Which encoding a handshake message used; a recipient answers in the auth's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// Pre-EIP-8 fixed layout.
    Legacy,
    /// EIP-8: size prefix, RLP body, padding.
    Eip8,
}

/// A decoded auth body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Auth {
    /// Signature by the initiator's ephemeral key over `static-shared-secret ^ nonce`.
    pub(crate) signature: [u8; 65],
    /// The initiator's static public key (its node id).
    pub(crate) initiator: PublicKey,
    /// The initiator's nonce.
    pub(crate) nonce: [u8; 32],
    /// `auth-vsn` as sent (ignored).
    pub(crate) version: u64,
}

/// A decoded ack body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    /// The recipient's ephemeral public key.
    pub(crate) ephemeral: PublicKey,
    /// The recipient's nonce.
    pub(crate) nonce: [u8; 32],
    /// `ack-vsn` as sent (ignored).
    pub(crate) version: u64,
}

impl Auth {
    /// Decodes a decrypted EIP-8 auth body: `[sig, initiator-pubk, nonce, vsn, ...]` then
    /// padding. Extra list elements and the padding are ignored (EIP-8).
    pub(crate) fn decode_eip8(plain: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "auth body";
        let mut buf = plain;
        let mut list = rlp::list(&mut buf, WHAT)?;
        let signature = rlp::array::<65>(&mut list, WHAT)?;
        let initiator = public_key(&rlp::array::<64>(&mut list, WHAT)?, "auth initiator key")?;
        let nonce = rlp::array::<32>(&mut list, WHAT)?;
        let version = rlp::u64(&mut list, WHAT)?;
        Ok(Self {
            signature,
            initiator,
            nonce,
            version,
        })
    }

    /// Decodes a decrypted pre-EIP-8 auth and returns it with the ephemeral-key hash it carries.
    pub(crate) fn decode_legacy(plain: &[u8]) -> Result<(Self, [u8; 32]), DecodeError> {
        let mut cur = Cursor::new(plain, "pre-eip-8 auth");
        let signature = cur.array::<65>()?;
        let hash = cur.array::<32>()?;
        let initiator = public_key(&cur.array::<64>()?, "auth initiator key")?;
        let nonce = cur.array::<32>()?;
        let _token_flag = cur.array::<1>()?;
        Ok((
            Self {
                signature,
                initiator,
                nonce,
                version: VERSION,
            },
            hash,
        ))
    }

    /// The EIP-8 RLP body (without padding).
    pub(crate) fn encode_eip8(&self) -> Vec<u8> {
        let id = node_id(&self.initiator);
        let fields: [&dyn Encodable; 4] = [
            &&self.signature[..],
            &&id[..],
            &&self.nonce[..],
            &self.version,
        ];
        encode_list(&fields)
    }
}

impl Ack {
    /// Decodes a decrypted EIP-8 ack body: `[ephemeral-pubk, nonce, vsn, ...]` then padding.
    pub(crate) fn decode_eip8(plain: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "ack body";
        let mut buf = plain;
        let mut list = rlp::list(&mut buf, WHAT)?;
        let ephemeral = public_key(&rlp::array::<64>(&mut list, WHAT)?, "ack ephemeral key")?;
        let nonce = rlp::array::<32>(&mut list, WHAT)?;
        let version = rlp::u64(&mut list, WHAT)?;
        Ok(Self {
            ephemeral,
            nonce,
            version,
        })
    }

    /// Decodes a decrypted pre-EIP-8 ack.
    pub(crate) fn decode_legacy(plain: &[u8]) -> Result<Self, DecodeError> {
        let mut cur = Cursor::new(plain, "pre-eip-8 ack");
        let ephemeral = public_key(&cur.array::<64>()?, "ack ephemeral key")?;
        let nonce = cur.array::<32>()?;
        let _token_flag = cur.array::<1>()?;
        Ok(Self {
            ephemeral,
            nonce,
            version: VERSION,
        })
    }

    /// The EIP-8 RLP body (without padding).
    pub(crate) fn encode_eip8(&self) -> Vec<u8> {
        let id = node_id(&self.ephemeral);
        let fields: [&dyn Encodable; 3] = [&&id[..], &&self.nonce[..], &self.version];
        encode_list(&fields)
    }

    /// The pre-EIP-8 plaintext.
    pub(crate) fn encode_legacy(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(97);
        out.extend_from_slice(&node_id(&self.ephemeral));
        out.extend_from_slice(&self.nonce);
        out.push(0);
        out
    }
}

/// The initiator between sending auth and receiving ack.
#[derive(Debug)]
pub(crate) struct Initiator {
    ephemeral: EphemeralKey,
    nonce: [u8; 32],
    remote: PublicKey,
    auth_wire: Vec<u8>,
}

impl Initiator {
    /// Builds the EIP-8 auth for `remote` with a fresh ephemeral key and nonce.
    pub(crate) fn new(key: &dyn Ecdh, remote: PublicKey) -> Result<Self, EciesError> {
        let mut nonce = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut nonce);
        Self::with(key, remote, EphemeralKey::random(), nonce, padding_len())
    }

    /// [`Self::new`] with given randomness (tests and benchmarks).
    pub(crate) fn with(
        key: &dyn Ecdh,
        remote: PublicKey,
        ephemeral: EphemeralKey,
        nonce: [u8; 32],
        padding: usize,
    ) -> Result<Self, EciesError> {
        let shared = key.ecdh_x(&remote).map_err(EciesError::NodeKey)?;
        let signature = ephemeral.sign(&xor32(&shared, &nonce));
        let auth = Auth {
            signature,
            initiator: key.public_key(),
            nonce,
            version: VERSION,
        };
        let auth_wire = seal_eip8(&remote, auth.encode_eip8(), padding)?;
        Ok(Self {
            ephemeral,
            nonce,
            remote,
            auth_wire,
        })
    }

    /// The auth message to send.
    pub(crate) fn auth_wire(&self) -> &[u8] {
        &self.auth_wire
    }

    /// Completes the handshake with the decrypted ack (`ack_wire` is the ack as received).
    pub(crate) fn finish(self, ack: &Ack, ack_wire: &[u8]) -> Secrets {
        Secrets::derive(&Derive {
            ephemeral: &self.ephemeral,
            remote_ephemeral: &ack.ephemeral,
            initiator_nonce: &self.nonce,
            recipient_nonce: &ack.nonce,
            auth_wire: &self.auth_wire,
            ack_wire,
            initiator: true,
            remote_id: self.remote,
        })
    }
}

/// The recipient's answer to an auth: the ack to send and the session secrets.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The ack message to send.
    pub(crate) ack_wire: Vec<u8>,
    /// The session secrets.
    pub(crate) secrets: Secrets,
}

/// Verifies a decrypted auth and builds the ack (in the auth's format) and the secrets.
pub(crate) fn accept(
    key: &dyn Ecdh,
    auth: &Auth,
    legacy_hash: Option<[u8; 32]>,
    auth_wire: &[u8],
    ephemeral: EphemeralKey,
    nonce: [u8; 32],
    padding: usize,
) -> Result<Accepted, EciesError> {
    let shared = key.ecdh_x(&auth.initiator).map_err(EciesError::NodeKey)?;
    let remote_ephemeral = recover(&auth.signature, &xor32(&shared, &auth.nonce))?;
    if let Some(hash) = legacy_hash
        && hash != <[u8; 32]>::from(Keccak256::digest(node_id(&remote_ephemeral)))
    {
        return Err(DecodeError::EphemeralKeyHash.into());
    }
    let ack = Ack {
        ephemeral: ephemeral.public(),
        nonce,
        version: VERSION,
    };
    let ack_wire = match legacy_hash {
        Some(_) => ecies::encrypt(&auth.initiator, &ack.encode_legacy(), &[]),
        None => seal_eip8(&auth.initiator, ack.encode_eip8(), padding)?,
    };
    let secrets = Secrets::derive(&Derive {
        ephemeral: &ephemeral,
        remote_ephemeral: &remote_ephemeral,
        initiator_nonce: &auth.nonce,
        recipient_nonce: &nonce,
        auth_wire,
        ack_wire: &ack_wire,
        initiator: false,
        remote_id: auth.initiator,
    });
    Ok(Accepted { ack_wire, secrets })
}

/// Decrypts a complete handshake message as read from the wire (format already decided).
pub(crate) fn open(
    key: &dyn Ecdh,
    wire: &[u8],
    format: Format,
) -> Result<Zeroizing<Vec<u8>>, EciesError> {
    match format {
        Format::Legacy => ecies::decrypt(key, wire, &[]),
        Format::Eip8 => {
            let (prefix, body) = wire.split_at_checked(2).ok_or(DecodeError::Truncated {
                what: "eip-8 handshake",
            })?;
            ecies::decrypt(key, body, prefix)
        }
    }
}

/// Inputs of the secret derivation.
struct Derive<'a> {
    ephemeral: &'a EphemeralKey,
    remote_ephemeral: &'a PublicKey,
    initiator_nonce: &'a [u8; 32],
    recipient_nonce: &'a [u8; 32],
    auth_wire: &'a [u8],
    ack_wire: &'a [u8],
    initiator: bool,
    remote_id: PublicKey,
}

impl Secrets {
    fn derive(d: &Derive<'_>) -> Self {
        let ephemeral_key = d.ephemeral.ecdh_x(d.remote_ephemeral);
        let nonce_hash = keccak(&[d.recipient_nonce, d.initiator_nonce]);
        let shared = Zeroizing::new(keccak(&[&ephemeral_key[..], &nonce_hash]));
        let aes = Zeroizing::new(keccak(&[&ephemeral_key[..], &shared[..]]));
        let mac = Zeroizing::new(keccak(&[&ephemeral_key[..], &aes[..]]));
        // egress of the initiator = (mac ^ recipient-nonce) ‖ auth; ingress = (mac ^
        // initiator-nonce) ‖ ack; the recipient mirrors them.
        let mut from_auth = Keccak256::new();
        from_auth.update(xor32(&mac, d.recipient_nonce));
        from_auth.update(d.auth_wire);
        let mut from_ack = Keccak256::new();
        from_ack.update(xor32(&mac, d.initiator_nonce));
        from_ack.update(d.ack_wire);
        let (egress_mac, ingress_mac) = if d.initiator {
            (from_auth, from_ack)
        } else {
            (from_ack, from_auth)
        };
        Self {
            aes,
            mac,
            egress_mac,
            ingress_mac,
            remote_id: d.remote_id,
        }
    }
}

/// Wraps an EIP-8 body: pads it, encrypts it with the size prefix as auth data, prefixes it.
fn seal_eip8(remote: &PublicKey, mut body: Vec<u8>, padding: usize) -> Result<Vec<u8>, EciesError> {
    body.resize(body.len() + padding, 0);
    let size = u16::try_from(body.len() + ecies::OVERHEAD).map_err(|_| EciesError::Internal)?;
    let prefix = size.to_be_bytes();
    let mut wire = prefix.to_vec();
    wire.extend_from_slice(&ecies::encrypt(remote, &body, &prefix));
    Ok(wire)
}

/// Random EIP-8 padding length: 100–300 bytes, so auth and ack sizes vary.
fn padding_len() -> usize {
    rand::Rng::gen_range(&mut rand::rngs::OsRng, 100..=300)
}

fn encode_list(fields: &[&dyn Encodable]) -> Vec<u8> {
    let payload_length = fields.iter().map(|f| f.length()).sum();
    let mut out = Vec::with_capacity(payload_length + 4);
    Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    for f in fields {
        f.encode(&mut out as &mut dyn BufMut);
    }
    out
}

fn recover(signature: &[u8; 65], digest: &[u8; 32]) -> Result<PublicKey, DecodeError> {
    let (rs, v) = signature
        .split_first_chunk::<64>()
        .ok_or(DecodeError::InvalidSignature)?;
    let id = v
        .first()
        .and_then(|v| RecoveryId::try_from(i32::from(*v)).ok());
    let id = id.ok_or(DecodeError::InvalidSignature)?;
    let sig =
        RecoverableSignature::from_compact(rs, id).map_err(|_| DecodeError::InvalidSignature)?;
    secp256k1::SECP256K1
        .recover_ecdsa(&secp256k1::Message::from_digest(*digest), &sig)
        .map_err(|_| DecodeError::InvalidSignature)
}

/// Parses a 64-byte node id (uncompressed key without the 0x04 prefix).
pub(crate) fn public_key(id: &[u8; 64], what: &'static str) -> Result<PublicKey, DecodeError> {
    let mut full = [0u8; 65];
    let (tag, rest) = full.split_at_mut(1);
    tag.copy_from_slice(&[4]);
    rest.copy_from_slice(id);
    PublicKey::from_slice(&full).map_err(|_| DecodeError::InvalidPublicKey { what })
}

/// The 64-byte node id of a public key.
pub(crate) fn node_id(key: &PublicKey) -> [u8; 64] {
    let full = key.serialize_uncompressed();
    let mut id = [0u8; 64];
    if let Some((_, rest)) = full.split_first() {
        id.copy_from_slice(rest);
    }
    id
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
pub(crate) mod tests;
