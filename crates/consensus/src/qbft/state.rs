//! The QBFT state machine for one height (Consensys' QBFT specification; `GoQuorum`
//! `qbft/core`, Besu `qbft-core`; `docs/dev/bft-wire.md` §5–§6).
//!
//! Pure: [`State::handle`] takes an [`Input`] and returns [`Output`]s. The caller owns the clock
//! (it fires [`Input::Timeout`] when a [`Output::SetTimer`] elapses), the network (it broadcasts
//! and delivers decoded messages) and the chain (it builds blocks on [`Output::BuildBlock`] and
//! imports [`Output::Committed`]). Messages this validator broadcasts are also handled locally.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256};
use cachet_primitives::Header;
use cachet_seal::qbft as seal;

use super::journal::{Journal, PreparedCertificate};
use super::message::{
    self, Block, Commit, Message, PrePrepare, Prepare, Proposal, RoundChange, RoundChangePayload,
    Signed,
};
use super::signer::Signer;
use super::validators::{self, ProposerPolicy};

/// Rounds above the current one whose PRE-PREPAREs, PREPAREs, COMMITs and ROUND-CHANGEs are
/// kept for later; anything further is dropped (one message per sender and kind per round, so
/// memory stays bounded by validators × this window).
pub const ROUND_WINDOW: u32 = 16;

/// Highest round the state machine enters (Besu caps IBFT 2.0 rounds at 1000). With timeouts
/// doubling per round this is never reached by honest validators.
pub const MAX_ROUND: u32 = 1000;

/// Fixed per-network parameters of one height.
#[derive(Debug, Clone)]
pub struct Config {
    /// The validators of this height, sorted by address bytes.
    pub validators: Vec<Address>,
    /// The proposer (coinbase) of the parent block; zero for the genesis parent.
    pub last_proposer: Address,
    /// Proposer policy.
    pub policy: ProposerPolicy,
    /// Round-0 timeout in milliseconds (`requesttimeoutseconds × 1000`).
    pub request_timeout_ms: u64,
    /// Cap on a round timeout in milliseconds (`maxRequestTimeoutSeconds`); 0 = no cap.
    pub max_request_timeout_ms: u64,
}

impl Config {
    /// The timeout of `round`: `request_timeout × 2^round`, saturating, capped when a cap is set.
    pub fn timeout_ms(&self, round: u32) -> u64 {
        let t = self
            .request_timeout_ms
            .saturating_mul(1u64.checked_shl(round.min(63)).unwrap_or(u64::MAX));
        if self.max_request_timeout_ms > 0 {
            t.min(self.max_request_timeout_ms)
        } else {
            t
        }
    }

    /// The proposer of `round`.
    pub fn proposer(&self, round: u32) -> Option<Address> {
        validators::proposer(&self.validators, self.last_proposer, round, self.policy)
    }

    /// The quorum `ceil(2N/3)`.
    pub const fn quorum(&self) -> usize {
        validators::quorum(self.validators.len())
    }
}

/// Chain-specific checks of a proposed block beyond what the state machine checks itself
/// (number, coinbase, extraData validators, no seals): parent, timestamp, execution.
pub trait BlockCheck {
    /// Whether `block` may be voted for at `height`.
    ///
    /// # Errors
    /// Why not.
    fn check(&self, height: u64, block: &Block) -> Result<(), String>;
}

/// The first checks of a message of `height` whose signature recovered to `author`: the height
/// is `at.0` and the author one of the validators `at.1`. The author, or why not.
pub(crate) fn admit(
    at: (u64, &[Address]),
    height: u64,
    author: Result<Address, String>,
) -> Result<Address, String> {
    if height != at.0 {
        return Err(format!("height {height}, at {}", at.0));
    }
    let author = author?;
    if !at.1.contains(&author) {
        return Err(format!("{author} is not a validator"));
    }
    Ok(author)
}

/// Whether a message of `round` is kept at `current`: not older, at most [`ROUND_WINDOW`] ahead,
/// and not above [`MAX_ROUND`].
pub(crate) const fn in_window(current: u32, round: u32) -> bool {
    round >= current && round <= current.saturating_add(ROUND_WINDOW) && round <= MAX_ROUND
}

/// What the state machine needs from its host for one call.
#[allow(missing_debug_implementations)]
pub struct Env<'a> {
    /// This validator's key.
    pub signer: &'a dyn Signer,
    /// The equivocation guard (kept across restarts).
    pub journal: &'a mut dyn Journal,
    /// Block checks.
    pub blocks: &'a dyn BlockCheck,
}

/// An event for the state machine (`M` is the engine's message: QBFT's by default, IBFT's for
/// [`crate::ibft::State`]).
// Inputs are moved straight into `handle`, never stored in bulk (as `Output`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Input<M = Message> {
    /// Start the height (round 0): sets the round timer and, on the proposer, asks for a block.
    Start,
    /// A decoded message from a peer.
    Message(M),
    /// The timer set for (height, round) elapsed.
    Timeout {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// The block built for an [`Output::BuildBlock`].
    Block(Block),
}

/// What the host must do (`M` as for [`Input`]).
// Outputs are short-lived and moved, never stored in bulk: boxing would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Output<M = Message> {
    /// Send to every other validator.
    Broadcast(M),
    /// Fire [`Input::Timeout`] for (height, round) after `after_ms`; replaces earlier timers.
    SetTimer {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Delay in milliseconds.
        after_ms: u64,
    },
    /// Build a block for (height, round) and hand it in as [`Input::Block`].
    BuildBlock {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// The height is decided: import `header` (the proposal's header with the commit round and
    /// the committed seals in extraData) with the proposal's body.
    Committed {
        /// The proposal as voted on.
        block: Block,
        /// The final header.
        header: Box<Header>,
        /// The round it was committed in.
        round: u32,
    },
    /// A message or input was not used, and why (for logs and tests; never sent anywhere).
    Ignored(String),
}

#[derive(Debug, Clone, Default)]
struct RoundMessages {
    proposal: Option<(Address, PrePrepare)>,
    prepares: BTreeMap<Address, Signed<Prepare>>,
    commits: BTreeMap<Address, Signed<Commit>>,
    round_changes: BTreeMap<Address, RoundChange>,
    /// Whether each COMMIT's seal was made by its author over the accepted proposal (checked
    /// once: the accepted proposal of a round never changes).
    seal_ok: BTreeMap<Address, bool>,
}

/// The QBFT state of one height.
#[derive(Debug, Clone)]
pub struct State {
    height: u64,
    cfg: Config,
    round: u32,
    /// The proposal accepted in the current round.
    accepted: Option<Block>,
    prepared: Option<PreparedCertificate>,
    sent_commit: bool,
    proposed: bool,
    awaiting_block: Option<u32>,
    committed: bool,
    rounds: BTreeMap<u32, RoundMessages>,
    /// The highest round each validator has asked to change to (for the F+1 rule).
    latest_rc: BTreeMap<Address, u32>,
}

impl State {
    /// The state of `height`; reloads the prepared certificate saved in `journal` (a restart).
    pub fn new(height: u64, cfg: Config, journal: &dyn Journal) -> Self {
        Self {
            height,
            cfg,
            round: 0,
            accepted: None,
            prepared: journal.prepared(height),
            sent_commit: false,
            proposed: false,
            awaiting_block: None,
            committed: false,
            rounds: BTreeMap::new(),
            latest_rc: BTreeMap::new(),
        }
    }

    /// Height.
    pub const fn height(&self) -> u64 {
        self.height
    }

    /// Current round.
    pub const fn round(&self) -> u32 {
        self.round
    }

    /// Whether the height is decided here.
    pub const fn is_committed(&self) -> bool {
        self.committed
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.cfg
    }

    /// Handles one input.
    pub fn handle(&mut self, env: &mut Env<'_>, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.committed {
            return out;
        }
        match input {
            Input::Start => self.start_round(env, 0, false, &mut out),
            Input::Timeout { height, round } => {
                if height == self.height && round == self.round && round < MAX_ROUND {
                    self.start_round(env, round + 1, true, &mut out);
                }
            }
            Input::Block(block) => self.on_block(env, block, &mut out),
            Input::Message(msg) => self.on_message(env, msg, &mut out),
        }
        out
    }

    fn start_round(&mut self, env: &mut Env<'_>, round: u32, send_rc: bool, out: &mut Vec<Output>) {
        self.round = round;
        self.accepted = None;
        self.sent_commit = false;
        self.proposed = false;
        self.awaiting_block = None;
        self.rounds.retain(|r, _| *r >= round);
        out.push(Output::SetTimer {
            height: self.height,
            round,
            after_ms: self.cfg.timeout_ms(round),
        });
        if send_rc {
            let payload = RoundChangePayload {
                sequence: self.height,
                round,
                prepared: self.prepared.as_ref().map(|p| (p.round, p.block.digest())),
            };
            match Signed::sign(payload, env.signer) {
                Ok(signed) => {
                    let rc = RoundChange {
                        payload: signed,
                        prepared_block: self.prepared.as_ref().map(|p| p.block.clone()),
                        prepares: self
                            .prepared
                            .as_ref()
                            .map(|p| p.prepares.clone())
                            .unwrap_or_default(),
                    };
                    self.emit(env, Message::RoundChange(rc), out);
                }
                Err(e) => out.push(Output::Ignored(e.to_string())),
            }
        }
        if round == 0 && self.is_proposer(env, 0) {
            self.awaiting_block = Some(0);
            out.push(Output::BuildBlock {
                height: self.height,
                round: 0,
            });
        }
        // A proposal for this round may already be here.
        if let Some((author, pp)) = self.rounds.get_mut(&round).and_then(|m| m.proposal.take()) {
            self.on_pre_prepare(env, author, pp, out);
        }
        self.progress(env, out);
    }

    fn is_proposer(&self, env: &Env<'_>, round: u32) -> bool {
        self.cfg.proposer(round) == Some(env.signer.address())
    }

    /// Broadcasts `msg` and handles it locally.
    fn emit(&mut self, env: &mut Env<'_>, msg: Message, out: &mut Vec<Output>) {
        out.push(Output::Broadcast(msg.clone()));
        self.on_message(env, msg, out);
    }

    fn on_block(&mut self, env: &mut Env<'_>, block: Block, out: &mut Vec<Output>) {
        let Some(round) = self.awaiting_block else {
            out.push(Output::Ignored("built block not asked for".into()));
            return;
        };
        if round != self.round || self.proposed {
            out.push(Output::Ignored("built block for a past round".into()));
            return;
        }
        self.awaiting_block = None;
        let round_changes = if round == 0 {
            Vec::new()
        } else {
            match self.rc_justification(round) {
                Some((rcs, None)) => rcs,
                _ => {
                    out.push(Output::Ignored(
                        "built block but no unprepared round-change quorum".into(),
                    ));
                    return;
                }
            }
        };
        self.propose(env, block, round_changes, Vec::new(), out);
    }

    fn propose(
        &mut self,
        env: &mut Env<'_>,
        block: Block,
        round_changes: Vec<Signed<RoundChangePayload>>,
        prepares: Vec<Signed<Prepare>>,
        out: &mut Vec<Output>,
    ) {
        if let Err(e) = env.journal.record(self.height, self.round, block.digest()) {
            out.push(Output::Ignored(e.to_string()));
            return;
        }
        let proposal = Proposal {
            sequence: self.height,
            round: self.round,
            block,
        };
        match Signed::sign(proposal, env.signer) {
            Ok(proposal) => {
                self.proposed = true;
                let pp = PrePrepare {
                    proposal,
                    round_changes,
                    prepares,
                };
                self.emit(env, Message::PrePrepare(pp), out);
            }
            Err(e) => out.push(Output::Ignored(e.to_string())),
        }
    }

    fn is_validator(&self, a: &Address) -> bool {
        self.cfg.validators.contains(a)
    }

    fn on_message(&mut self, env: &mut Env<'_>, msg: Message, out: &mut Vec<Output>) {
        let (height, round) = msg.view();
        let ignore = |out: &mut Vec<Output>, why: String| out.push(Output::Ignored(why));
        let author = match admit(
            (self.height, &self.cfg.validators),
            height,
            msg.author().map_err(|e| e.to_string()),
        ) {
            Ok(a) => a,
            Err(why) => return ignore(out, why),
        };
        if !in_window(self.round, round) {
            if let Message::RoundChange(rc) = &msg {
                // Still counts toward the F+1 catch-up rule.
                if round > self.round && round <= MAX_ROUND && self.valid_rc(rc).is_ok() {
                    self.note_rc_round(env, author, round, out);
                }
            }
            return ignore(
                out,
                format!("round {round} outside the window at {}", self.round),
            );
        }
        match msg {
            Message::PrePrepare(pp) => {
                if round > self.round {
                    // Keep for the round; a justified one moves us there now (Besu).
                    let justified = round > 0 && self.check_proposal(&author, &pp).is_ok();
                    if justified {
                        self.start_round(env, round, false, out);
                        self.on_pre_prepare(env, author, pp, out);
                    } else {
                        let m = self.rounds.entry(round).or_default();
                        if m.proposal.is_none() {
                            m.proposal = Some((author, pp));
                        }
                    }
                } else {
                    self.on_pre_prepare(env, author, pp, out);
                }
            }
            Message::Prepare(p) => {
                let m = self.rounds.entry(round).or_default();
                m.prepares.entry(author).or_insert(p);
            }
            Message::Commit(c) => {
                let m = self.rounds.entry(round).or_default();
                m.commits.entry(author).or_insert(c);
            }
            Message::RoundChange(rc) => {
                if let Err(e) = self.valid_rc(&rc) {
                    return ignore(out, e);
                }
                let m = self.rounds.entry(round).or_default();
                m.round_changes.entry(author).or_insert(rc);
                self.note_rc_round(env, author, round, out);
            }
        }
        self.progress(env, out);
    }

    /// F+1 validators want rounds above ours: at least one honest one timed out, so follow to
    /// the lowest of those rounds (`GoQuorum` `handleRoundChange`).
    fn note_rc_round(
        &mut self,
        env: &mut Env<'_>,
        author: Address,
        round: u32,
        out: &mut Vec<Output>,
    ) {
        let e = self.latest_rc.entry(author).or_insert(round);
        *e = (*e).max(round);
        let ahead: Vec<u32> = self
            .latest_rc
            .values()
            .copied()
            .filter(|r| *r > self.round)
            .collect();
        if ahead.len() > validators::f(self.cfg.validators.len())
            && let Some(target) = ahead.iter().min().copied()
        {
            self.start_round(env, target, true, out);
        }
    }

    /// ROUND-CHANGE checks beyond the decoder's: round ≥ 1 and a prepared certificate of a
    /// quorum of PREPAREs from distinct validators for an earlier round.
    fn valid_rc(&self, rc: &RoundChange) -> Result<(), String> {
        let p = &rc.payload.payload;
        if p.round == 0 {
            return Err("ROUND-CHANGE to round 0".into());
        }
        if let Some((pr, pd)) = p.prepared {
            if pr >= p.round {
                return Err("ROUND-CHANGE prepared in a round not before its target".into());
            }
            self.check_prepares(&rc.prepares, pr, pd)?;
        }
        Ok(())
    }

    fn check_prepares(
        &self,
        prepares: &[Signed<Prepare>],
        round: u32,
        digest: B256,
    ) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for p in prepares {
            let a = p.author().map_err(|e| e.to_string())?;
            if !self.is_validator(&a) {
                return Err(format!("justifying PREPARE by non-validator {a}"));
            }
            if p.payload.sequence != self.height
                || p.payload.round != round
                || p.payload.digest != digest
            {
                return Err("justifying PREPARE for another view or digest".into());
            }
            seen.insert(a);
        }
        if seen.len() < self.cfg.quorum() {
            return Err(format!(
                "{} distinct justifying PREPAREs, {} required",
                seen.len(),
                self.cfg.quorum()
            ));
        }
        Ok(())
    }

    /// Checks a PRE-PREPARE: proposer, block, justification (`GoQuorum` `isJustified`, Besu
    /// `ProposalValidator`).
    fn check_proposal(&self, author: &Address, pp: &PrePrepare) -> Result<(), String> {
        let round = pp.proposal.payload.round;
        if self.cfg.proposer(round) != Some(*author) {
            return Err(format!(
                "PRE-PREPARE for round {round} from {author}, not its proposer"
            ));
        }
        let block = &pp.proposal.payload.block;
        let header = block.header();
        if header.number != self.height {
            return Err(format!(
                "proposed block number {} at height {}",
                header.number, self.height
            ));
        }
        let extra = seal::decode_extra(&header.extra_data).map_err(|e| e.to_string())?;
        if extra.validators != self.cfg.validators {
            return Err("proposed block lists other validators".into());
        }
        if !extra.committed_seals.is_empty() {
            return Err("proposed block already carries committed seals".into());
        }
        if !self.is_validator(&header.beneficiary) {
            return Err("proposed block's coinbase is not a validator".into());
        }
        if round == 0 {
            if header.beneficiary != *author {
                return Err("round-0 proposal's coinbase is not its proposer".into());
            }
            if !pp.round_changes.is_empty() || !pp.prepares.is_empty() {
                return Err("round-0 PRE-PREPARE with a justification".into());
            }
            return Ok(());
        }
        let mut seen = BTreeSet::new();
        let mut highest: Option<(u32, B256)> = None;
        for rc in &pp.round_changes {
            let a = rc.author().map_err(|e| e.to_string())?;
            if !self.is_validator(&a) {
                return Err(format!("justifying ROUND-CHANGE by non-validator {a}"));
            }
            if rc.payload.sequence != self.height || rc.payload.round != round {
                return Err("justifying ROUND-CHANGE for another view".into());
            }
            if let Some((pr, pd)) = rc.payload.prepared {
                if pr >= round {
                    return Err("justifying ROUND-CHANGE prepared too late".into());
                }
                if highest.is_none_or(|(hr, _)| pr > hr) {
                    highest = Some((pr, pd));
                }
            }
            seen.insert(a);
        }
        if seen.len() < self.cfg.quorum() {
            return Err(format!(
                "{} distinct justifying ROUND-CHANGEs, {} required",
                seen.len(),
                self.cfg.quorum()
            ));
        }
        match highest {
            None => {
                if !pp.prepares.is_empty() {
                    return Err("PREPAREs justify nothing prepared".into());
                }
                if header.beneficiary != *author {
                    return Err("new proposal's coinbase is not its proposer".into());
                }
                Ok(())
            }
            Some((pr, pd)) => {
                if block.digest() != pd {
                    return Err("proposal is not the highest prepared block".into());
                }
                self.check_prepares(&pp.prepares, pr, pd)
            }
        }
    }

    fn on_pre_prepare(
        &mut self,
        env: &mut Env<'_>,
        author: Address,
        pp: PrePrepare,
        out: &mut Vec<Output>,
    ) {
        let round = pp.proposal.payload.round;
        if round != self.round {
            return;
        }
        if self.accepted.is_some() {
            out.push(Output::Ignored("second PRE-PREPARE for the round".into()));
            return;
        }
        if let Err(e) = self.check_proposal(&author, &pp) {
            out.push(Output::Ignored(e));
            return;
        }
        let block = pp.proposal.payload.block;
        if let Err(e) = env.blocks.check(self.height, &block) {
            out.push(Output::Ignored(format!("proposed block refused: {e}")));
            return;
        }
        let digest = block.digest();
        if let Err(e) = env.journal.record(self.height, round, digest) {
            out.push(Output::Ignored(e.to_string()));
            return;
        }
        self.accepted = Some(block);
        out.push(Output::SetTimer {
            height: self.height,
            round,
            after_ms: self.cfg.timeout_ms(round),
        });
        let prepare = Prepare {
            sequence: self.height,
            round,
            digest,
        };
        match Signed::sign(prepare, env.signer) {
            Ok(p) => self.emit(env, Message::Prepare(p), out),
            Err(e) => out.push(Output::Ignored(e.to_string())),
        }
    }

    /// The quorum of ROUND-CHANGEs for `round` and the highest prepared certificate among them.
    #[allow(clippy::type_complexity)]
    fn rc_justification(
        &self,
        round: u32,
    ) -> Option<(
        Vec<Signed<RoundChangePayload>>,
        Option<(Block, Vec<Signed<Prepare>>)>,
    )> {
        let m = self.rounds.get(&round)?;
        if m.round_changes.len() < self.cfg.quorum() {
            return None;
        }
        let rcs: Vec<_> = m
            .round_changes
            .values()
            .map(|rc| rc.payload.clone())
            .collect();
        let best = m
            .round_changes
            .values()
            .filter_map(|rc| {
                let (pr, _) = rc.payload.payload.prepared?;
                Some((pr, rc.prepared_block.clone()?, rc.prepares.clone()))
            })
            .max_by_key(|(pr, _, _)| *pr)
            .map(|(_, b, p)| (b, p));
        Some((rcs, best))
    }

    fn commit_header(block: &Block, round: u32) -> Option<Header> {
        let mut header = block.header().clone();
        let mut extra = seal::decode_extra(&header.extra_data).ok()?;
        extra.round = round;
        extra.committed_seals.clear();
        header.extra_data = seal::encode_extra(&extra).into();
        Some(header)
    }

    fn progress(&mut self, env: &mut Env<'_>, out: &mut Vec<Output>) {
        if self.committed {
            return;
        }
        let round = self.round;
        // Proposer of a round > 0 with a round-change quorum.
        if round > 0
            && !self.proposed
            && self.awaiting_block.is_none()
            && self.is_proposer(env, round)
            && let Some((rcs, best)) = self.rc_justification(round)
        {
            match best {
                Some((block, prepares)) => self.propose(env, block, rcs, prepares, out),
                None => {
                    self.awaiting_block = Some(round);
                    out.push(Output::BuildBlock {
                        height: self.height,
                        round,
                    });
                }
            }
        }
        let Some(block) = self.accepted.clone() else {
            return;
        };
        let digest = block.digest();
        let Some(commit_header) = Self::commit_header(&block, round) else {
            return;
        };
        let Ok(seal_digest) = seal::commit_digest(&commit_header) else {
            return;
        };
        let m = self.rounds.entry(round).or_default();
        // Prepared: a quorum of PREPAREs for the accepted digest.
        if !self.sent_commit {
            let prepares: Vec<_> = m
                .prepares
                .values()
                .filter(|p| p.payload.digest == digest)
                .cloned()
                .collect();
            if prepares.len() >= self.cfg.quorum() {
                self.sent_commit = true;
                let cert = PreparedCertificate {
                    round,
                    block: block.clone(),
                    prepares,
                };
                if let Err(e) = env.journal.save_prepared(self.height, &cert) {
                    out.push(Output::Ignored(e.to_string()));
                    return;
                }
                self.prepared = Some(cert);
                if let Err(e) = env.journal.record(self.height, round, digest) {
                    out.push(Output::Ignored(e.to_string()));
                    return;
                }
                let seal = match env.signer.sign(&seal_digest) {
                    Ok(s) => s,
                    Err(e) => {
                        out.push(Output::Ignored(e.to_string()));
                        return;
                    }
                };
                let commit = Commit {
                    sequence: self.height,
                    round,
                    digest,
                    commit_seal: seal,
                };
                match Signed::sign(commit, env.signer) {
                    Ok(c) => {
                        out.push(Output::Broadcast(Message::Commit(c.clone())));
                        self.rounds
                            .entry(round)
                            .or_default()
                            .commits
                            .entry(env.signer.address())
                            .or_insert(c);
                    }
                    Err(e) => out.push(Output::Ignored(e.to_string())),
                }
            }
        }
        // Committed: a quorum of COMMITs for the digest whose seals are their authors'.
        let m = self.rounds.entry(round).or_default();
        let mut seals: Vec<[u8; 65]> = Vec::new();
        for (a, c) in &m.commits {
            let ok = *m.seal_ok.entry(*a).or_insert_with(|| {
                c.payload.digest == digest
                    && message::recover(&seal_digest, &c.payload.commit_seal, "commit seal")
                        .is_ok_and(|s| s == *a)
            });
            if ok {
                seals.push(c.payload.commit_seal);
            }
        }
        if seals.len() >= self.cfg.quorum() {
            match seal::with_committed_seals(&commit_header, &seals) {
                Ok(header) => {
                    self.committed = true;
                    out.push(Output::Committed {
                        block,
                        header: Box::new(header),
                        round,
                    });
                }
                Err(e) => out.push(Output::Ignored(e.to_string())),
            }
        }
    }
}
