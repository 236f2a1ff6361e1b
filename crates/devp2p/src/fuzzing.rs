//! Entry points for the cargo-fuzz targets in `fuzz/` (one per parser of peer bytes). Each takes
//! arbitrary bytes, must never panic, and checks decode → encode → decode where the format
//! allows. `cargo test` runs them over the seed corpus in `fuzz/corpus/`.

use std::sync::OnceLock;

use bytes::BytesMut;
use cachet_primitives::Ecdh;
use secp256k1::{PublicKey, SECP256K1, SecretKey};
use sha3::{Digest, Keccak256};
use tokio_util::codec::{Decoder, Encoder};
use zeroize::Zeroizing;

use crate::eth::{EthMessage, EthVersion};
use crate::istanbul;
use crate::p2p::message::{self, MAX_MESSAGE_SIZE};
use crate::p2p::{Capability, DisconnectReason, Hello, negotiate};
use crate::rlpx::handshake::{self, Ack, Auth, Format};
use crate::rlpx::{FrameCodec, Secrets};

/// Auth/ack: ECIES framing with a fixed key in both formats, and every plaintext decoder.
pub fn auth_ack(data: &[u8]) {
    let key = fuzz_key();
    let _ = handshake::open(key, data, Format::Eip8);
    let _ = handshake::open(key, data, Format::Legacy);
    if let Ok(auth) = Auth::decode_eip8(data) {
        assert_eq!(Auth::decode_eip8(&auth.encode_eip8()).ok(), Some(auth));
    }
    let _ = Auth::decode_legacy(data);
    if let Ok(ack) = Ack::decode_eip8(data) {
        assert_eq!(Ack::decode_eip8(&ack.encode_eip8()).ok(), Some(ack.clone()));
        // The legacy layout has no version field: it decodes as version 4.
        let encoded = ack.encode_legacy();
        let legacy = Ack {
            version: handshake::VERSION,
            ..ack
        };
        assert_eq!(Ack::decode_legacy(&encoded).ok(), Some(legacy));
    }
    let _ = Ack::decode_legacy(data);
}

/// Frames: raw bytes into a decoder (MAC checks, size caps, partial input), and the input as
/// frame data through an encoder/decoder pair (must come back unchanged).
pub fn frame(data: &[u8]) {
    let (mut a, mut b) = codec_pair();
    let mut input = BytesMut::from(data);
    while let Ok(Some(_)) = b.decode(&mut input) {}
    let (mut a2, mut b2) = codec_pair();
    let mut wire = BytesMut::new();
    if a2.encode(data, &mut wire).is_ok() {
        let got = b2.decode(&mut wire).ok().flatten();
        assert_eq!(got.as_deref(), Some(data));
    }
    let _ = a.encode(data, &mut BytesMut::new());
}

/// p2p messages: id split, snappy with the size cap, Hello and Disconnect decoders.
pub fn p2p_message(data: &[u8]) {
    let Ok((id, payload)) = message::split(data) else {
        return;
    };
    if let Ok(plain) = message::decompress(payload, MAX_MESSAGE_SIZE) {
        assert!(plain.len() <= MAX_MESSAGE_SIZE);
    }
    if let Ok(hello) = Hello::decode(payload) {
        assert_eq!(Hello::decode(&hello.encode()).ok(), Some(hello));
    }
    if let Ok(reason) = DisconnectReason::decode(payload) {
        assert_eq!(
            DisconnectReason::decode(&reason.encode()).ok(),
            Some(reason)
        );
    }
    let _ = id;
}

/// eth messages of every version: the first byte picks the id (`b % 18`, one past the range)
/// and the version (`b / 18 % 3`: eth/68, eth/67, eth/66, so the bytes 0x00–0x11 of older seeds
/// keep meaning eth/68), the rest is message data. A decoded message fits its version and
/// round-trips.
pub fn eth_message(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let id = u64::from(*first) % 18;
    let version = match first / 18 % 3 {
        0 => EthVersion::Eth68,
        1 => EthVersion::Eth67,
        _ => EthVersion::Eth66,
    };
    if let Ok(msg) = EthMessage::decode(version, id, rest) {
        assert!(msg.fits(version));
        let enc = msg.encode();
        assert_eq!(EthMessage::decode(version, id, &enc).ok(), Some(msg));
    }
}

/// `istanbul/100` beside eth/66, negotiated as with GoQuorum (eth at 0x10, istanbul/100 at 0x21):
/// frame data `id ‖ payload` routed as the peer task routes it. A message in istanbul's range is
/// handed on exactly when its code is one an engine sends, with its payload untouched, and its
/// id is the one the service would send for that code; eth's range goes to the eth/66 decoder.
pub fn istanbul_message(data: &[u8]) {
    let Ok((id, payload)) = message::split(data) else {
        return;
    };
    let shared = negotiate(
        &[EthVersion::Eth66.protocol(), istanbul::protocol()],
        &[
            Capability::new("eth", 66),
            Capability::new(istanbul::NAME, istanbul::VERSION),
        ],
    );
    let [eth, consensus] = shared.as_slice() else {
        return;
    };
    if let Some(code) = consensus.relative(id) {
        if let Ok(accepted) = istanbul::accept(code, payload) {
            assert_eq!(accepted, istanbul::is_consensus_code(code));
            assert!(payload.len() <= istanbul::MAX_PAYLOAD);
            assert_eq!(message::join(consensus.offset + code, payload, false), data);
        }
    } else if let Some(rel) = eth.relative(id) {
        let _ = EthMessage::decode(EthVersion::Eth66, rel, payload);
    }
}

/// A fixed throwaway key for fuzzing ECIES (never a node key).
struct FuzzKey(SecretKey);

impl Ecdh for FuzzKey {
    fn public_key(&self) -> PublicKey {
        self.0.public_key(SECP256K1)
    }

    fn ecdh_x(&self, peer: &PublicKey) -> Result<Zeroizing<[u8; 32]>, cachet_primitives::KeyError> {
        Ok(crate::rlpx::ecies::ecdh_x(&self.0, peer))
    }
}

fn fuzz_key() -> &'static FuzzKey {
    static KEY: OnceLock<Option<FuzzKey>> = OnceLock::new();
    // 0x01…01 is a valid secp256k1 key; `None` is unreachable but keeps this panic-free.
    KEY.get_or_init(|| SecretKey::from_byte_array(&[1; 32]).ok().map(FuzzKey))
        .as_ref()
        .unwrap_or_else(|| unreachable_key())
}

#[allow(
    clippy::panic,
    reason = "0x01…01 is a valid secret key; this cannot run"
)]
fn unreachable_key() -> &'static FuzzKey {
    panic!("fixed fuzz key rejected")
}

/// Two codecs sharing fixed secrets, as the two ends of one session.
fn codec_pair() -> (FrameCodec, FrameCodec) {
    let secrets = |egress: &[u8], ingress: &[u8]| Secrets {
        aes: Zeroizing::new([3; 32]),
        mac: Zeroizing::new([4; 32]),
        egress_mac: Keccak256::new_with_prefix(egress),
        ingress_mac: Keccak256::new_with_prefix(ingress),
        remote_id: fuzz_key().public_key(),
    };
    (
        FrameCodec::new(secrets(b"a", b"b")),
        FrameCodec::new(secrets(b"b", b"a")),
    )
}

/// The seed corpus generator, compiled only by `scripts/fuzz-seeds` (`--cfg cachet_fuzz_seeds`):
/// it rewrites tracked files, so no test run (`cargo test`, `scripts/test`) may contain it. It
/// needs the crate's test vectors and message samples, hence a test harness and not an example.
#[cfg(all(test, cachet_fuzz_seeds))]
mod seeds {
    use super::*;

    /// Writes `fuzz/corpus/{auth_ack,frame,p2p_message,eth_message,istanbul_message}` (run by
    /// `scripts/fuzz-seeds`).
    #[test]
    fn write_seeds() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        let write = |target: &str, name: &str, bytes: &[u8]| {
            std::fs::write(root.join(target).join(name), bytes).unwrap();
        };
        let v = handshake::tests::Vectors::load();
        let b = v.node("static_key_b");
        let a = v.node("static_key_a");
        for (name, key, format) in [
            ("auth1_legacy", &b, Format::Legacy),
            ("auth2_eip8_v4", &b, Format::Eip8),
            ("auth3_eip8_v56", &b, Format::Eip8),
            ("ack1_legacy", &a, Format::Legacy),
            ("ack2_eip8_v4", &a, Format::Eip8),
            ("ack3_eip8_v57", &a, Format::Eip8),
        ] {
            let wire = v.bytes(name);
            write("auth_ack", &format!("{name}.wire"), &wire);
            write(
                "auth_ack",
                &format!("{name}.plain"),
                &handshake::open(key, &wire, format).unwrap(),
            );
        }
        let hello = Hello::decode(&v.bytes("hello_v22")).unwrap();
        for (name, data) in [
            ("hello", message::join(0, &hello.encode(), false)),
            ("ping", message::join(2, &[0xc0], true)),
            ("empty", vec![]),
        ] {
            let (mut enc, _) = codec_pair();
            let mut wire = BytesMut::new();
            enc.encode(&data[..], &mut wire).unwrap();
            write("frame", &format!("{name}.frame"), &wire);
            write("frame", &format!("{name}.data"), &data);
        }
        write(
            "p2p_message",
            "hello_v22",
            &message::join(0, &v.bytes("hello_v22"), false),
        );
        write(
            "p2p_message",
            "hello_ours",
            &message::join(0, &hello.encode(), false),
        );
        write(
            "p2p_message",
            "disconnect",
            &message::join(1, &DisconnectReason::TooManyPeers.encode(), false),
        );
        write(
            "p2p_message",
            "disconnect_snappy",
            &message::join(1, &DisconnectReason::TooManyPeers.encode(), true),
        );
        write(
            "p2p_message",
            "ping_snappy",
            &message::join(2, &[0xc0], true),
        );
        // eth/68 samples keep their names; the first byte adds 18 for eth/67, 36 for eth/66.
        for (i, m) in crate::eth::message_samples().into_iter().enumerate() {
            for (v, shift, prefix) in [
                (EthVersion::Eth68, 0, "sample"),
                (EthVersion::Eth67, 18, "eth67_sample"),
                (EthVersion::Eth66, 36, "eth66_sample"),
            ] {
                if m.fits(v) {
                    let mut data = vec![u8::try_from(m.id() + shift).unwrap()];
                    data.extend_from_slice(&m.encode());
                    write("eth_message", &format!("{prefix}{i:02}"), &data);
                }
            }
        }
        // istanbul/100: the messages GoQuorum's own code produced (testdata/bft, every one with
        // its p2p code and payload) at their wire ids beside eth/66 (0x21 + code), one unused
        // code (NewBlockMsg's 0x07) and one eth/66 message.
        let bft = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bft");
        for file in [
            "qbft-messages.json",
            "ibft-messages.json",
            "qbft-goquorum-devnet.json",
        ] {
            let text = std::fs::read_to_string(bft.join(file)).unwrap();
            let vectors: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
            // Entries without a p2p code are blocks and digests, not messages.
            for v in vectors.iter().filter(|v| v["p2p_msg_code"].is_string()) {
                let code: u64 = v["p2p_msg_code"].as_str().unwrap().parse().unwrap();
                let payload =
                    hex::decode(v["p2p_payload"].as_str().unwrap().trim_start_matches("0x"))
                        .unwrap();
                let name = v["name"].as_str().unwrap();
                write(
                    "istanbul_message",
                    name,
                    &message::join(0x21 + code, &payload, false),
                );
            }
        }
        write(
            "istanbul_message",
            "unused-code-0x07",
            &message::join(0x21 + 0x07, &[0xc0], false),
        );
        let sample = &crate::eth::message_samples()[0];
        write(
            "istanbul_message",
            "eth66-sample00",
            &message::join(0x10 + sample.id(), &sample.encode(), false),
        );
    }
}
