//! Frame codec and async handshake tests.

use bytes::BytesMut;
use cachet_primitives::Ecdh;
use cachet_primitives::testing::TestNodeKey;
use futures_util::{SinkExt, StreamExt};
use tokio_util::codec::{Decoder, Encoder};

use super::handshake::{Auth, Format, Initiator, accept as accept_auth, open};
use super::*;
use crate::DecodeError;

fn node() -> TestNodeKey {
    TestNodeKey::generate()
}

/// A matched pair of codecs (initiator, recipient) from a sans-I/O handshake.
pub(crate) fn codec_pair() -> (FrameCodec, FrameCodec) {
    let (a, b) = (node(), node());
    let init = Initiator::new(&a, Ecdh::public_key(&b)).unwrap();
    let plain = open(&b, init.auth_wire(), Format::Eip8).unwrap();
    let auth = Auth::decode_eip8(&plain).unwrap();
    let accepted = accept_auth(
        &b,
        &auth,
        None,
        init.auth_wire(),
        EphemeralKey::random(),
        [4; 32],
        120,
    )
    .unwrap();
    let ack = open(&a, &accepted.ack_wire, Format::Eip8).unwrap();
    let ack = handshake::Ack::decode_eip8(&ack).unwrap();
    let secrets = init.finish(&ack, &accepted.ack_wire);
    (FrameCodec::new(secrets), FrameCodec::new(accepted.secrets))
}

fn decode_err(e: std::io::Error) -> DecodeError {
    e.into_inner()
        .unwrap()
        .downcast::<DecodeError>()
        .map(|b| *b)
        .unwrap()
}

#[test]
fn round_trips_frames_both_ways() {
    let (mut a, mut b) = codec_pair();
    for len in [0usize, 1, 15, 16, 17, 1000, 70_000] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut wire = BytesMut::new();
        a.encode(&data[..], &mut wire).unwrap();
        assert_eq!(wire.len(), 32 + len.div_ceil(16) * 16 + 16);
        assert_eq!(&b.decode(&mut wire).unwrap().unwrap()[..], &data[..]);
        assert!(wire.is_empty());
        b.encode(&data[..], &mut wire).unwrap();
        assert_eq!(&a.decode(&mut wire).unwrap().unwrap()[..], &data[..]);
    }
}

#[test]
fn accepts_frames_fed_one_byte_at_a_time() {
    let (mut a, mut b) = codec_pair();
    let mut wire = BytesMut::new();
    a.encode(&b"hello frames"[..], &mut wire).unwrap();
    a.encode(&b"second"[..], &mut wire).unwrap();
    let mut input = BytesMut::new();
    let mut out = Vec::new();
    for byte in wire {
        input.extend_from_slice(&[byte]);
        if let Some(frame) = b.decode(&mut input).unwrap() {
            out.push(frame.to_vec());
        }
    }
    assert_eq!(out, vec![b"hello frames".to_vec(), b"second".to_vec()]);
}

#[test]
fn rejects_a_flipped_bit_anywhere() {
    let (mut a0, _) = codec_pair();
    let mut wire = BytesMut::new();
    a0.encode(&[1u8; 40][..], &mut wire).unwrap();
    for i in 0..wire.len() {
        let (mut a, mut b) = codec_pair();
        let mut w = BytesMut::new();
        a.encode(&[1u8; 40][..], &mut w).unwrap();
        w[i] ^= 0x80;
        let e = decode_err(b.decode(&mut w).unwrap_err());
        let want = if i < 32 {
            DecodeError::HeaderMac
        } else {
            DecodeError::FrameMac
        };
        assert_eq!(e, want, "byte {i}");
    }
}

#[test]
fn rejects_frames_over_the_cap_and_accepts_the_cap() {
    let (a, b) = codec_pair();
    let (mut a, mut b) = (a.with_max_frame(64), b.with_max_frame(64));
    let mut wire = BytesMut::new();
    a.encode(&[0u8; 64][..], &mut wire).unwrap();
    assert_eq!(b.decode(&mut wire).unwrap().unwrap().len(), 64);
    assert!(a.encode(&[0u8; 65][..], &mut wire).is_err());
    // A peer whose cap is larger sends 65 bytes: we refuse after the header.
    let (a, b) = codec_pair();
    let (mut a, mut b) = (a, b.with_max_frame(64));
    a.encode(&[0u8; 65][..], &mut wire).unwrap();
    assert_eq!(
        decode_err(b.decode(&mut wire).unwrap_err()),
        DecodeError::TooLarge {
            what: "rlpx frame",
            size: 65,
            cap: 64
        }
    );
}

#[tokio::test]
async fn round_trips_a_handshake_over_a_socket_pair() {
    let (a, b) = (node(), node());
    let (sa, sb) = tokio::io::duplex(4096);
    let b_pub = Ecdh::public_key(&b);
    let server = tokio::spawn(async move { accept(sb, &b, "a".into()).await });
    let mut client = connect(sa, &a, b_pub, "b".into()).await.unwrap();
    let (mut server, remote) = server.await.unwrap().unwrap();
    assert_eq!(remote, Ecdh::public_key(&a));
    client.send(&b"ping"[..]).await.unwrap();
    assert_eq!(&server.next().await.unwrap().unwrap()[..], b"ping");
    server.send(&b"pong"[..]).await.unwrap();
    assert_eq!(&client.next().await.unwrap().unwrap()[..], b"pong");
}

#[tokio::test]
async fn accepts_a_pre_eip8_auth_and_answers_pre_eip8() {
    let v = handshake::tests::Vectors::load();
    let (a, b) = (v.node("static_key_a"), v.node("static_key_b"));
    let (mut sa, sb) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move { accept(sb, &b, "a".into()).await.map(|(_, id)| id) });
    tokio::io::AsyncWriteExt::write_all(&mut sa, &v.bytes("auth1_legacy"))
        .await
        .unwrap();
    let mut ack = vec![0u8; handshake::LEGACY_ACK_LEN];
    tokio::io::AsyncReadExt::read_exact(&mut sa, &mut ack)
        .await
        .unwrap();
    let ack = handshake::Ack::decode_legacy(&open(&a, &ack, Format::Legacy).unwrap()).unwrap();
    assert_eq!(ack.version, handshake::VERSION);
    assert_eq!(server.await.unwrap().unwrap(), Ecdh::public_key(&a));
}

#[tokio::test]
async fn accepts_eip8_auths_whose_prefix_starts_with_0x04() {
    // An EIP-8 auth of 0x04xx bytes looks like a legacy one at first; it must still work.
    let (a, b) = (node(), node());
    let init = Initiator::with(
        &a,
        Ecdh::public_key(&b),
        EphemeralKey::random(),
        [1; 32],
        1024 - 282,
    )
    .unwrap();
    assert_eq!(init.auth_wire()[0], 0x04);
    let (mut sa, sb) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move { accept(sb, &b, "a".into()).await.map(|(_, id)| id) });
    tokio::io::AsyncWriteExt::write_all(&mut sa, init.auth_wire())
        .await
        .unwrap();
    assert_eq!(server.await.unwrap().unwrap(), Ecdh::public_key(&a));
}

#[tokio::test]
async fn rejects_oversized_eip8_handshakes() {
    let b = node();
    let (mut sa, sb) = tokio::io::duplex(4096);
    let server = tokio::spawn(async move { accept(sb, &b, "a".into()).await.map(|(_, id)| id) });
    tokio::io::AsyncWriteExt::write_all(&mut sa, &[0x10, 0x01])
        .await
        .unwrap();
    let err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            crate::Error::Decode {
                source: DecodeError::TooLarge { size: 4097, .. },
                ..
            }
        ),
        "{err}"
    );
}
