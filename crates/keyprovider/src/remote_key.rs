//! The bundle's record of a key that never leaves an HSM or KMS: which key of the set it is,
//! where it lives, and its public key (`docs/key-bundle.md`, "Remote keys").

use std::fmt;

use cachet_kms::{SignerBackend, SignerRef};
use secp256k1::PublicKey;
use serde::{Deserialize, Serialize};

use crate::KeyRole;

/// The keys of the set that may live in an HSM or KMS. The node key may not: RLPx needs ECDH
/// with it, which neither a PKCS#11 `CKM_ECDSA` key nor AWS KMS `Sign` can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteRole {
    /// The clique sealing key.
    Sealing,
    /// The wallet account.
    Wallet,
}

impl RemoteRole {
    /// The key role this record stands for.
    pub const fn role(self) -> KeyRole {
        match self {
            Self::Sealing => KeyRole::Sealer,
            Self::Wallet => KeyRole::Wallet,
        }
    }

    /// `sealing` or `wallet`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sealing => "sealing",
            Self::Wallet => "wallet",
        }
    }
}

impl fmt::Display for RemoteRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sealing => "sealing key",
            Self::Wallet => "wallet key",
        })
    }
}

/// A key held by an HSM or KMS, as the bundle header records it (authenticated with the header:
/// editing any of it fails the key set's AES-GCM).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteKey {
    /// Which key of the set.
    pub role: RemoteRole,
    /// `hsm` (PKCS#11) or `kms` (AWS KMS).
    pub backend: SignerBackend,
    /// What the operator wrote and the key every call is pinned to (the `pkcs11:` URI; the AWS
    /// key ARN).
    pub reference: SignerRef,
    /// The uncompressed secp256k1 public key (`04 ‖ x ‖ y`, 130 lowercase hex characters) read
    /// from the token or KMS at `init`; every signature must recover to it.
    #[serde(with = "public_key_hex")]
    pub public_key: PublicKey,
}

impl RemoteKey {
    /// The record of `signer` (opened at `init`) as key `role`.
    ///
    /// # Errors
    /// [`crate::Error::Internal`] when the signer's public key is not a secp256k1 point (the
    /// backends check it when they read it).
    pub fn from_signer(
        role: RemoteRole,
        backend: SignerBackend,
        signer: &dyn cachet_kms::DigestSigner,
    ) -> crate::Result<Self> {
        Ok(Self {
            role,
            backend,
            reference: signer.reference(),
            public_key: PublicKey::from_slice(&signer.public_key()).map_err(|_| {
                crate::Error::Internal("a signer's public key is not a secp256k1 point")
            })?,
        })
    }

    /// Where the key lives, as `inspect` prints it: `hsm:pkcs11:…` or `kms:<key ARN>`.
    pub fn location(&self) -> String {
        match self.backend {
            SignerBackend::Hsm => format!("hsm:{}", self.reference.key_id),
            SignerBackend::Kms => format!("kms:{}", self.reference.key_id),
        }
    }

    /// The 65-byte uncompressed public key.
    pub fn public_key_bytes(&self) -> [u8; 65] {
        self.public_key.serialize_uncompressed()
    }
}

mod public_key_hex {
    use secp256k1::PublicKey;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(key.serialize_uncompressed()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PublicKey, D::Error> {
        let text = String::deserialize(d)?;
        if text.len() != 130 || !text.starts_with("04") {
            return Err(serde::de::Error::custom(
                "expected 130 hex characters of an uncompressed point (04 ‖ x ‖ y)",
            ));
        }
        let bytes = hex::decode(&text).map_err(serde::de::Error::custom)?;
        PublicKey::from_slice(&bytes)
            .map_err(|_| serde::de::Error::custom("not a point on secp256k1"))
    }
}

#[cfg(test)]
mod tests {
    use secp256k1::{SECP256K1, SecretKey};

    use super::*;

    fn record() -> RemoteKey {
        let secret = SecretKey::from_byte_array(&[3; 32]).unwrap();
        RemoteKey {
            role: RemoteRole::Sealing,
            backend: SignerBackend::Hsm,
            reference: SignerRef {
                given: "pkcs11:token=t;object=s?pin-source=file:/p".into(),
                key_id: "pkcs11:token=t;object=s?pin-source=file:/p".into(),
            },
            public_key: secret.public_key(SECP256K1),
        }
    }

    #[test]
    fn round_trips_its_json_form() {
        let r = record();
        let json = serde_json::to_string(&r).unwrap();
        // The form docs/key-bundle.md shows.
        assert!(
            json.starts_with(r#"{"role":"sealing","backend":"hsm","reference":{"given":"pkcs11:"#),
            "{json}"
        );
        assert!(json.contains(r#""public_key":"04"#), "{json}");
        assert_eq!(serde_json::from_str::<RemoteKey>(&json).unwrap(), r);
        assert_eq!(
            r.location(),
            "hsm:pkcs11:token=t;object=s?pin-source=file:/p"
        );
    }

    #[test]
    fn rejects_a_public_key_off_the_curve_or_compressed() {
        let r = record();
        let json = serde_json::to_string(&r).unwrap();
        let hex = hex::encode(r.public_key_bytes());
        let mut off = r.public_key_bytes();
        off[64] ^= 1;
        for bad in [
            hex::encode(off),
            hex::encode(r.public_key.serialize()),
            hex[..128].to_owned(),
            format!("05{}", &hex[2..]),
        ] {
            let edited = json.replace(&hex, &bad);
            assert!(serde_json::from_str::<RemoteKey>(&edited).is_err(), "{bad}");
        }
        let extra = json.replace(r#""role""#, r#""extra":1,"role""#);
        assert!(serde_json::from_str::<RemoteKey>(&extra).is_err());
    }
}
