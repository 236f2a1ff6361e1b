//! No private key's bytes — raw, hex or base64 — land in any file under the datadir or the
//! temp directory after init, unlock, rotation or import.

use std::path::Path;

use base64::Engine as _;
use cachet_keyprovider::SealingKeyMode;
use cachet_keyprovider::import::{
    ImportedKeys, parse_geth_nodekey, parse_keystore_v3, parse_tessera_key,
};

use crate::support::{Node, hex32, vector};

fn needles(secret: &[u8; 32]) -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        b64.encode(secret).into_bytes(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(secret)
            .into_bytes(),
    ]
}

/// Scans regular files under `dir` modified at or after `since` (other processes' old files in
/// a shared temp dir are not ours to judge).
fn scan(dir: &Path, secrets: &[[u8; 32]], since: std::time::SystemTime) -> usize {
    let needles: Vec<Vec<u8>> = secrets.iter().flat_map(needles).collect();
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file()
                && meta.len() < 16 * 1024 * 1024
                && meta.modified().is_ok_and(|m| m >= since)
            {
                let Ok(bytes) = std::fs::read(&path) else {
                    continue;
                };
                files += 1;
                for needle in &needles {
                    assert!(
                        !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                        "{} contains a private key",
                        path.display()
                    );
                }
            }
        }
    }
    files
}

#[tokio::test]
async fn no_plaintext_key_reaches_the_disk() {
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    let node = Node::new();
    // Import files live outside the datadir and the scanned temp tree would contain them, so
    // parse from memory: the point is what cachet writes.
    let nodekey = vector("nodekey.json", "quorum-examples-7nodes-nodekey2");
    let sealer = vector("keystore.json", "geth-v3-wikipage_test_vector_pbkdf2");
    let wallet = vector("keystore.json", "geth-v3-30_byte_key");
    let tessera = vector(
        "keystore.json",
        "constellation-argon2sbox-locked-v0-password-foo",
    );
    let p = Path::new("mem");
    let mut imported = ImportedKeys::none();
    imported.set_node(
        parse_geth_nodekey(
            nodekey["nodekey_file_ascii"].as_str().unwrap().as_bytes(),
            p,
        )
        .unwrap(),
        "geth-nodekey",
        p,
    );
    imported.set_sealer(
        parse_keystore_v3(
            &serde_json::to_vec(&sealer["json"]).unwrap(),
            sealer["password"].as_str().unwrap().as_bytes(),
            p,
        )
        .unwrap(),
        "keystore-v3",
        p,
    );
    imported.set_wallet(
        parse_keystore_v3(
            &serde_json::to_vec(&wallet["json"]).unwrap(),
            wallet["password"].as_str().unwrap().as_bytes(),
            p,
        )
        .unwrap(),
        "keystore-v3",
        p,
    );
    imported.set_ptm(
        parse_tessera_key(
            &serde_json::to_vec(&tessera["private_key_file"]).unwrap(),
            Some(b"foo"),
            p,
        )
        .unwrap(),
        p,
    );
    node.init(SealingKeyMode::Separate, imported).await;
    let unlocked = cachet_keyprovider::unlock(&node.datadir(), &Default::default())
        .await
        .unwrap();
    let target = cachet_kms::LocalMasterKey::create(&node.dir.path().join("next.key")).unwrap();
    cachet_keyprovider::rotate(&node.datadir(), unlocked.master_key.as_ref(), &target)
        .await
        .unwrap();

    let mut wallet_key = [0u8; 32];
    wallet_key[2..].copy_from_slice(&hex::decode(wallet["private_key"].as_str().unwrap()).unwrap());
    let tessera_key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(tessera["computed"]["private_key_b64"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let secrets = [
        hex32(nodekey["private_key"].as_str().unwrap()),
        hex32(sealer["private_key"].as_str().unwrap()),
        wallet_key,
        tessera_key,
    ];
    // The datadir (bundle, audit log) and the whole temp tree of this test.
    assert!(
        scan(node.dir.path(), &secrets, since) >= 4,
        "bundle, audit log and master keys scanned"
    );
    scan(&std::env::temp_dir(), &secrets, since);
}
