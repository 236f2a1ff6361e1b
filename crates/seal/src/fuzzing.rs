//! Entry points for the cargo-fuzz targets in `crates/seal/fuzz/` (not a public API).
//!
//! Each function must never panic on any input; where the format allows, decode-then-encode
//! must give back the input.

use crate::header::Header;
use crate::{clique, ibft, ibft2, qbft, raft};

/// Header RLP: decode, and a decoded header re-encodes to the same bytes.
pub fn header(data: &[u8]) {
    if let Ok(h) = Header::decode(data) {
        assert_eq!(h.encode(), data, "header re-encoding differs");
        let _ = clique::seal_hash(&h);
        let _ = raft::signing_hash(&h);
    }
}

/// Clique extraData.
pub fn clique_extra(data: &[u8]) {
    if let Ok(e) = clique::CliqueExtra::decode(data) {
        assert_eq!(e.encode(), data, "clique extra re-encoding differs");
    }
}

/// IBFT 1.0 extraData.
pub fn ibft_extra(data: &[u8]) {
    if let Ok(e) = ibft::IstanbulExtra::decode(data) {
        assert_eq!(e.encode(), data, "ibft extra re-encoding differs");
    }
}

/// IBFT 2.0 extraData.
pub fn ibft2_extra(data: &[u8]) {
    if let Ok(e) = ibft2::decode_extra(data) {
        assert_eq!(
            ibft2::encode_extra(&e),
            data,
            "ibft2 extra re-encoding differs"
        );
    }
}

/// QBFT extraData.
pub fn qbft_extra(data: &[u8]) {
    if let Ok(e) = qbft::decode_extra(data) {
        assert_eq!(
            qbft::encode_extra(&e),
            data,
            "qbft extra re-encoding differs"
        );
    }
}

/// Raft extraData. The 32-byte vanity is not kept (Quorum leaves it blank), so only the part
/// after it must round-trip.
pub fn raft_extra(data: &[u8]) {
    if let Ok(s) = raft::RaftSeal::decode(data) {
        assert_eq!(
            s.encode().get(32..),
            data.get(32..),
            "raft extra re-encoding differs"
        );
    }
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every target, by name (for the corpus test).
pub const TARGETS: [(&str, Target); 6] = [
    ("header", header),
    ("clique_extra", clique_extra),
    ("ibft_extra", ibft_extra),
    ("ibft2_extra", ibft2_extra),
    ("qbft_extra", qbft_extra),
    ("raft_extra", raft_extra),
];
