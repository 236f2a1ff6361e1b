//! The forms in which `cachet exec` hands keys to an unmodified client, one pipe per key
//! (`docs/key-bundle.md`, "Handing keys to another client").
//!
//! | key | what the client reads |
//! |---|---|
//! | `node`, `sealing`, `wallet` | 64 lowercase hex characters, no newline: geth's `nodekey` file (`crypto.SaveECDSA` writes it, `crypto.LoadECDSA` reads it) and `geth account import`'s key file |
//! | `ptm` | Tessera's unlocked private-key file: `{"type":"unlocked","data":{"bytes":"<base64>"}}` |
//!
//! The bytes are built in place in a buffer reserved at its final size (no reallocation leaves
//! a copy behind) that zeroizes on drop.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::remote_key::RemoteKey;
use crate::{Error, KeyRole, Result, UnlockedKeys};

/// A key `cachet exec --keys` can hand over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffKey {
    /// The devp2p node key.
    Node,
    /// The clique sealing key (the node key's bytes when the bundle seals with the node key).
    Sealing,
    /// The wallet account.
    Wallet,
    /// The PTM X25519 private key.
    Ptm,
}

impl HandoffKey {
    /// Every key, in the order `--keys` documents them.
    pub const ALL: [Self; 4] = [Self::Node, Self::Sealing, Self::Wallet, Self::Ptm];

    /// The name `--keys` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Sealing => "sealing",
            Self::Wallet => "wallet",
            Self::Ptm => "ptm",
        }
    }
}

impl fmt::Display for HandoffKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HandoffKey {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown key {s:?}: want node, sealing, wallet or ptm"))
    }
}

const TESSERA_PREFIX: &[u8] = br#"{"type":"unlocked","data":{"bytes":""#;
const TESSERA_SUFFIX: &[u8] = br#""}}"#;
/// Base64 of 32 bytes, padded.
const BASE64_LEN: usize = 44;

impl UnlockedKeys {
    /// The bytes a client reads for `key` (see the module docs for each form).
    ///
    /// # Errors
    /// [`crate::Error::KeysWiped`] after the key set was wiped; [`crate::Error::KeyNotHeld`]
    /// for a key an HSM or KMS holds (it never leaves it).
    ///
    /// # Security
    /// The key leaves Cachet's locked memory: write the buffer where it goes and drop it (it
    /// zeroizes).
    pub fn secret_handoff(&self, key: HandoffKey) -> Result<Zeroizing<Vec<u8>>> {
        self.with_secrets(|s| {
            let role = match key {
                HandoffKey::Node => KeyRole::Node,
                HandoffKey::Sealing => KeyRole::Sealer,
                HandoffKey::Wallet => KeyRole::Wallet,
                HandoffKey::Ptm => {
                    let raw = Zeroizing::new(s.ptm.to_bytes());
                    let mut b64 = Zeroizing::new([0u8; BASE64_LEN]);
                    let written = base64::engine::general_purpose::STANDARD
                        .encode_slice(*raw, &mut *b64)
                        .unwrap_or(0);
                    let mut out = Zeroizing::new(Vec::with_capacity(
                        TESSERA_PREFIX.len() + BASE64_LEN + TESSERA_SUFFIX.len(),
                    ));
                    out.extend_from_slice(TESSERA_PREFIX);
                    out.extend_from_slice(&b64[..written]);
                    out.extend_from_slice(TESSERA_SUFFIX);
                    return Ok(out);
                }
            };
            let secret = s.secp(role).ok_or_else(|| Error::KeyNotHeld {
                role: role.name().to_owned(),
                location: s.remote(role).map(RemoteKey::location).unwrap_or_default(),
            })?;
            let raw = Zeroizing::new(secret.secret_bytes());
            let mut out = Zeroizing::new(vec![0u8; 64]);
            // 32 bytes always fit 64 hex characters: encode_to_slice cannot fail here.
            let _ = hex::encode_to_slice(*raw, &mut out);
            Ok(out)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SealingKeyMode;

    // quorum-examples 7nodes nodekey1 and its enode (as in keys.rs).
    const NODE1: &str = "1be3b50b31734be48452c29d714941ba165ef0cbf3ccea8ca16c45e3d8d45fb0";

    fn bytes(hex_str: &str) -> [u8; 32] {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    #[test]
    fn secp_keys_are_geth_nodekey_hex_without_newline() {
        let keys =
            UnlockedKeys::from_secrets_for_tests(bytes(NODE1), Some([5; 32]), [7; 32], [9; 32])
                .unwrap();
        assert_eq!(
            &*keys.secret_handoff(HandoffKey::Node).unwrap(),
            NODE1.as_bytes()
        );
        assert_eq!(
            &*keys.secret_handoff(HandoffKey::Sealing).unwrap(),
            "05".repeat(32).as_bytes()
        );
        assert_eq!(
            &*keys.secret_handoff(HandoffKey::Wallet).unwrap(),
            "07".repeat(32).as_bytes()
        );
    }

    #[test]
    fn sealing_is_the_node_key_in_node_mode() {
        let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Node);
        assert_eq!(
            keys.secret_handoff(HandoffKey::Sealing).unwrap(),
            keys.secret_handoff(HandoffKey::Node).unwrap()
        );
    }

    #[test]
    fn ptm_is_a_tessera_unlocked_key_file() {
        let keys =
            UnlockedKeys::from_secrets_for_tests(bytes(NODE1), None, [7; 32], [9; 32]).unwrap();
        let file = keys.secret_handoff(HandoffKey::Ptm).unwrap();
        // base64 of 32 bytes of 9 (computed independently: 0x09 repeated).
        assert_eq!(
            std::str::from_utf8(&file).unwrap(),
            r#"{"type":"unlocked","data":{"bytes":"CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="}}"#
        );
        let parsed =
            crate::import::parse_tessera_key(&file, None, std::path::Path::new("fd")).unwrap();
        assert_eq!(parsed.public_key(), keys.ptm_key().public_key());
    }

    #[test]
    fn wiped_keys_hand_over_nothing() {
        let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
        keys.wipe();
        for key in HandoffKey::ALL {
            assert!(keys.secret_handoff(key).is_err(), "{key}");
        }
    }

    #[test]
    fn names_round_trip() {
        for key in HandoffKey::ALL {
            assert_eq!(key.name().parse::<HandoffKey>(), Ok(key));
        }
        assert!("nodekey".parse::<HandoffKey>().is_err());
    }
}
