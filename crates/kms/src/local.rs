//! `local:PATH`: a 32-byte master key in a file, for devnets and tests.
//!
//! Wrapped data key layout (72 bytes):
//! `b"CKL1" ‖ key_fingerprint(8) ‖ nonce(12) ‖ AES-256-GCM(data key)(32) ‖ tag(16)`, with
//! associated data `b"cachet-local-wrap-v1" ‖ context.canonical_bytes()`. The fingerprint lets a
//! wrong master key fail as [`Error::WrongMasterKey`] (AWS `IncorrectKeyException`) rather than
//! as a corrupt ciphertext.
//!
//! Decrypting re-reads the key file each time, so deleting or replacing it revokes access the
//! way an IAM change revokes an AWS key (the lease relies on this).

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use cachet_primitives::fs::{Existing, SECRET_MODE, write_atomic};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{
    CallRecord, DataKey, EncryptionContext, Error, GeneratedDataKey, MasterKey, MasterKeyRef,
    Result, Unwrapped, WrappedDataKey,
};

const MAGIC: &[u8; 4] = b"CKL1";
const AAD_LABEL: &[u8] = b"cachet-local-wrap-v1";
const FINGERPRINT_LABEL: &[u8] = b"cachet-local-master-key-id\0";
const WRAPPED_LEN: usize = 4 + 8 + 12 + 32 + 16;

/// A master key kept in a local file (mode 0600, outside the data directory).
pub struct LocalMasterKey {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    fingerprint: [u8; 8],
}

impl LocalMasterKey {
    /// Creates a new random key file at `path` (mode 0600) and opens it.
    ///
    /// The file appears complete or not at all, and never replaces an existing one
    /// ([`cachet_primitives::fs::write_atomic`] with [`Existing::Refuse`]).
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] when `path` exists; [`Error::Io`] on file-system failures.
    pub fn create(path: &Path) -> Result<Self> {
        let path = absolute(path)?;
        if path.symlink_metadata().is_ok() {
            return Err(Error::AlreadyExists { path });
        }
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        write_atomic(&path, key.as_ref(), SECRET_MODE, Existing::Refuse).map_err(|e| {
            if e.already_exists() {
                Error::AlreadyExists { path: path.clone() }
            } else {
                e.into()
            }
        })?;
        Ok(Self::from_parts(path, key))
    }

    /// Opens an existing key file.
    ///
    /// # Errors
    /// [`Error::InsecurePermissions`] when group or others may read it, [`Error::BadKeyFile`] when
    /// it is not exactly 32 bytes, [`Error::KeyNotFound`] when it does not exist.
    pub fn open(path: &Path) -> Result<Self> {
        let path = absolute(path)?;
        let meta = match fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::KeyNotFound {
                    key: format!("local:{}", path.display()),
                    source: Some(Box::new(e)),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    action: "stat",
                    path,
                    source,
                });
            }
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecurePermissions { path, mode });
        }
        if !meta.is_file() {
            return Err(Error::BadKeyFile {
                path,
                reason: "not a regular file",
            });
        }
        if meta.len() != 32 {
            return Err(Error::BadKeyFile {
                path,
                reason: "expected exactly 32 bytes",
            });
        }
        let mut key = Zeroizing::new([0u8; 32]);
        File::open(&path)
            .and_then(|mut f| f.read_exact(key.as_mut()))
            .map_err(|source| Error::Io {
                action: "read",
                path: path.clone(),
                source,
            })?;
        Ok(Self::from_parts(path, key))
    }

    /// The key file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn from_parts(path: PathBuf, key: Zeroizing<[u8; 32]>) -> Self {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_LABEL)
            .chain_update(key.as_ref())
            .finalize();
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&digest[..8]);
        Self {
            path,
            key,
            fingerprint,
        }
    }

    fn key_id(&self) -> String {
        format!("local-sha256:{}", hex::encode(self.fingerprint))
    }

    fn display_ref(&self) -> String {
        format!("local:{}", self.path.display())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.as_ref().into())
    }

    fn record(&self, operation: &'static str, started: Instant) -> CallRecord {
        CallRecord {
            operation,
            key_id: self.key_id(),
            request_id: None,
            latency: started.elapsed(),
            attempts: 1,
        }
    }

    fn wrap(&self, plaintext: &DataKey, context: &EncryptionContext) -> Result<WrappedDataKey> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = [AAD_LABEL, &context.canonical_bytes()].concat();
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.expose_secret(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Internal("AES-GCM encryption of a 32-byte key failed"))?;
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.fingerprint);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(WrappedDataKey::from_bytes(out))
    }

    fn unwrap(&self, wrapped: &WrappedDataKey, context: &EncryptionContext) -> Result<DataKey> {
        let invalid = || Error::InvalidCiphertext {
            key: self.display_ref(),
            source: None,
        };
        let bytes = wrapped.as_bytes();
        if bytes.len() != WRAPPED_LEN || !bytes.starts_with(MAGIC) {
            return Err(invalid());
        }
        let (fingerprint, rest) = bytes[4..].split_at(8);
        if fingerprint != self.fingerprint {
            return Err(Error::WrongMasterKey {
                key: self.display_ref(),
            });
        }
        let (nonce, sealed) = rest.split_at(12);
        let aad = [AAD_LABEL, &context.canonical_bytes()].concat();
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| invalid())?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&plain);
        Ok(DataKey::from_bytes(key))
    }
}

impl std::fmt::Debug for LocalMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalMasterKey")
            .field("path", &self.path)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MasterKey for LocalMasterKey {
    fn reference(&self) -> MasterKeyRef {
        MasterKeyRef {
            given: self.display_ref(),
            key_id: self.key_id(),
        }
    }

    async fn generate_data_key(&self, context: &EncryptionContext) -> Result<GeneratedDataKey> {
        let started = Instant::now();
        let plaintext = DataKey::generate();
        let wrapped = self.wrap(&plaintext, context)?;
        Ok(GeneratedDataKey {
            plaintext,
            wrapped,
            call: self.record("GenerateDataKey", started),
        })
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &WrappedDataKey,
        context: &EncryptionContext,
    ) -> Result<Unwrapped> {
        let started = Instant::now();
        // Every decrypt re-reads the key file, as every KMS call re-checks access: deleting or
        // replacing the file revokes this key, and a running node's lease notices.
        let current = Self::open(&self.path)?;
        if current.fingerprint != self.fingerprint {
            return Err(Error::WrongMasterKey {
                key: self.display_ref(),
            });
        }
        let plaintext = current.unwrap(wrapped, context)?;
        Ok(Unwrapped {
            plaintext,
            call: self.record("Decrypt", started),
        })
    }

    async fn wrap_data_key(
        &self,
        plaintext: &DataKey,
        context: &EncryptionContext,
    ) -> Result<(WrappedDataKey, CallRecord)> {
        let started = Instant::now();
        let wrapped = self.wrap(plaintext, context)?;
        Ok((wrapped, self.record("Encrypt", started)))
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|source| Error::Io {
        action: "resolve",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(node: &str) -> EncryptionContext {
        EncryptionContext::new()
            .with("cachet:purpose", "key-bundle")
            .with("cachet:node", node)
    }

    #[tokio::test]
    async fn round_trips_a_data_key() {
        let dir = tempfile::tempdir().unwrap();
        let mk = LocalMasterKey::create(&dir.path().join("mk")).unwrap();
        let generated = mk.generate_data_key(&ctx("a")).await.unwrap();
        let back = mk
            .decrypt_data_key(&generated.wrapped, &ctx("a"))
            .await
            .unwrap();
        assert_eq!(
            back.plaintext.expose_secret(),
            generated.plaintext.expose_secret()
        );
        assert_eq!(generated.wrapped.as_bytes().len(), WRAPPED_LEN);
    }

    #[tokio::test]
    async fn rejects_another_context_as_kms_does() {
        let dir = tempfile::tempdir().unwrap();
        let mk = LocalMasterKey::create(&dir.path().join("mk")).unwrap();
        let generated = mk.generate_data_key(&ctx("a")).await.unwrap();
        for other in [
            ctx("b"),
            ctx("a").with("extra", "1"),
            EncryptionContext::new(),
        ] {
            let err = mk
                .decrypt_data_key(&generated.wrapped, &other)
                .await
                .unwrap_err();
            assert!(matches!(err, Error::InvalidCiphertext { .. }), "{err}");
        }
    }

    #[tokio::test]
    async fn rejects_another_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalMasterKey::create(&dir.path().join("a")).unwrap();
        let b = LocalMasterKey::create(&dir.path().join("b")).unwrap();
        let generated = a.generate_data_key(&ctx("a")).await.unwrap();
        let err = b
            .decrypt_data_key(&generated.wrapped, &ctx("a"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WrongMasterKey { .. }), "{err}");
    }

    #[tokio::test]
    async fn rejects_every_single_byte_flip() {
        let dir = tempfile::tempdir().unwrap();
        let mk = LocalMasterKey::create(&dir.path().join("mk")).unwrap();
        let generated = mk.generate_data_key(&ctx("a")).await.unwrap();
        for i in 0..WRAPPED_LEN {
            let mut bytes = generated.wrapped.as_bytes().to_vec();
            bytes[i] ^= 0x01;
            let err = mk
                .decrypt_data_key(&WrappedDataKey::from_bytes(bytes), &ctx("a"))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidCiphertext { .. } | Error::WrongMasterKey { .. }
                ),
                "byte {i}: {err}"
            );
        }
    }

    #[test]
    fn create_refuses_to_overwrite_and_sets_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mk");
        LocalMasterKey::create(&path).unwrap();
        let before = fs::read(&path).unwrap();
        assert!(matches!(
            LocalMasterKey::create(&path),
            Err(Error::AlreadyExists { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), before);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // Nothing else left in the directory (no temp file).
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn open_refuses_group_readable_and_wrong_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mk");
        LocalMasterKey::create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            LocalMasterKey::open(&path),
            Err(Error::InsecurePermissions { mode: 0o640, .. })
        ));
        let short = dir.path().join("short");
        fs::write(&short, [0u8; 31]).unwrap();
        fs::set_permissions(&short, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(
            LocalMasterKey::open(&short),
            Err(Error::BadKeyFile { .. })
        ));
        assert!(matches!(
            LocalMasterKey::open(&dir.path().join("missing")),
            Err(Error::KeyNotFound { .. })
        ));
    }

    #[test]
    fn reopened_key_has_the_same_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mk");
        let created = LocalMasterKey::create(&path).unwrap();
        let opened = LocalMasterKey::open(&path).unwrap();
        assert_eq!(created.reference(), opened.reference());
        assert!(opened.reference().key_id.starts_with("local-sha256:"));
    }
}
