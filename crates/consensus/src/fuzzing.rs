//! Entry points for the fuzz targets (`crates/consensus/fuzz`) and the no-panic tests.

use crate::qbft::message::Message;

/// Decodes `data` as a QBFT message: the first byte picks the code (`0x12 + b % 4`), the rest
/// is the payload. Whatever decodes must re-encode to the same bytes and its signer recovery
/// must not panic.
pub fn qbft_message(data: &[u8]) {
    let Some((first, payload)) = data.split_first() else {
        return;
    };
    let code = 0x12 + first % 4;
    if let Ok(msg) = Message::decode(code, payload) {
        assert_eq!(msg.encode(), payload, "re-encoding differs");
        let _ = msg.author();
        let _ = msg.verify_justification_signatures();
    }
}

/// Decodes `data` as an IBFT p2p payload (code 0x11) and as a bare wrapper. Whatever decodes
/// must re-encode to the same bytes, and its signer and seal recovery must not panic.
pub fn ibft_message(data: &[u8]) {
    use crate::ibft::message::{Message as Ibft, P2P_CODE};
    if let Ok(msg) = Ibft::decode(P2P_CODE, data) {
        assert_eq!(msg.encode(), data, "re-encoding differs");
        let _ = msg.author();
        let _ = msg.committed_seal_signer();
    }
    if let Ok(msg) = Ibft::decode_wrapper(data) {
        assert_eq!(msg.wrapper_rlp(), data, "wrapper re-encoding differs");
        let _ = msg.author();
    }
}
