//! geth `nodekey` and Besu `key` files.
//!
//! geth (crypto.LoadECDSA): exactly 64 hex chars, no `0x`, then at most two bytes from {CR, LF}.
//! Besu (KeyPairUtil.loadPrivateKey): one line, `0x` optional, a trailing newline allowed.
//! Sources: `../shared/specs/seal-formats.md` §4 and `testdata/vectors/nodekey.json`.

use std::path::Path;

use secp256k1::SecretKey;
use zeroize::Zeroizing;

use super::{read_source, secp_from_bytes};
use crate::{Error, Result};

/// Parses geth `nodekey` file bytes.
///
/// # Errors
/// [`Error::Import`] with geth's reason (too short, too long, invalid character).
pub fn parse_geth_nodekey(bytes: &[u8], path: &Path) -> Result<SecretKey> {
    let err = |reason: String| Error::Import {
        path: path.to_path_buf(),
        reason,
    };
    let (hex_part, tail) = bytes.split_at(bytes.len().min(64));
    if hex_part.len() < 64 || hex_part.iter().any(|b| matches!(b, b'\r' | b'\n')) {
        return Err(err("key file too short, want 64 hex characters".into()));
    }
    if let Some(bad) = tail.iter().find(|b| !matches!(b, b'\r' | b'\n')) {
        return Err(err(format!(
            "invalid character {:?} at end of key file",
            char::from(*bad)
        )));
    }
    if tail.len() > 2 {
        return Err(err("key file too long, want 64 hex characters".into()));
    }
    if hex_part.starts_with(b"0x") {
        return Err(err(
            "geth nodekey files have no 0x prefix (use --import-besu-key for Besu files)".into(),
        ));
    }
    decode_hex32(hex_part, path)
}

/// Parses Besu `key` file bytes.
///
/// # Errors
/// [`Error::Import`] when the line is not 32 bytes of hex.
pub fn parse_besu_key(bytes: &[u8], path: &Path) -> Result<SecretKey> {
    let line = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.contains(&b'\n') {
        return Err(Error::Import {
            path: path.to_path_buf(),
            reason: "expected a single line".into(),
        });
    }
    let hex_part = line.strip_prefix(b"0x").unwrap_or(line);
    decode_hex32(hex_part, path)
}

/// Reads and parses a geth `nodekey` file.
///
/// # Errors
/// See [`parse_geth_nodekey`]; I/O errors.
pub fn read_geth_nodekey(path: &Path) -> Result<SecretKey> {
    parse_geth_nodekey(&read_source(path)?, path)
}

/// Reads and parses a Besu `key` file.
///
/// # Errors
/// See [`parse_besu_key`]; I/O errors.
pub fn read_besu_key(path: &Path) -> Result<SecretKey> {
    parse_besu_key(&read_source(path)?, path)
}

fn decode_hex32(hex_part: &[u8], path: &Path) -> Result<SecretKey> {
    let mut key = Zeroizing::new([0u8; 32]);
    if hex_part.len() != 64 {
        return Err(Error::Import {
            path: path.to_path_buf(),
            reason: format!("want 64 hex characters, found {}", hex_part.len()),
        });
    }
    hex::decode_to_slice(hex_part, key.as_mut()).map_err(|e| Error::Import {
        path: path.to_path_buf(),
        reason: match e {
            hex::FromHexError::InvalidHexCharacter { c, .. } => {
                format!("invalid hex character {c:?} in private key")
            }
            _ => "invalid hex in private key".into(),
        },
    })?;
    secp_from_bytes(&key, path)
}
