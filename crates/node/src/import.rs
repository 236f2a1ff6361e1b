//! `cachet import`: blocks from RLP files (geth's `export`/`import` format: block RLPs one
//! after another) into the chain, each verified exactly as a block from a peer is.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::block;
use crate::chain::{Chain, SegmentReport};
use crate::error::{Error, Result};

/// Largest file read (a few hundred thousand empty blocks; hive's test chains are far smaller).
const MAX_FILE: u64 = 1 << 30;

/// Blocks per durable segment: one flush per this many blocks (a crash loses at most the
/// segment being imported; the store keeps the last flushed head and its state).
pub const SEGMENT: usize = 2048;

/// How often a progress line is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(8);

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Blocks stored (head or side chain).
    pub imported: u64,
    /// Blocks already stored.
    pub known: u64,
    /// Transactions executed.
    pub transactions: u64,
    /// Gas used by the imported blocks.
    pub gas: u64,
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
    let mut progress = Progress::new();
    while !rest.is_empty() {
        let mut segment = Vec::with_capacity(SEGMENT.min(1024));
        // A block that does not decode ends the file: the ones before it are imported first.
        let mut unreadable = None;
        while segment.len() < SEGMENT && !rest.is_empty() {
            let parsed =
                next_item(rest).and_then(|(item, tail)| Ok((block::split_block(item)?, tail)));
            match parsed {
                Ok((parts, tail)) => {
                    segment.push(parts);
                    rest = tail;
                    index += 1;
                }
                Err(e) => {
                    unreadable = Some(Error::ImportFile {
                        path: path.to_path_buf(),
                        index,
                        source: Box::new(e),
                    });
                    rest = &[];
                }
            }
        }
        let mut done = SegmentReport::default();
        let outcome = chain
            .import_segment(
                segment.iter().map(|(h, b)| (h.as_slice(), b.as_slice())),
                &mut done,
            )
            .and(unreadable.map_or(Ok(()), Err));
        report.imported += done.imported;
        report.known += done.known;
        report.transactions += done.transactions;
        report.gas += done.gas;
        progress.add(chain, &done, rest.is_empty() || outcome.is_err());
        outcome?;
    }
    Ok(())
}

/// Logs "imported new chain segment" lines (blocks, transactions, Mgas, Mgas/s) as geth does,
/// at most every [`PROGRESS_EVERY`] and once at the end.
struct Progress {
    since: Instant,
    blocks: u64,
    transactions: u64,
    gas: u64,
}

impl Progress {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            blocks: 0,
            transactions: 0,
            gas: 0,
        }
    }

    fn add(&mut self, chain: &Chain, done: &SegmentReport, last: bool) {
        self.blocks += done.imported;
        self.transactions += done.transactions;
        self.gas += done.gas;
        let elapsed = self.since.elapsed();
        if self.blocks == 0 || !(last || elapsed >= PROGRESS_EVERY) {
            return;
        }
        let head = chain.head();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mgas = self.gas as f64 / 1e6;
        tracing::info!(
            target: "cachet::import",
            blocks = self.blocks,
            txs = self.transactions,
            mgas = format_args!("{mgas:.3}"),
            elapsed = format_args!("{secs:.3}s"),
            mgasps = format_args!("{:.3}", mgas / secs),
            number = head.header.number,
            hash = %head.hash,
            "imported new chain segment"
        );
        *self = Self::new();
    }
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
