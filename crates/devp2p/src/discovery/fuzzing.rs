//! Entry points for `crates/devp2p/fuzz` (cargo-fuzz); `cargo test` runs them over the corpus.

use crate::discovery::v4::{Message, decode_packet};

/// Decodes any bytes as a discv4 packet; must never panic. When a packet decodes, its body
/// re-encodes and decodes to the same message (EIP-8 extras aside, the message is stable).
pub fn discv4_packet(data: &[u8]) {
    if let Ok(packet) = decode_packet(data) {
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
