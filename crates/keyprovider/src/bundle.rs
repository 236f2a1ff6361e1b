//! The key bundle file format, v1 (`docs/key-bundle.md` documents it byte by byte).
//!
//! ```text
//! magic "CACHETKB" (8) ‖ version u16 = 1
//! ‖ u32 len ‖ identity header (JSON)        ← with magic, version and len: AES-GCM associated data
//! ‖ u32 len ‖ master-key section (JSON)     ← reference + wrapped data key; authenticated by the master key
//! ‖ nonce (12) ‖ u32 len ‖ AES-256-GCM(key set) ‖ tag (16)
//! ‖ SHA-256 of everything before (32)       ← corruption check, not authentication
//! ```
//! Every byte of the file is untrusted input: the parser reads through a bounded cursor and
//! never indexes, unwraps or panics.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use cachet_kms::{EncryptionContext, MasterKeyRef, WrappedDataKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, PublicIdentities, Result};

/// File magic.
pub(crate) const MAGIC: &[u8; 8] = b"CACHETKB";
/// The only format version this build reads and writes.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Caps on section sizes. A real header is < 1 KiB, an AWS ciphertext blob < 512 B and the
/// sealed key set 146 B; the caps bound what a damaged file can make us allocate.
const MAX_HEADER: usize = 64 * 1024;
const MAX_MASTER_SECTION: usize = 16 * 1024;
const MAX_SEALED: usize = 4 * 1024;
/// Largest bundle file accepted before parsing.
pub(crate) const MAX_FILE: u64 =
    (8 + 2 + 4 + MAX_HEADER + 4 + MAX_MASTER_SECTION + 12 + 4 + MAX_SEALED + 32) as u64;

/// The authenticated identity header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleHeader {
    /// Format version, repeated inside the authenticated JSON.
    pub format: u16,
    /// The encryption context the data key is bound to.
    pub encryption_context: EncryptionContext,
    /// Public identities of the sealed keys.
    pub identities: PublicIdentities,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
}

/// The master-key section: which key wraps the data key, and the wrapped key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKeySection {
    /// The master key reference (as given, and the pinned key id).
    pub master_key: MasterKeyRef,
    /// The data key, wrapped by the master key under the encryption context.
    pub wrapped_data_key: WrappedDataKey,
}

/// A parsed bundle (public parts and ciphertext; nothing secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The identity header.
    pub header: BundleHeader,
    /// The exact header bytes as stored (they are the associated data).
    header_bytes: Vec<u8>,
    /// The master-key section.
    pub master: MasterKeySection,
    /// The exact master-section bytes as stored.
    master_bytes: Vec<u8>,
    /// AES-GCM nonce.
    pub nonce: [u8; 12],
    /// AES-GCM ciphertext and tag of the key set.
    pub sealed: Vec<u8>,
}

impl Bundle {
    /// Assembles a bundle; the header is serialised once here and kept verbatim.
    pub(crate) fn new(
        header: BundleHeader,
        master: MasterKeySection,
        nonce: [u8; 12],
        sealed: Vec<u8>,
    ) -> Result<Self> {
        let header_bytes = serde_json::to_vec(&header)
            .map_err(|_| Error::Internal("bundle header does not serialise"))?;
        let master_bytes = encode_master(&master)?;
        Ok(Self {
            header,
            header_bytes,
            master,
            master_bytes,
            nonce,
            sealed,
        })
    }

    /// Associated data for the key-set AEAD: magic, version, header length and header bytes.
    pub(crate) fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(14 + self.header_bytes.len());
        aad.extend_from_slice(MAGIC);
        aad.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        aad.extend_from_slice(&(self.header_bytes.len() as u32).to_be_bytes());
        aad.extend_from_slice(&self.header_bytes);
        aad
    }

    /// Returns the bundle with a new master-key section (rotation); the header stays verbatim.
    pub(crate) fn with_master(mut self, master: MasterKeySection) -> Result<Self> {
        self.master_bytes = encode_master(&master)?;
        self.master = master;
        Ok(self)
    }

    /// Replaces the header, as an attacker editing the file would (checksum recomputed by
    /// [`Self::encode`]); for tests of tamper detection.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn with_header_for_tests(mut self, header: BundleHeader) -> Result<Self> {
        self.header_bytes = serde_json::to_vec(&header)
            .map_err(|_| Error::Internal("bundle header does not serialise"))?;
        self.header = header;
        Ok(self)
    }

    /// Serialises the bundle, checksum included.
    ///
    /// # Errors
    /// [`Error::Internal`] only.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = self.associated_data();
        out.extend_from_slice(&(self.master_bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.master_bytes);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&(self.sealed.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.sealed);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Parses bundle bytes read from `path` (used in error messages).
    ///
    /// # Errors
    /// [`Error::CorruptBundle`] naming the field that is wrong.
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self> {
        let corrupt = |field: &'static str, reason: &str| Error::CorruptBundle {
            path: path.to_path_buf(),
            field,
            reason: reason.to_owned(),
        };
        let (body, checksum) = bytes
            .split_last_chunk::<32>()
            .ok_or_else(|| corrupt("file", "too short to be a key bundle"))?;
        if body.get(..8) != Some(&MAGIC[..]) {
            return Err(corrupt("magic", "not a cachet key bundle"));
        }
        if Sha256::digest(body).as_slice() != checksum {
            return Err(corrupt(
                "checksum",
                "the file is damaged (SHA-256 mismatch); restore it from a backup",
            ));
        }
        let mut r = Reader { rest: body, path };
        r.take(8, "magic")?;
        let version = u16::from_be_bytes(r.array("version")?);
        if version != FORMAT_VERSION {
            return Err(corrupt(
                "version",
                &format!(
                    "format version {version} is not supported (this cachet reads version {FORMAT_VERSION})"
                ),
            ));
        }
        let header_bytes = r.sized(MAX_HEADER, "header")?.to_vec();
        let header: BundleHeader =
            serde_json::from_slice(&header_bytes).map_err(|source| Error::BundleJson {
                path: path.to_path_buf(),
                field: "header",
                source,
            })?;
        if header.format != FORMAT_VERSION {
            return Err(corrupt("header.format", "does not match the file version"));
        }
        let master_bytes = r.sized(MAX_MASTER_SECTION, "master_key")?.to_vec();
        let master: MasterKeySection =
            serde_json::from_slice(&master_bytes).map_err(|source| Error::BundleJson {
                path: path.to_path_buf(),
                field: "master_key",
                source,
            })?;
        let nonce = r.array("nonce")?;
        let sealed = r.sized(MAX_SEALED, "sealed_keys")?.to_vec();
        if !r.rest.is_empty() {
            return Err(corrupt("file", "trailing bytes after the sealed keys"));
        }
        Ok(Self {
            header,
            header_bytes,
            master,
            master_bytes,
            nonce,
            sealed,
        })
    }
}

fn encode_master(master: &MasterKeySection) -> Result<Vec<u8>> {
    serde_json::to_vec(master).map_err(|_| Error::Internal("master-key section does not serialise"))
}

/// A bounded cursor over the file bytes.
struct Reader<'a> {
    rest: &'a [u8],
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn err(&self, field: &'static str, reason: &str) -> Error {
        Error::CorruptBundle {
            path: self.path.to_path_buf(),
            field,
            reason: reason.to_owned(),
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        if n > self.rest.len() {
            return Err(self.err(field, "truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let bytes = self.take(N, field)?;
        bytes.try_into().map_err(|_| self.err(field, "truncated"))
    }

    /// A u32 length prefix (capped at `max`) and that many bytes.
    fn sized(&mut self, max: usize, field: &'static str) -> Result<&'a [u8]> {
        let len = u32::from_be_bytes(self.array(field)?) as usize;
        if len > max {
            return Err(self.err(
                field,
                &format!("length {len} exceeds the cap of {max} bytes"),
            ));
        }
        self.take(len, field)
    }
}

/// `<datadir>/keys.cachet`.
pub(crate) fn bundle_path(datadir: &Path) -> PathBuf {
    datadir.join("keys.cachet")
}

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for `cargo fuzz` and the corpus regression test.

    use std::path::Path;

    /// Decodes arbitrary bytes as a bundle; must never panic, and re-encoding a bundle that
    /// decoded must reproduce the input.
    pub fn decode_bundle(data: &[u8]) {
        if let Ok(bundle) = super::Bundle::decode(data, Path::new("fuzz"))
            && let Ok(encoded) = bundle.encode()
        {
            assert_eq!(encoded, data, "decode-encode must round trip");
        }
    }
}
