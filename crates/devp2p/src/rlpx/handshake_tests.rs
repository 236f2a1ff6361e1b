//! Known-answer tests from EIP-8 (`testdata/vectors/eip8.json`) and handshake round trips.

use cachet_primitives::testing::TestNodeKey;
use secp256k1::SECP256K1;

use super::*;
use crate::rlpx::codec::FrameCodec;
use crate::rlpx::mac::MacState;

pub(crate) struct Vectors(serde_json::Value);

impl Vectors {
    pub(crate) fn load() -> Self {
        let text = include_str!("../../testdata/vectors/eip8.json");
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert!(v["source"].as_str().unwrap().starts_with("EIP-8"));
        Self(v)
    }

    pub(crate) fn bytes(&self, name: &str) -> Vec<u8> {
        hex::decode(self.0[name].as_str().unwrap()).unwrap()
    }

    fn b32(&self, name: &str) -> [u8; 32] {
        self.bytes(name).try_into().unwrap()
    }

    pub(crate) fn node(&self, name: &str) -> TestNodeKey {
        TestNodeKey::from_secret(self.b32(name))
    }

    fn ephemeral(&self, name: &str) -> EphemeralKey {
        EphemeralKey::from_bytes(&self.b32(name)).unwrap()
    }
}

fn public(v: &Vectors, name: &str) -> PublicKey {
    secp256k1::SecretKey::from_byte_array(&v.b32(name))
        .unwrap()
        .public_key(SECP256K1)
}

#[test]
fn accepts_eip8_auth_vectors_in_every_format() {
    let v = Vectors::load();
    let b = v.node("static_key_b");
    for (name, format, version) in [
        ("auth1_legacy", Format::Legacy, 4),
        ("auth2_eip8_v4", Format::Eip8, 4),
        ("auth3_eip8_v56", Format::Eip8, 56),
    ] {
        let wire = v.bytes(name);
        let plain = open(&b, &wire, format).unwrap();
        let (auth, hash) = match format {
            Format::Legacy => Auth::decode_legacy(&plain)
                .map(|(a, h)| (a, Some(h)))
                .unwrap(),
            Format::Eip8 => (Auth::decode_eip8(&plain).unwrap(), None),
        };
        assert_eq!(auth.initiator, public(&v, "static_key_a"), "{name}");
        assert_eq!(auth.nonce, v.b32("nonce_a"), "{name}");
        assert_eq!(auth.version, version, "{name}");
        // The signature recovers to A's ephemeral key and yields the vector secrets.
        let accepted = accept(
            &b,
            &auth,
            hash,
            &wire,
            v.ephemeral("ephemeral_key_b"),
            v.b32("nonce_b"),
            0,
        )
        .unwrap();
        assert_eq!(accepted.secrets.remote_id, public(&v, "static_key_a"));
        assert_eq!(
            *accepted.secrets.aes,
            v.b32("b_aes_secret_auth2_ack2"),
            "{name}"
        );
        assert_eq!(
            *accepted.secrets.mac,
            v.b32("b_mac_secret_auth2_ack2"),
            "{name}"
        );
    }
}

#[test]
fn accepts_eip8_ack_vectors_in_every_format() {
    let v = Vectors::load();
    let a = v.node("static_key_a");
    for (name, format, version) in [
        ("ack1_legacy", Format::Legacy, 4),
        ("ack2_eip8_v4", Format::Eip8, 4),
        ("ack3_eip8_v57", Format::Eip8, 57),
    ] {
        let wire = v.bytes(name);
        let plain = open(&a, &wire, format).unwrap();
        let ack = match format {
            Format::Legacy => Ack::decode_legacy(&plain).unwrap(),
            Format::Eip8 => Ack::decode_eip8(&plain).unwrap(),
        };
        assert_eq!(ack.ephemeral, public(&v, "ephemeral_key_b"), "{name}");
        assert_eq!(ack.nonce, v.b32("nonce_b"), "{name}");
        assert_eq!(ack.version, version, "{name}");
        let init = Initiator::with(
            &a,
            public(&v, "static_key_b"),
            v.ephemeral("ephemeral_key_a"),
            v.b32("nonce_a"),
            0,
        )
        .unwrap();
        let secrets = init.finish(&ack, &wire);
        assert_eq!(*secrets.aes, v.b32("b_aes_secret_auth2_ack2"), "{name}");
        assert_eq!(*secrets.mac, v.b32("b_mac_secret_auth2_ack2"), "{name}");
    }
}

#[test]
fn derives_the_eip8_ingress_mac_state() {
    let v = Vectors::load();
    let b = v.node("static_key_b");
    let wire = v.bytes("auth2_eip8_v4");
    let auth = Auth::decode_eip8(&open(&b, &wire, Format::Eip8).unwrap()).unwrap();
    let accepted = accept(
        &b,
        &auth,
        None,
        &wire,
        v.ephemeral("ephemeral_key_b"),
        v.b32("nonce_b"),
        0,
    )
    .unwrap();
    let mac = MacState::new(accepted.secrets.ingress_mac.clone(), &accepted.secrets.mac);
    assert_eq!(mac.full_digest_after(b"foo"), v.b32("b_ingress_mac_foo"));
    // Through the codec too: its ingress state starts where the handshake left it.
    let codec = FrameCodec::new(accepted.secrets);
    assert_eq!(
        codec.ingress_mac().full_digest_after(b"foo"),
        v.b32("b_ingress_mac_foo")
    );
}

#[test]
fn rejects_auth_for_another_node_key() {
    let v = Vectors::load();
    let a = v.node("static_key_a");
    let wire = v.bytes("auth2_eip8_v4");
    assert!(matches!(
        open(&a, &wire, Format::Eip8),
        Err(EciesError::Decode(DecodeError::EciesMac))
    ));
}

#[test]
fn rejects_every_truncation_of_decrypted_bodies() {
    let v = Vectors::load();
    let b = v.node("static_key_b");
    let auth = open(&b, &v.bytes("auth1_legacy"), Format::Legacy).unwrap();
    for n in 0..194 {
        assert!(
            Auth::decode_legacy(&auth[..n]).is_err(),
            "legacy auth prefix {n}"
        );
    }
    let auth = open(&b, &v.bytes("auth2_eip8_v4"), Format::Eip8).unwrap();
    let body_len = {
        let mut buf = &auth[..];
        rlp::raw(&mut buf, "x").unwrap().len()
    };
    for n in 0..body_len {
        assert!(
            Auth::decode_eip8(&auth[..n]).is_err(),
            "eip-8 auth prefix {n}"
        );
    }
    let a = v.node("static_key_a");
    let ack = open(&a, &v.bytes("ack1_legacy"), Format::Legacy).unwrap();
    for n in 0..97 {
        assert!(
            Ack::decode_legacy(&ack[..n]).is_err(),
            "legacy ack prefix {n}"
        );
    }
}

#[test]
fn rejects_a_legacy_auth_with_a_wrong_ephemeral_hash() {
    let v = Vectors::load();
    let b = v.node("static_key_b");
    let wire = v.bytes("auth1_legacy");
    let (auth, mut hash) = Auth::decode_legacy(&open(&b, &wire, Format::Legacy).unwrap()).unwrap();
    hash[0] ^= 1;
    let r = accept(
        &b,
        &auth,
        Some(hash),
        &wire,
        EphemeralKey::random(),
        [0; 32],
        0,
    );
    assert!(matches!(
        r,
        Err(EciesError::Decode(DecodeError::EphemeralKeyHash))
    ));
}

#[test]
fn round_trips_auth_and_ack_bodies() {
    let v = Vectors::load();
    let auth = Auth {
        signature: [3; 65],
        initiator: public(&v, "static_key_a"),
        nonce: [5; 32],
        version: 4,
    };
    let mut body = auth.encode_eip8();
    body.extend_from_slice(&[0; 150]);
    assert_eq!(Auth::decode_eip8(&body).unwrap(), auth);
    let ack = Ack {
        ephemeral: public(&v, "ephemeral_key_b"),
        nonce: [6; 32],
        version: 4,
    };
    assert_eq!(Ack::decode_eip8(&ack.encode_eip8()).unwrap(), ack);
    assert_eq!(Ack::decode_legacy(&ack.encode_legacy()).unwrap(), ack);
}

proptest::proptest! {
    #[test]
    fn round_trips_any_auth_and_ack(sig in proptest::array::uniform32(0u8..), nonce in proptest::array::uniform32(0u8..), version in 0u64.., padding in 0usize..300) {
        let v = Vectors::load();
        let mut signature = [0u8; 65];
        signature[..32].copy_from_slice(&sig);
        let auth = Auth { signature, initiator: public(&v, "static_key_a"), nonce, version };
        let mut body = auth.encode_eip8();
        body.resize(body.len() + padding, 0xee);
        proptest::prop_assert_eq!(Auth::decode_eip8(&body).unwrap(), auth);
        let ack = Ack { ephemeral: public(&v, "ephemeral_key_b"), nonce, version };
        let mut body = ack.encode_eip8();
        body.resize(body.len() + padding, 0xee);
        proptest::prop_assert_eq!(Ack::decode_eip8(&body).unwrap(), ack);
    }
}
