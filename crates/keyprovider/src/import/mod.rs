//! One-time migration of keys from an existing node's files (geth, Besu, keystore V3, Tessera).
//!
//! Each parser reads a file the operator points at and returns the key in zeroizing memory.
//! After `init` seals the keys, the operator is told which plaintext files remain and may
//! have them shredded (`--shred-source`).

mod keystore;
mod nodekey;
mod tessera;

use std::path::{Path, PathBuf};

use secp256k1::SecretKey;
use serde::Serialize;
use zeroize::Zeroizing;

pub use keystore::{parse_keystore_v3, read_keystore_v3};
pub use nodekey::{parse_besu_key, parse_geth_nodekey, read_besu_key, read_geth_nodekey};
pub use tessera::{TesseraKey, parse_tessera_key, read_tessera_key};

use crate::keys::KeySecrets;
use crate::{Error, Result, SealingKeyMode};

/// Largest import file read; real ones are < 1 KiB.
const MAX_IMPORT_FILE: u64 = 64 * 1024;

/// An imported plaintext source file, as the audit log and the CLI report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportSource {
    /// `node`, `sealer`, `wallet` or `ptm`.
    pub role: &'static str,
    /// `geth-nodekey`, `raw-hex`, `besu-key`, `keystore-v3`, `tessera`.
    pub format: &'static str,
    /// The file.
    pub path: PathBuf,
}

impl ImportSource {
    /// True unless the source is known not to be a regular file: a pipe such as
    /// `<(printf …)` or a terminal leaves nothing on disk to shred or warn about. A path that
    /// cannot be examined counts as on disk, so that shredding reports the error.
    pub fn is_on_disk(&self) -> bool {
        std::fs::metadata(&self.path).map_or(true, |m| m.is_file())
    }
}

/// Keys taken from existing files; any key not imported is generated at `init`.
#[derive(Default)]
pub struct ImportedKeys {
    node: Option<SecretKey>,
    sealer: Option<SecretKey>,
    wallet: Option<SecretKey>,
    ptm: Option<x25519_dalek::StaticSecret>,
    sources: Vec<ImportSource>,
}

impl ImportedKeys {
    /// Nothing imported: every key is generated.
    pub fn none() -> Self {
        Self::default()
    }

    /// Uses a geth `nodekey` or Besu `key` file's key as the node key.
    pub fn set_node(&mut self, key: SecretKey, format: &'static str, path: &Path) {
        self.node = Some(key);
        self.sources.push(ImportSource {
            role: "node",
            format,
            path: path.to_path_buf(),
        });
    }

    /// Uses a keystore key as the clique sealing key.
    pub fn set_sealer(&mut self, key: SecretKey, format: &'static str, path: &Path) {
        self.sealer = Some(key);
        self.sources.push(ImportSource {
            role: "sealer",
            format,
            path: path.to_path_buf(),
        });
    }

    /// Uses a keystore key as the wallet account.
    pub fn set_wallet(&mut self, key: SecretKey, format: &'static str, path: &Path) {
        self.wallet = Some(key);
        self.sources.push(ImportSource {
            role: "wallet",
            format,
            path: path.to_path_buf(),
        });
    }

    /// Uses a Tessera key as the PTM keypair.
    pub fn set_ptm(&mut self, key: TesseraKey, path: &Path) {
        self.ptm = Some(key.into_secret());
        self.sources.push(ImportSource {
            role: "ptm",
            format: "tessera",
            path: path.to_path_buf(),
        });
    }

    /// The plaintext files imported so far.
    pub fn sources(&self) -> &[ImportSource] {
        &self.sources
    }

    /// Fills in generated keys for whatever was not imported.
    pub(crate) fn into_secrets(mut self, mode: SealingKeyMode) -> (KeySecrets, Vec<ImportSource>) {
        let mut generated = KeySecrets::generate(mode);
        if let Some(node) = self.node.take() {
            generated.node = node;
        }
        match mode {
            // An imported sealer with mode `node` is refused by the CLI; keep the node key.
            SealingKeyMode::Node => generated.sealer = None,
            SealingKeyMode::Separate => {
                if let Some(sealer) = self.sealer.take() {
                    generated.sealer = Some(sealer);
                }
            }
        }
        if let Some(wallet) = self.wallet.take() {
            generated.wallet = Some(wallet);
        }
        if let Some(ptm) = self.ptm.take() {
            generated.ptm = ptm;
        }
        (generated, std::mem::take(&mut self.sources))
    }
}

impl Drop for ImportedKeys {
    fn drop(&mut self) {
        for key in [&mut self.node, &mut self.sealer, &mut self.wallet]
            .into_iter()
            .flatten()
        {
            key.non_secure_erase();
        }
    }
}

impl std::fmt::Debug for ImportedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedKeys")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

/// Shreds the plaintext source files of an import (overwrite in place, fsync, unlink).
///
/// # Errors
/// I/O errors; files already shredded before the error stay shredded.
pub fn shred_sources(sources: &[ImportSource]) -> Result<()> {
    for source in sources.iter().filter(|s| s.is_on_disk()) {
        crate::datadir::shred(&source.path)?;
    }
    Ok(())
}

/// Reads an import file into zeroizing memory, capped in size.
pub(crate) fn read_source(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_IMPORT_FILE as usize));
    file.take(MAX_IMPORT_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_IMPORT_FILE {
        return Err(Error::Import {
            path: path.to_path_buf(),
            reason: "file is larger than any key file".into(),
        });
    }
    Ok(bytes)
}

/// Maps a JSON error in `what` of the import file `path`.
pub(crate) fn json_error(path: &Path, what: &'static str) -> impl Fn(serde_json::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::ImportJson {
        path: path.clone(),
        what,
        source,
    }
}

/// Maps a key-derivation error (bad parameters) of the import file `path`.
pub(crate) fn kdf_error<E>(path: &Path, kdf: &'static str) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let path = path.to_path_buf();
    move |e| Error::ImportKdf {
        path,
        kdf,
        source: Box::new(e),
    }
}

/// A secp256k1 key from 32 bytes, with the import file named in the error.
pub(crate) fn secp_from_bytes(bytes: &[u8; 32], path: &Path) -> Result<SecretKey> {
    SecretKey::from_byte_array(bytes).map_err(|_| Error::Import {
        path: path.to_path_buf(),
        reason: "not a valid secp256k1 private key (zero or not below the curve order)".into(),
    })
}
