//! eth/68 message tests.

use proptest::prelude::*;

use super::*;
use crate::eth::ForkId;

fn header_item() -> Bytes {
    // A list standing in for a header: the wire layer only checks it is one RLP list.
    Bytes::from_static(&[0xc3, 0x01, 0x02, 0x03])
}

pub(crate) fn samples() -> Vec<EthMessage> {
    vec![
        EthMessage::Status(Status {
            version: 68,
            network_id: 10,
            total_difficulty: U256::from(1u64),
            head: B256::repeat_byte(1),
            genesis: B256::repeat_byte(2),
            fork_id: ForkId {
                hash: crate::eth::ForkHash([9; 4]),
                next: 0,
            },
        }),
        EthMessage::NewBlockHashes(vec![(B256::repeat_byte(3), 7), (B256::repeat_byte(4), 8)]),
        EthMessage::Transactions(Bytes::from_static(&[0xc2, 0x01, 0x02])),
        EthMessage::GetBlockHeaders {
            request_id: 1,
            start: BlockId::Number(0),
            limit: 192,
            skip: 0,
            reverse: false,
        },
        EthMessage::GetBlockHeaders {
            request_id: 2,
            start: BlockId::Hash(B256::repeat_byte(5)),
            limit: 1,
            skip: 3,
            reverse: true,
        },
        EthMessage::BlockHeaders {
            request_id: 3,
            headers: vec![header_item(), header_item()],
        },
        EthMessage::BlockHeaders {
            request_id: 3,
            headers: vec![],
        },
        EthMessage::GetBlockBodies {
            request_id: 4,
            hashes: vec![B256::repeat_byte(6)],
        },
        EthMessage::BlockBodies {
            request_id: 5,
            bodies: vec![Bytes::from_static(&[0xc2, 0xc0, 0xc0])],
        },
        EthMessage::NewBlock {
            block: Bytes::from_static(&[0xc3, 0xc0, 0xc0, 0xc0]),
            total_difficulty: U256::from(99u64),
        },
        EthMessage::NewPooledTransactionHashes {
            types: Bytes::from_static(&[0, 2]),
            sizes: vec![110, 4_000_000],
            hashes: vec![B256::repeat_byte(7), B256::repeat_byte(8)],
        },
        EthMessage::NewPooledTransactionHashes {
            types: Bytes::new(),
            sizes: vec![],
            hashes: vec![],
        },
        EthMessage::GetPooledTransactions {
            request_id: 6,
            hashes: vec![B256::repeat_byte(9)],
        },
        EthMessage::PooledTransactions {
            request_id: 7,
            // A legacy transaction is a list; a typed one a string.
            transactions: vec![header_item(), Bytes::from_static(&[0x83, 0x02, 0xc1, 0x80])],
        },
        EthMessage::Other {
            id: 0x0f,
            data: Bytes::from_static(&[0xc3, 0x80, 0xc0, 0xc0]),
        },
    ]
}

#[test]
fn round_trips_every_sample() {
    for m in samples() {
        let enc = m.encode();
        assert_eq!(EthMessage::decode(m.id(), &enc).unwrap(), m, "{m:?}");
    }
}

#[test]
fn rejects_every_truncation_and_trailing_byte() {
    for m in samples() {
        let enc = m.encode();
        for n in 0..enc.len() {
            assert!(
                EthMessage::decode(m.id(), &enc[..n]).is_err(),
                "{m:?} prefix {n}"
            );
        }
        let mut long = enc.clone();
        long.push(0x80);
        assert!(EthMessage::decode(m.id(), &long).is_err(), "{m:?} trailing");
    }
}

#[test]
fn rejects_lists_over_the_cap_and_accepts_the_cap() {
    let at_cap = EthMessage::GetBlockBodies {
        request_id: 1,
        hashes: vec![B256::ZERO; MAX_ITEMS],
    };
    assert_eq!(
        EthMessage::decode(id::GET_BLOCK_BODIES, &at_cap.encode()).unwrap(),
        at_cap
    );
    let over = EthMessage::GetBlockBodies {
        request_id: 1,
        hashes: vec![B256::ZERO; MAX_ITEMS + 1],
    };
    assert!(matches!(
        EthMessage::decode(id::GET_BLOCK_BODIES, &over.encode()),
        Err(DecodeError::TooLarge {
            what: "get block bodies",
            ..
        })
    ));
}

#[test]
fn rejects_unknown_ids_and_non_list_headers() {
    assert_eq!(
        EthMessage::decode(17, &[0xc0]),
        Err(DecodeError::UnknownMessage { id: 17 })
    );
    // [1, [0x05]]: a header that is a string, not a list.
    assert!(EthMessage::decode(id::BLOCK_HEADERS, &[0xc3, 0x01, 0xc1, 0x05]).is_err());
    // reverse = 2
    let bad = EthMessage::GetBlockHeaders {
        request_id: 1,
        start: BlockId::Number(1),
        limit: 1,
        skip: 0,
        reverse: false,
    }
    .encode();
    let mut bad = bad;
    let last = bad.len() - 1;
    bad[last] = 0x02;
    assert!(EthMessage::decode(id::GET_BLOCK_HEADERS, &bad).is_err());
}

proptest! {
    #[test]
    fn round_trips_any_header_request(rid in 0u64.., n in 0u64.., limit in 0u64.., skip in 0u64.., reverse in any::<bool>(), hash in proptest::option::of(proptest::array::uniform32(0u8..))) {
        let start = hash.map_or(BlockId::Number(n), |h| BlockId::Hash(B256::from(h)));
        let m = EthMessage::GetBlockHeaders { request_id: rid, start, limit, skip, reverse };
        prop_assert_eq!(EthMessage::decode(m.id(), &m.encode()).unwrap(), m);
    }

    #[test]
    fn round_trips_any_hash_announcement(items in proptest::collection::vec((proptest::array::uniform32(0u8..), 0u64..), 0..20)) {
        let m = EthMessage::NewBlockHashes(items.into_iter().map(|(h, n)| (B256::from(h), n)).collect());
        prop_assert_eq!(EthMessage::decode(m.id(), &m.encode()).unwrap(), m);
    }

    #[test]
    fn never_panics_on_any_input(id in 0u64..20, data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = EthMessage::decode(id, &data);
    }
}

/// EIP-2481's example `GetPooledTransactions` message: request id 1111 asking for two hashes.
#[test]
fn decodes_the_eip_2481_get_pooled_transactions_example() {
    let wire = hex::decode(concat!(
        "f847820457f842",
        "a000000000000000000000000000000000000000000000000000000000deadc0de",
        "a000000000000000000000000000000000000000000000000000000000feedbeef"
    ))
    .unwrap();
    let mut a = [0u8; 32];
    a[28..].copy_from_slice(&[0xde, 0xad, 0xc0, 0xde]);
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&[0xfe, 0xed, 0xbe, 0xef]);
    let m = EthMessage::GetPooledTransactions {
        request_id: 1111,
        hashes: vec![B256::from(a), B256::from(b)],
    };
    assert_eq!(
        EthMessage::decode(id::GET_POOLED_TRANSACTIONS, &wire).unwrap(),
        m
    );
    assert_eq!(m.encode(), wire);
}

#[test]
fn rejects_announcements_whose_lists_differ_in_length() {
    let m = EthMessage::NewPooledTransactionHashes {
        types: Bytes::from_static(&[2]),
        sizes: vec![100, 200],
        hashes: vec![B256::ZERO, B256::ZERO],
    };
    assert!(matches!(
        EthMessage::decode(id::NEW_POOLED_TRANSACTION_HASHES, &m.encode()),
        Err(DecodeError::InvalidValue {
            reason: "types, sizes and hashes differ in length",
            ..
        })
    ));
}

#[test]
fn splits_a_transactions_list_as_pooled_transactions_does() {
    let items = vec![header_item().to_vec(), vec![0x83, 0x02, 0xc1, 0x80]];
    let EthMessage::Transactions(list) = EthMessage::transactions(&items) else {
        panic!("not a Transactions message");
    };
    let split = transaction_items(&list).unwrap();
    assert_eq!(split.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), items);
    assert!(transaction_items(&[0xc1, 0xb9]).is_err());
    let over = EthMessage::transactions(&vec![vec![0x01]; MAX_ITEMS + 1]);
    let EthMessage::Transactions(over) = over else {
        unreachable!()
    };
    assert!(matches!(
        transaction_items(&over),
        Err(DecodeError::TooLarge { .. })
    ));
}
