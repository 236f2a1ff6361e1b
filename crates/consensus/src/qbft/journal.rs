//! The equivocation guard the state machine signs through, and the bounded buffer for messages
//! of future heights.

use std::collections::{BTreeMap, VecDeque};

use alloy_primitives::B256;

use super::message::{Block, Message, Prepare, Signed};

/// A prepared certificate: the block this validator prepared at `round`, and the quorum of
/// PREPAREs that prepared it. Reported in ROUND-CHANGEs; must survive a restart (the lock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedCertificate {
    /// The round it was prepared in.
    pub round: u32,
    /// The block.
    pub block: Block,
    /// The PREPAREs (a quorum, distinct validators).
    pub prepares: Vec<Signed<Prepare>>,
}

/// Why the journal refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A different digest is already recorded for (height, round): signing would equivocate.
    #[error(
        "qbft journal: refusing to sign {attempted} at height {height} round {round}: {recorded} is already signed there"
    )]
    Equivocation {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The digest on record.
        recorded: B256,
        /// The digest refused.
        attempted: B256,
    },
    /// The record could not be made durable; nothing may be signed.
    #[error("qbft journal: {0}")]
    Storage(String),
}

/// Durable record of what this validator committed to, consulted **before** signing.
///
/// One record per (height, round) covers the PRE-PREPARE, PREPARE, commit seal and COMMIT of
/// that round, which all carry the same digest; a different digest at the same key is refused,
/// across restarts. The node backs this with the seal journal (fsync before the signature leaves).
pub trait Journal {
    /// Records `digest` at (height, round), or succeeds if that exact digest is already there.
    ///
    /// # Errors
    /// [`JournalError::Equivocation`] for a different digest; [`JournalError::Storage`].
    fn record(&mut self, height: u64, round: u32, digest: B256) -> Result<(), JournalError>;

    /// Persists the latest prepared certificate of `height` (before the COMMIT is sent).
    ///
    /// # Errors
    /// [`JournalError::Storage`].
    fn save_prepared(
        &mut self,
        height: u64,
        cert: &PreparedCertificate,
    ) -> Result<(), JournalError>;

    /// The prepared certificate saved for `height`, if any (read at start).
    fn prepared(&self, height: u64) -> Option<PreparedCertificate>;
}

/// An in-memory [`Journal`] (tests, simulations). Not durable.
#[derive(Debug, Default, Clone)]
pub struct MemoryJournal {
    records: BTreeMap<(u64, u32), B256>,
    prepared: BTreeMap<u64, PreparedCertificate>,
}

impl Journal for MemoryJournal {
    fn record(&mut self, height: u64, round: u32, digest: B256) -> Result<(), JournalError> {
        match self.records.get(&(height, round)) {
            Some(d) if *d == digest => Ok(()),
            Some(d) => Err(JournalError::Equivocation {
                height,
                round,
                recorded: *d,
                attempted: digest,
            }),
            None => {
                self.records.insert((height, round), digest);
                Ok(())
            }
        }
    }

    fn save_prepared(
        &mut self,
        height: u64,
        cert: &PreparedCertificate,
    ) -> Result<(), JournalError> {
        self.prepared.insert(height, cert.clone());
        Ok(())
    }

    fn prepared(&self, height: u64) -> Option<PreparedCertificate> {
        self.prepared.get(&height).cloned()
    }
}

/// Heights ahead of the current one a [`Backlog`] keeps (Besu's `futuremessagesmaxdistance`).
pub const BACKLOG_MAX_DISTANCE: u64 = 10;
/// Messages a [`Backlog`] keeps in total (Besu's `futuremessageslimit`).
pub const BACKLOG_LIMIT: usize = 1000;

/// Messages for heights above the current one, replayed when the node gets there. Bounded: at
/// most [`BACKLOG_MAX_DISTANCE`] heights ahead and [`BACKLOG_LIMIT`] messages, evicting the
/// highest height first (Besu's `FutureMessageBuffer`), so a peer cannot grow it without limit.
///
/// Generic over the message ([`Viewed`]): QBFT's by default, legacy IBFT's for its driver.
#[derive(Debug, Clone)]
pub struct Backlog<M = Message> {
    by_height: BTreeMap<u64, VecDeque<M>>,
    len: usize,
}

impl<M> Default for Backlog<M> {
    fn default() -> Self {
        Self {
            by_height: BTreeMap::new(),
            len: 0,
        }
    }
}

/// A consensus message's (height, round).
pub trait Viewed {
    /// (height, round).
    fn view(&self) -> (u64, u32);
}

impl Viewed for Message {
    fn view(&self) -> (u64, u32) {
        Self::view(self)
    }
}

impl Viewed for crate::ibft::Message {
    fn view(&self) -> (u64, u32) {
        Self::view(self)
    }
}

impl<M: Viewed> Backlog<M> {
    /// Keeps `msg` (of height `msg.view().0`) if it is within reach of `current`.
    pub fn push(&mut self, current: u64, msg: M) {
        let h = msg.view().0;
        if h <= current || h > current.saturating_add(BACKLOG_MAX_DISTANCE) {
            return;
        }
        if self.len >= BACKLOG_LIMIT {
            let Some(mut top) = self.by_height.last_entry() else {
                return;
            };
            if *top.key() < h {
                return;
            }
            top.get_mut().pop_back();
            self.len -= 1;
            if top.get().is_empty() {
                top.remove();
            }
        }
        self.by_height.entry(h).or_default().push_back(msg);
        self.len += 1;
    }

    /// Removes and returns the messages of `height`, dropping those of lower heights.
    pub fn take(&mut self, height: u64) -> Vec<M> {
        let mut keep = self.by_height.split_off(&height);
        let out = keep.remove(&height).map(Vec::from).unwrap_or_default();
        self.by_height = keep;
        self.len = self.by_height.values().map(VecDeque::len).sum();
        out
    }

    /// Messages held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The file next to the seal journal holding the latest prepared certificate.
pub const PREPARED_FILE: &str = "qbft-prepared";

/// The node's durable [`Journal`]: digests go to the seal journal (`<datadir>/seal-journal`,
/// fsynced before the signature leaves, key (qbft, height, round)); the prepared certificate is
/// replaced atomically in `<datadir>/qbft-prepared` as RLP `[height, round, block, [prepare…]]`.
#[derive(Debug)]
pub struct FileJournal {
    seal: cachet_seal::SealJournal,
    /// The engine the seal journal's keys name ([`FileJournal::open_for`]).
    engine: cachet_primitives::Engine,
    path: std::path::PathBuf,
    prepared: Option<(u64, PreparedCertificate)>,
}

impl FileJournal {
    /// Opens (creating) both files in `datadir`.
    ///
    /// # Errors
    /// [`JournalError::Storage`] when a file cannot be opened or the certificate file does not
    /// decode (a node must not sign without knowing what it prepared).
    pub fn open(datadir: &std::path::Path) -> Result<Self, JournalError> {
        Self::open_for(datadir, cachet_primitives::Engine::Qbft)
    }

    /// As [`FileJournal::open`], recording digests under `engine`'s keys in the seal journal
    /// (a legacy IBFT validator: [`cachet_primitives::Engine::Ibft`], the key its single-validator
    /// sealer uses).
    ///
    /// # Errors
    /// As [`FileJournal::open`].
    pub fn open_for(
        datadir: &std::path::Path,
        engine: cachet_primitives::Engine,
    ) -> Result<Self, JournalError> {
        let seal = cachet_seal::SealJournal::open(datadir)
            .map_err(|e| JournalError::Storage(e.to_string()))?;
        let path = datadir.join(PREPARED_FILE);
        let prepared = match std::fs::read(&path) {
            Ok(bytes) => Some(
                decode_prepared(&bytes)
                    .map_err(|e| JournalError::Storage(format!("{}: {e}", path.display())))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(JournalError::Storage(format!("{}: {e}", path.display()))),
        };
        Ok(Self {
            seal,
            engine,
            path,
            prepared,
        })
    }

    /// True when `digest` is recorded at `height`, at `round` or any other round: this
    /// validator signed for that block (the doppelganger check asks it of blocks carrying our
    /// committed seal that peers send).
    pub fn holds(&self, height: u64, round: u32, digest: &B256) -> bool {
        self.seal.holds(self.engine, height, round, digest)
    }
}

fn encode_prepared(height: u64, cert: &PreparedCertificate) -> Vec<u8> {
    use cachet_primitives::rlp;
    let mut p = Vec::new();
    rlp::put_u64(&mut p, height);
    rlp::put_u64(&mut p, u64::from(cert.round));
    p.extend_from_slice(cert.block.rlp());
    let mut list = Vec::new();
    for s in &cert.prepares {
        s.put(&mut list);
    }
    rlp::put_list(&mut p, &list);
    rlp::list(&p)
}

fn decode_prepared(bytes: &[u8]) -> Result<(u64, PreparedCertificate), super::MessageError> {
    let mut l = cachet_primitives::rlp::single_list(bytes, "qbft prepared certificate")?;
    let height = l.u64("qbft prepared certificate height")?;
    let round = u32::try_from(l.u64("qbft prepared certificate round")?).map_err(|_| {
        super::MessageError::RoundTooLarge {
            what: "prepared certificate round",
            round: u64::MAX,
        }
    })?;
    // An IBFT node saves its locked block here too (`ibft::State`, decision 543).
    let raw = l.raw("qbft prepared certificate block")?;
    let block = Block::decode(raw).or_else(|_| Block::decode_ibft(raw))?;
    let mut list = l.list("qbft prepared certificate prepares")?;
    let mut prepares = Vec::new();
    while !list.is_empty() {
        prepares.push(Signed::read(
            &mut list,
            "qbft prepared certificate prepare",
        )?);
    }
    l.finish("qbft prepared certificate")?;
    Ok((
        height,
        PreparedCertificate {
            round,
            block,
            prepares,
        },
    ))
}

impl Journal for FileJournal {
    fn record(&mut self, height: u64, round: u32, digest: B256) -> Result<(), JournalError> {
        let key = cachet_seal::JournalKey::new(self.engine, height, round);
        self.seal.record(key, digest).map_err(|e| match e {
            cachet_seal::Error::Equivocation { signed, .. } => JournalError::Equivocation {
                height,
                round,
                recorded: signed,
                attempted: digest,
            },
            other => JournalError::Storage(other.to_string()),
        })
    }

    fn save_prepared(
        &mut self,
        height: u64,
        cert: &PreparedCertificate,
    ) -> Result<(), JournalError> {
        cachet_primitives::fs::write_atomic(
            &self.path,
            &encode_prepared(height, cert),
            0o600,
            cachet_primitives::fs::Existing::Replace,
        )
        .map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            JournalError::Storage(format!("{e}: {cause}"))
        })?;
        self.prepared = Some((height, cert.clone()));
        Ok(())
    }

    fn prepared(&self, height: u64) -> Option<PreparedCertificate> {
        self.prepared
            .as_ref()
            .filter(|(h, _)| *h == height)
            .map(|(_, c)| c.clone())
    }
}
