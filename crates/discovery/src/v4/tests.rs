//! Codec tests: EIP-8 vectors, proptest round trips, truncation and boundary tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sha3::{Digest, Keccak256};

use cachet_primitives::NodeSigner;
use cachet_primitives::testing::TestNodeKey;

use super::*;
use crate::error::DecodeError;
use crate::node::{Endpoint, NodeId, NodeRecord};

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../testdata/vectors/discv4.json")).unwrap()
}

fn key(secret: [u8; 32]) -> TestNodeKey {
    TestNodeKey::from_secret(secret)
}

/// Signs arbitrary `type ‖ data` bytes the way `encode_packet` does, for boundary tests.
fn sign_raw(key: &TestNodeKey, typed: &[u8]) -> Vec<u8> {
    let digest: [u8; 32] = Keccak256::digest(typed).into();
    let sig = key.sign_digest(&digest).unwrap();
    let mut signed = sig.to_vec();
    signed.extend_from_slice(typed);
    let mut packet = Keccak256::digest(&signed).to_vec();
    packet.extend_from_slice(&signed);
    packet
}

fn endpoint_of(v: &serde_json::Value) -> Endpoint {
    Endpoint {
        ip: v["ip"].as_str().unwrap().parse().unwrap(),
        udp: v["udp"].as_u64().unwrap() as u16,
        tcp: v["tcp"].as_u64().unwrap() as u16,
    }
}

fn hex32(v: &serde_json::Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
    out
}

fn hex64(v: &serde_json::Value) -> [u8; 64] {
    let mut out = [0u8; 64];
    hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
    out
}

#[test]
fn accepts_eip8_discv4_vectors() {
    let v = vectors();
    let signer = NodeId(hex64(&v["signer_node_id"]));
    for case in v["packets"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let bytes = hex::decode(case["packet"].as_str().unwrap()).unwrap();
        let packet = decode_packet(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(packet.node_id, signer, "{name}");
        assert_eq!(packet.hash[..], bytes[..32], "{name}");
        let want = &case["expected"];
        assert_eq!(
            u64::from(packet.message.packet_type()),
            want["type"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            packet.message.expiration(),
            want["expiration"].as_u64(),
            "{name}"
        );
        match packet.message {
            Message::Ping(p) => {
                assert_eq!(p.version, want["version"].as_u64().unwrap(), "{name}");
                assert_eq!(p.from, endpoint_of(&want["from"]), "{name}");
                assert_eq!(p.to, endpoint_of(&want["to"]), "{name}");
            }
            Message::Pong(p) => {
                assert_eq!(p.to, endpoint_of(&want["to"]));
                assert_eq!(p.ping_hash, hex32(&want["ping_hash"]));
            }
            Message::FindNode(f) => assert_eq!(f.target, hex64(&want["target"])),
            Message::Neighbors(n) => {
                let expected: Vec<NodeRecord> = want["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| NodeRecord {
                        id: NodeId(hex64(&n["id"])),
                        endpoint: endpoint_of(n),
                    })
                    .collect();
                assert_eq!(n.nodes, expected);
            }
            other => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[test]
fn rejects_every_truncation_of_the_vectors() {
    for case in vectors()["packets"].as_array().unwrap() {
        let bytes = hex::decode(case["packet"].as_str().unwrap()).unwrap();
        for len in 0..bytes.len() {
            assert!(
                decode_packet(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
    }
}

#[test]
fn rejects_every_truncation_of_each_body() {
    let k = key([0x11; 32]);
    for message in sample_messages() {
        let body = message.encode_body();
        assert_eq!(
            Message::decode_body(message.packet_type(), &body).unwrap(),
            message
        );
        for len in 0..body.len() {
            assert!(
                Message::decode_body(message.packet_type(), &body[..len]).is_err(),
                "{} body prefix of {len} bytes decoded",
                message.name()
            );
        }
        let (packet, _) = encode_packet(&k, &message).unwrap();
        for len in 0..packet.len() {
            assert!(decode_packet(&packet[..len]).is_err());
        }
    }
}

#[test]
fn accepts_packet_of_exactly_1280_bytes_and_rejects_1281() {
    let k = key([0x22; 32]);
    let body = Message::EnrRequest(EnrRequest { expiration: 1 }).encode_body();
    for (total, ok) in [(MAX_PACKET_SIZE, true), (MAX_PACKET_SIZE + 1, false)] {
        let mut typed = vec![0x05];
        typed.extend_from_slice(&body);
        // Trailing data after the list is ignored (EIP-8): pad to the size under test.
        typed.resize(total - 97, 0xee);
        let packet = sign_raw(&k, &typed);
        assert_eq!(packet.len(), total);
        match decode_packet(&packet) {
            Ok(p) => assert!(ok, "{total} bytes accepted: {p:?}"),
            Err(e) => {
                assert!(!ok, "{total} bytes rejected: {e}");
                assert_eq!(e, DecodeError::TooLarge { len: total });
            }
        }
    }
}

#[test]
fn rejects_packets_shorter_than_the_header() {
    let k = key([0x22; 32]);
    let packet = sign_raw(&k, &[0x05]);
    assert_eq!(packet.len(), HEADER_SIZE);
    assert!(matches!(
        decode_packet(&packet),
        Err(DecodeError::Rlp {
            message: "enrrequest",
            ..
        })
    ));
    assert_eq!(
        decode_packet(&packet[..97]),
        Err(DecodeError::TooShort { len: 97 })
    );
}

#[test]
fn accepts_enr_of_300_bytes_and_rejects_301() {
    for (len, ok) in [(MAX_ENR_SIZE, true), (MAX_ENR_SIZE + 1, false)] {
        // A list whose payload is one byte string, sized to make `len` bytes in all.
        let string_len = len - 3 - 3;
        let mut string = vec![0xb9];
        string.extend_from_slice(&(string_len as u16).to_be_bytes());
        string.resize(3 + string_len, 0x55);
        let mut enr = vec![0xf9];
        enr.extend_from_slice(&(string.len() as u16).to_be_bytes());
        enr.extend_from_slice(&string);
        assert_eq!(enr.len(), len);
        let message = Message::EnrResponse(EnrResponse {
            request_hash: [1; 32],
            enr,
        });
        let body = message.encode_body();
        let decoded = Message::decode_body(0x06, &body);
        if ok {
            assert_eq!(decoded.unwrap(), message);
        } else {
            assert!(matches!(decoded, Err(DecodeError::EnrTooLarge { .. })));
        }
    }
}

#[test]
fn rejects_wrong_hash_signature_type_and_ip() {
    let k = key([0x33; 32]);
    let ping = sample_messages().remove(0);
    let (good, _) = encode_packet(&k, &ping).unwrap();

    let mut bad_hash = good.clone();
    bad_hash[0] ^= 1;
    assert_eq!(decode_packet(&bad_hash), Err(DecodeError::HashMismatch));

    // Recovery id 4 is invalid; fix the hash so only the signature is wrong.
    let mut typed = good[97..].to_vec();
    let mut bad_sig = sign_raw(&k, &typed);
    bad_sig[32 + 64] = 4;
    let hash = Keccak256::digest(&bad_sig[32..]);
    bad_sig[..32].copy_from_slice(&hash);
    assert_eq!(decode_packet(&bad_sig), Err(DecodeError::BadSignature));

    // A signature over other bytes recovers another key, never ours.
    let other = decode_packet(&sign_raw(&key([0x44; 32]), &typed)).unwrap();
    assert_ne!(other.node_id, NodeId(k.enode_id()));

    typed[0] = 0x07;
    assert_eq!(
        decode_packet(&sign_raw(&k, &typed)),
        Err(DecodeError::UnknownType(0x07))
    );

    // A 5-byte IP in Ping.from.
    let body = hex::decode("cf04c88501020304050102c380010201").unwrap();
    assert!(matches!(
        Message::decode_body(0x01, &body),
        Err(DecodeError::IpLength {
            message: "ping",
            len: 5
        })
    ));
}

#[test]
fn accepts_full_neighbors_of_ipv6_nodes_under_the_size_limit() {
    let k = key([0x55; 32]);
    let node = NodeRecord {
        id: NodeId([0xff; 64]),
        endpoint: Endpoint {
            ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            udp: 65535,
            tcp: 65535,
        },
    };
    let message = Message::Neighbors(Neighbors {
        nodes: vec![node; MAX_NEIGHBORS],
        expiration: u64::MAX,
    });
    let (packet, _) = encode_packet(&k, &message).unwrap();
    assert!(packet.len() <= MAX_PACKET_SIZE, "{}", packet.len());
    assert_eq!(decode_packet(&packet).unwrap().message, message);
}

fn sample_messages() -> Vec<Message> {
    let e4 = Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        udp: 30303,
        tcp: 30303,
    };
    let e6 = Endpoint {
        ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
        udp: 1,
        tcp: 0,
    };
    vec![
        Message::Ping(Ping {
            version: 4,
            from: e4,
            to: e6,
            expiration: 1_700_000_000,
            enr_seq: Some(7),
        }),
        Message::Ping(Ping {
            version: 4,
            from: e6,
            to: e4,
            expiration: 1,
            enr_seq: None,
        }),
        Message::Pong(Pong {
            to: e4,
            ping_hash: [3; 32],
            expiration: 9,
            enr_seq: Some(1),
        }),
        Message::FindNode(FindNode {
            target: [4; 64],
            expiration: 5,
        }),
        Message::Neighbors(Neighbors {
            nodes: vec![],
            expiration: 5,
        }),
        Message::Neighbors(Neighbors {
            nodes: vec![
                NodeRecord {
                    id: NodeId([6; 64]),
                    endpoint: e4
                };
                3
            ],
            expiration: 5,
        }),
        Message::EnrRequest(EnrRequest { expiration: 77 }),
        Message::EnrResponse(EnrResponse {
            request_hash: [8; 32],
            enr: vec![0xc2, 0x01, 0x02],
        }),
    ]
}

fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ];
    (ip, any::<u16>(), any::<u16>()).prop_map(|(ip, udp, tcp)| Endpoint { ip, udp, tcp })
}

fn arb_node() -> impl Strategy<Value = NodeRecord> {
    (any::<[u8; 32]>(), any::<[u8; 32]>(), arb_endpoint()).prop_map(|(a, b, endpoint)| {
        let mut id = [0u8; 64];
        id[..32].copy_from_slice(&a);
        id[32..].copy_from_slice(&b);
        NodeRecord {
            id: NodeId(id),
            endpoint,
        }
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            any::<u64>(),
            arb_endpoint(),
            arb_endpoint(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(
                |(version, from, to, expiration, enr_seq)| Message::Ping(Ping {
                    version,
                    from,
                    to,
                    expiration,
                    enr_seq
                })
            ),
        (
            arb_endpoint(),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(|(to, ping_hash, expiration, enr_seq)| Message::Pong(Pong {
                to,
                ping_hash,
                expiration,
                enr_seq
            })),
        (any::<[u8; 32]>(), any::<u64>()).prop_map(|(t, expiration)| {
            let mut target = [0u8; 64];
            target[..32].copy_from_slice(&t);
            Message::FindNode(FindNode { target, expiration })
        }),
        (
            proptest::collection::vec(arb_node(), 0..=MAX_NEIGHBORS),
            any::<u64>()
        )
            .prop_map(|(nodes, expiration)| Message::Neighbors(Neighbors { nodes, expiration })),
        any::<u64>().prop_map(|expiration| Message::EnrRequest(EnrRequest { expiration })),
        (
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(h, s)| {
                let mut enr = Vec::new();
                alloy_rlp::Header {
                    list: true,
                    payload_length: alloy_rlp::Encodable::length(&s[..]),
                }
                .encode(&mut enr);
                alloy_rlp::Encodable::encode(&s[..], &mut enr);
                Message::EnrResponse(EnrResponse {
                    request_hash: h,
                    enr,
                })
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trips_signed_packets(message in arb_message()) {
        let k = key([0x66; 32]);
        let (packet, hash) = encode_packet(&k, &message).unwrap();
        let decoded = decode_packet(&packet).unwrap();
        prop_assert_eq!(decoded.hash, hash);
        prop_assert_eq!(decoded.node_id, NodeId(k.enode_id()));
        prop_assert_eq!(decoded.message, message);
    }

    #[test]
    fn round_trips_bodies_with_eip8_extras(message in arb_message(), extra in proptest::collection::vec(any::<u8>(), 0..64)) {
        // Appending an extra list element inside the list and junk after it changes nothing.
        let body = message.encode_body();
        let mut reader = &body[..];
        let header = alloy_rlp::Header::decode(&mut reader).unwrap();
        let mut payload = reader.to_vec();
        if !matches!(message, Message::Ping(Ping { enr_seq: None, .. }) | Message::Pong(Pong { enr_seq: None, .. })) {
            // An extra element where enr-seq may sit would be read as enr-seq.
            alloy_rlp::Encodable::encode(&extra[..], &mut payload);
        }
        let mut extended = Vec::new();
        alloy_rlp::Header { list: true, payload_length: payload.len() }.encode(&mut extended);
        extended.extend_from_slice(&payload);
        extended.extend_from_slice(&extra);
        prop_assert!(header.list);
        prop_assert_eq!(Message::decode_body(message.packet_type(), &extended).unwrap(), message);
    }

    #[test]
    fn rejects_nothing_by_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode_packet(&bytes);
        for t in 1..=6u8 {
            let _ = Message::decode_body(t, &bytes);
        }
    }
}

#[test]
fn runs_fuzz_target_over_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/discv4_packet");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        crate::fuzzing::discv4_packet(&data);
        n += 1;
    }
    assert!(n >= 5, "corpus at {} has {n} files", dir.display());
}

#[test]
fn accepts_seeds_signed_by_pyrlp_and_eth_keys() {
    // Written by tests/py/discv4_seeds.py (PyPI rlp 5.0.0, eth-keys 0.8.0, EIP-8 test key).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/discv4_packet");
    let signer = NodeId(hex64(&vectors()["signer_node_id"]));
    let read = |name: &str| decode_packet(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    let ping = read("seed-ping-enrseq");
    assert_eq!(ping.node_id, signer);
    assert!(matches!(
        ping.message,
        Message::Ping(Ping {
            enr_seq: Some(7),
            expiration: 2_000_000_000,
            ..
        })
    ));
    assert_eq!(
        read("seed-enrrequest").message,
        Message::EnrRequest(EnrRequest {
            expiration: 2_000_000_000
        })
    );
    match read("seed-enrresponse").message {
        Message::EnrResponse(r) => {
            assert_eq!(r.request_hash, [0x11; 32]);
            assert_eq!(r.enr.len(), 3 + 65 + 1 + 3 + 3);
        }
        other => panic!("{other:?}"),
    }
}
