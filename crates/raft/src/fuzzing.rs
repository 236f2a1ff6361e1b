//! Entry points for the fuzz targets (`crates/raft/fuzz`) and the no-panic tests.

use crate::rules::{self, Members};
use crate::{snapshot, wire};

/// Decodes `data` as a raft message from a peer; whatever decodes must re-encode to the same
/// bytes (the decoder accepts only the one encoding). What a member reads inside it next
/// (conf changes, snapshot data, the block and its signature) must not panic either.
pub fn raft_message(data: &[u8]) {
    let Ok(m) = wire::decode_message(data) else {
        return;
    };
    assert_eq!(wire::encode_message(&m), data, "re-encoding differs");
    for e in m.entries.iter() {
        if let Ok(cc) = wire::decode_conf_change(&e.data) {
            assert_eq!(wire::encode_conf_change(&cc), &e.data[..]);
        }
        let _ = rules::check_signature(e.index, &e.data, &Members::default());
    }
    if let Some(s) = m.snapshot.as_ref() {
        let _ = snapshot::decode(&s.data);
    }
}
