//! The PKCS#11 backend and signer against SoftHSM (a token we did not write), each test in its
//! own token directory and process (`cachet_testkit::SoftHsm::run_test`).

use std::future::Future;

use cachet_testkit::{SoftHsm, USER_PIN};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

use super::module;
use super::signer::SECP256K1_EC_PARAMS;
use crate::{
    DigestSigner, EncryptionContext, Error, ErrorClass, KmsConfig, MasterKey, Pkcs11MasterKey,
    Pkcs11Signer, WrapMode, WrappedDataKey, open_for_init, open_recorded,
};
use crate::{MasterKeySpec, pkcs11::Pkcs11Uri};

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn ctx(node: &str) -> EncryptionContext {
    EncryptionContext::new()
        .with("cachet:purpose", "key-bundle")
        .with("cachet:node", node)
        .with("cachet:chain", "1337")
}

/// A token `cachet` with a user PIN file; the URI of key `label` on it (module in the URI).
fn setup(hsm: &SoftHsm, label: &str) -> String {
    hsm.init_token("cachet");
    let pin = hsm.pin_file("pin", USER_PIN);
    format!(
        "pkcs11:token=cachet;object={label}?module-path={}&pin-source=file:{}",
        hsm.module().display(),
        pin.display()
    )
}

/// A logged-in session of our own on the test token, for what an administrator would do.
fn admin_session(hsm: &SoftHsm) -> Session {
    let module = module::load(&hsm.module(), "test").unwrap();
    let uri = Pkcs11Uri::parse("pkcs11:token=cachet").unwrap();
    let slot = module.find_slot(&uri, "test").unwrap();
    let session = module.ctx.open_rw_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(e) => panic!("login: {e}"),
    }
    session
}

fn delete_key(hsm: &SoftHsm, label: &str) {
    let session = admin_session(hsm);
    let found = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .unwrap();
    assert_eq!(found.len(), 1);
    session.destroy_object(found[0]).unwrap();
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn init_and_unlock_round_trip_through_the_master_key_trait() {
    SoftHsm::run_test(
        module_path!(),
        "init_and_unlock_round_trip_through_the_master_key_trait",
        |hsm| {
            let given = setup(hsm, "cachet-master");
            let config = KmsConfig::default();
            let created = Pkcs11MasterKey::create(&given, &config).unwrap();
            assert_eq!(created.wrap_mode(), WrapMode::Gcm, "SoftHSM offers AES-GCM");

            // The key in the token is what `master-key new` promises.
            let session = admin_session(hsm);
            let handle = session
                .find_objects(&[Attribute::Label(b"cachet-master".to_vec())])
                .unwrap()[0];
            let attrs = session
                .get_attributes(
                    handle,
                    &[
                        AttributeType::Extractable,
                        AttributeType::Sensitive,
                        AttributeType::Token,
                        AttributeType::KeyType,
                        AttributeType::ValueLen,
                    ],
                )
                .unwrap();
            assert_eq!(
                attrs,
                [
                    Attribute::Extractable(false),
                    Attribute::Sensitive(true),
                    Attribute::Token(true),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32.into()),
                ]
            );
            drop(session);

            // A second `new` on the same label refuses.
            let again = Pkcs11MasterKey::create(&given, &config).unwrap_err();
            assert!(matches!(again, Error::Config { .. }), "{again}");

            block_on(async {
                let spec = MasterKeySpec::parse(&given).unwrap();
                let key = open_for_init(&spec, &config).await.unwrap();
                let reference = key.reference();
                assert!(
                    reference.key_id.starts_with("pkcs11-aes-gcm-kcv:"),
                    "{reference:?}"
                );
                assert_eq!(
                    reference,
                    created.reference(),
                    "the key check value pins the key"
                );
                let generated = key.generate_data_key(&ctx("0xaa")).await.unwrap();
                assert_eq!(generated.wrapped.as_bytes().len(), 73);
                // Unlock: open what the bundle recorded, decrypt.
                let recorded = open_recorded(&reference, &config).await.unwrap();
                let back = recorded
                    .decrypt_data_key(&generated.wrapped, &ctx("0xaa"))
                    .await
                    .unwrap();
                assert_eq!(
                    back.plaintext.expose_secret(),
                    generated.plaintext.expose_secret()
                );
                // wrap_data_key (rotation to this key) round-trips too.
                let (rewrapped, _) = recorded
                    .wrap_data_key(&generated.plaintext, &ctx("0xaa"))
                    .await
                    .unwrap();
                assert_ne!(rewrapped, generated.wrapped, "a fresh IV per wrap");
                let again = recorded
                    .decrypt_data_key(&rewrapped, &ctx("0xaa"))
                    .await
                    .unwrap();
                assert_eq!(
                    again.plaintext.expose_secret(),
                    generated.plaintext.expose_secret()
                );
                // Rotation both ways between the token and a local key file.
                let local = crate::LocalMasterKey::create(&hsm.dir().join("local.key")).unwrap();
                let (to_local, calls) = recorded
                    .rewrap_to(&generated.wrapped, &ctx("0xaa"), &local)
                    .await
                    .unwrap();
                assert_eq!(calls.len(), 2, "decrypt here, wrap there");
                let (back, _) = local
                    .rewrap_to(&to_local, &ctx("0xaa"), recorded.as_ref())
                    .await
                    .unwrap();
                let last = recorded
                    .decrypt_data_key(&back, &ctx("0xaa"))
                    .await
                    .unwrap();
                assert_eq!(
                    last.plaintext.expose_secret(),
                    generated.plaintext.expose_secret()
                );
            });
        },
    );
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn another_context_or_a_flipped_byte_is_invalid_ciphertext() {
    SoftHsm::run_test(
        module_path!(),
        "another_context_or_a_flipped_byte_is_invalid_ciphertext",
        |hsm| {
            let given = setup(hsm, "k");
            let key = Pkcs11MasterKey::create(&given, &KmsConfig::default()).unwrap();
            block_on(async {
                let generated = key.generate_data_key(&ctx("0xaa")).await.unwrap();
                for other in [
                    ctx("0xbb"),
                    ctx("0xaa").with("extra", "1"),
                    EncryptionContext::new(),
                ] {
                    let err = key
                        .decrypt_data_key(&generated.wrapped, &other)
                        .await
                        .unwrap_err();
                    assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
                    assert_eq!(err.class(), ErrorClass::Corrupt);
                }
                let bytes = generated.wrapped.as_bytes();
                for i in 0..bytes.len() {
                    let mut flipped = bytes.to_vec();
                    flipped[i] ^= 0x01;
                    let err = key
                        .decrypt_data_key(&WrappedDataKey::from_bytes(flipped), &ctx("0xaa"))
                        .await
                        .unwrap_err();
                    // The head (magic, mode, key check) names the key; the rest is the ciphertext.
                    let want = if (4..13).contains(&i) {
                        ErrorClass::Denied
                    } else {
                        ErrorClass::Corrupt
                    };
                    assert_eq!(err.class(), want, "byte {i}: {err}");
                }
                let err = key
                    .decrypt_data_key(
                        &WrappedDataKey::from_bytes(bytes[..60].to_vec()),
                        &ctx("0xaa"),
                    )
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
            });
        },
    );
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn key_wrap_pad_round_trips_and_binds_the_context() {
    SoftHsm::run_test(
        module_path!(),
        "key_wrap_pad_round_trips_and_binds_the_context",
        |hsm| {
            let given = setup(hsm, "k");
            let config = KmsConfig::default();
            let gcm = Pkcs11MasterKey::create(&given, &config).unwrap();
            let kwp =
                Pkcs11MasterKey::open_with(&given, &config, Some(WrapMode::KeyWrapPad)).unwrap();
            assert!(kwp.reference().key_id.starts_with("pkcs11-aes-kwp-kcv:"));
            block_on(async {
                let generated = kwp.generate_data_key(&ctx("0xaa")).await.unwrap();
                assert_eq!(generated.wrapped.as_bytes().len(), 85);
                // The recorded key id brings back the recorded mode.
                let recorded = open_recorded(&kwp.reference(), &config).await.unwrap();
                let back = recorded
                    .decrypt_data_key(&generated.wrapped, &ctx("0xaa"))
                    .await
                    .unwrap();
                assert_eq!(
                    back.plaintext.expose_secret(),
                    generated.plaintext.expose_secret()
                );
                let err = kwp
                    .decrypt_data_key(&generated.wrapped, &ctx("0xbb"))
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
                let mut flipped = generated.wrapped.as_bytes().to_vec();
                flipped[40] ^= 1;
                let err = kwp
                    .decrypt_data_key(&WrappedDataKey::from_bytes(flipped), &ctx("0xaa"))
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
                // A key wrapped in one mode is not the other mode's.
                let err = gcm
                    .decrypt_data_key(&generated.wrapped, &ctx("0xaa"))
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::WrongMasterKey { .. }), "{err}");
            });
        },
    );
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn a_deleted_or_replaced_key_is_revoked() {
    SoftHsm::run_test(
        module_path!(),
        "a_deleted_or_replaced_key_is_revoked",
        |hsm| {
            let given = setup(hsm, "k");
            let config = KmsConfig::default();
            let key = Pkcs11MasterKey::create(&given, &config).unwrap();
            let reference = key.reference();
            block_on(async {
                let generated = key.generate_data_key(&ctx("0xaa")).await.unwrap();
                delete_key(hsm, "k");
                let err = key
                    .decrypt_data_key(&generated.wrapped, &ctx("0xaa"))
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::KeyObjectMissing { .. }), "{err}");
                assert_eq!(err.class(), ErrorClass::Denied);
                let err = open_recorded(&reference, &config).await.unwrap_err();
                assert!(matches!(err, Error::KeyObjectMissing { .. }), "{err}");
                // Another key under the same label is not the recorded one.
                let replaced = Pkcs11MasterKey::create(&given, &config).unwrap();
                assert_ne!(replaced.reference().key_id, reference.key_id);
                let err = open_recorded(&reference, &config).await.unwrap_err();
                assert!(matches!(err, Error::WrongMasterKey { .. }), "{err}");
                assert_eq!(err.class(), ErrorClass::Denied);
                let err = key
                    .decrypt_data_key(&generated.wrapped, &ctx("0xaa"))
                    .await
                    .unwrap_err();
                assert!(matches!(err, Error::WrongMasterKey { .. }), "{err}");
            });
        },
    );
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn a_wrong_or_changed_pin_is_revoked() {
    SoftHsm::run_test(module_path!(), "a_wrong_or_changed_pin_is_revoked", |hsm| {
        let given = setup(hsm, "k");
        let config = KmsConfig::default();
        let key = Pkcs11MasterKey::create(&given, &config).unwrap();
        let generated = block_on(key.generate_data_key(&ctx("0xaa"))).unwrap();

        // The token's PIN changed: the next operation is refused.
        let session = admin_session(hsm);
        session
            .set_pin(&AuthPin::new(USER_PIN.into()), &AuthPin::new("9999".into()))
            .unwrap();
        session.logout().unwrap();
        drop(session);
        let err = block_on(key.decrypt_data_key(&generated.wrapped, &ctx("0xaa"))).unwrap_err();
        assert!(matches!(err, Error::PinRefused { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Denied);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("9999"), "the PIN is never shown: {shown}");

        // The pin file updated to the new PIN works again.
        hsm.pin_file("pin", "9999");
        let back = block_on(key.decrypt_data_key(&generated.wrapped, &ctx("0xaa"))).unwrap();
        assert_eq!(
            back.plaintext.expose_secret(),
            generated.plaintext.expose_secret()
        );

        // A wrong PIN file at open.
        hsm.pin_file("pin", "0000");
        let err = Pkcs11MasterKey::open(&given, &config).unwrap_err();
        assert!(matches!(err, Error::PinRefused { .. }), "{err}");
        assert!(
            err.to_string()
                .contains(&hsm.dir().join("pin").display().to_string())
        );
        assert!(!err.to_string().contains("0000"));

        // A PIN file others may read is refused before the token sees it.
        hsm.pin_file("pin", "9999");
        std::fs::set_permissions(
            hsm.dir().join("pin"),
            std::os::unix::fs::PermissionsExt::from_mode(0o644),
        )
        .unwrap();
        let err = Pkcs11MasterKey::open(&given, &config).unwrap_err();
        assert!(matches!(err, Error::InsecurePinFile { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Permissions);
    });
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn a_missing_module_or_token_is_unavailable_and_says_what_is_missing() {
    SoftHsm::run_test(
        module_path!(),
        "a_missing_module_or_token_is_unavailable_and_says_what_is_missing",
        |hsm| {
            hsm.init_token("cachet");
            let pin = hsm.pin_file("pin", USER_PIN);
            let missing = "/nonexistent/libvendor-pkcs11.so";
            let given = format!(
                "pkcs11:token=cachet;object=k?module-path={missing}&pin-source=file:{}",
                pin.display()
            );
            let err = Pkcs11MasterKey::open(&given, &KmsConfig::default()).unwrap_err();
            assert!(matches!(err, Error::TokenUnavailable { .. }), "{err}");
            assert_eq!(err.class(), ErrorClass::Unreachable);
            assert!(err.to_string().contains(missing), "{err}");
            assert!(err.to_string().contains("does not exist"), "{err}");

            // A file that is not a PKCS#11 module.
            let not_module = hsm.dir().join("softhsm2.conf");
            let config = KmsConfig {
                pkcs11_module: Some(not_module),
                ..KmsConfig::default()
            };
            let no_module_path = format!(
                "pkcs11:token=cachet;object=k?pin-source=file:{}",
                pin.display()
            );
            let err = Pkcs11MasterKey::open(&no_module_path, &config).unwrap_err();
            assert!(matches!(err, Error::TokenUnavailable { .. }), "{err}");
            assert!(err.to_string().contains("could not be loaded"), "{err}");

            // No module anywhere: the operator's configuration is incomplete.
            let err = Pkcs11MasterKey::open(&no_module_path, &KmsConfig::default()).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Usage, "{err}");
            assert!(err.to_string().contains("--pkcs11-module"), "{err}");

            // The module from --pkcs11-module, but no such token.
            let config = KmsConfig {
                pkcs11_module: Some(hsm.module()),
                ..KmsConfig::default()
            };
            let absent = format!(
                "pkcs11:token=elsewhere;object=k?pin-source=file:{}",
                pin.display()
            );
            let err = Pkcs11MasterKey::open(&absent, &config).unwrap_err();
            assert!(matches!(err, Error::TokenUnavailable { .. }), "{err}");
            assert!(err.to_string().contains("no initialised token"), "{err}");
            // The token, but no key: revoked (the object is what the bundle needs).
            let err = Pkcs11MasterKey::open(&no_module_path, &config).unwrap_err();
            assert!(matches!(err, Error::KeyObjectMissing { .. }), "{err}");
        },
    );
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn ecdsa_in_the_token_verifies_and_recovers_to_its_public_key() {
    SoftHsm::run_test(
        module_path!(),
        "ecdsa_in_the_token_verifies_and_recovers_to_its_public_key",
        |hsm| {
            hsm.init_token("cachet");
            let pin = hsm.pin_file("pin", USER_PIN);
            let session = admin_session(hsm);
            let common = |private: bool| {
                let mut attrs = vec![
                    Attribute::Token(true),
                    Attribute::Label(b"sealer".to_vec()),
                    Attribute::Id(vec![0x5e, 0xa1]),
                ];
                if private {
                    attrs.extend([
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Sign(true),
                    ]);
                } else {
                    attrs.extend([
                        Attribute::EcParams(SECP256K1_EC_PARAMS.to_vec()),
                        Attribute::Verify(true),
                    ]);
                }
                attrs
            };
            session
                .generate_key_pair(&Mechanism::EccKeyPairGen, &common(false), &common(true))
                .unwrap();
            session.logout().unwrap();
            drop(session);

            let given = format!(
                "pkcs11:token=cachet;object=sealer;id=%5E%A1;type=private?module-path={}&pin-source=file:{}",
                hsm.module().display(),
                pin.display()
            );
            let signer = Pkcs11Signer::open(&given, &KmsConfig::default()).unwrap();
            let public = secp256k1::PublicKey::from_slice(&signer.public_key()).unwrap();
            let secp = secp256k1::Secp256k1::new();
            for i in 0u8..8 {
                let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest([i]).into();
                let (r, s) = signer.sign_digest_raw(&digest).unwrap();
                let mut compact = [0u8; 64];
                compact[..32].copy_from_slice(&r);
                compact[32..].copy_from_slice(&s);
                let mut signature = secp256k1::ecdsa::Signature::from_compact(&compact).unwrap();
                signature.normalize_s();
                let message = secp256k1::Message::from_digest(digest);
                secp.verify_ecdsa(&message, &signature, &public).unwrap();
                // Exactly one recovery id gives back the token's public key.
                let normalised = signature.serialize_compact();
                let recovered: Vec<_> = [0, 1]
                    .into_iter()
                    .filter_map(|id| {
                        let id = secp256k1::ecdsa::RecoveryId::try_from(id).ok()?;
                        let sig =
                            secp256k1::ecdsa::RecoverableSignature::from_compact(&normalised, id)
                                .ok()?;
                        secp.recover_ecdsa(&message, &sig).ok()
                    })
                    .filter(|k| *k == public)
                    .collect();
                assert_eq!(recovered.len(), 1, "digest {i}");
            }
            // Through DigestSigner: r ‖ s ‖ v, low-s, recovering to the token's key.
            block_on(async {
                let digest = [0x42u8; 32];
                let (signature, call) = signer.sign_digest(&digest).await.unwrap();
                assert_eq!(call.operation, "Sign");
                let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(signature[64])).unwrap();
                let sig =
                    secp256k1::ecdsa::RecoverableSignature::from_compact(&signature[..64], id)
                        .unwrap();
                let message = secp256k1::Message::from_digest(digest);
                assert_eq!(secp.recover_ecdsa(&message, &sig).unwrap(), public);
                let mut normalised = sig.to_standard();
                normalised.normalize_s();
                assert_eq!(normalised, sig.to_standard(), "low s");
            });
            // Another digest does not verify under the same signature.
            let (r, s) = signer.sign_digest_raw(&[1u8; 32]).unwrap();
            let sig = secp256k1::ecdsa::Signature::from_compact(&[r, s].concat()).unwrap();
            assert!(
                secp.verify_ecdsa(&secp256k1::Message::from_digest([2u8; 32]), &sig, &public)
                    .is_err()
            );

            // A secret key URI is refused as a signer, and a deleted key is revoked.
            let err = Pkcs11Signer::open(
                &given.replace("type=private", "type=secret-key"),
                &KmsConfig::default(),
            )
            .unwrap_err();
            assert_eq!(err.class(), ErrorClass::Usage, "{err}");
            let session = admin_session(hsm);
            for handle in session
                .find_objects(&[Attribute::Label(b"sealer".to_vec())])
                .unwrap()
            {
                session.destroy_object(handle).unwrap();
            }
            session.logout().unwrap();
            drop(session);
            let err = signer.sign_digest_raw(&[1u8; 32]).unwrap_err();
            assert!(matches!(err, Error::KeyObjectMissing { .. }), "{err}");
            assert_eq!(err.class(), ErrorClass::Denied);
        },
    );
}
