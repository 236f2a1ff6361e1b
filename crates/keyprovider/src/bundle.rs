//! The key bundle file format, v2 (and v1, still read); `docs/key-bundle.md` documents both
//! byte by byte.
//!
//! ```text
//! v2: magic "CACHETKB" (8) ‖ version u16 = 2
//!     ‖ u32 len ‖ identity header (JSON)      ← with magic, version and len: AES-GCM associated data
//!     ‖ u8 N (1..=4) ‖ N × (u32 len ‖ slot (JSON))  ← a master key + the data key wrapped by it;
//!                                                  each authenticated by its own master key
//!     ‖ nonce (12) ‖ u32 len ‖ AES-256-GCM(key set) ‖ tag (16)
//!     ‖ SHA-256 of everything before (32)     ← corruption check, not authentication
//! v1: as v2 with version 1 and one slot without the count byte (the "master-key section").
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

use crate::remote_key::RemoteKey;
use crate::{Error, PublicIdentities, Result};

/// File magic.
pub(crate) const MAGIC: &[u8; 8] = b"CACHETKB";
/// The format version this build writes.
pub(crate) const FORMAT_VERSION: u16 = 2;
/// The first format: one master key, still read (and upgraded by `rotate`).
pub(crate) const FORMAT_V1: u16 = 1;
/// Most master keys (slots) a bundle holds: a primary and break-glass keys. Unlock tries them
/// in order, so the cap also bounds the calls a failing unlock makes.
pub const MAX_SLOTS: usize = 4;
/// Caps on section sizes. A real header is < 1 KiB, an AWS ciphertext blob < 512 B and the
/// sealed key set 146 B; the caps bound what a damaged file can make us allocate.
const MAX_HEADER: usize = 64 * 1024;
const MAX_MASTER_SECTION: usize = 16 * 1024;
const MAX_SEALED: usize = 4 * 1024;
/// Largest bundle file accepted before parsing.
pub(crate) const MAX_FILE: u64 =
    (8 + 2 + 4 + MAX_HEADER + 1 + MAX_SLOTS * (4 + MAX_MASTER_SECTION) + 12 + 4 + MAX_SEALED + 32)
        as u64;

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
    /// The keys an HSM or KMS holds, at most one per role (absent when the bundle holds every
    /// key, and in every bundle older than this field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_keys: Vec<RemoteKey>,
}

/// One master-key slot (v1: the master-key section): which key wraps the data key, and the
/// wrapped key. Every slot wraps the same data key under the same encryption context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterKeySection {
    /// The master key reference (as given, and the pinned key id).
    pub master_key: MasterKeyRef,
    /// The data key, wrapped by the master key under the encryption context.
    pub wrapped_data_key: WrappedDataKey,
}

/// A slot with the exact bytes it was read from (re-encoded verbatim).
#[derive(Clone, Debug, PartialEq, Eq)]
struct StoredSlot {
    section: MasterKeySection,
    bytes: Vec<u8>,
}

impl StoredSlot {
    fn new(section: MasterKeySection) -> Result<Self> {
        let bytes = serde_json::to_vec(&section)
            .map_err(|_| Error::Internal("master-key slot does not serialise"))?;
        Ok(Self { section, bytes })
    }
}

/// A parsed bundle (public parts and ciphertext; nothing secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The identity header.
    pub header: BundleHeader,
    /// The exact header bytes as stored (they are the associated data).
    header_bytes: Vec<u8>,
    /// The file's format version (1 or 2).
    version: u16,
    /// The master-key slots, in unlock order (exactly one in v1).
    slots: Vec<StoredSlot>,
    /// AES-GCM nonce.
    pub nonce: [u8; 12],
    /// AES-GCM ciphertext and tag of the key set.
    pub sealed: Vec<u8>,
}

impl Bundle {
    /// Assembles a bundle of the current format; the header is serialised once here and kept
    /// verbatim.
    pub(crate) fn new(
        header: BundleHeader,
        slots: Vec<MasterKeySection>,
        nonce: [u8; 12],
        sealed: Vec<u8>,
    ) -> Result<Self> {
        let header_bytes = serde_json::to_vec(&header)
            .map_err(|_| Error::Internal("bundle header does not serialise"))?;
        Self {
            header,
            header_bytes,
            version: FORMAT_VERSION,
            slots: Vec::new(),
            nonce,
            sealed,
        }
        .with_slots(slots)
    }

    /// The file's format version.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The master-key slots in unlock order.
    pub fn slots(&self) -> impl ExactSizeIterator<Item = &MasterKeySection> {
        self.slots.iter().map(|s| &s.section)
    }

    /// Slot `index`.
    pub fn slot(&self, index: usize) -> Option<&MasterKeySection> {
        self.slots.get(index).map(|s| &s.section)
    }

    /// Associated data for the key-set AEAD: magic, version, header length and header bytes.
    pub(crate) fn associated_data(&self) -> Vec<u8> {
        let mut aad = Vec::with_capacity(14 + self.header_bytes.len());
        aad.extend_from_slice(MAGIC);
        aad.extend_from_slice(&self.version.to_be_bytes());
        aad.extend_from_slice(&(self.header_bytes.len() as u32).to_be_bytes());
        aad.extend_from_slice(&self.header_bytes);
        aad
    }

    /// Returns the bundle with new master-key slots (rotation); the header, the version and
    /// the sealed keys stay verbatim.
    ///
    /// # Errors
    /// [`Error::Internal`] for no slot, more than [`MAX_SLOTS`], one key twice, or more than
    /// one slot in a v1 bundle: the callers check these first and say why.
    pub(crate) fn with_slots(mut self, slots: Vec<MasterKeySection>) -> Result<Self> {
        if slots.is_empty() || slots.len() > MAX_SLOTS {
            return Err(Error::Internal("a bundle holds 1 to 4 master keys"));
        }
        if self.version == FORMAT_V1 && slots.len() != 1 {
            return Err(Error::Internal("a v1 bundle holds exactly one master key"));
        }
        if has_duplicate_key(slots.iter()) {
            return Err(Error::Internal("a master key appears in two slots"));
        }
        self.slots = slots
            .into_iter()
            .map(StoredSlot::new)
            .collect::<Result<_>>()?;
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

    /// Replaces slot `index`, as an attacker editing the file would (checksum recomputed by
    /// [`Self::encode`]); for tests of tamper detection.
    #[cfg(any(test, feature = "test-utils"))]
    pub fn with_slot_for_tests(mut self, index: usize, section: MasterKeySection) -> Result<Self> {
        let slot = self
            .slots
            .get_mut(index)
            .ok_or(Error::Internal("no such slot"))?;
        *slot = StoredSlot::new(section)?;
        Ok(self)
    }

    /// Serialises the bundle in its own version, checksum included.
    ///
    /// # Errors
    /// [`Error::Internal`] only.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = self.associated_data();
        if self.version != FORMAT_V1 {
            let count = u8::try_from(self.slots.len())
                .map_err(|_| Error::Internal("too many master-key slots"))?;
            out.push(count);
        }
        for slot in &self.slots {
            out.extend_from_slice(&(slot.bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&slot.bytes);
        }
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&(self.sealed.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.sealed);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Parses bundle bytes (format v1 or v2) read from `path` (used in error messages).
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
        if version != FORMAT_V1 && version != FORMAT_VERSION {
            return Err(corrupt(
                "version",
                &format!(
                    "format version {version} is not supported (this cachet reads versions {FORMAT_V1} and {FORMAT_VERSION})"
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
        if header.format != version {
            return Err(corrupt("header.format", "does not match the file version"));
        }
        let mut roles = std::collections::HashSet::new();
        if !header.remote_keys.iter().all(|r| roles.insert(r.role)) {
            return Err(corrupt(
                "header.remote_keys",
                "one key role is recorded twice",
            ));
        }
        let count = if version == FORMAT_V1 {
            1
        } else {
            let [count] = r.array::<1>("slot_count")?;
            let count = usize::from(count);
            if count == 0 || count > MAX_SLOTS {
                return Err(corrupt(
                    "slot_count",
                    &format!("{count} master keys; a bundle holds 1 to {MAX_SLOTS}"),
                ));
            }
            count
        };
        let field = if version == FORMAT_V1 {
            "master_key"
        } else {
            "slot"
        };
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count {
            let bytes = r.sized(MAX_MASTER_SECTION, field)?.to_vec();
            let section: MasterKeySection =
                serde_json::from_slice(&bytes).map_err(|source| Error::BundleJson {
                    path: path.to_path_buf(),
                    field,
                    source,
                })?;
            slots.push(StoredSlot { section, bytes });
        }
        if has_duplicate_key(slots.iter().map(|s| &s.section)) {
            return Err(corrupt("slot", "one master key appears in two slots"));
        }
        let nonce = r.array("nonce")?;
        let sealed = r.sized(MAX_SEALED, "sealed_keys")?.to_vec();
        if !r.rest.is_empty() {
            return Err(corrupt("file", "trailing bytes after the sealed keys"));
        }
        Ok(Self {
            header,
            header_bytes,
            version,
            slots,
            nonce,
            sealed,
        })
    }
}

fn has_duplicate_key<'a>(slots: impl Iterator<Item = &'a MasterKeySection>) -> bool {
    let mut seen = std::collections::HashSet::new();
    slots
        .into_iter()
        .any(|s| !seen.insert(s.master_key.key_id.as_str()))
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

    /// As [`decode_bundle`] for `body` followed by its correct checksum: random bytes almost
    /// never pass the checksum, so this is how a fuzzer reaches the sections behind it.
    pub fn decode_bundle_body(body: &[u8]) {
        use sha2::Digest;
        let mut data = body.to_vec();
        data.extend_from_slice(&sha2::Sha256::digest(body));
        decode_bundle(&data);
    }
}

#[cfg(test)]
mod tests {
    /// `docs/key-bundle.md` states this cap.
    #[test]
    fn the_file_cap_is_the_documented_one() {
        assert_eq!(super::MAX_FILE, 135_247);
    }
}
