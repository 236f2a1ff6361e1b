//! Tessera / Constellation private-transaction-manager key files.
//!
//! Unlocked: `{"type":"unlocked","data":{"bytes":"<base64 32 B>"}}`. Locked (`argon2sbox`):
//! `k = Argon2(variant, v1.3, password, asalt, t, m, p, 32)`, key = `secretbox_open(sbox, snonce,
//! k)` (XSalsa20-Poly1305). Source: `../shared/specs/seal-formats.md` §5.2.

use std::path::Path;

use base64::Engine as _;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{json_error, kdf_error, read_source};
use crate::{Error, Result};

/// Argon2 memory above this (KiB) is refused: Tessera's default is 1 GiB; allow up to 4 GiB.
const MAX_ARGON2_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ARGON2_ITERATIONS: u32 = 1_000;

/// A PTM private key read from a Tessera file.
pub struct TesseraKey(x25519_dalek::StaticSecret);

impl TesseraKey {
    /// The X25519 public key (Tessera `.pub` content, decoded).
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    pub(crate) fn into_secret(self) -> x25519_dalek::StaticSecret {
        self.0
    }
}

impl std::fmt::Debug for TesseraKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TesseraKey([redacted])")
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct UnlockedData {
    bytes: String,
}

#[derive(Deserialize)]
struct LockedData {
    aopts: ArgonOptions,
    snonce: String,
    asalt: String,
    sbox: String,
}

#[derive(Deserialize)]
struct ArgonOptions {
    variant: String,
    memory: u32,
    iterations: u32,
    parallelism: u32,
    #[serde(default)]
    version: Option<String>,
}

/// Parses a Tessera private key file; `password` is needed for `argon2sbox` files.
///
/// # Errors
/// [`Error::WrongPassword`] when the secretbox does not open; [`Error::ImportJson`] for JSON
/// that is not a Tessera key file; [`Error::ImportKdf`] for argon2 parameters argon2 refuses;
/// [`Error::Import`] otherwise.
pub fn parse_tessera_key(json: &[u8], password: Option<&[u8]>, path: &Path) -> Result<TesseraKey> {
    let err = |reason: String| Error::Import {
        path: path.to_path_buf(),
        reason,
    };
    let file: KeyFile =
        serde_json::from_slice(json).map_err(json_error(path, "Tessera key file JSON"))?;
    let b64 = |name: &str, value: &str, len: usize| -> Result<Zeroizing<Vec<u8>>> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| err(format!("{name} is not base64")))?,
        );
        if bytes.len() != len {
            return Err(err(format!(
                "{name} must be {len} bytes, found {}",
                bytes.len()
            )));
        }
        Ok(bytes)
    };
    let key = match file.kind.as_str() {
        "unlocked" => {
            let data: UnlockedData =
                serde_json::from_value(file.data).map_err(json_error(path, "data"))?;
            b64("data.bytes", &data.bytes, 32)?
        }
        "argon2sbox" => {
            let password = password.ok_or_else(|| {
                err("the key is locked (argon2sbox): pass --password-file".into())
            })?;
            let data: LockedData =
                serde_json::from_value(file.data).map_err(json_error(path, "data"))?;
            let o = &data.aopts;
            if o.version.as_deref().is_some_and(|v| v != "1.3") {
                return Err(err("argon2 version must be 1.3".into()));
            }
            if o.memory > MAX_ARGON2_MEMORY_KIB || o.iterations > MAX_ARGON2_ITERATIONS {
                return Err(err(
                    "argon2 parameters beyond the supported maximum (4 GiB, 1000 iterations)"
                        .into(),
                ));
            }
            let algorithm = match o.variant.as_str() {
                "id" => argon2::Algorithm::Argon2id,
                "i" => argon2::Algorithm::Argon2i,
                "d" => argon2::Algorithm::Argon2d,
                other => return Err(err(format!("argon2 variant {other:?} is not id, i or d"))),
            };
            let params = argon2::Params::new(o.memory, o.iterations, o.parallelism, Some(32))
                .map_err(kdf_error(path, "argon2"))?;
            let salt = b64("asalt", &data.asalt, 32)?;
            let nonce = b64("snonce", &data.snonce, 24)?;
            let sbox = b64("sbox", &data.sbox, 48)?;
            let mut k = Zeroizing::new([0u8; 32]);
            argon2::Argon2::new(algorithm, argon2::Version::V0x13, params)
                .hash_password_into(password, &salt, k.as_mut())
                .map_err(kdf_error(path, "argon2"))?;
            // NaCl secretbox layout: 16-byte Poly1305 tag, then the ciphertext — the same
            // order crypto_secretbox's AEAD expects.
            Zeroizing::new(
                XSalsa20Poly1305::new(k.as_ref().into())
                    .decrypt(nonce.as_slice().into(), sbox.as_slice())
                    .map_err(|_| Error::WrongPassword {
                        path: path.to_path_buf(),
                    })?,
            )
        }
        other => {
            return Err(err(format!(
                "key type {other:?} is not supported (want unlocked or argon2sbox)"
            )));
        }
    };
    let bytes: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| err("key must be 32 bytes".into()))?;
    Ok(TesseraKey(x25519_dalek::StaticSecret::from(bytes)))
}

/// Reads and parses a Tessera private key file.
///
/// # Errors
/// See [`parse_tessera_key`]; I/O errors.
pub fn read_tessera_key(path: &Path, password: Option<&[u8]>) -> Result<TesseraKey> {
    parse_tessera_key(&read_source(path)?, password, path)
}
