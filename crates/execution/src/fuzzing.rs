//! Entry points for the cargo-fuzz targets in `crates/execution/fuzz/` (not a public API).
//!
//! Each function must never panic on any input.

use std::sync::OnceLock;

use alloy_consensus::TxEnvelope;
use alloy_consensus::transaction::SignerRecoverable;
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;

use crate::{Executor, decode_body, recover_senders};

/// A GoQuorum-style chain (isQuorum, London at block 10, a raised code size limit) so the
/// type, chain id, private-marker and size rules all take part.
fn executor() -> Option<&'static Executor> {
    static EXECUTOR: OnceLock<Option<Executor>> = OnceLock::new();
    EXECUTOR
        .get_or_init(|| {
            let genesis = br#"{"config": {"chainId": 10, "homesteadBlock": 0, "eip150Block": 0,
                "eip155Block": 0, "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
                "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 10,
                "isQuorum": true, "maxCodeSize": 48, "txnSizeLimit": 64,
                "istanbul": {"epoch": 30000, "policy": 0}}}"#;
            let genesis = Genesis::from_json(genesis, RaftMarker::FromGenesis).ok()?;
            Executor::new(&genesis).ok()
        })
        .as_ref()
}

/// One transaction in its network encoding and in its EIP-2718 encoding: decode, recover the
/// sender, the pool's entry check before and after London; a decoded transaction re-encodes
/// to bytes that decode to the same transaction.
pub fn transaction(data: &[u8]) {
    for decoded in [
        TxEnvelope::network_decode(&mut &data[..]),
        TxEnvelope::decode_2718(&mut &data[..]),
    ] {
        let Ok(tx) = decoded else { continue };
        let _ = tx.recover_signer_unchecked();
        if let Some(executor) = executor() {
            let _ = executor.check_transaction(&tx, 1, 0);
            let _ = executor.check_transaction(&tx, 10, u64::MAX);
        }
        let again = TxEnvelope::decode_2718(&mut tx.encoded_2718().as_slice());
        assert_eq!(
            again.ok().as_ref(),
            Some(&tx),
            "re-encoded transaction differs"
        );
    }
}

/// Block body RLP: decode, the header commitments against an empty header, the ommers hash,
/// sender recovery.
pub fn body(data: &[u8]) {
    if let Ok(body) = decode_body(data) {
        let _ = body.check_against(&Header::default());
        let _ = body.ommers_hash();
        let _ = recover_senders(&body.transactions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds and a few edge inputs go through both targets without a panic.
    #[test]
    fn seeds_run_through_both_targets() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let mut seeds = 0;
        for target in ["transaction", "body"] {
            for entry in std::fs::read_dir(dir.join(target)).unwrap() {
                let data = std::fs::read(entry.unwrap().path()).unwrap();
                transaction(&data);
                body(&data);
                seeds += 1;
            }
        }
        assert!(seeds >= 10, "{seeds} seeds");
        assert!(executor().is_some(), "the fuzz genesis must be accepted");
        for edge in [
            &[][..],
            &[0x00],
            &[0x02],
            &[0xc0],
            &[0xc2, 0xc0, 0xc0],
            &[0xff; 9],
        ] {
            transaction(edge);
            body(edge);
        }
    }
}
