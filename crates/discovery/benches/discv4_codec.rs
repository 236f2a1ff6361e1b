//! discv4 codec throughput next to its raw cryptographic cost, measured in the same run.
//!
//! `cargo bench -p cachet-discovery --bench discv4_codec` prints a table: packets/s for decoding
//! (hash check + signature recovery + RLP) and encoding (RLP + signing through the `NodeSigner` capability), and
//! the ratio to a raw baseline of the same keccak256 and secp256k1 operations on the same bytes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cachet_discovery::v4::{Message, Neighbors, Ping, decode_packet, encode_packet};
use cachet_discovery::{Endpoint, NodeId, NodeRecord};
use cachet_primitives::testing::TestNodeKey;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as SecpMessage, SECP256K1, SecretKey};
use sha3::{Digest, Keccak256};

fn rate(mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f();
    }
    let mut n = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let key = TestNodeKey::from_secret([0x42; 32]);
    let raw_secret = SecretKey::from_byte_array(&[0x42; 32]).unwrap();
    let e = Endpoint {
        ip: "10.0.0.1".parse().unwrap(),
        udp: 30303,
        tcp: 30303,
    };
    let ping = Message::Ping(Ping {
        version: 4,
        from: e,
        to: e,
        expiration: u64::MAX >> 1,
        enr_seq: Some(1),
    });
    let node = NodeRecord {
        id: NodeId([0xab; 64]),
        endpoint: e,
    };
    let neighbors = Message::Neighbors(Neighbors {
        nodes: vec![node; 12],
        expiration: 1,
    });

    println!("| packet | op | cachet (packets/s) | raw crypto baseline (packets/s) | ratio |");
    println!("|---|---|---|---|---|");
    for (name, message) in [("ping", &ping), ("neighbors x12", &neighbors)] {
        let (packet, _) = encode_packet(&key, message).unwrap();
        let typed = packet[97..].to_vec();

        let ours = rate(|| {
            black_box(decode_packet(black_box(&packet)).unwrap());
        });
        let baseline = rate(|| {
            let hash = Keccak256::digest(black_box(&packet[32..]));
            let digest: [u8; 32] = Keccak256::digest(&typed).into();
            let id = RecoveryId::try_from(i32::from(packet[96])).unwrap();
            let sig = RecoverableSignature::from_compact(&packet[32..96], id).unwrap();
            black_box((
                hash,
                SECP256K1
                    .recover_ecdsa(&SecpMessage::from_digest(digest), &sig)
                    .unwrap(),
            ));
        });
        println!(
            "| {name} ({} B) | decode | {ours:.0} | {baseline:.0} | {:.2} |",
            packet.len(),
            ours / baseline
        );

        let ours = rate(|| {
            black_box(encode_packet(&key, black_box(message)).unwrap());
        });
        let baseline = rate(|| {
            let digest: [u8; 32] = Keccak256::digest(black_box(&typed)).into();
            let sig =
                SECP256K1.sign_ecdsa_recoverable(&SecpMessage::from_digest(digest), &raw_secret);
            let (_, rs) = sig.serialize_compact();
            black_box((Keccak256::digest(&packet[32..]), rs));
        });
        println!(
            "| {name} ({} B) | encode | {ours:.0} | {baseline:.0} | {:.2} |",
            packet.len(),
            ours / baseline
        );
    }
}
