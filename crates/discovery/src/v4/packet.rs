//! The discv4 packet: `hash ‖ signature ‖ packet-type ‖ packet-data` (discv4.md "Wire protocol").
//!
//! `hash = keccak256(signature ‖ packet-type ‖ packet-data)` and
//! `signature = sign(keccak256(packet-type ‖ packet-data))` as 65 bytes `r ‖ s ‖ v`. The
//! recovered public key is the sender's node id.

use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as SecpMessage, SECP256K1};
use sha3::{Digest, Keccak256};

use cachet_primitives::NodeSigner;

use crate::error::{DecodeError, Error};
use crate::node::NodeId;
use crate::v4::message::Message;

/// The largest discv4 datagram (discv4.md, EIP-8): larger ones are dropped unread.
pub const MAX_PACKET_SIZE: usize = 1280;

/// hash (32) + signature (65) + type (1).
pub const HEADER_SIZE: usize = 98;

/// A verified discv4 packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The packet hash (Pong and `ENRResponse` refer to it).
    pub hash: [u8; 32],
    /// The sender, recovered from the signature.
    pub node_id: NodeId,
    /// The message.
    pub message: Message,
}

/// Checks size, hash and signature, then decodes the message. Does not check expiration
/// (that needs a clock: the service does it).
///
/// # Errors
/// A [`DecodeError`] naming the first check that failed.
pub fn decode_packet(datagram: &[u8]) -> Result<Packet, DecodeError> {
    if datagram.len() > MAX_PACKET_SIZE {
        return Err(DecodeError::TooLarge {
            len: datagram.len(),
        });
    }
    let too_short = || DecodeError::TooShort {
        len: datagram.len(),
    };
    let (hash, signed) = datagram.split_first_chunk::<32>().ok_or_else(too_short)?;
    let (signature, typed) = signed.split_first_chunk::<65>().ok_or_else(too_short)?;
    let (&packet_type, body) = typed.split_first().ok_or_else(too_short)?;

    if Keccak256::digest(signed).as_slice() != hash.as_slice() {
        return Err(DecodeError::HashMismatch);
    }
    let node_id = recover(signature, typed)?;
    let message = Message::decode_body(packet_type, body)?;
    Ok(Packet {
        hash: *hash,
        node_id,
        message,
    })
}

/// Signs `message` with the node key and returns the datagram and its hash.
///
/// # Errors
/// [`Error::Signing`] when the keys were wiped; [`Error::Internal`] if the packet would exceed
/// [`MAX_PACKET_SIZE`] (callers split Neighbors so this cannot happen).
pub fn encode_packet(
    key: &dyn NodeSigner,
    message: &Message,
) -> Result<(Vec<u8>, [u8; 32]), Error> {
    let mut typed = Vec::with_capacity(256);
    typed.push(message.packet_type());
    typed.extend_from_slice(&message.encode_body());
    let digest: [u8; 32] = Keccak256::digest(&typed).into();
    let signature = key.sign_digest(&digest).map_err(Error::Signing)?;

    let mut packet = Vec::with_capacity(32 + 65 + typed.len());
    packet.extend_from_slice(&[0u8; 32]);
    packet.extend_from_slice(&signature);
    packet.extend_from_slice(&typed);
    if packet.len() > MAX_PACKET_SIZE {
        return Err(Error::Internal("discv4 packet larger than 1280 bytes"));
    }
    let hash: [u8; 32] = Keccak256::digest(packet.get(32..).unwrap_or_default()).into();
    if let Some(front) = packet.get_mut(..32) {
        front.copy_from_slice(&hash);
    }
    Ok((packet, hash))
}

fn recover(signature: &[u8; 65], typed: &[u8]) -> Result<NodeId, DecodeError> {
    let (rs, v) = signature
        .split_first_chunk::<64>()
        .ok_or(DecodeError::BadSignature)?;
    let v = v.first().copied().ok_or(DecodeError::BadSignature)?;
    let recovery_id = RecoveryId::try_from(i32::from(v)).map_err(|_| DecodeError::BadSignature)?;
    let signature = RecoverableSignature::from_compact(rs, recovery_id)
        .map_err(|_| DecodeError::BadSignature)?;
    let digest: [u8; 32] = Keccak256::digest(typed).into();
    let public = SECP256K1
        .recover_ecdsa(&SecpMessage::from_digest(digest), &signature)
        .map_err(|_| DecodeError::BadSignature)?;
    let mut id = [0u8; 64];
    let sec1 = public.serialize_uncompressed();
    id.copy_from_slice(sec1.get(1..).ok_or(DecodeError::BadSignature)?);
    Ok(NodeId(id))
}
