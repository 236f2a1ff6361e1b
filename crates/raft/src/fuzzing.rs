//! Entry points for the fuzz targets (`crates/raft/fuzz`) and the no-panic tests.

use crate::wire;

/// Decodes `data` as a raft message from a peer; whatever decodes must re-encode to the same
/// bytes (the decoder accepts only the one encoding).
pub fn raft_message(data: &[u8]) {
    if let Ok(m) = wire::decode_message(data) {
        assert_eq!(wire::encode_message(&m), data, "re-encoding differs");
        for e in m.entries.iter() {
            if let Ok(cc) = wire::decode_conf_change(&e.data) {
                assert_eq!(wire::encode_conf_change(&cc), &e.data[..]);
            }
        }
    }
}
