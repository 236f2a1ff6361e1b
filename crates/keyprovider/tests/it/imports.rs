//! Import parsers against `testdata/vectors/{nodekey,keystore}.json`.

use std::path::Path;

use base64::Engine as _;
use cachet_keyprovider::import::{
    ImportedKeys, parse_besu_key, parse_geth_nodekey, parse_keystore_v3, parse_tessera_key,
};
use cachet_keyprovider::{Error, SealingKeyMode, address_of, enode_id_hex};
use secp256k1::SECP256K1;

use crate::support::{Node, hex32, vector, vectors};

fn addr(key: &secp256k1::SecretKey) -> String {
    format!(
        "0x{}",
        hex::encode(address_of(&key.public_key(SECP256K1)).as_slice())
    )
}

#[test]
fn accepts_the_7nodes_geth_nodekeys_and_derives_their_enodes() {
    let mut seen = 0;
    for case in vectors("nodekey.json")
        .iter()
        .filter(|v| v.get("nodekey_file_bytes_hex").is_some())
    {
        let bytes = hex::decode(
            case["nodekey_file_bytes_hex"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        let key = parse_geth_nodekey(&bytes, Path::new("nodekey")).unwrap();
        assert_eq!(
            enode_id_hex(&key.public_key(SECP256K1)),
            case["enode_id"],
            "{}",
            case["name"]
        );
        assert_eq!(addr(&key), case["address"], "{}", case["name"]);
        // Besu reads the same files (one line, 0x optional).
        let besu = parse_besu_key(&bytes, Path::new("key")).unwrap();
        assert_eq!(besu.secret_bytes(), key.secret_bytes());
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn follows_geths_loadecdsa_cases() {
    let case = vector("nodekey.json", "geth-LoadECDSA-nodekey-file-format");
    let cases = case["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 10);
    for c in cases {
        let bytes = hex::decode(
            c["file_bytes_hex"]
                .as_str()
                .unwrap()
                .trim_start_matches("0x"),
        )
        .unwrap();
        let result = parse_geth_nodekey(&bytes, Path::new("nodekey"));
        if c["accepted"].as_bool().unwrap() {
            result.unwrap();
        } else {
            let message = result.unwrap_err().to_string();
            let expected = c["error"].as_str().unwrap();
            // geth quotes the character with single quotes; we use Rust's char Debug ('X').
            assert!(
                message.contains(expected),
                "{message:?} should contain {expected:?}"
            );
        }
    }
}

#[test]
fn rejects_a_0x_prefix_in_geth_nodekeys_but_accepts_it_from_besu() {
    let key = "0x1be3b50b31734be48452c29d714941ba165ef0cbf3ccea8ca16c45e3d8d45fb0";
    assert!(parse_geth_nodekey(key.as_bytes(), Path::new("k")).is_err());
    let besu = parse_besu_key(format!("{key}\n").as_bytes(), Path::new("k")).unwrap();
    assert_eq!(besu.secret_bytes(), hex32(key));
    assert!(parse_besu_key(b"0x12\n", Path::new("k")).is_err());
    assert!(parse_besu_key(format!("{key}\n{key}\n").as_bytes(), Path::new("k")).is_err());
}

#[test]
fn decrypts_every_keystore_v3_vector() {
    let mut seen = 0;
    for case in vectors("keystore.json")
        .iter()
        .filter(|v| v["kind"] == "web3-secret-storage-v3")
    {
        let json = serde_json::to_vec(&case["json"]).unwrap();
        let password = case["password"].as_str().unwrap().as_bytes();
        let key = parse_keystore_v3(&json, password, Path::new("keystore")).unwrap();
        if let Some(private) = case["private_key"].as_str() {
            // Legacy keys are shorter than 32 bytes; they are left-padded.
            assert_eq!(
                hex::encode(key.secret_bytes()),
                format!("{private:0>64}"),
                "{}",
                case["name"]
            );
        }
        let address = case["address"]
            .as_str()
            .or_else(|| case["computed"]["address"].as_str())
            .unwrap();
        assert_eq!(addr(&key), address.to_lowercase(), "{}", case["name"]);
        seen += 1;
    }
    assert!(seen >= 8, "only {seen} keystore vectors");
}

#[test]
fn rejects_a_wrong_keystore_password_as_wrong_password() {
    let case = vector("keystore.json", "geth-v3-31_byte_key");
    let json = serde_json::to_vec(&case["json"]).unwrap();
    let err = parse_keystore_v3(&json, b"not foo", Path::new("k")).unwrap_err();
    assert!(matches!(err, Error::WrongPassword { .. }), "{err}");
}

#[test]
fn rejects_keystores_demanding_too_much_memory() {
    let mut case = vector("keystore.json", "geth-v3-31_byte_key")["json"].clone();
    case["crypto"]["kdfparams"]["n"] = serde_json::json!(1u64 << 30);
    let err =
        parse_keystore_v3(&serde_json::to_vec(&case).unwrap(), b"foo", Path::new("k")).unwrap_err();
    assert!(err.to_string().contains("1 GiB"), "{err}");
}

fn check_tessera_vectors(include_slow: bool) -> usize {
    let mut seen = 0;
    for case in vectors("keystore.json")
        .iter()
        .filter(|v| v["kind"].as_str().unwrap_or("").starts_with("tessera"))
    {
        // Tessera's default Argon2 parameters (1 GiB, 10 passes) take tens of seconds.
        let slow = case["private_key_file"]["data"]["aopts"]["memory"]
            .as_u64()
            .unwrap_or(0)
            > 64 * 1024;
        if slow != include_slow {
            continue;
        }
        let json = serde_json::to_vec(&case["private_key_file"]).unwrap();
        let password = case["password"].as_str().map(str::as_bytes);
        let key = parse_tessera_key(&json, password, Path::new("tm.key")).unwrap();
        let expected = case["public_key_file"]
            .as_str()
            .or_else(|| case["computed"]["public_key_b64"].as_str())
            .unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(key.public_key()),
            expected,
            "{}",
            case["name"]
        );
        if let Some(wrong) = password {
            let err = parse_tessera_key(&json, Some(&[wrong, b"x"].concat()), Path::new("tm.key"))
                .unwrap_err();
            assert!(matches!(err, Error::WrongPassword { .. }), "{err}");
        }
        seen += 1;
    }
    seen
}

#[test]
fn reads_unlocked_and_cheaply_locked_tessera_keys() {
    assert_eq!(check_tessera_vectors(false), 5);
}

#[test]
#[ignore = "slow (Argon2id with 1 GiB, 10 passes): run scripts/test"]
fn reads_a_tessera_key_locked_with_tesseras_default_argon2_parameters() {
    assert_eq!(check_tessera_vectors(true), 1);
}

#[tokio::test]
async fn round_trips_every_import_through_a_bundle() {
    let node = Node::new();
    let nodekey = vector("nodekey.json", "quorum-examples-7nodes-nodekey1");
    let keystore = vector("keystore.json", "geth-v3-wikipage_test_vector_pbkdf2");
    let wallet = vector("keystore.json", "geth-v3-31_byte_key");
    let tessera = vector(
        "keystore.json",
        "constellation-argon2sbox-locked-v0-password-foo",
    );

    let mut imported = ImportedKeys::none();
    let p = Path::new("/imports/nodekey");
    imported.set_node(
        parse_geth_nodekey(
            nodekey["nodekey_file_ascii"].as_str().unwrap().as_bytes(),
            p,
        )
        .unwrap(),
        "geth-nodekey",
        p,
    );
    let p = Path::new("/imports/sealer.json");
    let sealer = parse_keystore_v3(
        &serde_json::to_vec(&keystore["json"]).unwrap(),
        b"testpassword",
        p,
    )
    .unwrap();
    imported.set_sealer(sealer, "keystore-v3", p);
    let p = Path::new("/imports/wallet.json");
    imported.set_wallet(
        parse_keystore_v3(&serde_json::to_vec(&wallet["json"]).unwrap(), b"foo", p).unwrap(),
        "keystore-v3",
        p,
    );
    let p = Path::new("/imports/tm.key");
    imported.set_ptm(
        parse_tessera_key(
            &serde_json::to_vec(&tessera["private_key_file"]).unwrap(),
            Some(b"foo"),
            p,
        )
        .unwrap(),
        p,
    );
    assert_eq!(imported.sources().len(), 4);
    node.init(SealingKeyMode::Separate, imported).await;

    let unlocked = cachet_keyprovider::unlock(&node.datadir(), &Default::default())
        .await
        .unwrap();
    let id = unlocked.keys.identities();
    assert_eq!(id.enode_id, nodekey["enode_id"]);
    assert_eq!(
        format!("0x{}", hex::encode(id.sealer_address)),
        keystore["computed"]["address"]
    );
    assert_eq!(
        format!("0x{}", hex::encode(id.wallet_address)),
        wallet["computed"]["address"]
    );
    assert_eq!(id.ptm_public_key, tessera["computed"]["public_key_b64"]);
}
