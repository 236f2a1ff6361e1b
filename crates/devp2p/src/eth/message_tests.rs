//! eth message tests (eth/66, eth/67, eth/68).

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
        // eth/66–67 only.
        EthMessage::NewPooledTransactionHashes66 {
            hashes: vec![B256::repeat_byte(7), B256::repeat_byte(8)],
        },
        EthMessage::NewPooledTransactionHashes66 { hashes: vec![] },
        // eth/66 only.
        EthMessage::GetNodeData {
            request_id: 8,
            hashes: vec![B256::repeat_byte(10)],
        },
        EthMessage::NodeData {
            request_id: 9,
            values: vec![Bytes::from_static(&[0xde, 0xad]), Bytes::new()],
        },
    ]
}

/// The newest version `m` fits.
fn version_of(m: &EthMessage) -> EthVersion {
    EthVersion::ALL
        .into_iter()
        .rev()
        .find(|v| m.fits(*v))
        .unwrap()
}

#[test]
fn round_trips_every_sample() {
    for m in samples() {
        let enc = m.encode();
        for v in EthVersion::ALL.into_iter().filter(|v| m.fits(*v)) {
            assert_eq!(EthMessage::decode(v, m.id(), &enc).unwrap(), m, "{m:?}");
        }
    }
}

#[test]
fn rejects_every_truncation_and_trailing_byte() {
    for m in samples() {
        let enc = m.encode();
        for n in 0..enc.len() {
            assert!(
                EthMessage::decode(version_of(&m), m.id(), &enc[..n]).is_err(),
                "{m:?} prefix {n}"
            );
        }
        let mut long = enc.clone();
        long.push(0x80);
        assert!(
            EthMessage::decode(version_of(&m), m.id(), &long).is_err(),
            "{m:?} trailing"
        );
    }
}

#[test]
fn rejects_lists_over_the_cap_and_accepts_the_cap() {
    let at_cap = EthMessage::GetBlockBodies {
        request_id: 1,
        hashes: vec![B256::ZERO; MAX_ITEMS],
    };
    assert_eq!(
        EthMessage::decode(EthVersion::Eth68, id::GET_BLOCK_BODIES, &at_cap.encode()).unwrap(),
        at_cap
    );
    let over = EthMessage::GetBlockBodies {
        request_id: 1,
        hashes: vec![B256::ZERO; MAX_ITEMS + 1],
    };
    assert!(matches!(
        EthMessage::decode(EthVersion::Eth68, id::GET_BLOCK_BODIES, &over.encode()),
        Err(DecodeError::TooLarge {
            what: "get block bodies",
            ..
        })
    ));
}

#[test]
fn rejects_unknown_ids_and_non_list_headers() {
    assert_eq!(
        EthMessage::decode(EthVersion::Eth68, 17, &[0xc0]),
        Err(DecodeError::UndefinedMessage {
            id: 17,
            version: 68
        })
    );
    // [1, [0x05]]: a header that is a string, not a list.
    assert!(
        EthMessage::decode(
            EthVersion::Eth68,
            id::BLOCK_HEADERS,
            &[0xc3, 0x01, 0xc1, 0x05]
        )
        .is_err()
    );
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
    assert!(EthMessage::decode(EthVersion::Eth68, id::GET_BLOCK_HEADERS, &bad).is_err());
}

proptest! {
    #[test]
    fn round_trips_any_header_request(rid in 0u64.., n in 0u64.., limit in 0u64.., skip in 0u64.., reverse in any::<bool>(), hash in proptest::option::of(proptest::array::uniform32(0u8..))) {
        let start = hash.map_or(BlockId::Number(n), |h| BlockId::Hash(B256::from(h)));
        let m = EthMessage::GetBlockHeaders { request_id: rid, start, limit, skip, reverse };
        prop_assert_eq!(EthMessage::decode(EthVersion::Eth68, m.id(), &m.encode()).unwrap(), m);
    }

    #[test]
    fn round_trips_any_hash_announcement(items in proptest::collection::vec((proptest::array::uniform32(0u8..), 0u64..), 0..20)) {
        let m = EthMessage::NewBlockHashes(items.into_iter().map(|(h, n)| (B256::from(h), n)).collect());
        prop_assert_eq!(EthMessage::decode(EthVersion::Eth68, m.id(), &m.encode()).unwrap(), m);
    }

    #[test]
    fn never_panics_on_any_input(id in 0u64..20, data in proptest::collection::vec(any::<u8>(), 0..200)) {
        for v in EthVersion::ALL {
            let _ = EthMessage::decode(v, id, &data);
        }
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
        EthMessage::decode(EthVersion::Eth68, id::GET_POOLED_TRANSACTIONS, &wire).unwrap(),
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
        EthMessage::decode(
            EthVersion::Eth68,
            id::NEW_POOLED_TRANSACTION_HASHES,
            &m.encode()
        ),
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

/// The two hashes of geth's eth/66 test vectors: `common.HexToHash("deadc0de")`,
/// `common.HexToHash("feedbeef")`.
fn geth_hashes() -> Vec<B256> {
    let mut a = [0u8; 32];
    a[28..].copy_from_slice(&[0xde, 0xad, 0xc0, 0xde]);
    let mut b = [0u8; 32];
    b[28..].copy_from_slice(&[0xfe, 0xed, 0xbe, 0xef]);
    vec![B256::from(a), B256::from(b)]
}

/// geth `eth/protocols/eth/protocol_test.go` (commit ee16a6cd578fe887424c62a710cf66022cffeca6),
/// `TestEth66Messages`: `GetNodeDataPacket66{1111, hashes}` and `NodeDataPacket66{1111,
/// [deadc0de, feedbeef]}`. eth/66 only: the same bytes under the same ids are refused on
/// eth/67 and eth/68 (EIP-4938).
#[test]
fn matches_geths_eth66_node_data_vectors_and_refuses_them_after_eth66() {
    let get = hex::decode(concat!(
        "f847820457f842",
        "a000000000000000000000000000000000000000000000000000000000deadc0de",
        "a000000000000000000000000000000000000000000000000000000000feedbeef"
    ))
    .unwrap();
    let want = EthMessage::GetNodeData {
        request_id: 1111,
        hashes: geth_hashes(),
    };
    assert_eq!(
        EthMessage::decode(EthVersion::Eth66, id::GET_NODE_DATA, &get).unwrap(),
        want
    );
    assert_eq!(want.encode(), get);
    let data = hex::decode("ce820457ca84deadc0de84feedbeef").unwrap();
    let want = EthMessage::NodeData {
        request_id: 1111,
        values: vec![
            Bytes::from_static(&[0xde, 0xad, 0xc0, 0xde]),
            Bytes::from_static(&[0xfe, 0xed, 0xbe, 0xef]),
        ],
    };
    assert_eq!(
        EthMessage::decode(EthVersion::Eth66, id::NODE_DATA, &data).unwrap(),
        want
    );
    assert_eq!(want.encode(), data);
    for v in [EthVersion::Eth67, EthVersion::Eth68] {
        for (id, bytes) in [(id::GET_NODE_DATA, &get), (id::NODE_DATA, &data)] {
            assert_eq!(
                EthMessage::decode(v, id, bytes),
                Err(DecodeError::UndefinedMessage {
                    id,
                    version: v.number()
                })
            );
        }
    }
}

/// geth `protocol_test.go` (same commit), `TestEth66EmptyMessages`: every empty request-id
/// wrapped message, `GetNodeDataPacket66{1111, nil}` and `NodeDataPacket66{1111, nil}`
/// included, is `c4820457c0`. The empty answer we give `GetNodeData` is that message.
#[test]
fn matches_geths_empty_eth66_messages() {
    let want = hex::decode("c4820457c0").unwrap();
    let empty = [
        EthMessage::GetNodeData {
            request_id: 1111,
            hashes: vec![],
        },
        EthMessage::NodeData {
            request_id: 1111,
            values: vec![],
        },
        EthMessage::GetBlockBodies {
            request_id: 1111,
            hashes: vec![],
        },
        EthMessage::PooledTransactions {
            request_id: 1111,
            transactions: vec![],
        },
    ];
    for m in empty {
        assert_eq!(m.encode(), want, "{m:?}");
        assert_eq!(
            EthMessage::decode(EthVersion::Eth66, m.id(), &want).unwrap(),
            m
        );
    }
}

/// `NewPooledTransactionHashes` on eth/66 and eth/67 is `[txhash₁, txhash₂, ...]` (devp2p
/// `caps/eth.md`, EIP-2464): the list geth's `TestEth66Messages` encodes inside
/// `GetBlockBodiesPacket66{1111, hashes}` (its vector after the `f847820457` request-id
/// prefix). The eth/68 decoder refuses it (a hash list is not `[types, sizes, hashes]`), and
/// an announcement built for each version has that version's form.
#[test]
fn decodes_the_eth66_and_eth67_announcement_form() {
    let wire = hex::decode(concat!(
        "f842",
        "a000000000000000000000000000000000000000000000000000000000deadc0de",
        "a000000000000000000000000000000000000000000000000000000000feedbeef"
    ))
    .unwrap();
    let want = EthMessage::NewPooledTransactionHashes66 {
        hashes: geth_hashes(),
    };
    for v in [EthVersion::Eth66, EthVersion::Eth67] {
        assert_eq!(
            EthMessage::decode(v, id::NEW_POOLED_TRANSACTION_HASHES, &wire).unwrap(),
            want
        );
        assert!(want.fits(v));
    }
    assert_eq!(want.encode(), wire);
    assert!(
        EthMessage::decode(EthVersion::Eth68, id::NEW_POOLED_TRANSACTION_HASHES, &wire).is_err()
    );
    assert!(!want.fits(EthVersion::Eth68));
    // Built per version: the hashes alone below eth/68, types and sizes from eth/68 on.
    let types = Bytes::from_static(&[0, 2]);
    for v in EthVersion::ALL {
        let m = EthMessage::announcement(v, types.clone(), vec![110, 120], geth_hashes());
        assert!(m.fits(v), "{v}");
        let enc = m.encode();
        if v == EthVersion::Eth68 {
            assert_ne!(enc, wire);
        } else {
            assert_eq!(enc, wire, "{v}");
        }
    }
    // The eth/68 form is refused on eth/66 and eth/67: a three-item list is not a hash list.
    let m68 = EthMessage::announcement(EthVersion::Eth68, types, vec![110, 120], geth_hashes());
    for v in [EthVersion::Eth66, EthVersion::Eth67] {
        assert!(!m68.fits(v));
        assert!(EthMessage::decode(v, id::NEW_POOLED_TRANSACTION_HASHES, &m68.encode()).is_err());
    }
}

/// Every version refuses the never-assigned ids 0x0b and 0x0c and anything past 0x10; the
/// request-id wrapped messages decode the same on all three (geth's `GetBlockHeadersPacket66`
/// vectors, `TestEth66Messages`).
#[test]
fn request_id_messages_are_the_same_in_every_version() {
    let by_hash = hex::decode(
        "e8820457e4a000000000000000000000000000000000000000000000000000000000deadc0de050580",
    )
    .unwrap();
    let by_number = hex::decode("ca820457c682270f050580").unwrap();
    for v in EthVersion::ALL {
        assert_eq!(
            EthMessage::decode(v, id::GET_BLOCK_HEADERS, &by_hash).unwrap(),
            EthMessage::GetBlockHeaders {
                request_id: 1111,
                start: BlockId::Hash(geth_hashes()[0]),
                limit: 5,
                skip: 5,
                reverse: false
            }
        );
        assert_eq!(
            EthMessage::decode(v, id::GET_BLOCK_HEADERS, &by_number).unwrap(),
            EthMessage::GetBlockHeaders {
                request_id: 1111,
                start: BlockId::Number(9999),
                limit: 5,
                skip: 5,
                reverse: false
            }
        );
        for id in [0x0b, 0x0c, 0x11] {
            assert_eq!(
                EthMessage::decode(v, id, &[0xc0]),
                Err(DecodeError::UndefinedMessage {
                    id,
                    version: v.number()
                })
            );
        }
    }
}
