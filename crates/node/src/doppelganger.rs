//! The doppelganger check: two nodes sealing with one key (a copied datadir or bundle) is how
//! a PoA network equivocates, and the seal journal cannot see the other copy's seals. So a
//! node that seals listens first: for `--doppelganger-periods` block periods it seals nothing
//! and watches every block peers send; one signed by its own sealing key that its seal journal
//! did not record means another node holds the key, and the node stops sealing and exits
//! ([`crate::Error::Doppelganger`], exit 15). After the window the watch goes on: such a block
//! arriving later stops the node the same way.
//!
//! - [`Watch`] (the sync side) recovers the signers of each header a peer sends (every
//!   engine's seals: [`crate::consensus::ChainRules::signers`]) and passes those signed by our
//!   address to the producer. Blocks read from our own chain store are never looked at, nor
//!   blocks stamped before the check was armed: those are history (a node migrated from
//!   GoQuorum syncs the blocks its key sealed under the old client), and a copy that is still
//!   running seals again, after that time.
//! - [`Guard`] (the producer side, [`crate::produce::run`]) holds the window and asks the
//!   producer's journal ([`crate::consensus::BlockProducer::sealed_here`]) about each one: the
//!   producer owns the journal (it is locked to one opener), and a block it sealed is recorded
//!   there before the seal leaves it, so our own blocks echoed back by peers, and our earlier
//!   blocks after a restart, pass.
//! - The QBFT driver ([`crate::qbft::Driver::with_doppelganger`]) holds the [`Guard`] instead of
//!   the producer loop on a multi-validator QBFT chain: it listens the same window before its
//!   first signature and judges blocks carrying our committed seal by its own journal
//!   (`Guard::judge_by`; decisions 470–472), and the PRE-PREPAREs, PREPAREs and COMMITs signed
//!   by our key that peers relay (`Guard::report_message`; decision 533).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy_primitives::{Address, B256};
use cachet_seal::{Engine, Header};
use tokio::sync::{mpsc, oneshot};

use crate::chain::{Chain, decode_header};
use crate::consensus::BlockProducer;

/// `--doppelganger-periods` when not given: two block periods (clique, BFT; raft: two of its
/// periods, see [`crate::consensus::BlockProducer::block_period`]).
pub const DEFAULT_PERIODS: u32 = 2;

/// Blocks signed by our key waiting for the producer's verdict; more are dropped (the next
/// block from the same doppelganger is caught instead).
const QUEUE: usize = 1024;

/// A block signed by our key that a peer sent.
#[derive(Debug, Clone)]
struct Suspect {
    header: Header,
    peer: String,
}

/// What the check found: a block, or a QBFT message, signed by our key that this node did not
/// sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doppelganger {
    /// What was signed: a block, or a consensus message.
    pub what: Evidence,
    /// The block number (for a message, its height).
    pub number: u64,
    /// The block hash (the engine's); for a message, the digest it signs.
    pub hash: B256,
    /// Our sealing address, which signed it.
    pub signer: Address,
    /// The peer that sent it.
    pub peer: String,
}

/// What a doppelganger was caught signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// A block (its seal, or a QBFT committed seal in it).
    Block,
    /// A QBFT PRE-PREPARE, PREPARE or COMMIT (`kind`) at `round` of the height, which may
    /// never reach a block (decision 533).
    Message {
        /// The message's name.
        kind: &'static str,
        /// Its round.
        round: u32,
    },
}

impl Doppelganger {
    /// "block 7", or "PREPARE for height 7 round 0", for messages.
    pub fn subject(&self) -> String {
        match self.what {
            Evidence::Block => format!("block {}", self.number),
            Evidence::Message { kind, round } => {
                format!("{kind} for height {} round {round}", self.number)
            }
        }
    }
}

/// The sync side: looks at headers peers send.
#[derive(Debug, Clone)]
pub struct Watch {
    chain: Arc<Chain>,
    address: Address,
    /// Unix seconds when the check was armed: blocks stamped earlier are not judged.
    since: u64,
    suspects: mpsc::Sender<Suspect>,
}

impl Watch {
    /// Looks at a header `peer` sent (RLP, as received): when our key signed it, the producer
    /// checks it against its journal. Undecodable headers are the importer's business.
    pub fn inspect(&self, peer: &impl std::fmt::Display, header_rlp: &[u8]) {
        let Ok(header) = decode_header(header_rlp) else {
            return;
        };
        if block_secs(self.chain.engine(), header.timestamp) < self.since {
            return;
        }
        if !self.chain.rules().signers(&header).contains(&self.address) {
            return;
        }
        let suspect = Suspect {
            header,
            peer: peer.to_string(),
        };
        if self.suspects.try_send(suspect).is_err() {
            tracing::warn!(target: "cachet::doppelganger", "too many blocks signed by our key waiting for the check; dropping one");
        }
    }
}

/// A block timestamp in Unix seconds (Quorum Raft stamps blocks in nanoseconds).
fn block_secs(engine: Engine, timestamp: u64) -> u64 {
    if engine == Engine::Raft {
        timestamp / 1_000_000_000
    } else {
        timestamp
    }
}

/// The producer side: the listening window and the verdicts.
#[derive(Debug)]
pub struct Guard {
    periods: u32,
    address: Address,
    chain: Arc<Chain>,
    suspects: mpsc::Receiver<Suspect>,
    found: Mutex<Option<oneshot::Sender<Doppelganger>>>,
}

/// Arms the check for the producer sealing as `address` on `chain`, listening `periods` block
/// periods before the first seal: the [`Watch`] for sync, the [`Guard`] for the producer loop,
/// and where the node learns of a doppelganger.
pub fn arm(
    chain: Arc<Chain>,
    address: Address,
    periods: u32,
) -> (Watch, Guard, oneshot::Receiver<Doppelganger>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (found_tx, found_rx) = oneshot::channel();
    (
        Watch {
            chain: chain.clone(),
            address,
            since: crate::block::now_secs(),
            suspects: tx,
        },
        Guard {
            periods,
            address,
            chain,
            suspects: rx,
            found: Mutex::new(Some(found_tx)),
        },
        found_rx,
    )
}

impl Guard {
    /// How long to listen before the first seal: `periods` of the producer's block period.
    pub fn window(&self, producer: &dyn BlockProducer) -> Duration {
        self.window_of(producer.block_period())
    }

    /// How long to listen before the first signature when a block period lasts `period`
    /// (the QBFT driver: its genesis `blockperiodseconds`, at least a second).
    pub fn window_of(&self, period: Duration) -> Duration {
        period.saturating_mul(self.periods)
    }

    /// The next block signed by our key that a peer sent; pending forever once sync is gone.
    pub(crate) async fn next(&mut self) -> SuspectBlock {
        match self.suspects.recv().await {
            Some(s) => SuspectBlock(s),
            None => std::future::pending().await,
        }
    }

    /// Judges `suspect` by `producer`'s journal: `true` (and the node told) when this node did
    /// not seal it. A block whose journal hash cannot be computed is judged not ours: our key
    /// signed it, and this node never seals such a block.
    pub(crate) fn judge(&self, producer: &dyn BlockProducer, suspect: &SuspectBlock) -> bool {
        self.judge_by(producer.sealed_here(&suspect.0.header), suspect)
    }

    /// Judges `suspect` by what the signer's journal answered (`sealed_here`, see
    /// [`Self::judge`]): the QBFT driver asks its own journal, which it holds locked.
    pub(crate) fn judge_by(
        &self,
        sealed_here: crate::Result<bool>,
        suspect: &SuspectBlock,
    ) -> bool {
        let header = &suspect.0.header;
        if sealed_here.unwrap_or(false) {
            tracing::debug!(target: "cachet::doppelganger", number = header.number, peer = %suspect.0.peer, "our own block, back from a peer");
            return false;
        }
        let found = Doppelganger {
            what: Evidence::Block,
            number: header.number,
            hash: self
                .chain
                .rules()
                .hash(header)
                .unwrap_or_else(|_| header.hash_slow()),
            signer: self.address,
            peer: suspect.0.peer.clone(),
        };
        self.report(found);
        true
    }

    /// Reports a QBFT message signed by our key at (`height`, `round`) over `digest` that the
    /// driver's journal does not hold (the driver judged it: decision 533).
    pub(crate) fn report_message(
        &self,
        kind: &'static str,
        height: u64,
        round: u32,
        digest: B256,
        peer: String,
    ) {
        self.report(Doppelganger {
            what: Evidence::Message { kind, round },
            number: height,
            hash: digest,
            signer: self.address,
            peer,
        });
    }

    /// Logs `found` and tells the node (once: the first finding stops it).
    fn report(&self, found: Doppelganger) {
        tracing::error!(target: "cachet::doppelganger", what = %found.subject(), hash = %found.hash,
            signer = %found.signer, peer = %found.peer,
            "doppelganger: signed by our key, not by this node; sealing stopped");
        let sender = self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(tx) = sender {
            let _ = tx.send(found);
        }
    }
}

/// A block signed by our key, waiting for [`Guard::judge`].
#[derive(Debug)]
pub(crate) struct SuspectBlock(Suspect);

impl SuspectBlock {
    /// The block's header.
    pub(crate) const fn header(&self) -> &Header {
        &self.0.header
    }
}

/// The next suspect block from `guard`; pending forever without one.
pub(crate) async fn next_suspect(guard: &mut Option<Guard>) -> SuspectBlock {
    match guard.as_mut() {
        Some(g) => g.next().await,
        None => std::future::pending().await,
    }
}
