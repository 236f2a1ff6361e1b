//! The bundle: round trips, one master-key call per unlock, and every way a damaged or
//! tampered file must fail (exit class 12) without a panic.

use std::os::unix::fs::PermissionsExt;

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{Bundle, ErrorClass, LoadedBundle, SealingKeyMode};
use cachet_kms::{LocalMasterKey, MasterKey};

use crate::support::{Counting, Node};

async fn unlock_class(node: &Node) -> Option<ErrorClass> {
    let loaded = match LoadedBundle::load(&node.datadir()) {
        Ok(loaded) => loaded,
        Err(e) => return Some(e.class()),
    };
    loaded
        .unlock_with(&node.master)
        .await
        .err()
        .map(|e| e.class())
}

#[tokio::test]
async fn round_trips_both_sealing_modes_with_one_master_key_call() {
    for mode in [SealingKeyMode::Separate, SealingKeyMode::Node] {
        let node = Node::new();
        node.init(mode, ImportedKeys::none()).await;
        let loaded = LoadedBundle::load(&node.datadir()).unwrap();
        let counting =
            Counting::new(LocalMasterKey::open(&node.dir.path().join("master.key")).unwrap());
        let (keys, _) = loaded.unlock_with(&counting).await.unwrap();
        assert_eq!(
            counting.count(),
            1,
            "exactly one master-key call per unlock"
        );
        assert_eq!(keys.identities(), &loaded.header().identities);
        assert_eq!(keys.identities().sealing_key, mode);
        let same = keys.identities().sealer_address == keys.identities().node_address;
        assert_eq!(same, mode == SealingKeyMode::Node);
    }
}

#[tokio::test]
async fn rejects_every_single_byte_flip_as_corrupt() {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let original = std::fs::read(node.bundle()).unwrap();
    for i in 0..original.len() {
        for mask in [0x01u8, 0x80] {
            let mut bytes = original.clone();
            bytes[i] ^= mask;
            std::fs::write(node.bundle(), &bytes).unwrap();
            assert_eq!(
                unlock_class(&node).await,
                Some(ErrorClass::Corrupt),
                "byte {i} ^ {mask:#x}"
            );
        }
    }
    std::fs::write(node.bundle(), &original).unwrap();
    assert_eq!(unlock_class(&node).await, None);
}

#[tokio::test]
async fn rejects_every_truncation_as_corrupt() {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let original = std::fs::read(node.bundle()).unwrap();
    for len in 0..original.len() {
        std::fs::write(node.bundle(), &original[..len]).unwrap();
        assert_eq!(
            unlock_class(&node).await,
            Some(ErrorClass::Corrupt),
            "prefix {len}"
        );
    }
}

/// An attacker who edits the header and recomputes the checksum is stopped by the master
/// key (context) or by AES-GCM (identities).
#[tokio::test]
async fn rejects_edited_node_chain_and_identities() {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let original = std::fs::read(node.bundle()).unwrap();
    let bundle = Bundle::decode(&original, &node.bundle()).unwrap();
    type Edit = Box<dyn Fn(&mut cachet_keyprovider::BundleHeader)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "chain id",
            Box::new(|h| {
                h.encryption_context = h.encryption_context.clone().with("cachet:chain", "1")
            }),
        ),
        (
            "node id",
            Box::new(|h| {
                h.encryption_context = h
                    .encryption_context
                    .clone()
                    .with("cachet:node", "0x0000000000000000000000000000000000000001")
            }),
        ),
        (
            "wallet identity",
            Box::new(|h| h.identities.wallet_address = Default::default()),
        ),
        (
            "created",
            Box::new(|h| h.created = "2020-01-01T00:00:00Z".into()),
        ),
    ];
    for (what, edit) in edits {
        let mut header = bundle.header.clone();
        edit(&mut header);
        let edited = bundle
            .clone()
            .with_header_for_tests(header)
            .unwrap()
            .encode()
            .unwrap();
        std::fs::write(node.bundle(), &edited).unwrap();
        assert_eq!(
            unlock_class(&node).await,
            Some(ErrorClass::Corrupt),
            "edited {what}"
        );
    }
}

#[tokio::test]
async fn rejects_another_master_key_as_denied() {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let other = LocalMasterKey::create(&node.dir.path().join("other.key")).unwrap();
    let err = LoadedBundle::load(&node.datadir())
        .unwrap()
        .unlock_with(&other)
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Denied, "{err}");
    // Replacing the recorded key file with another key is caught by the pinned fingerprint.
    std::fs::rename(
        node.dir.path().join("other.key"),
        node.dir.path().join("master.key"),
    )
    .unwrap();
    let err = cachet_keyprovider::unlock(&node.datadir(), &Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Denied, "{err}");
}

#[tokio::test]
async fn rejects_group_readable_bundles_and_missing_or_existing_datadirs() {
    let node = Node::new();
    assert_eq!(
        cachet_keyprovider::unlock(&node.datadir(), &Default::default())
            .await
            .unwrap_err()
            .class(),
        ErrorClass::DatadirState
    );
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let before = std::fs::read(node.bundle()).unwrap();
    let options = cachet_keyprovider::InitOptions {
        datadir: node.datadir(),
        chain_id: 1,
        sealing_key: SealingKeyMode::Node,
    };
    let err = cachet_keyprovider::init(&options, &node.master, ImportedKeys::none())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::DatadirState);
    assert_eq!(
        std::fs::read(node.bundle()).unwrap(),
        before,
        "a refused init changes nothing"
    );

    std::fs::set_permissions(node.bundle(), std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(unlock_class(&node).await, Some(ErrorClass::Permissions));
    std::fs::set_permissions(node.bundle(), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(unlock_class(&node).await, None);
    let mode = std::fs::metadata(node.datadir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[tokio::test]
async fn rotation_keeps_the_identity_and_drops_the_old_key() {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let before = LoadedBundle::load(&node.datadir())
        .unwrap()
        .header()
        .clone();
    let target = LocalMasterKey::create(&node.dir.path().join("new.key")).unwrap();
    cachet_keyprovider::rotate(&node.datadir(), &node.master, &target)
        .await
        .unwrap();
    std::fs::remove_file(node.dir.path().join("master.key")).unwrap();
    let unlocked = cachet_keyprovider::unlock(&node.datadir(), &Default::default())
        .await
        .unwrap();
    assert_eq!(unlocked.bundle.header(), &before);
    assert_eq!(unlocked.master_key.reference(), target.reference());
    let report = cachet_keyprovider::AuditLog::new(&node.datadir())
        .verify()
        .unwrap();
    assert_eq!(report.first_broken, None);
    assert_eq!(report.valid_lines, 3, "init, rotate, unlock");
}

#[tokio::test]
async fn destroy_removes_the_bundle_and_is_audited() {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    cachet_keyprovider::destroy(&node.datadir()).unwrap();
    assert!(!node.bundle().exists());
    let log = std::fs::read_to_string(node.datadir().join("audit.log")).unwrap();
    assert!(log.lines().last().unwrap().contains("\"op\":\"destroy\""));
}

#[test]
fn fuzz_functions_survive_the_seed_corpora() {
    type Target = fn(&[u8]);
    let corpora: [(&str, Target); 2] = [
        ("bundle_decode", cachet_keyprovider::fuzzing::decode_bundle),
        (
            "bundle_sections",
            cachet_keyprovider::fuzzing::decode_bundle_body,
        ),
    ];
    for (name, target) in corpora {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name);
        let mut seen = 0;
        for entry in std::fs::read_dir(&corpus).unwrap() {
            target(&std::fs::read(entry.unwrap().path()).unwrap());
            seen += 1;
        }
        assert!(seen > 0, "empty corpus in {}", corpus.display());
    }
}
