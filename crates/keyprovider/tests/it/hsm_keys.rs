//! Sealing and wallet keys that never leave a PKCS#11 token (SoftHSM, a token directory and a
//! process per test): init records them, unlock re-opens and checks them, they sign through the
//! key set's handles, and a replaced or deleted key is refused.

use std::future::Future;

use alloy_primitives::B256;
use alloy_signer::SignerSync as _;
use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{
    ErrorClass, InitOptions, KeyRole, LoadedBundle, RemoteKey, RemoteRole, SealingKeyMode,
};
use cachet_kms::{DigestSigner as _, KmsConfig, Pkcs11Signer, SignerBackend};
use cachet_testkit::{SoftHsm, USER_PIN};

use crate::support::Node;

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn uri(hsm: &SoftHsm, label: &str) -> String {
    format!(
        "pkcs11:token=cachet;object={label}?module-path={}&pin-source=file:{}",
        hsm.module().display(),
        hsm.dir().join("pin").display()
    )
}

/// Deletes the key pair labelled `label`, as an administrator revoking it would.
fn delete_objects(hsm: &SoftHsm, label: &str) {
    let signer = Pkcs11Signer::open(&uri(hsm, label), &KmsConfig::default()).unwrap();
    assert_eq!(
        signer.destroy_for_tests().unwrap(),
        2,
        "a key pair labelled {label}"
    );
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn hsm_sealing_and_wallet_keys_sign_through_the_key_set_and_a_replaced_or_deleted_key_is_refused() {
    SoftHsm::run_test(
        module_path!(),
        "hsm_sealing_and_wallet_keys_sign_through_the_key_set_and_a_replaced_or_deleted_key_is_refused",
        |hsm| {
            hsm.init_token("cachet");
            hsm.pin_file("pin", USER_PIN);
            let config = KmsConfig::default();
            let sealer = Pkcs11Signer::create(&uri(hsm, "sealer"), &config).unwrap();
            let wallet = Pkcs11Signer::create(&uri(hsm, "wallet"), &config).unwrap();
            let records = vec![
                RemoteKey::from_signer(RemoteRole::Sealing, SignerBackend::Hsm, &sealer).unwrap(),
                RemoteKey::from_signer(RemoteRole::Wallet, SignerBackend::Hsm, &wallet).unwrap(),
            ];
            let node = Node::new();
            let options = InitOptions {
                datadir: node.datadir(),
                chain_id: 1337,
                sealing_key: SealingKeyMode::Separate,
            };
            let initialised = block_on(cachet_keyprovider::init_with_remote(
                &options,
                &node.master,
                ImportedKeys::none(),
                records.clone(),
            ))
            .unwrap();
            let sealer_address = cachet_keyprovider::address_of(
                &secp256k1::PublicKey::from_slice(&sealer.public_key()).unwrap(),
            );
            assert_eq!(initialised.identities.sealer_address, sealer_address);

            // The header records both, and the bundle holds no secret of either: the sealed
            // key set's sealer and wallet fields are absent (only the flags say so).
            let loaded = LoadedBundle::load(&node.datadir()).unwrap();
            assert_eq!(loaded.header().remote_keys, records);

            let (keys, _) = block_on(loaded.unlock_with(&node.master)).unwrap();
            assert_eq!(keys.remote_key(KeyRole::Sealer), Some(&records[0]));
            assert_eq!(keys.remote_key(KeyRole::Wallet), Some(&records[1]));
            for handle in [keys.sealing_key(), keys.wallet_key()] {
                let digest = B256::repeat_byte(0x42);
                let sig = handle.sign_hash_sync(&digest).unwrap();
                assert_eq!(
                    sig.recover_address_from_prehash(&digest).unwrap(),
                    handle.address()
                );
            }
            assert_eq!(keys.sealing_key().address(), sealer_address);
            let audit = std::fs::read_to_string(node.datadir().join("audit.log")).unwrap();
            assert_eq!(audit.matches(r#""op":"sign""#).count(), 2, "{audit}");

            // Deleting the wallet key revokes it: the next signature is denied and published.
            delete_objects(hsm, "wallet");
            let revoked = keys.signer_revoked();
            let err = keys.wallet_key().sign_digest(&[1; 32]).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Denied, "{err}");
            assert!(revoked.borrow().is_some());
            drop(keys);
            // ... and a restart is refused as denied (exit 10).
            let err = block_on(loaded.unlock_with(&node.master)).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Denied, "{err}");

            // A new key under the old label is not the recorded key: refused as tampering
            // (exit 12), before anything is signed.
            Pkcs11Signer::create(&uri(hsm, "wallet"), &config).unwrap();
            let err = block_on(loaded.unlock_with(&node.master)).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Corrupt, "{err}");
            let text = cachet_primitives::error::Chain(&err).to_string();
            assert!(
                text.contains("another public key under this URI than the bundle recorded"),
                "{text}"
            );
        },
    );
}
