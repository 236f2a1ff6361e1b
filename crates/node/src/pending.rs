//! The block being sealed, kept in `<datadir>/sealing.rlp` (every engine's sealer).
//!
//! The unsealed block (`[header, txs, ommers(, withdrawals)]`, the block RLP) is written
//! (fsynced) before the seal journal records it. After a crash between the journal write and
//! the chain commit, the journal refuses any *other* block at that height (and round); the
//! sealer then seals the recorded block again (same journal hash, so the journal allows it)
//! instead of stalling. A file holding only a header (written before blocks had transactions)
//! is read as that header with an empty body.

use std::path::{Path, PathBuf};

use cachet_primitives::fs::{Existing, write_atomic};
use cachet_seal::Header;

use crate::block::EMPTY_BODY_RLP;
use crate::error::{Error, Result};

/// The file holding the block being sealed.
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

    /// The block to seal in place of (`header`, `body_rlp`): the recorded one when it is a
    /// child of the same parent at the same height (the journal may already hold it), else
    /// the given one, which is recorded first.
    ///
    /// # Errors
    /// [`Error::StateWrite`] when the file cannot be written, [`Error::Decode`] when
    /// `body_rlp` is not one RLP list.
    pub(crate) fn take_or_record(
        &self,
        header: &Header,
        body_rlp: &[u8],
    ) -> Result<(Header, Vec<u8>)> {
        if let Some(prev) = self.recorded(header) {
            return Ok(prev);
        }
        let block = crate::block::block_rlp(&header.encode(), body_rlp)?;
        // Private to the node's user, like the rest of the datadir.
        write_atomic(&self.path, &block, 0o600, Existing::Replace).map_err(|e| {
            Error::StateWrite {
                path: self.path.clone(),
                source: e.into_parts().2,
            }
        })?;
        Ok((header.clone(), body_rlp.to_vec()))
    }

    fn recorded(&self, header: &Header) -> Option<(Header, Vec<u8>)> {
        let bytes = std::fs::read(&self.path).ok()?;
        let (prev, body) = match crate::block::split_block(&bytes) {
            Ok((header_rlp, body)) => (Header::decode(&header_rlp).ok()?, body),
            Err(_) => (Header::decode(&bytes).ok()?, EMPTY_BODY_RLP.to_vec()),
        };
        (prev.number == header.number && prev.parent_hash == header.parent_hash)
            .then_some((prev, body))
    }
}
