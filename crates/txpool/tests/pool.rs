//! The pool against transactions signed here with real secp256k1 keys: geth's refusals, nonce
//! gaps, replacement, ordering, reorgs and limits under a flood.

mod support;

use alloy_consensus::{Signed, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use cachet_txpool::{Pool, PoolConfig, PoolError};
use support::*;

/// secp256k1's group order n.
const SECP256K1_N: U256 = U256::from_be_bytes([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
]);

fn with_signature(tx: &TxEnvelope, f: impl FnOnce(&Signature) -> Signature) -> TxEnvelope {
    let TxEnvelope::Legacy(signed) = tx else {
        panic!("legacy expected")
    };
    let sig = f(signed.signature());
    TxEnvelope::Legacy(Signed::new_unhashed(signed.tx().clone(), sig))
}

fn legacy_at(key: &Key, nonce: u64, f: impl FnOnce(&mut TxLegacy)) -> TxEnvelope {
    legacy_with(key, |tx| {
        tx.nonce = nonce;
        tx.gas_price = 10;
        f(tx);
    })
}

#[test]
fn invalid_transactions_get_geths_messages_and_change_nothing() {
    let (a, b, c, d) = (key(1), key(2), key(3), key(4));
    let state = MapState::funded([a]);
    state.set(b.address, 7, U256::from(ETHER));
    state.set(c.address, 0, U256::from(1000));
    state.set(d.address, 0, U256::from(300_000));
    let pool = pool(PoolConfig {
        min_gas_price: 2,
        ..PoolConfig::default()
    });
    let head = head(10, Some(1));
    let pooled = legacy(&a, 0, 100);
    pool.add(pooled.clone(), &head, &state).unwrap();
    pool.add(legacy(&d, 0, 10), &head, &state).unwrap();

    let oversized = legacy_at(&a, 1, |tx| {
        tx.gas_limit = 29_000_000;
        tx.input = Bytes::from(vec![1u8; 131_000]);
    });
    let oversized_size = oversized.encode_2718_len();
    let mut access_list = eip1559(&a, 1, 100, 10);
    if let TxEnvelope::Eip1559(signed) = &access_list {
        let mut tx = signed.tx().clone();
        tx.gas_limit = 27_199;
        tx.access_list = AccessList(vec![AccessListItem {
            address: Address::repeat_byte(1),
            storage_keys: vec![B256::ZERO, B256::repeat_byte(1)],
        }]);
        access_list = sign(tx, &a);
    }
    let high_s = with_signature(&legacy(&a, 1, 10), |s| {
        Signature::new(s.r(), SECP256K1_N - s.s(), !s.v())
    });
    let zero_r = with_signature(&legacy(&a, 1, 10), |s| {
        Signature::new(U256::ZERO, s.s(), s.v())
    });

    let cases: Vec<(&str, TxEnvelope, String)> = vec![
        (
            "legacy for another chain",
            legacy_at(&a, 1, |tx| tx.chain_id = Some(7)),
            format!("invalid sender: invalid chain id for signer: have 7 want {CHAIN_ID}"),
        ),
        (
            "1559 for another chain",
            {
                let TxEnvelope::Eip1559(s) = eip1559(&a, 1, 100, 10) else {
                    unreachable!()
                };
                let mut tx = s.tx().clone();
                tx.chain_id = 7;
                sign(tx, &a)
            },
            format!("invalid sender: invalid chain id for signer: have 7 want {CHAIN_ID}"),
        ),
        (
            "s above n/2",
            high_s,
            "invalid sender: invalid transaction v, r, s values".into(),
        ),
        (
            "r zero",
            zero_r,
            "invalid sender: invalid transaction v, r, s values".into(),
        ),
        (
            "nonce below the account's",
            legacy(&b, 5, 10),
            "nonce too low: next nonce 7, tx nonce 5".into(),
        ),
        (
            "replacement with 9% more",
            legacy(&a, 0, 109),
            "replacement transaction underpriced".into(),
        ),
        (
            "replacement with the same price",
            legacy_at(&a, 0, |tx| {
                tx.gas_price = 100;
                tx.value = U256::from(2);
            }),
            "replacement transaction underpriced".into(),
        ),
        (
            "above 128 KiB",
            oversized,
            format!("oversized data: transaction size {oversized_size}, limit 131072"),
        ),
        (
            "cost above the balance",
            legacy(&c, 0, 10),
            "insufficient funds for gas * price + value: balance 1000, tx cost 210001, overshot 209001".into(),
        ),
        (
            "cost above the balance with the pending one",
            legacy(&d, 1, 10),
            "insufficient funds for gas * price + value: balance 300000, queued cost 210001, tx cost 210001, overshot 120002".into(),
        ),
        (
            "transfer with 20,999 gas",
            legacy_at(&a, 1, |tx| tx.gas_limit = 20_999),
            "intrinsic gas too low: gas 20999, minimum needed 21000".into(),
        ),
        (
            "calldata (4 zero, 4 non-zero bytes, Istanbul)",
            legacy_at(&a, 1, |tx| {
                tx.gas_limit = 21_079;
                tx.input = Bytes::from(vec![0, 0, 0, 0, 1, 1, 1, 1]);
            }),
            "intrinsic gas too low: gas 21079, minimum needed 21080".into(),
        ),
        (
            "contract creation",
            legacy_at(&a, 1, |tx| {
                tx.gas_limit = 52_999;
                tx.to = TxKind::Create;
            }),
            "intrinsic gas too low: gas 52999, minimum needed 53000".into(),
        ),
        (
            "access list of one address and two keys",
            access_list,
            "intrinsic gas too low: gas 27199, minimum needed 27200".into(),
        ),
        (
            "gas above the block's",
            legacy_at(&a, 1, |tx| tx.gas_limit = GAS_LIMIT + 1),
            "exceeds block gas limit".into(),
        ),
        (
            "gas price below the minimum",
            legacy(&a, 1, 1),
            "transaction underpriced: gas tip cap 1, minimum needed 2".into(),
        ),
        (
            "tip below the minimum",
            eip1559(&a, 1, 100, 1),
            "transaction underpriced: gas tip cap 1, minimum needed 2".into(),
        ),
        (
            "tip above the fee cap",
            eip1559(&a, 1, 5, 6),
            "max priority fee per gas higher than max fee per gas".into(),
        ),
        (
            "nonce 2^64-1",
            legacy(&a, u64::MAX, 10),
            "nonce has max value".into(),
        ),
        ("already pooled", pooled, "already known".into()),
    ];
    let before = (pool.status(), pool.content());
    for (name, tx, expected) in cases {
        let raw = tx.encoded_2718();
        for (path, result) in [
            ("add", pool.add(tx.clone(), &head, &state)),
            ("add_raw", pool.add_raw(&raw, &head, &state)),
        ] {
            let error = result.expect_err(name);
            assert_eq!(error.to_string(), expected, "{name} ({path})");
            assert_eq!(error.code(), -32000, "{name}");
            assert_eq!((pool.status(), pool.content()), before, "{name} ({path})");
        }
    }

    let raw_cases: [(&[u8], &str); 4] = [
        (&[], "typed transaction too short"),
        (&[0x02], "typed transaction too short"),
        (&[0x05, 0xc0], "transaction type not supported"),
        (&[0x7f, 0x01, 0x02], "transaction type not supported"),
    ];
    for (raw, expected) in raw_cases {
        let error = pool.add_raw(raw, &head, &state).unwrap_err();
        assert_eq!(error.to_string(), expected, "{raw:?}");
    }
    for raw in [&[0xc0][..], &[0x02, 0xc0], &[0xf8, 0xff]] {
        let error = pool.add_raw(raw, &head, &state).unwrap_err();
        assert!(error.to_string().starts_with("rlp: "), "{raw:?}: {error}");
    }
    let mut trailing = legacy(&a, 1, 10).encoded_2718();
    trailing.push(0);
    assert!(pool.add_raw(&trailing, &head, &state).is_err());
    assert_eq!((pool.status(), pool.content()), before);

    // The 1559 type before London, at a head of a chain whose London is at block 100.
    let pre_london = Pool::new(PoolConfig::default(), executor(100));
    let error = pre_london
        .add(eip1559(&a, 0, 100, 10), &support::head(5, None), &state)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "transaction type not supported: type 2 rejected, pool not yet in London"
    );
    assert_eq!(pre_london.status(), (0, 0));
    // The same at London's block is fine.
    pre_london
        .add(
            eip1559(&a, 0, 100, 10),
            &support::head(100, Some(7)),
            &state,
        )
        .unwrap();
}

#[test]
fn replacement_needs_ten_percent_on_fee_cap_and_tip() {
    let a = key(1);
    let state = MapState::funded([a]);
    let pool = pool(PoolConfig::default());
    let head = head(1, Some(1));
    pool.add(legacy(&a, 0, 100), &head, &state).unwrap();
    let better = legacy(&a, 0, 110);
    let hash = pool.add(better.clone(), &head, &state).unwrap();
    assert_eq!(pool.status(), (1, 0));
    assert_eq!(pool.get(&hash), Some(better));

    pool.add(eip1559(&a, 1, 1000, 100), &head, &state).unwrap();
    // Fee cap +10% but tip +9%: refused; both +10%: replaces.
    assert_eq!(
        pool.add(eip1559(&a, 1, 1100, 109), &head, &state),
        Err(PoolError::ReplaceUnderpriced)
    );
    assert_eq!(
        pool.add(eip1559(&a, 1, 1099, 110), &head, &state),
        Err(PoolError::ReplaceUnderpriced)
    );
    let replaced = eip1559(&a, 1, 1100, 110);
    pool.add(replaced.clone(), &head, &state).unwrap();
    assert_eq!(pool.status(), (2, 0));
    assert_eq!(pool.content().pending[&a.address][&1], replaced);

    // Tiny prices: strictly higher is needed even where 10% rounds to nothing.
    pool.add(legacy(&a, 2, 1), &head, &state).unwrap();
    assert_eq!(
        pool.add(
            legacy_at(&a, 2, |tx| {
                tx.gas_price = 1;
                tx.value = U256::from(9)
            }),
            &head,
            &state
        ),
        Err(PoolError::ReplaceUnderpriced)
    );
    pool.add(legacy(&a, 2, 2), &head, &state).unwrap();
}

#[test]
fn nonce_gap_is_queued_until_filled() {
    let a = key(1);
    let state = MapState::funded([a]);
    let pool = pool(PoolConfig::default());
    let head = head(1, None);
    let mut ready = pool.subscribe_ready();
    let mut new = pool.subscribe_new();

    let h2 = pool.add(legacy(&a, 2, 5), &head, &state).unwrap();
    let h1 = pool.add(legacy(&a, 1, 5), &head, &state).unwrap();
    assert_eq!(pool.status(), (0, 2));
    assert!(!pool.has_pending());
    assert_eq!(pool.pending_nonce(&a.address), None);
    assert!(pool.best(None).is_empty());
    assert!(!ready.has_changed().unwrap());
    assert!(new.try_recv().is_err());
    assert_eq!(pool.content().queued[&a.address].len(), 2);

    let h0 = pool.add(legacy(&a, 0, 5), &head, &state).unwrap();
    assert_eq!(pool.status(), (3, 0));
    assert!(pool.has_pending());
    assert_eq!(pool.pending_nonce(&a.address), Some(3));
    assert!(ready.has_changed().unwrap());
    ready.borrow_and_update();
    let mut announced = vec![
        new.try_recv().unwrap(),
        new.try_recv().unwrap(),
        new.try_recv().unwrap(),
    ];
    announced.sort();
    let mut expected = vec![h0, h1, h2];
    expected.sort();
    assert_eq!(announced, expected);
    let nonces: Vec<u64> = pool
        .best(None)
        .iter()
        .map(|c| alloy_consensus::Transaction::nonce(&c.tx))
        .collect();
    assert_eq!(nonces, [0, 1, 2]);
}

#[test]
fn best_orders_by_effective_tip_with_nonce_order_per_sender() {
    use alloy_consensus::Transaction;
    let (a, b, c, d) = (key(1), key(2), key(3), key(4));
    let state = MapState::funded([a, b, c, d]);
    let pool = pool(PoolConfig::default());
    let head = head(1, Some(7));
    // Base fee 7: a's tips 3 then 13, b's 5 then 1 (fee cap 8), c's 1, d's fee cap is below
    // the base fee (left out).
    pool.add(legacy(&a, 1, 20), &head, &state).unwrap();
    pool.add(legacy(&a, 0, 10), &head, &state).unwrap();
    pool.add(eip1559(&b, 0, 100, 5), &head, &state).unwrap();
    pool.add(eip1559(&b, 1, 8, 5), &head, &state).unwrap();
    pool.add(legacy(&c, 0, 8), &head, &state).unwrap();
    pool.add(legacy(&d, 0, 6), &head, &state).unwrap();
    let order: Vec<(Address, u64)> = pool
        .best(Some(7))
        .iter()
        .map(|c| (c.sender, c.tx.nonce()))
        .collect();
    assert_eq!(
        order,
        [
            (b.address, 0),
            (a.address, 0),
            (a.address, 1),
            (b.address, 1),
            (c.address, 0)
        ]
    );
    // Without a base fee the gas price / tip orders: a 10 then 20, b 5, 5, c 8, d 6.
    let order: Vec<(Address, u64)> = pool
        .best(None)
        .iter()
        .map(|c| (c.sender, c.tx.nonce()))
        .collect();
    assert_eq!(
        order,
        [
            (a.address, 0),
            (a.address, 1),
            (c.address, 0),
            (d.address, 0),
            (b.address, 0),
            (b.address, 1)
        ]
    );
}

#[test]
fn new_head_removes_included_and_reorg_reinjects() {
    let (a, b) = (key(1), key(2));
    let state = MapState::funded([a, b]);
    let pool = pool(PoolConfig::default());
    let head1 = head(1, None);
    let txs: Vec<TxEnvelope> = (0..3).map(|n| legacy(&a, n, 5)).collect();
    for tx in &txs {
        pool.add(tx.clone(), &head1, &state).unwrap();
    }
    pool.add(legacy(&b, 0, 5), &head1, &state).unwrap();

    // Block 2 includes a's first two.
    state.set(a.address, 2, U256::from(ETHER));
    pool.on_new_head(&head(2, None), &txs[..2], vec![], &state);
    assert_eq!(pool.status(), (2, 0));
    assert!(!pool.contains(txs[0].tx_hash()));
    assert!(pool.contains(txs[2].tx_hash()));
    assert_eq!(pool.pending_nonce(&a.address), Some(3));

    // A reorg to a branch without block 2: its transactions come back, in nonce order.
    state.set(a.address, 0, U256::from(ETHER));
    pool.on_new_head(&head(2, None), &[], txs[..2].to_vec(), &state);
    assert_eq!(pool.status(), (4, 0));
    assert_eq!(pool.pending_nonce(&a.address), Some(3));

    // Reorged-out transactions the new branch also included stay out.
    state.set(a.address, 1, U256::from(ETHER));
    pool.on_new_head(&head(3, None), &txs[..1], txs[..1].to_vec(), &state);
    assert!(!pool.contains(txs[0].tx_hash()));
    assert_eq!(pool.status(), (3, 0));

    // c's nonce 0 moves more value than its nonce 1; the balance drops between their costs:
    // nonce 0 goes, nonce 1 is demoted to queued.
    let c = key(3);
    state.set(c.address, 0, U256::from(ETHER));
    let c0 = legacy_at(&c, 0, |tx| tx.value = U256::from(1000));
    let c1 = legacy_at(&c, 1, |_| {});
    pool.add(c0.clone(), &head(3, None), &state).unwrap();
    pool.add(c1.clone(), &head(3, None), &state).unwrap();
    assert_eq!(pool.status(), (5, 0));
    state.set(c.address, 0, U256::from(21_000u64 * 10 + 1 + 10));
    pool.on_new_head(&head(4, None), &[], vec![], &state);
    assert_eq!(pool.status(), (3, 1));
    assert!(!pool.contains(c0.tx_hash()));
    assert_eq!(pool.content().queued[&c.address][&1], c1);
    assert_eq!(pool.pending_nonce(&c.address), None);
}

#[test]
fn flood_from_a_thousand_senders_stays_within_limits() {
    let config = PoolConfig::default();
    let keys: Vec<Key> = (0..1000).map(key).collect();
    let state = MapState::funded(keys.iter().copied());
    let pool = pool(config.clone());
    let head = head(1, None);
    let mut accepted = 0;
    let mut refusals = std::collections::BTreeMap::<String, usize>::new();
    // 20 transactions per sender, every fourth sender with a gap at nonce 0 (all queued);
    // prices vary so eviction has something to choose.
    for round in 0..20u64 {
        for (i, k) in keys.iter().enumerate() {
            let nonce = if i % 4 == 0 { round + 1 } else { round };
            let price = 1 + (i as u128 * 7 + u128::from(round)) % 50;
            match pool.add_raw(&legacy(k, nonce, price).encoded_2718(), &head, &state) {
                Ok(_) => accepted += 1,
                Err(e) => *refusals.entry(e.to_string()).or_default() += 1,
            }
            let (pending, queued) = pool.status();
            assert!(pending + queued <= config.capacity());
            assert!(queued <= config.global_queue);
        }
    }
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
    assert!(
        content
            .queued
            .values()
            .all(|m| m.len() <= config.account_queue)
    );
    // Pending per sender: contiguous from the account nonce (0).
    for list in content.pending.values() {
        assert!(list.keys().copied().eq(0..list.len() as u64));
    }
    assert!(
        pending + queued <= config.capacity(),
        "{pending} + {queued}"
    );
    assert!(
        accepted >= config.capacity(),
        "{accepted} accepted, {refusals:?}"
    );
    assert!(
        refusals
            .keys()
            .all(|e| e == "transaction underpriced" || e == "txpool is full"),
        "{refusals:?}"
    );
    assert_eq!(pool.best(None).len(), pending);
}

#[test]
fn full_pool_evicts_the_cheapest_for_a_better_paying_transaction() {
    let config = PoolConfig {
        account_slots: 2,
        global_slots: 4,
        account_queue: 2,
        global_queue: 2,
        ..PoolConfig::default()
    };
    let keys: Vec<Key> = (0..8).map(key).collect();
    let state = MapState::funded(keys.iter().copied());
    let pool = pool(config);
    let head = head(1, None);
    // Six senders, one pending transaction each, prices 10..=15: the pool is full.
    for (i, k) in keys.iter().take(6).enumerate() {
        pool.add(legacy(k, 0, 10 + i as u128), &head, &state)
            .unwrap();
    }
    assert_eq!(pool.status(), (6, 0));
    let cheapest = legacy(&keys[0], 0, 10);
    assert!(pool.contains(cheapest.tx_hash()));
    // Paying no more than the cheapest: refused, nothing changes.
    let before = pool.content();
    assert_eq!(
        pool.add(legacy(&keys[6], 0, 10), &head, &state),
        Err(PoolError::Underpriced)
    );
    assert_eq!(pool.content(), before);
    // Paying more: the cheapest goes.
    pool.add(legacy(&keys[6], 0, 11), &head, &state).unwrap();
    assert!(!pool.contains(cheapest.tx_hash()));
    assert_eq!(pool.status(), (6, 0));

    // Per-sender queue: a third gapped transaction with the highest nonce is refused.
    let pool2 = support::pool(PoolConfig {
        account_queue: 2,
        ..PoolConfig::default()
    });
    let k = keys[7];
    pool2.add(legacy(&k, 1, 5), &head, &state).unwrap();
    pool2.add(legacy(&k, 2, 5), &head, &state).unwrap();
    assert_eq!(
        pool2
            .add(legacy(&k, 3, 5), &head, &state)
            .unwrap_err()
            .to_string(),
        "account limit exceeded: pooled 2 txs"
    );
    // A lower nonce takes the place of the highest.
    pool2.add(legacy(&k, 0, 5), &head, &state).unwrap();
    assert_eq!(pool2.status(), (3, 0));
}

#[test]
fn fairness_trims_the_biggest_sender_down_to_its_slots() {
    let config = PoolConfig {
        account_slots: 4,
        global_slots: 10,
        account_queue: 64,
        global_queue: 100,
        ..PoolConfig::default()
    };
    let (a, b) = (key(1), key(2));
    let state = MapState::funded([a, b]);
    let pool = pool(config);
    let head = head(1, None);
    for n in 0..12 {
        pool.add(legacy(&a, n, 5), &head, &state).ok();
    }
    // The eleventh pending went (a is the only sender above its slots), so the twelfth is
    // behind a gap.
    assert_eq!(pool.status(), (10, 1));
    assert_eq!(pool.pending_nonce(&a.address), Some(10));
    for n in 0..4 {
        pool.add(legacy(&b, n, 5), &head, &state).unwrap();
    }
    // b's four are within its slots; a is trimmed from the top.
    assert_eq!(pool.status(), (10, 1));
    assert_eq!(pool.pending_nonce(&a.address), Some(6));
    assert_eq!(pool.pending_nonce(&b.address), Some(4));
}

#[test]
fn large_transactions_take_one_slot_per_32_kib() {
    let config = PoolConfig {
        global_slots: 3,
        global_queue: 1,
        ..PoolConfig::default()
    };
    let keys: Vec<Key> = (0..5).map(key).collect();
    let state = MapState::funded(keys.iter().copied());
    let pool = pool(config);
    let head = head(1, None);
    let big = |k: &Key, kib: usize, price: u128| {
        legacy_at(k, 0, |tx| {
            tx.gas_limit = 2_000_000;
            tx.gas_price = price;
            tx.input = Bytes::from(vec![1u8; kib * 1024]);
        })
    };
    // 40 KiB: two slots; two small ones fill the four.
    let two_slots = big(&keys[0], 40, 10);
    pool.add(two_slots.clone(), &head, &state).unwrap();
    pool.add(legacy(&keys[1], 0, 11), &head, &state).unwrap();
    pool.add(legacy(&keys[2], 0, 12), &head, &state).unwrap();
    assert_eq!(
        pool.add(legacy(&keys[3], 0, 10), &head, &state),
        Err(PoolError::Underpriced)
    );
    // One better-paying small one evicts the two-slot one.
    pool.add(legacy(&keys[3], 0, 13), &head, &state).unwrap();
    assert!(!pool.contains(two_slots.tx_hash()));
    assert_eq!(pool.status(), (3, 0));
    // 70 KiB (three slots) needs two evictions: refused while it does not outbid both
    // cheapest (11 and 12), and then nothing is evicted.
    let before = pool.content();
    assert_eq!(
        pool.add(big(&keys[4], 70, 12), &head, &state),
        Err(PoolError::Underpriced)
    );
    assert_eq!(pool.content(), before);
    pool.add(big(&keys[4], 70, 20), &head, &state).unwrap();
    assert_eq!(pool.status(), (2, 0));
    assert_eq!(
        pool.best(None).iter().map(|c| c.sender).collect::<Vec<_>>(),
        [keys[4].address, keys[3].address]
    );
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pool>();
}

#[test]
fn a_state_read_older_than_the_pools_gives_way() {
    let a = key(1);
    let state = MapState::funded([a]);
    let pool = pool(PoolConfig::default());
    for n in 0..3 {
        pool.add(legacy(&a, n, 5), &head(4, None), &state).unwrap();
    }
    // Block 5 included nonces 0 and 1.
    let newer = MapState::funded([a]);
    newer.set(a.address, 2, U256::from(ETHER));
    pool.on_new_head(&head(5, None), &[], vec![], &newer);
    assert_eq!(pool.status(), (1, 0));
    // An add validated against block 4's state (read before the new head arrived) is judged
    // by the newer nonce.
    assert_eq!(
        pool.add(legacy(&a, 1, 50), &head(4, None), &state)
            .unwrap_err()
            .to_string(),
        "nonce too low: next nonce 2, tx nonce 1"
    );
    assert_eq!(pool.status(), (1, 0));
    assert_eq!(pool.pending_nonce(&a.address), Some(3));
}

#[test]
fn concurrent_adds_keep_the_pool_consistent() {
    let keys: Vec<Key> = (0..8).map(key).collect();
    let state = MapState::funded(keys.iter().copied());
    let pool = pool(PoolConfig::default());
    let txs: Vec<Vec<TxEnvelope>> = keys
        .iter()
        .map(|k| (0..50).rev().map(|n| legacy(k, n, 5)).collect())
        .collect();
    std::thread::scope(|s| {
        for list in &txs {
            let (pool, state) = (&pool, &state);
            s.spawn(move || {
                for tx in list {
                    pool.add(tx.clone(), &head(1, None), state).unwrap();
                }
            });
        }
    });
    assert_eq!(pool.status(), (400, 0));
    assert_eq!(pool.best(None).len(), 400);
}

#[test]
fn goquorum_limits_and_rules() {
    let genesis = br#"{"config": {"chainId": 10, "homesteadBlock": 0, "eip150Block": 0,
        "eip155Block": 0, "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
        "petersburgBlock": 0, "istanbulBlock": 0, "isQuorum": true, "txnSizeLimit": 64,
        "istanbul": {"epoch": 30000, "policy": 0}}}"#;
    let genesis =
        cachet_genesis::Genesis::from_json(genesis, cachet_genesis::RaftMarker::FromGenesis)
            .unwrap();
    let pool = Pool::new(
        PoolConfig::default(),
        cachet_execution::Executor::new(&genesis).unwrap(),
    );
    let a = key(1);
    let state = MapState::funded([a]);
    let head = head(1, None);
    let free = |f: &dyn Fn(&mut TxLegacy)| {
        legacy_with(&a, |tx| {
            tx.chain_id = Some(10);
            tx.gas_price = 0;
            f(tx);
        })
    };
    // txnSizeLimit 64 KiB.
    let big = free(&|tx| {
        tx.gas_limit = 2_000_000;
        tx.input = Bytes::from(vec![1u8; 70 * 1024]);
    });
    let size = big.encode_2718_len();
    assert_eq!(
        pool.add(big, &head, &state).unwrap_err().to_string(),
        format!("oversized data: transaction size {size}, limit 65536")
    );
    // v = 37/38 marks a private transaction.
    let private = free(&|tx| tx.chain_id = Some(1));
    assert!(matches!(
        pool.add(private, &head, &state),
        Err(PoolError::Rule(_))
    ));
    // A gas price on a chain without gas price enabled.
    let priced = free(&|tx| tx.gas_price = 1);
    let refused = pool.add(priced, &head, &state);
    assert!(
        matches!(refused, Err(PoolError::GasPriceNotZero)),
        "{refused:?}"
    );
    // GoQuorum's own text (core/tx_pool.go ErrInvalidGasPrice).
    assert_eq!(refused.unwrap_err().to_string(), "Gas price not 0");
    assert_eq!(pool.status(), (0, 0));
    pool.add(free(&|_| {}), &head, &state).unwrap();
    assert_eq!(pool.status(), (1, 0));
}

/// A head's state that, on its first read, has another transaction added to the pool: what
/// an `eth_sendRawTransaction` does when it lands while `on_new_head` reads the state (the
/// reads run outside the pool's lock).
struct AddsWhileRead<'a> {
    state: &'a MapState,
    pool: &'a Pool,
    tx: std::sync::Mutex<Option<TxEnvelope>>,
}

impl cachet_txpool::AccountState for AddsWhileRead<'_> {
    fn account(&self, address: &Address) -> Result<(u64, U256), String> {
        let tx = self.tx.lock().unwrap().take();
        if let Some(tx) = tx {
            self.pool.add(tx, &head(2, None), self.state).unwrap();
        }
        self.state.account(address)
    }
}

#[test]
fn a_block_keeps_the_senders_later_transactions_pending_while_the_state_is_read() {
    // Found by the devnet_tx bench: after each block every remaining transaction of a busy
    // sender was queued behind the old nonce, and a transaction arriving meanwhile evicted
    // them as excess queue, leaving nonce gaps that stalled the sender.
    let (a, b) = (key(1), key(2));
    let state = MapState::funded([a, b]);
    let pool = pool(PoolConfig {
        global_queue: 2,
        ..PoolConfig::default()
    });
    let txs: Vec<TxEnvelope> = (0..6).map(|n| legacy(&a, n, 5)).collect();
    for tx in &txs {
        pool.add(tx.clone(), &head(1, None), &state).unwrap();
    }
    state.set(a.address, 2, U256::from(ETHER));
    let reading = AddsWhileRead {
        state: &state,
        pool: &pool,
        tx: std::sync::Mutex::new(Some(legacy(&b, 0, 5))),
    };
    pool.on_new_head(&head(2, None), &txs[..2], vec![], &reading);
    assert_eq!(
        pool.status(),
        (5, 0),
        "a's nonces 2..=5 and b's 0, all pending"
    );
    for tx in &txs[2..] {
        assert!(pool.contains(tx.tx_hash()), "{} was evicted", tx.tx_hash());
    }
    assert_eq!(pool.pending_nonce(&a.address), Some(6));
}
