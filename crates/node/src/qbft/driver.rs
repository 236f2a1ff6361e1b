//! [`Driver`]: runs a BFT state machine (QBFT, or legacy IBFT: [`super::engine`]) height after
//! height for one validator, carrying out what it asks (broadcast, round timer, build a block,
//! import the committed block).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256, keccak256};
use cachet_consensus::qbft::{
    Backlog, Block, Env, FileJournal, Input, Output, SignError, Signer, Viewed,
};
use cachet_devp2p::net::PeerId;
use cachet_keyprovider::SigningKey;
use cachet_seal::Header;
use tokio::sync::{mpsc, watch};
use tokio::time::Sleep;

use super::check::{ChainCheck, HeightPlan, NotRun};
use super::engine::{BftEngine, Qbft};
use crate::block;
use crate::chain::{Chain, HeadInfo};
use crate::clique::Proposals;
use crate::consensus_net::{ConsensusNet, InboundFrame};
use crate::doppelganger::{Guard, SuspectBlock, next_suspect};
use crate::error::{Error, Result};
use crate::pending::PendingHeader;
use crate::produce::BuildConfig;

/// Undecodable frames from one peer after which the driver ignores that peer's frames.
pub const MAX_BAD_FRAMES: u32 = 16;

/// Messages of the current height kept until the height starts (block period not yet over).
const EARLY_LIMIT: usize = 1000;

/// Frames remembered for duplicate suppression (GoQuorum keeps 1024 in its ARC cache).
const SEEN_LIMIT: usize = 4096;

/// What the driver did, for tests, benchmarks and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A height started (its block period is over): round 0 runs.
    Started {
        /// Height.
        height: u64,
    },
    /// This validator broadcast a PRE-PREPARE.
    Proposed {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The proposal digest.
        digest: B256,
    },
    /// The height moved to a round above 0.
    RoundChanged {
        /// Height.
        height: u64,
        /// The new round.
        round: u32,
    },
    /// The height was decided here and the block imported.
    Committed {
        /// Height.
        height: u64,
        /// The round it was committed in.
        round: u32,
        /// The block hash.
        hash: B256,
    },
    /// A block for the height arrived another way (sync) and ended it.
    Synced {
        /// Height.
        height: u64,
    },
    /// A frame that did not decode.
    BadFrame {
        /// The peer that sent it.
        peer: PeerId,
    },
}

/// The node key as the state machine's signer, refusing as soon as sealing is no longer
/// allowed (master key revoked, node stopping): the same `allowed` switch the producer loop
/// obeys, asked before every signature rather than between heights.
struct GatedSigner {
    key: SigningKey,
    allowed: watch::Receiver<bool>,
}

impl Signer for GatedSigner {
    fn address(&self) -> Address {
        self.key.address()
    }

    fn sign(&self, digest: &B256) -> std::result::Result<[u8; 65], SignError> {
        if !*self.allowed.borrow() {
            return Err(SignError(
                "signing stopped: sealing is no longer allowed (master key revoked or node stopping)"
                    .into(),
            ));
        }
        cachet_seal::sign_digest(&self.key, digest).map_err(|e| SignError(e.to_string()))
    }
}

/// Recent frame hashes (duplicate suppression), bounded.
#[derive(Default)]
struct Seen {
    set: HashSet<B256>,
    order: VecDeque<B256>,
}

impl Seen {
    /// True when `key` is new (and remembers it).
    fn insert(&mut self, key: B256) -> bool {
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > SEEN_LIMIT
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// GoQuorum's duplicate key: keccak of the payload as an RLP string (`bft-wire.md` §1).
fn dedup_key(payload: &[u8]) -> B256 {
    let mut s = Vec::with_capacity(payload.len() + 9);
    cachet_primitives::rlp::put_bytes(&mut s, payload);
    keccak256(&s)
}

/// How a height ended.
/// What [`Driver::admit`] made of a frame.
enum Admitted<M> {
    /// A decoded message to handle (boxed: a PRE-PREPARE carries a block).
    Message(Box<M>),
    /// A repeat, a bad frame or a frame of a peer no longer heard.
    Dropped,
    /// A message signed by our key elsewhere: the driver stops.
    Doppelganger,
}

enum HeightEnd {
    /// Run the next height (committed here or arrived by sync).
    Next,
    /// Stop the driver.
    Stop,
}

/// Runs QBFT (or, as `Driver<Ibft>`, legacy IBFT) for one validator: height after height, the
/// engine's state machine fed with decoded frames, timer expiries and built blocks, its outputs
/// carried out on the network and the chain. See the module documentation.
pub struct Driver<E: BftEngine = Qbft> {
    chain: Arc<Chain>,
    signer: GatedSigner,
    journal: FileJournal,
    /// Our last proposal (`sealing.rlp`), proposed again at its height after a restart.
    pending: PendingHeader,
    net: Arc<dyn ConsensusNet>,
    build: BuildConfig,
    relay: bool,
    events: Option<mpsc::UnboundedSender<Event>>,
    seen: Seen,
    strikes: HashMap<PeerId, u32>,
    backlog: Backlog<E::Message>,
    proposals: Option<Proposals>,
    guard: Option<Guard>,
    engine: std::marker::PhantomData<E>,
}

impl<E: BftEngine> std::fmt::Debug for Driver<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("engine", &E::NAME)
            .field("validator", &self.signer.address())
            .finish_non_exhaustive()
    }
}

impl<E: BftEngine> Driver<E> {
    /// A driver (`Driver::<Qbft>::new`, or [`super::IbftDriver::new`] for legacy IBFT) for the
    /// validator whose node key is `key`, journalling in `datadir` (the seal journal under the
    /// engine's keys, the prepared certificate or IBFT lock in `qbft-prepared` and our last
    /// proposal in `sealing.rlp`, reloaded after a restart), sending on `net`, building
    /// proposals as `build` says, signing while `allowed` is true.
    ///
    /// # Errors
    /// [`Error::Config`] when the journal cannot be opened (held by another process, or the
    /// prepared-certificate file does not decode).
    pub fn new(
        chain: Arc<Chain>,
        key: SigningKey,
        datadir: &Path,
        net: Arc<dyn ConsensusNet>,
        allowed: watch::Receiver<bool>,
        build: BuildConfig,
    ) -> Result<Self> {
        let journal = E::open_journal(datadir)?;
        Ok(Self {
            chain,
            signer: GatedSigner { key, allowed },
            journal,
            pending: PendingHeader::new(datadir),
            net,
            build,
            relay: true,
            events: None,
            seen: Seen::default(),
            strikes: HashMap::new(),
            backlog: Backlog::default(),
            proposals: None,
            guard: None,
            engine: std::marker::PhantomData,
        })
    }

    /// Puts one pending vote of `proposals` (the node's `qbft_proposeValidatorVote` /
    /// `istanbul_propose` map) into each block this validator proposes, as GoQuorum does
    /// (`bft_votes::pick_vote`).
    #[must_use]
    pub fn with_proposals(mut self, proposals: Proposals) -> Self {
        self.proposals = Some(proposals);
        self
    }

    /// Re-broadcast every message handled without complaint (GoQuorum's gossip, so validators
    /// not directly connected still hear each other). On by default.
    #[must_use]
    pub const fn with_relay(mut self, relay: bool) -> Self {
        self.relay = relay;
        self
    }

    /// Reports what the driver does on `events`.
    #[must_use]
    pub fn with_events(mut self, events: mpsc::UnboundedSender<Event>) -> Self {
        self.events = Some(events);
        self
    }

    /// The doppelganger check (`doppelganger.rs`, decision 470): the driver signs nothing for
    /// the guard's window (its periods of `blockperiodseconds`), and from then on stops (the
    /// node exits 15) when a peer sends a block carrying a committed seal of our key, or
    /// proposed by us, whose (height, round) → digest our seal journal does not hold: another
    /// node runs this validator's key.
    #[must_use]
    pub fn with_doppelganger(mut self, guard: Guard) -> Self {
        self.guard = Some(guard);
        self
    }

    /// The validator address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Runs until sealing is no longer allowed, the inbound channel closes or the chain is
    /// dropped.
    pub async fn run(mut self, mut inbound: mpsc::Receiver<InboundFrame>) {
        let mut allowed = self.signer.allowed.clone();
        let mut heads = self.chain.subscribe();
        let me = self.address();
        tracing::info!(target: "cachet::qbft", engine = E::NAME, validator = %me, "bft driver started");
        let mut idle_reason: Option<NotRun> = None;
        let mut listened = self.guard.is_none();
        loop {
            if !*allowed.borrow() {
                break;
            }
            let head = heads.borrow_and_update().clone();
            match E::plan(&self.chain, &head, me) {
                Ok(plan) if !listened => {
                    listened = true;
                    let period = Duration::from_secs(plan.period.max(1));
                    if !self.listen(period, &mut inbound, &mut allowed).await {
                        break;
                    }
                }
                Ok(plan) => {
                    idle_reason = None;
                    let end = self
                        .run_height(&plan, &mut inbound, &mut heads, &mut allowed)
                        .await;
                    if matches!(end, HeightEnd::Stop) {
                        break;
                    }
                }
                Err(why) => {
                    if idle_reason.as_ref() != Some(&why) {
                        tracing::warn!(target: "cachet::qbft", validator = %me, number = head.header.number + 1, reason = ?why, engine = E::NAME, "bft driver idle at this height");
                        idle_reason = Some(why);
                    }
                    tokio::select! {
                        r = heads.changed() => if r.is_err() { break },
                        r = allowed.changed() => if r.is_err() { break },
                        f = inbound.recv() => match f {
                            Some(f) => if matches!(self.admit(f), Admitted::Doppelganger) { break },
                            None => break,
                        },
                        s = next_suspect(&mut self.guard) => if self.judged(&s) { break },
                    }
                }
            }
        }
        tracing::info!(target: "cachet::qbft", engine = E::NAME, validator = %me, "bft driver stopped");
    }

    async fn run_height(
        &mut self,
        plan: &HeightPlan<E::Config>,
        inbound: &mut mpsc::Receiver<InboundFrame>,
        heads: &mut watch::Receiver<HeadInfo>,
        allowed: &mut watch::Receiver<bool>,
    ) -> HeightEnd {
        let height = plan.height;
        let chain = self.chain.clone();
        let check = ChainCheck::new(&chain, plan);
        self.net.target_validators(E::validators(&plan.config));
        let mut state = E::state(height, plan.config.clone(), &self.journal);
        // Messages of this height that arrived while the previous one ran.
        let mut early: Vec<E::Message> = self.backlog.take(height);
        // Like GoQuorum's miner, every validator starts the height once the parent's
        // timestamp + period has come (the round-0 timer runs from here).
        let start = tokio::time::sleep(block::until(plan.earliest()));
        tokio::pin!(start);
        let mut started = false;
        let mut timer: Option<(u32, Pin<Box<Sleep>>)> = None;
        loop {
            let mut outs = Vec::new();
            tokio::select! {
                () = &mut start, if !started => {
                    started = true;
                    self.emit(Event::Started { height });
                    outs = self.step(&mut state, &check, Input::Start);
                    for msg in std::mem::take(&mut early) {
                        outs.extend(self.on_message(&mut state, &check, msg));
                    }
                }
                f = inbound.recv() => {
                    let Some(f) = f else { return HeightEnd::Stop };
                    let msg = match self.admit(f) {
                        Admitted::Message(msg) => Some(*msg),
                        Admitted::Dropped => None,
                        Admitted::Doppelganger => return HeightEnd::Stop,
                    };
                    if let Some(msg) = msg {
                        let h = msg.view().0;
                        if h > height {
                            self.backlog.push(height, msg);
                        } else if h == height {
                            if started {
                                outs = self.on_message(&mut state, &check, msg);
                            } else if early.len() < EARLY_LIMIT {
                                early.push(msg);
                            }
                        }
                    }
                }
                round = fire(&mut timer) => {
                    outs = self.step(&mut state, &check, Input::Timeout { height, round });
                }
                r = heads.changed() => {
                    if r.is_err() {
                        return HeightEnd::Stop;
                    }
                    let head = heads.borrow().clone();
                    if head.header.number >= height {
                        tracing::debug!(target: "cachet::qbft", height, hash = %head.hash, "height ended by an imported block");
                        self.emit(Event::Synced { height });
                        return HeightEnd::Next;
                    }
                    if head.hash != plan.parent.hash {
                        return HeightEnd::Next;
                    }
                }
                r = allowed.changed() => {
                    if r.is_err() || !*allowed.borrow() {
                        return HeightEnd::Stop;
                    }
                }
                s = next_suspect(&mut self.guard) => {
                    if self.judged(&s) {
                        return HeightEnd::Stop;
                    }
                }
            }
            let mut queue = VecDeque::from(outs);
            while let Some(out) = queue.pop_front() {
                match out {
                    Output::Broadcast(msg) => self.send(&msg),
                    Output::SetTimer {
                        height: h,
                        round,
                        after_ms,
                    } => {
                        if h == height {
                            timer = Some((
                                round,
                                Box::pin(tokio::time::sleep(Duration::from_millis(after_ms))),
                            ));
                        }
                    }
                    Output::BuildBlock { round, .. } => match self.propose_block(plan) {
                        Ok(block) => {
                            check.trust(block.digest());
                            queue.extend(self.step(&mut state, &check, Input::Block(block)));
                        }
                        Err(e) => {
                            tracing::warn!(target: "cachet::qbft", height, round, error = &e as &dyn std::error::Error, "building the proposal failed");
                        }
                    },
                    Output::Committed {
                        block,
                        header,
                        round,
                    } => match self.import(&block, &header) {
                        Ok(hash) => {
                            tracing::info!(target: "cachet::qbft", height, round, %hash, txs = ?tx_count(&block), "committed block");
                            self.emit(Event::Committed {
                                height,
                                round,
                                hash,
                            });
                            return HeightEnd::Next;
                        }
                        Err(e) => {
                            // QBFT: the height is decided, the block will come by sync. IBFT:
                            // unlock and ask for the next round (GoQuorum `commit`).
                            tracing::error!(target: "cachet::qbft", height, round, error = &e as &dyn std::error::Error, "importing the committed block failed");
                            let mut env = Env {
                                signer: &self.signer,
                                journal: &mut self.journal,
                                blocks: &check,
                            };
                            queue.extend(E::import_failed(&mut state, &mut env));
                        }
                    },
                    Output::Ignored(why) => {
                        tracing::debug!(target: "cachet::qbft", height, round = E::round(&state), %why, "ignored");
                    }
                }
            }
        }
    }

    /// The doppelganger window: signs nothing for `period` × the guard's periods while judging
    /// every block signed by our key that peers send; frames of later heights are kept for
    /// them. False when the driver must not start (a doppelganger was found, sealing was
    /// stopped, the network is gone).
    async fn listen(
        &mut self,
        period: Duration,
        inbound: &mut mpsc::Receiver<InboundFrame>,
        allowed: &mut watch::Receiver<bool>,
    ) -> bool {
        let Some(window) = self.guard.as_ref().map(|g| g.window_of(period)) else {
            return true;
        };
        let me = self.address();
        tracing::info!(target: "cachet::doppelganger", address = %me, seconds = window.as_secs_f64(),
            engine = E::NAME, "doppelganger check: listening for blocks signed by our key before signing consensus messages");
        let deadline = tokio::time::sleep(window);
        tokio::pin!(deadline);
        loop {
            if !*allowed.borrow() {
                return false;
            }
            tokio::select! {
                () = &mut deadline => break,
                r = allowed.changed() => if r.is_err() { return false },
                f = inbound.recv() => {
                    let Some(f) = f else { return false };
                    match self.admit(f) {
                        Admitted::Message(msg) => {
                            let head = self.chain.head().header.number;
                            self.backlog.push(head, *msg);
                        }
                        Admitted::Dropped => {}
                        Admitted::Doppelganger => return false,
                    }
                }
                s = next_suspect(&mut self.guard) => if self.judged(&s) { return false },
            }
        }
        tracing::info!(target: "cachet::doppelganger", address = %me,
            engine = E::NAME, "doppelganger check: no other node signed with our key; running the driver (the watch goes on)");
        true
    }

    /// True when `suspect` (a block signed by our key that a peer sent) is a doppelganger's:
    /// the guard has told the node.
    fn judged(&self, suspect: &SuspectBlock) -> bool {
        self.guard
            .as_ref()
            .is_some_and(|g| g.judge_by(self.signed_here(suspect.header()), suspect))
    }

    /// True when our journal holds `header`'s digest at its height, at the round in its
    /// extraData (the commit round its committed seals sign) or any other: every digest this
    /// validator proposes, prepares or commits is recorded there before the signature leaves.
    fn signed_here(&self, header: &Header) -> Result<bool> {
        let (round, digests) = E::journal_digests(header)?;
        Ok(digests
            .iter()
            .any(|d| self.journal.holds(header.number, round, d)))
    }

    /// Feeds one input to the state machine.
    fn step(
        &mut self,
        state: &mut E::State,
        check: &ChainCheck<'_, E::Config>,
        input: Input<E::Message>,
    ) -> Vec<Output<E::Message>> {
        let before = E::round(state);
        let mut env = Env {
            signer: &self.signer,
            journal: &mut self.journal,
            blocks: check,
        };
        let outs = E::handle(state, &mut env, input);
        let round = E::round(state);
        if round > before {
            let height = check.height();
            tracing::info!(target: "cachet::qbft", height, round, "round change");
            self.emit(Event::RoundChanged { height, round });
        }
        outs
    }

    /// Feeds a peer's message of the current height, relaying it when it was taken.
    fn on_message(
        &mut self,
        state: &mut E::State,
        check: &ChainCheck<'_, E::Config>,
        msg: E::Message,
    ) -> Vec<Output<E::Message>> {
        let frame = self.relay.then(|| E::frame(&msg));
        let outs = self.step(state, check, Input::Message(msg));
        if let Some(frame) = frame
            && !outs.iter().any(|o| matches!(o, Output::Ignored(_)))
        {
            self.net.broadcast(frame);
        }
        outs
    }

    /// Decodes a frame unless it repeats one already seen or its peer sent too many bad ones;
    /// with the doppelganger check armed, judges a message signed by our key.
    fn admit(&mut self, f: InboundFrame) -> Admitted<E::Message> {
        if self
            .strikes
            .get(&f.peer)
            .is_some_and(|n| *n >= MAX_BAD_FRAMES)
        {
            return Admitted::Dropped;
        }
        let key = dedup_key(&f.frame.payload);
        if self.seen.set.contains(&key) {
            return Admitted::Dropped;
        }
        let decoded = u8::try_from(f.frame.code)
            .map_err(|_| format!("code {:#x} out of range", f.frame.code))
            .and_then(|c| E::decode(c, &f.frame.payload));
        match decoded {
            Ok(msg) => {
                self.seen.insert(key);
                if self.signed_elsewhere(&msg, &f.peer) {
                    return Admitted::Doppelganger;
                }
                Admitted::Message(Box::new(msg))
            }
            Err(error) => {
                let n = self.strikes.entry(f.peer).or_default();
                *n += 1;
                tracing::warn!(target: "cachet::qbft", peer = %hex::encode(&f.peer.0[..8]), code = f.frame.code, %error, bad_frames = *n, "undecodable consensus frame");
                if *n == MAX_BAD_FRAMES {
                    tracing::warn!(target: "cachet::qbft", peer = %hex::encode(&f.peer.0[..8]), "ignoring this peer's consensus frames from now on");
                }
                self.emit(Event::BadFrame { peer: f.peer });
                Admitted::Dropped
            }
        }
    }

    /// True (and the guard told) when `msg` is a PRE-PREPARE, PREPARE or COMMIT signed by our
    /// key for a height above our head whose (height, round) → digest the journal does not
    /// hold: this validator records every such digest before its signature leaves, so another
    /// holder of the key signed it (decision 533). ROUND-CHANGEs are not judged: they commit
    /// to no digest the journal records. Heights at or below the head are history, where our
    /// own messages echo back.
    fn signed_elsewhere(&self, msg: &E::Message, peer: &PeerId) -> bool {
        let Some(guard) = &self.guard else {
            return false;
        };
        let (height, round) = msg.view();
        if height <= self.chain.head().header.number {
            return false;
        }
        let Some(digest) = E::signed_digest(msg) else {
            return false;
        };
        // One recovery per message signed by anyone: the state machine recovers again.
        if E::author(msg) != Some(self.address()) || self.journal.holds(height, round, &digest) {
            return false;
        }
        guard.report_message(E::kind(msg), height, round, digest, peer.to_string());
        true
    }

    fn send(&mut self, msg: &E::Message) {
        let frame = E::frame(msg);
        self.seen.insert(dedup_key(&frame.payload));
        if let Some(digest) = E::proposal_digest(msg) {
            let (height, round) = msg.view();
            tracing::debug!(target: "cachet::qbft", height, round, %digest, "proposing");
            self.emit(Event::Proposed {
                height,
                round,
                digest,
            });
        }
        self.net.broadcast(frame);
    }

    /// Our proposal for the plan's height: built from the transaction source on the parent's
    /// state (as the producer loop builds), timestamp the parent's + period or now if later;
    /// or the block recorded earlier for this height on this parent.
    fn propose_block(&self, plan: &HeightPlan<E::Config>) -> Result<Block> {
        let me = self.address();
        let timestamp = plan.earliest().max(block::now_secs());
        let vote = self.proposals.as_ref().and_then(|p| {
            let snap = self
                .chain
                .rules_as::<crate::bft::BftRules>()?
                .snapshot(&plan.parent.hash)?;
            let p = p.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            crate::bft_votes::pick_vote(&snap, plan.height, &me, &p)
        });
        let fields = E::unsealed_fields(&plan.config, me, vote);
        let mut header = self.chain.empty_child(
            &plan.parent,
            timestamp,
            alloy_primitives::U256::from(1),
            fields.extra,
        );
        header.mix_hash = cachet_seal::bft::ISTANBUL_DIGEST;
        header.beneficiary = fields.coinbase;
        header.nonce = fields.nonce;
        let (header, body, _) = crate::produce::build_for(&self.chain, &header, me, &self.build)?;
        // A block already recorded for this height on this parent (our proposal before a
        // restart, or at an earlier round) is proposed again: the journal may hold its digest
        // and would refuse any other block at that round (decision 528).
        let (header, body) = self.pending.take_or_record(&header, &body)?;
        let split = |e: cachet_primitives::DecodeError| Error::Decode {
            what: "the body built for a proposal",
            source: Box::new(e),
        };
        let mut items = cachet_primitives::rlp::single_list(&body, "built body").map_err(split)?;
        let txs = items.raw("built body transactions").map_err(split)?;
        let uncles = items.raw("built body uncles").map_err(split)?;
        E::block(header, txs, uncles)
            .map_err(|e| Error::Config(format!("{} proposal: {e}", E::NAME)))
    }

    /// Imports the committed block; returns its hash.
    fn import(&self, block: &Block, header: &Header) -> Result<B256> {
        let (_, body) = block::split_block(block.rlp())?;
        self.chain.import(&header.encode(), &body)?;
        self.chain.rules().hash(header)
    }

    fn emit(&self, event: Event) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }
}

/// Transactions in a block, for the log.
fn tx_count(block: &Block) -> Option<usize> {
    let (_, body) = block::split_block(block.rlp()).ok()?;
    cachet_execution::decode_body(&body)
        .ok()
        .map(|b| b.transactions.len())
}

/// Waits for the round timer; pending forever when none is set. Returns the timer's round.
async fn fire(timer: &mut Option<(u32, Pin<Box<Sleep>>)>) -> u32 {
    match timer {
        Some((round, sleep)) => {
            sleep.as_mut().await;
            let round = *round;
            *timer = None;
            round
        }
        None => std::future::pending().await,
    }
}
