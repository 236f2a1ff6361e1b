//! geth keystore V3 (Web3 Secret Storage): scrypt or PBKDF2-HMAC-SHA256, AES-128-CTR,
//! `mac = keccak(DK[16..32] ‖ ciphertext)` checked before decrypting; plaintext shorter than 32
//! bytes (legacy keys) is left-padded. Source: `../shared/specs/seal-formats.md` §5.1.

use std::path::Path;

use aes::cipher::{KeyIvInit, StreamCipher};
use secp256k1::SecretKey;
use serde::Deserialize;
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use super::{json_error, kdf_error, read_source, secp_from_bytes};
use crate::{Error, Result};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// Caps on KDF work a file can demand. geth's standard scrypt is N=2^18, r=8 (256 MiB); these
/// allow 4× that and refuse files that would exhaust memory or CPU.
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

#[derive(Deserialize)]
struct KeystoreFile {
    #[serde(alias = "Crypto")]
    crypto: CryptoJson,
    version: u32,
}

#[derive(Deserialize)]
struct CryptoJson {
    cipher: String,
    cipherparams: CipherParams,
    ciphertext: String,
    kdf: String,
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Deserialize)]
struct CipherParams {
    iv: String,
}

#[derive(Deserialize)]
struct ScryptParams {
    dklen: u32,
    n: u64,
    r: u32,
    p: u32,
    salt: String,
}

#[derive(Deserialize)]
struct Pbkdf2Params {
    c: u32,
    dklen: u32,
    prf: String,
    salt: String,
}

/// Decrypts keystore V3 JSON with `password`.
///
/// # Errors
/// [`Error::WrongPassword`] when the MAC does not verify; [`Error::ImportJson`] for JSON that is
/// not keystore V3; [`Error::ImportKdf`] for scrypt parameters scrypt refuses; [`Error::Import`]
/// for other malformed files, unsupported ciphers/KDFs or KDF parameters beyond the caps.
pub fn parse_keystore_v3(json: &[u8], password: &[u8], path: &Path) -> Result<SecretKey> {
    let err = |reason: String| Error::Import {
        path: path.to_path_buf(),
        reason,
    };
    let file: KeystoreFile =
        serde_json::from_slice(json).map_err(json_error(path, "keystore V3 JSON"))?;
    if file.version != 3 {
        return Err(err(format!(
            "keystore version {} is not supported (want 3)",
            file.version
        )));
    }
    let crypto = file.crypto;
    if crypto.cipher != "aes-128-ctr" {
        return Err(err(format!(
            "cipher {:?} is not supported (want aes-128-ctr)",
            crypto.cipher
        )));
    }
    let hex_field =
        |name: &str, value: &str| hex::decode(value).map_err(|_| err(format!("{name} is not hex")));
    let iv: [u8; 16] = hex_field("cipherparams.iv", &crypto.cipherparams.iv)?
        .try_into()
        .map_err(|_| err("cipherparams.iv must be 16 bytes".into()))?;
    let ciphertext = hex_field("ciphertext", &crypto.ciphertext)?;
    if ciphertext.is_empty() || ciphertext.len() > 32 {
        return Err(err(format!(
            "ciphertext of {} bytes cannot hold a private key",
            ciphertext.len()
        )));
    }
    let mac = hex_field("mac", &crypto.mac)?;

    let mut derived = Zeroizing::new([0u8; 32]);
    match crypto.kdf.as_str() {
        "scrypt" => {
            let p: ScryptParams =
                serde_json::from_value(crypto.kdfparams).map_err(json_error(path, "kdfparams"))?;
            check_dklen(p.dklen, path)?;
            if p.n < 2 || !p.n.is_power_of_two() {
                return Err(err("scrypt n must be a power of two ≥ 2".into()));
            }
            if 128u64.saturating_mul(p.n).saturating_mul(u64::from(p.r)) > MAX_SCRYPT_MEMORY {
                return Err(err(
                    "scrypt parameters demand more than 1 GiB of memory".into()
                ));
            }
            let params = scrypt::Params::new(p.n.trailing_zeros() as u8, p.r, p.p)
                .map_err(kdf_error(path, "scrypt"))?;
            let salt = hex_field("kdfparams.salt", &p.salt)?;
            scrypt::scrypt(password, &salt, &params, derived.as_mut())
                .map_err(kdf_error(path, "scrypt"))?;
        }
        "pbkdf2" => {
            let p: Pbkdf2Params =
                serde_json::from_value(crypto.kdfparams).map_err(json_error(path, "kdfparams"))?;
            check_dklen(p.dklen, path)?;
            if p.prf != "hmac-sha256" {
                return Err(err(format!(
                    "pbkdf2 prf {:?} is not supported (want hmac-sha256)",
                    p.prf
                )));
            }
            if p.c == 0 || p.c > MAX_PBKDF2_ROUNDS {
                return Err(err(format!(
                    "pbkdf2 rounds {} outside 1..={MAX_PBKDF2_ROUNDS}",
                    p.c
                )));
            }
            let salt = hex_field("kdfparams.salt", &p.salt)?;
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, p.c, derived.as_mut());
        }
        other => {
            return Err(err(format!(
                "kdf {other:?} is not supported (want scrypt or pbkdf2)"
            )));
        }
    }

    let (cipher_key, mac_key) = derived.split_at(16);
    let computed = Keccak256::new()
        .chain_update(mac_key)
        .chain_update(&ciphertext)
        .finalize();
    if computed.as_slice() != mac.as_slice() {
        return Err(Error::WrongPassword {
            path: path.to_path_buf(),
        });
    }
    let mut plain = Zeroizing::new([0u8; 32]);
    let offset = 32 - ciphertext.len();
    plain[offset..].copy_from_slice(&ciphertext);
    Aes128Ctr::new(cipher_key.into(), (&iv).into()).apply_keystream(&mut plain[offset..]);
    secp_from_bytes(&plain, path)
}

/// Reads and decrypts a keystore V3 file.
///
/// # Errors
/// See [`parse_keystore_v3`]; I/O errors.
pub fn read_keystore_v3(path: &Path, password: &[u8]) -> Result<SecretKey> {
    parse_keystore_v3(&read_source(path)?, password, path)
}

fn check_dklen(dklen: u32, path: &Path) -> Result<()> {
    if dklen == 32 {
        Ok(())
    } else {
        Err(Error::Import {
            path: path.to_path_buf(),
            reason: format!("kdf dklen {dklen} is not supported (want 32)"),
        })
    }
}
