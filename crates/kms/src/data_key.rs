//! The plaintext data key (secret) and its wrapped form (public).

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A plaintext 256-bit data key. Zeroized on drop; never printed, cloned or serialised.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Wraps key bytes the caller obtained from a CSPRNG or a master key.
    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(bytes)
    }

    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, bytes.as_mut());
        Self(bytes)
    }

    /// The key bytes.
    ///
    /// # Security
    /// The caller must not copy the bytes into memory that outlives this value unzeroized.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// A data key encrypted by a master key: ciphertext, safe to store and log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WrappedDataKey(#[serde(with = "hex_bytes")] Vec<u8>);

impl WrappedDataKey {
    /// Wraps ciphertext bytes as returned by a master key.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The ciphertext bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WrappedDataKey({} bytes)", self.0.len())
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = DataKey::from_bytes(Zeroizing::new([0xab; 32]));
        let shown = format!("{key:?}");
        assert_eq!(shown, "DataKey([redacted])");
        assert!(!shown.contains("ab"));
    }
}
