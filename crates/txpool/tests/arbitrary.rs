//! `add_raw` on arbitrary bytes and on corrupted valid transactions: never panics, and the
//! pool's counts stay those of its content.

mod support;

use alloy_eips::eip2718::Encodable2718;
use cachet_txpool::PoolConfig;
use proptest::prelude::*;
use support::*;

fn consistent(pool: &cachet_txpool::Pool) {
    let (pending, queued) = pool.status();
    let content = pool.content();
    assert_eq!(
        content.pending.values().map(|m| m.len()).sum::<usize>(),
        pending
    );
    assert_eq!(
        content.queued.values().map(|m| m.len()).sum::<usize>(),
        queued
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let pool = pool(PoolConfig::default());
        let state = MapState::funded([key(1)]);
        let _ = pool.add_raw(&raw, &head(1, Some(1)), &state);
        consistent(&pool);
    }

    #[test]
    fn corrupted_transactions_never_panic(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let k = key(1);
        let tx = match which {
            0 => legacy(&k, 0, 10),
            1 => eip1559(&k, 0, 100, 10),
            _ => legacy_with(&k, |tx| tx.input = vec![0u8; 64].into()),
        };
        let mut raw = tx.encoded_2718();
        for (at, byte) in edits {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        if let Some(cut) = cut {
            raw.truncate(cut.index(raw.len() + 1));
        }
        let pool = pool(PoolConfig::default());
        let state = MapState::funded([k]);
        let _ = pool.add_raw(&raw, &head(1, Some(1)), &state);
        consistent(&pool);
    }
}
