//! Entry points for `crates/discovery/fuzz` (cargo-fuzz); `cargo test` runs them over the corpus.

use sha3::{Digest, Keccak256};

use crate::error::DecodeError;
use crate::v4::{Message, Packet, decode_packet};

/// Decodes any bytes as a discv4 packet; must never panic. The input is decoded twice: as
/// given, and with its hash recomputed, so that mutations get past the hash check into
/// signature recovery and the message decoders. A decoded message re-encodes to a body that
/// decodes to the same message.
pub fn discv4_packet(data: &[u8]) {
    check(decode_packet(data));
    if let Some(signed) = data.get(32..) {
        let mut fixed = Keccak256::digest(signed).to_vec();
        fixed.extend_from_slice(signed);
        check(decode_packet(&fixed));
    }
}

fn check(decoded: Result<Packet, DecodeError>) {
    if let Ok(packet) = decoded {
        let message = packet.message;
        let body = message.encode_body();
        let again = Message::decode_body(message.packet_type(), &body);
        assert_eq!(
            again.as_ref(),
            Ok(&message),
            "discv4 message does not round trip"
        );
    }
}
