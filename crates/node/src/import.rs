//! `cachet import`: blocks from RLP files (geth's `export`/`import` format: block RLPs one
//! after another) into the chain, each verified exactly as a block from a peer is.

use std::path::Path;

use crate::block;
use crate::chain::{Chain, Imported};
use crate::error::{Error, Result};

/// Largest file read (a few hundred thousand empty blocks; hive's test chains are far smaller).
const MAX_FILE: u64 = 1 << 30;

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Blocks stored (head or side chain).
    pub imported: u64,
    /// Blocks already stored.
    pub known: u64,
}

/// Creates `datadir` when missing and opens its chain store (`chain.redb`) for an import.
///
/// # Errors
/// [`Error::StateWrite`] when the directory cannot be created; store errors.
pub fn open_store(datadir: &Path) -> Result<crate::store::ChainStore> {
    std::fs::create_dir_all(datadir).map_err(|source| Error::StateWrite {
        path: datadir.to_owned(),
        source,
    })?;
    crate::store::ChainStore::open(&datadir.join("chain.redb"))
}

/// Imports every block in `path`, in order, stopping at the first block that fails.
///
/// # Errors
/// [`Error::ReadFile`], [`Error::ImportFile`] for bytes that are not a sequence of block RLPs, and whatever [`Chain::import`] refuses. Blocks before the failing
/// one stay imported.
pub fn import_file(chain: &Chain, path: &Path, report: &mut ImportReport) -> Result<()> {
    let bytes = read_bounded(path)?;
    let mut rest = bytes.as_slice();
    let mut index = 0u64;
    while !rest.is_empty() {
        let (item, tail) = next_item(rest).map_err(|e| Error::ImportFile {
            path: path.to_path_buf(),
            index,
            source: Box::new(e),
        })?;
        rest = tail;
        index += 1;
        let (header, body) = block::split_block(item)?;
        match chain.import(&header, &body)? {
            Imported::Known => report.known += 1,
            Imported::Head | Imported::Side => report.imported += 1,
        }
    }
    Ok(())
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let io = |source| Error::ReadFile {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(Error::Config(format!(
            "{} is larger than {MAX_FILE} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Splits off the first RLP list item (header included), on the one bounded reader.
fn next_item(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    cachet_primitives::block::split_first_list(bytes, "block").map_err(|e| Error::Decode {
        what: "block",
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::next_item;

    #[test]
    fn rejects_truncated_and_non_list_items() {
        assert!(next_item(&[0xc2, 0x80]).is_err());
        assert!(next_item(&[0x82, 0x01, 0x02]).is_err());
        assert!(next_item(&[0xf9]).is_err());
        let (item, rest) = next_item(&[0xc1, 0x80, 0xc0]).unwrap();
        assert_eq!((item, rest), (&[0xc1, 0x80][..], &[0xc0][..]));
    }
}
