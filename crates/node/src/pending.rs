//! The header being sealed, kept in `<datadir>/sealing.rlp` (every engine's sealer).
//!
//! The unsealed header is written (fsynced) before the seal journal records it. After a crash
//! between the journal write and the chain commit, the journal refuses any *other* block at
//! that height (and round); the sealer then seals the recorded header again (same journal
//! hash, so the journal allows it) instead of stalling.

use std::path::{Path, PathBuf};

use cachet_seal::Header;

use crate::error::{Error, Result};

/// The file holding the header being sealed.
pub const SEALING_FILE: &str = "sealing.rlp";

/// `<datadir>/sealing.rlp`.
#[derive(Debug, Clone)]
pub(crate) struct PendingHeader {
    path: PathBuf,
}

impl PendingHeader {
    /// The file in `datadir`.
    pub(crate) fn new(datadir: &Path) -> Self {
        Self {
            path: datadir.join(SEALING_FILE),
        }
    }

    /// The header to seal in place of `header`: the recorded one when it is a child of the
    /// same parent at the same height (the journal may already hold it), else `header`, which
    /// is recorded first.
    ///
    /// # Errors
    /// [`Error::StateWrite`] when the file cannot be written.
    pub(crate) fn take_or_record(&self, header: &Header) -> Result<Header> {
        if let Some(prev) = self.recorded(header) {
            return Ok(prev);
        }
        write_synced(&self.path, &header.encode()).map_err(|source| Error::StateWrite {
            path: self.path.clone(),
            source,
        })?;
        Ok(header.clone())
    }

    fn recorded(&self, header: &Header) -> Option<Header> {
        let bytes = std::fs::read(&self.path).ok()?;
        let prev = Header::decode(&bytes).ok()?;
        (prev.number == header.number && prev.parent_hash == header.parent_hash).then_some(prev)
    }
}

/// Writes `bytes` to `path` atomically and durably (temp file, fsync, rename, fsync dir).
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
