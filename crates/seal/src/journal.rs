//! The sealing journal (`<datadir>/seal-journal`): the equivocation guard.
//!
//! One line per seal: `<engine> <height> <round|-> <hash> <check>\n`, where `check` is the first
//! 4 bytes of keccak of the text before it. A record is appended and fsynced before the seal
//! leaves the signer. On open, a torn last line (no newline: a crash mid-append) is cut off;
//! every complete line must parse, or the journal is reported corrupt and nothing is signed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use alloy_primitives::{B256, keccak256};
use cachet_primitives::Engine;

use crate::error::{Error, Result};

/// The journal's file name inside the datadir.
pub const JOURNAL_FILE: &str = "seal-journal";

/// What a journal record is keyed by: engine, height, and the round for BFT engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JournalKey {
    /// The engine.
    pub engine: Engine,
    /// The block height.
    pub height: u64,
    /// The round (IBFT/QBFT only; `None` for clique and raft).
    pub round: Option<u32>,
}

impl JournalKey {
    /// The key for `engine` at `height`/`round`; the round is dropped for clique and raft.
    pub fn new(engine: Engine, height: u64, round: u32) -> Self {
        Self {
            engine,
            height,
            round: engine.has_rounds().then_some(round),
        }
    }
}

/// An open, exclusively locked journal.
#[derive(Debug)]
pub struct SealJournal {
    path: PathBuf,
    file: File,
    records: HashMap<JournalKey, B256>,
    repaired_tail: usize,
}

impl SealJournal {
    /// Opens (creating if needed, mode 0600) and locks `<datadir>/seal-journal`, loading every
    /// record and cutting off a torn last line.
    ///
    /// # Errors
    /// [`Error::JournalLocked`] if another process holds it, [`Error::JournalCorrupt`] for an
    /// unreadable complete line, [`Error::JournalIo`] otherwise.
    pub fn open(datadir: &Path) -> Result<Self> {
        let path = datadir.join(JOURNAL_FILE);
        let io = |op: &'static str| {
            let path = path.clone();
            move |source| Error::JournalIo { path, op, source }
        };
        let mut opts = OpenOptions::new();
        opts.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut file = opts.open(&path).map_err(io("open"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::JournalLocked { path }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock")(e)),
        }
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io("read"))?;
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let repaired_tail = text.len() - complete;
        let mut records = HashMap::new();
        for (i, line) in text
            .get(..complete)
            .unwrap_or_default()
            .split(|b| *b == b'\n')
            .enumerate()
        {
            if line.is_empty() {
                continue;
            }
            let corrupt = |reason: &'static str| Error::JournalCorrupt {
                path: path.clone(),
                line: i + 1,
                reason,
            };
            let line = std::str::from_utf8(line).map_err(|_| corrupt("not utf-8"))?;
            let (key, hash) = parse_line(line).map_err(&corrupt)?;
            if let Some(prev) = records.insert(key, hash)
                && prev != hash
            {
                return Err(corrupt("two different hashes for one height"));
            }
        }
        if repaired_tail > 0 {
            file.set_len(complete as u64)
                .map_err(io("truncate torn tail"))?;
            file.sync_all().map_err(io("fsync"))?;
        }
        Ok(Self {
            path,
            file,
            records,
            repaired_tail,
        })
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of a torn last line cut off when the journal was opened (0 normally).
    pub fn repaired_tail_bytes(&self) -> usize {
        self.repaired_tail
    }

    /// The hash recorded for `key`, if any.
    pub fn get(&self, key: &JournalKey) -> Option<B256> {
        self.records.get(key).copied()
    }

    /// True when `hash` is recorded for `engine` at `height`: at `round` (ignored for clique
    /// and raft), or for a BFT engine at any round (an IBFT 1.0 header carries no round).
    /// The doppelganger check asks this of blocks signed by our key that peers send.
    pub fn holds(&self, engine: Engine, height: u64, round: u32, hash: &B256) -> bool {
        if self.get(&JournalKey::new(engine, height, round)) == Some(*hash) {
            return true;
        }
        // Only reached for a block we did not record at its own round: rare, so a scan.
        engine.has_rounds()
            && self
                .records
                .iter()
                .any(|(k, h)| k.engine == engine && k.height == height && h == hash)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when nothing has been sealed.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Records that `hash` is sealed at `key`, durably, before returning. Re-recording the same
    /// hash is a no-op.
    ///
    /// # Errors
    /// [`Error::Equivocation`] when a different hash is recorded at `key`; [`Error::JournalIo`].
    pub fn record(&mut self, key: JournalKey, hash: B256) -> Result<()> {
        if let Some(signed) = self.get(&key) {
            if signed == hash {
                return Ok(());
            }
            return Err(Error::Equivocation {
                engine: key.engine.name(),
                height: key.height,
                round: key.round,
                signed,
                requested: hash,
            });
        }
        let line = format_line(&key, &hash);
        let path = &self.path;
        let io = |op: &'static str| {
            move |source| Error::JournalIo {
                path: path.clone(),
                op,
                source,
            }
        };
        self.file.write_all(line.as_bytes()).map_err(io("append"))?;
        self.file.sync_data().map_err(io("fsync"))?;
        self.records.insert(key, hash);
        Ok(())
    }
}

fn body(key: &JournalKey, hash: &B256) -> String {
    let round = key.round.map_or_else(|| "-".to_string(), |r| r.to_string());
    format!("{} {} {} {}", key.engine.name(), key.height, round, hash)
}

fn check(body: &str) -> String {
    hex::encode(keccak256(body.as_bytes()).get(..4).unwrap_or_default())
}

fn format_line(key: &JournalKey, hash: &B256) -> String {
    let b = body(key, hash);
    let c = check(&b);
    format!("{b} {c}\n")
}

fn parse_line(line: &str) -> Result<(JournalKey, B256), &'static str> {
    let (b, c) = line.rsplit_once(' ').ok_or("missing checksum")?;
    if check(b) != c {
        return Err("checksum mismatch");
    }
    let mut parts = b.split(' ');
    let engine: Engine = parts
        .next()
        .ok_or("missing engine")?
        .parse()
        .map_err(|_| "unknown engine")?;
    let height: u64 = parts
        .next()
        .ok_or("missing height")?
        .parse()
        .map_err(|_| "bad height")?;
    let round = match parts.next().ok_or("missing round")? {
        "-" => None,
        r => Some(r.parse::<u32>().map_err(|_| "bad round")?),
    };
    let hash: B256 = parts
        .next()
        .ok_or("missing hash")?
        .parse()
        .map_err(|_| "bad hash")?;
    if parts.next().is_some() {
        return Err("too many fields");
    }
    if round.is_some() != engine.has_rounds() {
        return Err("round present for a roundless engine or missing for a bft engine");
    }
    Ok((
        JournalKey {
            engine,
            height,
            round,
        },
        hash,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> B256 {
        B256::repeat_byte(b)
    }

    #[test]
    fn rejects_a_different_hash_at_the_same_height_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = JournalKey::new(Engine::Clique, 5, 9);
        {
            let mut j = SealJournal::open(dir.path()).unwrap();
            j.record(key, h(1)).unwrap();
            j.record(key, h(1)).unwrap();
            assert!(matches!(
                j.record(key, h(2)),
                Err(Error::Equivocation { .. })
            ));
        }
        let mut j = SealJournal::open(dir.path()).unwrap();
        assert_eq!(j.len(), 1);
        assert!(matches!(
            j.record(JournalKey::new(Engine::Clique, 5, 0), h(2)),
            Err(Error::Equivocation { .. })
        ));
        j.record(key, h(1)).unwrap();
        // BFT: another round at the same height is a different key.
        j.record(JournalKey::new(Engine::Qbft, 5, 0), h(3)).unwrap();
        j.record(JournalKey::new(Engine::Qbft, 5, 1), h(4)).unwrap();
        assert!(
            j.holds(Engine::Clique, 5, 7, &h(1)),
            "clique ignores the round"
        );
        assert!(!j.holds(Engine::Clique, 5, 0, &h(2)));
        assert!(!j.holds(Engine::Clique, 6, 0, &h(1)));
        assert!(j.holds(Engine::Qbft, 5, 1, &h(4)));
        assert!(
            j.holds(Engine::Qbft, 5, 9, &h(3)),
            "a bft hash at any round"
        );
        assert!(!j.holds(Engine::Ibft2, 5, 0, &h(3)), "another engine");
        assert!(!j.holds(Engine::Qbft, 5, 0, &h(1)));
        assert!(matches!(
            j.record(JournalKey::new(Engine::Qbft, 5, 1), h(3)),
            Err(Error::Equivocation { .. })
        ));
    }

    #[test]
    fn accepts_and_repairs_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let key = JournalKey::new(Engine::Raft, 1, 0);
        SealJournal::open(dir.path())
            .unwrap()
            .record(key, h(1))
            .unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let full = std::fs::read(&path).unwrap();
        let torn = format_line(&JournalKey::new(Engine::Raft, 2, 0), &h(2));
        for cut in 1..torn.len() {
            let mut bytes = full.clone();
            bytes.extend_from_slice(&torn.as_bytes()[..cut]);
            std::fs::write(&path, &bytes).unwrap();
            let mut j = SealJournal::open(dir.path()).unwrap();
            assert_eq!(j.repaired_tail_bytes(), cut);
            assert_eq!(j.get(&key), Some(h(1)));
            assert_eq!(j.get(&JournalKey::new(Engine::Raft, 2, 0)), None);
            j.record(JournalKey::new(Engine::Raft, 2, 0), h(3)).unwrap();
            drop(j);
            assert_eq!(SealJournal::open(dir.path()).unwrap().len(), 2);
            std::fs::write(&path, &full).unwrap();
        }
    }

    #[test]
    fn rejects_a_corrupt_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        let mut line = format_line(&JournalKey::new(Engine::Clique, 1, 0), &h(1));
        line.replace_range(7..8, "2");
        std::fs::write(&path, line).unwrap();
        let err = SealJournal::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, Error::JournalCorrupt { line: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_second_open_while_locked() {
        let dir = tempfile::tempdir().unwrap();
        let _j = SealJournal::open(dir.path()).unwrap();
        assert!(matches!(
            SealJournal::open(dir.path()),
            Err(Error::JournalLocked { .. })
        ));
    }
}
