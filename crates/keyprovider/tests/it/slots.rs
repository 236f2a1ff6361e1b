//! Format v2: several master keys per bundle. Unlock tries them in order (one successful
//! call, each failed slot audited), tampering with either slot is exit class 12, the lease
//! follows the slot that unlocked, `rotate` adds and removes keys (never the last), and a v1
//! bundle made by the v1 writer still unlocks and is upgraded.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{
    Bundle, Error, ErrorClass, Lease, LeaseConfig, LeaseState, LoadedBundle, MasterKeyChange,
    MasterKeySection, SealingKeyMode, Unwrap, change_master_keys,
};
use cachet_kms::{KmsConfig, LocalMasterKey, MasterKey};

use crate::support::{Counting, Node};

const RECORDED: Unwrap<'static> = Unwrap::Recorded(&KmsConfig {
    region: None,
    endpoint: None,
    profile: None,
    timeout: None,
    pkcs11_module: None,
    signer_timeout: None,
});

/// A bundle under the node's master key (slot 1) and a break-glass key (slot 2).
async fn two_keys() -> (Node, LocalMasterKey) {
    let node = Node::new();
    node.init(SealingKeyMode::Separate, ImportedKeys::none())
        .await;
    let glass = LocalMasterKey::create(&node.dir.path().join("glass.key")).unwrap();
    let keys = change_master_keys(&node.datadir(), RECORDED, MasterKeyChange::Add(&glass))
        .await
        .unwrap();
    assert_eq!(keys, [node.master.reference(), glass.reference()]);
    (node, glass)
}

fn audit(node: &Node) -> Vec<serde_json::Value> {
    std::fs::read_to_string(node.datadir().join("audit.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn key_ids(calls: &serde_json::Value) -> Vec<String> {
    calls
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["key_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn unlock_class(node: &Node) -> Option<ErrorClass> {
    cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
        .await
        .err()
        .map(|e| e.class())
}

#[tokio::test]
async fn adding_a_key_writes_v2_and_unlock_uses_the_first_key_with_one_call() {
    let (node, glass) = two_keys().await;
    let loaded = LoadedBundle::load(&node.datadir()).unwrap();
    assert_eq!(loaded.format(), 2);
    let slots: Vec<_> = loaded
        .slots()
        .iter()
        .map(|s| s.master_key.clone())
        .collect();
    assert_eq!(slots, [node.master.reference(), glass.reference()]);
    let bytes = std::fs::read(node.bundle()).unwrap();
    assert_eq!(&bytes[8..10], &[0, 2], "format version 2 on disk");

    let add = audit(&node).pop().unwrap();
    assert_eq!(add["op"], "rotate");
    assert_eq!(add["details"]["change"], "add");
    assert_eq!(
        key_ids(&add["calls"]),
        [node.master.reference().key_id, glass.reference().key_id],
        "decrypt with the current key, encrypt under the new one"
    );

    let unlocked = cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
        .await
        .unwrap();
    assert_eq!(unlocked.slot, 0);
    let line = audit(&node).pop().unwrap();
    assert_eq!(
        (line["op"].as_str(), line["outcome"].as_str()),
        (Some("unlock"), Some("ok"))
    );
    assert_eq!(line["details"]["slot"], 1);
    assert_eq!(key_ids(&line["calls"]), [node.master.reference().key_id]);

    // Either key alone opens it, in one call.
    for key in [&node.master, &glass] {
        let counting = Counting::new(
            LocalMasterKey::open(Path::new(
                key.reference().given.trim_start_matches("local:"),
            ))
            .unwrap(),
        );
        let (keys, _) = loaded.unlock_with(&counting).await.unwrap();
        assert_eq!(counting.count(), 1);
        assert_eq!(keys.identities(), &loaded.header().identities);
    }
}

#[tokio::test]
async fn unlock_uses_the_second_key_when_the_first_is_deleted_or_replaced() {
    let (node, glass) = two_keys().await;
    let first = node.dir.path().join("master.key");
    let expected = [
        ("deleted", "key-not-found"),
        ("replaced by another key", "wrong-master-key"),
    ];
    for (how, _) in expected {
        if how == "deleted" {
            std::fs::remove_file(&first).unwrap();
        } else {
            LocalMasterKey::create(&first).unwrap();
        }
        let before = audit(&node).len();
        let unlocked = cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
            .await
            .unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(unlocked.slot, 1, "{how}");
        assert_eq!(unlocked.master_key.reference(), glass.reference());
        let lines = audit(&node);
        assert_eq!(lines.len(), before + 2, "{how}: one line per attempt");
        let (failed, ok) = (&lines[before], &lines[before + 1]);
        assert_eq!(failed["op"], "unlock");
        assert_eq!(failed["outcome"], "error");
        assert_eq!(failed["error_class"], "denied", "{how}");
        assert_eq!(failed["key_id"], node.master.reference().key_id.as_str());
        assert_eq!(failed["details"]["slot"], 1);
        assert_eq!(failed["details"]["next_slot"], 2);
        assert_eq!(ok["outcome"], "ok");
        assert_eq!(ok["details"]["slot"], 2);
        assert_eq!(
            key_ids(&ok["calls"]),
            [glass.reference().key_id],
            "{how}: exactly one successful call, to the second key"
        );
    }
}

#[tokio::test]
async fn every_key_failing_is_decided_by_the_first_and_lists_both() {
    let (node, glass) = two_keys().await;
    std::fs::remove_file(node.dir.path().join("master.key")).unwrap();
    std::fs::remove_file(node.dir.path().join("glass.key")).unwrap();
    let err = cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Denied);
    let text = err.to_string();
    assert!(
        matches!(err, Error::NoMasterKeyUnlocked { count: 2, .. }),
        "{text}"
    );
    assert!(
        text.contains("slot 1 (local:") && text.contains("slot 2 (local:"),
        "{text}"
    );
    assert!(text.contains(&glass.reference().given), "{text}");
    let lines = audit(&node);
    let last: Vec<_> = lines[lines.len() - 2..]
        .iter()
        .map(|l| l["details"]["slot"].clone())
        .collect();
    assert_eq!(last, [1, 2]);
    assert_eq!(lines.last().unwrap()["details"].get("next_slot"), None);
}

/// Rewrites slot `index` as an attacker would, checksum recomputed.
fn edit_slot(node: &Node, index: usize, edit: impl FnOnce(&mut MasterKeySection)) {
    let bundle = Bundle::decode(&std::fs::read(node.bundle()).unwrap(), &node.bundle()).unwrap();
    let mut section = bundle.slot(index).unwrap().clone();
    edit(&mut section);
    let bytes = bundle
        .with_slot_for_tests(index, section)
        .unwrap()
        .encode()
        .unwrap();
    std::fs::write(node.bundle(), bytes).unwrap();
}

fn flip_wrapped(section: &mut MasterKeySection) {
    let mut bytes = section.wrapped_data_key.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    section.wrapped_data_key = cachet_kms::WrappedDataKey::from_bytes(bytes);
}

#[tokio::test]
async fn a_byte_flip_in_either_slot_is_corrupt() {
    let (node, _glass) = two_keys().await;
    let original = std::fs::read(node.bundle()).unwrap();
    // Damage: every flip of a slot byte fails the checksum before any master-key call.
    let bundle = Bundle::decode(&original, &node.bundle()).unwrap();
    let header_end = 14 + u32::from_be_bytes(original[10..14].try_into().unwrap()) as usize;
    let slots_end = original.len() - 32 - bundle.sealed.len() - 4 - 12;
    for i in header_end..slots_end {
        let mut bytes = original.clone();
        bytes[i] ^= 0x04;
        std::fs::write(node.bundle(), &bytes).unwrap();
        assert_eq!(
            unlock_class(&node).await,
            Some(ErrorClass::Corrupt),
            "byte {i}"
        );
    }

    // Tampering (checksum recomputed) with the first slot's ciphertext: its key says so and
    // unlock stops there; the break-glass key does not mask it.
    std::fs::write(node.bundle(), &original).unwrap();
    edit_slot(&node, 0, flip_wrapped);
    let before = audit(&node).len();
    assert_eq!(unlock_class(&node).await, Some(ErrorClass::Corrupt));
    let lines = audit(&node);
    assert_eq!(
        lines.len(),
        before + 1,
        "slot 2 is not tried after a tampered slot 1"
    );
    assert_eq!(lines[before]["error_class"], "corrupt");
    assert_eq!(lines[before]["details"].get("next_slot"), None);

    // The second slot's, reached once the first key is gone.
    std::fs::write(node.bundle(), &original).unwrap();
    edit_slot(&node, 1, flip_wrapped);
    let first = node.dir.path().join("master.key");
    let saved = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    assert_eq!(unlock_class(&node).await, Some(ErrorClass::Corrupt));
    assert_eq!(audit(&node).last().unwrap()["details"]["slot"], 2);
    // With the first key present the second slot is never read: a damaged break-glass slot is
    // found when it is needed (`unlock_slot` tests it: a_chosen_slot_is_tested_alone).
    std::fs::write(&first, &saved).unwrap();
    std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(unlock_class(&node).await, None);
}

/// A slot that wraps another data key under its (genuine) master key decrypts, but that key
/// does not open the sealed keys: tampered, exit class 12.
#[tokio::test]
async fn a_slot_wrapping_another_data_key_is_tampering() {
    let (node, glass) = two_keys().await;
    let context = LoadedBundle::load(&node.datadir())
        .unwrap()
        .header()
        .encryption_context
        .clone();
    let other = glass.generate_data_key(&context).await.unwrap();
    edit_slot(&node, 1, |s| s.wrapped_data_key = other.wrapped);
    std::fs::remove_file(node.dir.path().join("master.key")).unwrap();
    let err = cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TamperedBundle { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Corrupt);
    let last = audit(&node).pop().unwrap();
    assert_eq!(last["details"]["slot"], 2);
    assert_eq!(last["error_class"], "corrupt");
    assert_eq!(key_ids(&last["calls"]), [glass.reference().key_id]);
}

#[tokio::test]
async fn remove_a_key_then_refuse_to_remove_the_last() {
    let (node, glass) = two_keys().await;
    let datadir = node.datadir();
    // Unknown and duplicate keys are refused before any master-key call.
    let err = change_master_keys(&datadir, RECORDED, MasterKeyChange::Remove("local:/nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MasterKeyNotInBundle { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Usage);
    let err = change_master_keys(&datadir, RECORDED, MasterKeyChange::Add(&glass))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MasterKeyAlreadyInBundle { slot: 2, .. }),
        "{err}"
    );

    // Remove the first key by its key id; the break-glass key becomes the only one.
    let keys = change_master_keys(
        &datadir,
        RECORDED,
        MasterKeyChange::Remove(&node.master.reference().key_id),
    )
    .await
    .unwrap();
    assert_eq!(keys, [glass.reference()]);
    let removal = audit(&node).pop().unwrap();
    assert_eq!(removal["details"]["change"], "remove");
    assert_eq!(
        key_ids(&removal["calls"]),
        [glass.reference().key_id],
        "the removal proves a remaining key opens the bundle"
    );
    std::fs::remove_file(node.dir.path().join("master.key")).unwrap();
    let unlocked = cachet_keyprovider::unlock(&datadir, &KmsConfig::default())
        .await
        .unwrap();
    assert_eq!((unlocked.slot, unlocked.bundle.slots().len()), (0, 1));

    let before = std::fs::read(node.bundle()).unwrap();
    let err = change_master_keys(
        &datadir,
        RECORDED,
        MasterKeyChange::Remove(&glass.reference().given),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::LastMasterKey { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Usage);
    assert_eq!(
        std::fs::read(node.bundle()).unwrap(),
        before,
        "nothing changed"
    );
}

#[tokio::test]
async fn at_most_four_keys_and_to_replaces_the_first() {
    let (node, glass) = two_keys().await;
    let datadir = node.datadir();
    let mut keys = vec![node.master.reference(), glass.reference()];
    for name in ["k3", "k4"] {
        let key = LocalMasterKey::create(&node.dir.path().join(name)).unwrap();
        keys = change_master_keys(&datadir, RECORDED, MasterKeyChange::Add(&key))
            .await
            .unwrap();
    }
    assert_eq!(keys.len(), 4);
    let fifth = LocalMasterKey::create(&node.dir.path().join("k5")).unwrap();
    let err = change_master_keys(&datadir, RECORDED, MasterKeyChange::Add(&fifth))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooManyMasterKeys { max: 4, .. }),
        "{err}"
    );

    // Break-glass procedure: the primary is lost, the node unlocks with slot 2, and the
    // operator replaces slot 1 with a new primary.
    std::fs::remove_file(node.dir.path().join("master.key")).unwrap();
    let after = change_master_keys(&datadir, RECORDED, MasterKeyChange::ReplacePrimary(&fifth))
        .await
        .unwrap();
    assert_eq!(after[0], fifth.reference());
    assert_eq!(after[1..], keys[1..]);
    let unlocked = cachet_keyprovider::unlock(&datadir, &KmsConfig::default())
        .await
        .unwrap();
    assert_eq!(unlocked.slot, 0);
    assert_eq!(unlocked.master_key.reference(), fifth.reference());
}

const CHECKS: LeaseConfig = LeaseConfig {
    recheck: std::time::Duration::from_secs(60),
    grace: std::time::Duration::from_secs(600),
};

async fn next_state(rx: &mut tokio::sync::watch::Receiver<LeaseState>) -> LeaseState {
    rx.changed().await.unwrap();
    rx.borrow_and_update().clone()
}

/// The lease re-proves the key that unlocked, not any key: revoking it stops the holder even
/// though the other key is alive (decision 293).
#[tokio::test(start_paused = true)]
async fn the_lease_follows_the_slot_that_unlocked() {
    let (node, glass) = two_keys().await;
    let first = node.dir.path().join("master.key");
    let glass_path = node.dir.path().join("glass.key");

    // Unlocked by slot 1; its key is deleted: revoked, slot 2 notwithstanding.
    let unlocked = cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
        .await
        .unwrap();
    assert_eq!(unlocked.slot, 0);
    let lease = Lease::start_audited(&unlocked, &node.datadir(), CHECKS);
    let mut states = lease.subscribe();
    let saved = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    assert!(next_state(&mut states).await.is_revoked());
    let line = audit(&node).pop().unwrap();
    assert_eq!(
        (line["op"].as_str(), line["key_id"].as_str()),
        (Some("lease"), Some(node.master.reference().key_id.as_str()))
    );
    drop(lease);

    // Unlocked by slot 2 (slot 1's key gone): the lease checks slot 2's wrapped key with the
    // break-glass key and stays healthy; deleting the break-glass key revokes it.
    let unlocked = cachet_keyprovider::unlock(&node.datadir(), &KmsConfig::default())
        .await
        .unwrap();
    assert_eq!(unlocked.slot, 1);
    std::fs::write(&first, &saved).unwrap();
    std::fs::set_permissions(&first, std::fs::Permissions::from_mode(0o600)).unwrap();
    let lease = Lease::start_audited(&unlocked, &node.datadir(), CHECKS);
    let mut states = lease.subscribe();
    assert!(matches!(next_state(&mut states).await, LeaseState::Healthy));
    let line = audit(&node).pop().unwrap();
    assert_eq!(line["outcome"], "ok");
    assert_eq!(key_ids(&line["calls"]), [glass.reference().key_id]);
    std::fs::remove_file(&glass_path).unwrap();
    assert!(
        next_state(&mut states).await.is_revoked(),
        "the first key being alive does not keep a node unlocked by the second running"
    );
}

/// testdata/v1: a bundle written by the v1 code (README there).
fn v1_fixture() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    LocalMasterKey,
    serde_json::Value,
) {
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/v1");
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("data");
    std::fs::create_dir(&datadir).unwrap();
    std::fs::set_permissions(&datadir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for (from, to) in [
        (testdata.join("keys.cachet"), datadir.join("keys.cachet")),
        (testdata.join("master.key"), dir.path().join("master.key")),
    ] {
        std::fs::copy(from, &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let key = LocalMasterKey::open(&dir.path().join("master.key")).unwrap();
    let inspect: serde_json::Value =
        serde_json::from_slice(&std::fs::read(testdata.join("inspect.json")).unwrap()).unwrap();
    (dir, datadir, key, inspect)
}

fn assert_identities(keys: &cachet_keyprovider::UnlockedKeys, inspect: &serde_json::Value) {
    let id = serde_json::to_value(keys.identities()).unwrap();
    for field in [
        "enode_id",
        "node_address",
        "sealer_address",
        "sealing_key",
        "wallet_address",
        "ptm_public_key",
    ] {
        assert_eq!(id[field], inspect[field], "{field}");
    }
}

#[tokio::test]
async fn a_v1_bundle_unlocks_and_rotate_upgrades_it_to_v2() {
    let (_dir, datadir, key, inspect) = v1_fixture();
    let bytes = std::fs::read(datadir.join("keys.cachet")).unwrap();
    assert_eq!(&bytes[8..10], &[0, 1], "the fixture is format v1");
    cachet_keyprovider::fuzzing::decode_bundle(&bytes);
    let loaded = LoadedBundle::load(&datadir).unwrap();
    assert_eq!(loaded.format(), 1);
    assert_eq!(
        loaded.master_key().key_id,
        inspect["master_key_id"].as_str().unwrap()
    );
    let (keys, _) = loaded.unlock_with(&key).await.unwrap();
    assert_identities(&keys, &inspect);

    // A plain rotate upgrades it: same keys, same master key, same wrapped data key.
    let refs = change_master_keys(&datadir, Unwrap::With(&key), MasterKeyChange::Upgrade)
        .await
        .unwrap();
    assert_eq!(refs, [loaded.master_key().clone()]);
    let upgraded = LoadedBundle::load(&datadir).unwrap();
    assert_eq!(upgraded.format(), 2);
    assert_eq!(upgraded.header().format, 2);
    assert_eq!(upgraded.header().identities, loaded.header().identities);
    assert_eq!(upgraded.header().created, loaded.header().created);
    assert_eq!(upgraded.wrapped_data_key(), loaded.wrapped_data_key());
    let (keys, _) = upgraded.unlock_with(&key).await.unwrap();
    assert_identities(&keys, &inspect);
    let err = change_master_keys(&datadir, Unwrap::With(&key), MasterKeyChange::Upgrade)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NothingToChange { .. }), "{err}");
}

#[tokio::test]
async fn adding_a_key_to_a_v1_bundle_upgrades_it() {
    let (dir, datadir, key, inspect) = v1_fixture();
    let glass = LocalMasterKey::create(&dir.path().join("glass.key")).unwrap();
    change_master_keys(&datadir, Unwrap::With(&key), MasterKeyChange::Add(&glass))
        .await
        .unwrap();
    let loaded = LoadedBundle::load(&datadir).unwrap();
    assert_eq!(loaded.format(), 2);
    assert_eq!(loaded.slots().len(), 2);
    // The fixture's recorded key path (/tmp/cachet-v1-fixture) does not exist here: the
    // recorded walk fails slot 1 and unlocks with the new key.
    let unlocked = cachet_keyprovider::unlock(&datadir, &KmsConfig::default())
        .await
        .unwrap();
    assert_eq!(unlocked.slot, 1);
    assert_identities(&unlocked.keys, &inspect);
    let (keys, _) = loaded.unlock_with(&key).await.unwrap();
    assert_identities(&keys, &inspect);
}

/// Mutations of a two-slot v2 bundle with the checksum recomputed, so they reach the
/// sections: the parser never panics and what decodes re-encodes byte for byte.
/// `CACHET_FUZZ_CASES` sets the count (default 3000).
#[tokio::test]
async fn mutated_v2_sections_never_panic() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let (node, _glass) = two_keys().await;
    let original = std::fs::read(node.bundle()).unwrap();
    let body = &original[..original.len() - 32];
    // Every truncation and every single-byte flip of the body.
    for len in 0..body.len() {
        cachet_keyprovider::fuzzing::decode_bundle_body(&body[..len]);
    }
    for i in 0..body.len() {
        for value in [0x00, 0x01, 0x05, 0x7f, 0xff] {
            let mut bytes = body.to_vec();
            bytes[i] = value;
            cachet_keyprovider::fuzzing::decode_bundle_body(&bytes);
        }
    }
    let cases: usize = std::env::var("CACHET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let mut rng = StdRng::seed_from_u64(0xb0d1e2);
    for _ in 0..cases {
        let mut bytes = body.to_vec();
        for _ in 0..rng.gen_range(1..8) {
            match rng.gen_range(0..3) {
                0 => {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] = rng.r#gen();
                }
                1 => {
                    let i = rng.gen_range(0..bytes.len());
                    bytes.insert(i, rng.r#gen());
                }
                _ if bytes.len() > 1 => {
                    let i = rng.gen_range(0..bytes.len());
                    bytes.remove(i);
                }
                _ => {}
            }
        }
        cachet_keyprovider::fuzzing::decode_bundle_body(&bytes);
    }
    // The slot count itself: 0 and more than 4 are refused by name.
    let header_end = 14 + u32::from_be_bytes(original[10..14].try_into().unwrap()) as usize;
    assert_eq!(body[header_end], 2, "two slots");
    for count in [0u8, 5, 255] {
        let mut bytes = body.to_vec();
        bytes[header_end] = count;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        bytes.extend_from_slice(&digest);
        let err = Bundle::decode(&bytes, Path::new("b")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::CorruptBundle {
                    field: "slot_count",
                    ..
                }
            ),
            "{count}: {err}"
        );
    }
}

/// `unlock_slot` tests one master key alone: the break-glass key while the primary works, and a
/// damaged break-glass slot (which a normal unlock never reaches) is found.
#[tokio::test]
async fn a_chosen_slot_is_tested_alone() {
    let (node, glass) = two_keys().await;
    let before = audit(&node).len();
    let unlocked = cachet_keyprovider::unlock_slot(&node.datadir(), &KmsConfig::default(), Some(1))
        .await
        .unwrap();
    assert_eq!(unlocked.slot, 1);
    let lines = audit(&node);
    assert_eq!(lines.len(), before + 1, "slot 1 is not tried");
    assert_eq!(key_ids(&lines[before]["calls"]), [glass.reference().key_id]);

    let err = cachet_keyprovider::unlock_slot(&node.datadir(), &KmsConfig::default(), Some(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoSuchMasterKey {
                slot: 3,
                count: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Usage);

    edit_slot(&node, 1, flip_wrapped);
    assert_eq!(
        unlock_class(&node).await,
        None,
        "a plain unlock stops at slot 1"
    );
    let err = cachet_keyprovider::unlock_slot(&node.datadir(), &KmsConfig::default(), Some(1))
        .await
        .unwrap_err();
    assert_eq!(err.class(), ErrorClass::Corrupt, "{err}");
}
