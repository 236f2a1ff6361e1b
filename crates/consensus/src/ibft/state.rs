//! The legacy IBFT state machine for one height (`GoQuorum` `consensus/istanbul/ibft/core`;
//! `docs/dev/bft-wire.md` §7), with the same shape as [`crate::qbft::State`]:
//! [`State::handle`] takes an [`Input`] and returns [`Output`]s; the host owns clock, network and
//! chain. Messages this validator broadcasts are also handled locally.
//!
//! The rules (`GoQuorum`'s): the proposer proposes its block, or its locked block after a round
//! change; a validator accepts the round's PRE-PREPARE from the round's proposer and PREPAREs it,
//! or, when locked, COMMITs it if it is the locked block and asks for the next round otherwise;
//! PREPAREs plus COMMITs from a quorum (or a PREPARE for the locked block) lock the block and send
//! a COMMIT; a quorum of COMMITs (whose committed seals are their authors') commits. ROUND-CHANGEs
//! for a round above ours from F+1 validators, while waiting for a round change, make us ask for
//! that round too; a quorum of them starts it. The lock is kept across the rounds of the height.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, Bytes, keccak256};
use cachet_seal::ibft::{self as seal, IstanbulExtra};

use super::message::{Content, Message, committed_seal_digest};
use crate::qbft::message::recover;
use crate::qbft::state::{admit, in_window};
use crate::qbft::validators::{self, ProposerPolicy};
use crate::qbft::{Block, Env, MAX_ROUND, PreparedCertificate};

/// An event for the IBFT state machine.
pub type Input = crate::qbft::Input<Message>;
/// What the host must do.
pub type Output = crate::qbft::Output<Message>;

/// Which quorum the network runs (`GoQuorum` `QuorumSize`, `bft-wire.md` §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuorumRule {
    /// ⌈2N/3⌉: `ceil2Nby3Block` set and reached (genesis `ibft` configs default it to 0).
    #[default]
    TwoThirds,
    /// 2F+1: no `ceil2Nby3Block` (the deprecated `istanbul` key), or below it.
    TwoFPlusOne,
}

/// Fixed per-network parameters of one height.
#[derive(Debug, Clone)]
pub struct Config {
    /// The validators of this height in IBFT's proposer order
    /// ([`super::sort_validators`]: by checksummed hex string).
    pub validators: Vec<Address>,
    /// The signer of the parent block's proposer seal; zero for the genesis parent.
    pub last_proposer: Address,
    /// Proposer policy.
    pub policy: ProposerPolicy,
    /// Round-0 timeout in milliseconds (`requesttimeoutseconds × 1000`).
    pub request_timeout_ms: u64,
    /// The quorum rule.
    pub quorum: QuorumRule,
}

impl Config {
    /// The timeout of `round`: `request_timeout`, plus `2^round` seconds for round > 0
    /// (`GoQuorum` `newRoundChangeTimer`), saturating.
    pub fn timeout_ms(&self, round: u32) -> u64 {
        if round == 0 {
            return self.request_timeout_ms;
        }
        let back_off = 1u64
            .checked_shl(round)
            .and_then(|s| s.checked_mul(1000))
            .unwrap_or(u64::MAX);
        self.request_timeout_ms.saturating_add(back_off)
    }

    /// The proposer of `round`.
    pub fn proposer(&self, round: u32) -> Option<Address> {
        validators::proposer(&self.validators, self.last_proposer, round, self.policy)
    }

    /// The quorum.
    pub const fn quorum(&self) -> usize {
        let n = self.validators.len();
        match self.quorum {
            QuorumRule::TwoThirds => validators::quorum(n),
            QuorumRule::TwoFPlusOne => 2 * validators::f(n) + 1,
        }
    }

    /// F, the faults tolerated.
    pub const fn f(&self) -> usize {
        validators::f(self.validators.len())
    }
}

/// Where the current round is (`GoQuorum` `ibfttypes.State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    AcceptRequest,
    Preprepared,
    Prepared,
    Committed,
}

#[derive(Debug, Clone, Default)]
struct RoundMessages {
    /// The first PRE-PREPARE of the round from its proposer, not yet looked at.
    preprepare: Option<Block>,
    prepares: BTreeMap<Address, B256>,
    /// Digest and committed seal (already checked to be the author's).
    commits: BTreeMap<Address, (B256, [u8; 65])>,
}

/// The IBFT state of one height.
#[derive(Debug, Clone)]
pub struct State {
    height: u64,
    cfg: Config,
    round: u32,
    phase: Phase,
    /// Sent a ROUND-CHANGE for the current round and waiting for a quorum of them.
    waiting: bool,
    /// The proposal of the current round (the locked block until a PRE-PREPARE is accepted).
    proposal: Option<Block>,
    locked: Option<Block>,
    /// This validator's own sealed block for the height (`GoQuorum`'s pending request).
    pending: Option<Block>,
    awaiting_block: bool,
    proposed: bool,
    rounds: BTreeMap<u32, RoundMessages>,
    round_changes: BTreeMap<u32, BTreeSet<Address>>,
}

impl State {
    /// The state of `height`; reloads the block locked at this height saved in `journal` (a
    /// restart).
    pub fn new(height: u64, cfg: Config, journal: &dyn crate::qbft::Journal) -> Self {
        let locked = journal.prepared(height).map(|c| c.block);
        Self {
            height,
            cfg,
            round: 0,
            phase: Phase::AcceptRequest,
            waiting: false,
            proposal: locked.clone(),
            locked,
            pending: None,
            awaiting_block: false,
            proposed: false,
            rounds: BTreeMap::new(),
            round_changes: BTreeMap::new(),
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
    pub fn is_committed(&self) -> bool {
        self.phase == Phase::Committed
    }

    /// The digest of the locked block, if any.
    pub fn locked(&self) -> Option<B256> {
        self.locked.as_ref().map(Block::digest)
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.cfg
    }

    /// Handles one input.
    pub fn handle(&mut self, env: &mut Env<'_>, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.is_committed() {
            return out;
        }
        match input {
            Input::Start => self.enter_round(0, false, &mut out),
            Input::Timeout { height, round } => {
                if height == self.height && round == self.round {
                    self.on_timeout(env, &mut out);
                }
            }
            Input::Block(block) => self.on_block(env, &block, &mut out),
            Input::Message(msg) => self.on_message(env, msg, &mut out),
        }
        self.progress(env, &mut out);
        out
    }

    /// The host could not import the committed block (`GoQuorum` `commit`: `UnlockHash`, then
    /// `sendNextRoundChange`): unlocks and asks for the next round. Nothing when the height is
    /// not committed here.
    pub fn import_failed(&mut self, env: &mut Env<'_>) -> Vec<Output> {
        let mut out = Vec::new();
        if !self.is_committed() {
            return out;
        }
        self.locked = None;
        self.phase = Phase::AcceptRequest;
        self.send_round_change(env, self.round.saturating_add(1), &mut out);
        self.progress(env, &mut out);
        out
    }

    fn is_proposer(&self, env: &Env<'_>) -> bool {
        self.cfg.proposer(self.round) == Some(env.signer.address())
    }

    fn is_validator(&self, a: &Address) -> bool {
        self.cfg.validators.contains(a)
    }

    /// Moves to `round` with a fresh round state; the lock and its proposal stay
    /// (`GoQuorum` `updateRoundState`). `waiting`: entered by asking for the round
    /// (`catchUpRound`) rather than by a quorum of ROUND-CHANGEs (`startNewRound`).
    fn enter_round(&mut self, round: u32, waiting: bool, out: &mut Vec<Output>) {
        self.round = round;
        self.waiting = waiting;
        self.phase = Phase::AcceptRequest;
        self.proposal = self.locked.clone();
        self.proposed = false;
        // A block asked for in an earlier round may never come (the host builds per round).
        self.awaiting_block = false;
        self.rounds.retain(|r, _| *r >= round);
        if waiting {
            self.round_changes.retain(|r, _| *r >= round);
        } else {
            self.round_changes.clear();
        }
        out.push(Output::SetTimer {
            height: self.height,
            round,
            after_ms: self.cfg.timeout_ms(round),
        });
    }

    /// Broadcasts `msg` and handles it locally.
    fn emit(&mut self, env: &mut Env<'_>, msg: Message, out: &mut Vec<Output>) {
        out.push(Output::Broadcast(msg.clone()));
        self.on_message(env, msg, out);
    }

    fn sign_and_emit(&mut self, env: &mut Env<'_>, content: Content, out: &mut Vec<Output>) {
        match Message::sign(self.height, self.round, content, env.signer) {
            Ok(m) => self.emit(env, m, out),
            Err(e) => out.push(Output::Ignored(e.to_string())),
        }
    }

    /// Records `digest` at the current (height, round) in the journal before signing for it.
    fn record(&self, env: &mut Env<'_>, digest: B256, out: &mut Vec<Output>) -> bool {
        match env.journal.record(self.height, self.round, digest) {
            Ok(()) => true,
            Err(e) => {
                out.push(Output::Ignored(e.to_string()));
                false
            }
        }
    }

    /// Asks for `round` (`GoQuorum` `sendRoundChange`): enter it waiting, then broadcast.
    fn send_round_change(&mut self, env: &mut Env<'_>, round: u32, out: &mut Vec<Output>) {
        if round <= self.round || round > MAX_ROUND {
            return;
        }
        self.enter_round(round, true, out);
        self.sign_and_emit(env, Content::RoundChange, out);
    }

    fn on_timeout(&mut self, env: &mut Env<'_>, out: &mut Vec<Output>) {
        if !self.waiting {
            let f1 = self.cfg.f() + 1;
            let max = self
                .round_changes
                .iter()
                .filter(|(_, s)| s.len() >= f1)
                .map(|(r, _)| *r)
                .max();
            if let Some(r) = max.filter(|r| *r > self.round) {
                return self.send_round_change(env, r, out);
            }
        }
        self.send_round_change(env, self.round.saturating_add(1), out);
    }

    /// The host's block: seal it with the proposer seal and keep it as this height's proposal.
    fn on_block(&mut self, env: &mut Env<'_>, block: &Block, out: &mut Vec<Output>) {
        if !self.awaiting_block {
            out.push(Output::Ignored("built block not asked for".into()));
            return;
        }
        if block.header().number != self.height {
            out.push(Output::Ignored("built block for another height".into()));
            return;
        }
        self.awaiting_block = false;
        match Self::seal(env, block) {
            Ok(b) => self.pending = Some(b),
            Err(e) => out.push(Output::Ignored(format!("sealing the built block: {e}"))),
        }
    }

    fn seal(env: &Env<'_>, block: &Block) -> Result<Block, String> {
        let header = block.header();
        let sig_hash = seal::proposer_sig_hash(header).map_err(|e| e.to_string())?;
        let sig = env
            .signer
            .sign(&keccak256(sig_hash))
            .map_err(|e| e.to_string())?;
        let mut extra = IstanbulExtra::decode(&header.extra_data).map_err(|e| e.to_string())?;
        extra.seal = sig.to_vec();
        extra.committed_seals.clear();
        let mut sealed = header.clone();
        sealed.extra_data = Bytes::from(extra.encode());
        block.with_ibft_header(&sealed).map_err(|e| e.to_string())
    }

    fn on_message(&mut self, env: &mut Env<'_>, msg: Message, out: &mut Vec<Output>) {
        let ignore = |out: &mut Vec<Output>, why: String| out.push(Output::Ignored(why));
        let (height, round) = msg.view();
        let author = match admit(
            (self.height, &self.cfg.validators),
            height,
            msg.author().map_err(|e| e.to_string()),
        ) {
            Ok(a) => a,
            Err(why) => return ignore(out, why),
        };
        if !in_window(self.round, round) {
            return ignore(
                out,
                format!("round {round} outside the window at {}", self.round),
            );
        }
        match msg.content {
            Content::RoundChange => {
                self.round_changes.entry(round).or_default().insert(author);
                self.on_round_change(env, round, out);
            }
            Content::PrePrepare(block) => {
                if self.cfg.proposer(round) != Some(author) {
                    return ignore(
                        out,
                        format!("PRE-PREPARE for round {round} from {author}, not its proposer"),
                    );
                }
                let m = self.rounds.entry(round).or_default();
                if m.preprepare.is_none() {
                    m.preprepare = Some(block);
                }
            }
            Content::Prepare(digest) => {
                let m = self.rounds.entry(round).or_default();
                m.prepares.entry(author).or_insert(digest);
            }
            Content::Commit {
                digest,
                committed_seal,
            } => {
                let sealer = recover(
                    &committed_seal_digest(&digest),
                    &committed_seal,
                    "committed seal",
                );
                if sealer.ok() != Some(author) {
                    return ignore(out, format!("COMMIT by {author} with another's seal"));
                }
                let m = self.rounds.entry(round).or_default();
                m.commits.entry(author).or_insert((digest, committed_seal));
            }
        }
        self.progress(env, out);
    }

    /// `GoQuorum` `handleRoundChange`, counting each validator once per round.
    fn on_round_change(&mut self, env: &mut Env<'_>, round: u32, out: &mut Vec<Output>) {
        let n = self.round_changes.get(&round).map_or(0, BTreeSet::len);
        if self.waiting && n > self.cfg.f() && self.round < round {
            self.send_round_change(env, round, out);
        } else if n >= self.cfg.quorum() && (self.waiting || self.round < round) {
            self.enter_round(round, false, out);
        }
    }

    /// Checks a PRE-PREPARE's block: height, IBFT header, a proposer seal by a validator, no
    /// committed seals, this height's validators, then the host's checks.
    fn check_block(&self, env: &Env<'_>, block: &Block) -> Result<(), String> {
        let header = block.header();
        if header.number != self.height {
            return Err(format!(
                "proposed block number {} at height {}",
                header.number, self.height
            ));
        }
        let extra = IstanbulExtra::decode(&header.extra_data).map_err(|e| e.to_string())?;
        if !extra.committed_seals.is_empty() {
            return Err("proposed block already carries committed seals".into());
        }
        let mut listed = extra.validators;
        let mut ours = self.cfg.validators.clone();
        listed.sort();
        ours.sort();
        if listed != ours {
            return Err("proposed block lists other validators".into());
        }
        let sealer = seal::recover_proposer(header).map_err(|e| e.to_string())?;
        if !self.is_validator(&sealer) {
            return Err(format!("proposer seal by non-validator {sealer}"));
        }
        env.blocks.check(self.height, block)
    }

    /// Sends this round's PRE-PREPARE for `block`.
    fn propose(&mut self, env: &mut Env<'_>, block: Block, out: &mut Vec<Output>) {
        if !self.record(env, block.digest(), out) {
            return;
        }
        self.proposed = true;
        self.sign_and_emit(env, Content::PrePrepare(block), out);
    }

    fn send_commit(&mut self, env: &mut Env<'_>, block: &Block, out: &mut Vec<Output>) {
        let digest = block.digest();
        let cert = PreparedCertificate {
            round: self.round,
            block: block.clone(),
            prepares: Vec::new(),
        };
        if let Err(e) = env.journal.save_prepared(self.height, &cert) {
            out.push(Output::Ignored(e.to_string()));
            return;
        }
        self.locked = Some(block.clone());
        if !self.record(env, digest, out) {
            return;
        }
        let committed_seal = match env.signer.sign(&committed_seal_digest(&digest)) {
            Ok(s) => s,
            Err(e) => return out.push(Output::Ignored(e.to_string())),
        };
        self.sign_and_emit(
            env,
            Content::Commit {
                digest,
                committed_seal,
            },
            out,
        );
    }

    fn progress(&mut self, env: &mut Env<'_>, out: &mut Vec<Output>) {
        if self.waiting || self.is_committed() {
            return;
        }
        let round = self.round;
        if self.phase == Phase::AcceptRequest {
            if !self.proposed && self.is_proposer(env) {
                if let Some(b) = self.locked.clone().or_else(|| self.pending.clone()) {
                    return self.propose(env, b, out);
                }
                if !self.awaiting_block {
                    self.awaiting_block = true;
                    out.push(Output::BuildBlock {
                        height: self.height,
                        round,
                    });
                }
            }
            let Some(block) = self
                .rounds
                .get_mut(&round)
                .and_then(|m| m.preprepare.take())
            else {
                return;
            };
            if let Err(e) = self.check_block(env, &block) {
                out.push(Output::Ignored(format!("proposal refused: {e}")));
                return self.send_round_change(env, round.saturating_add(1), out);
            }
            match self.locked.as_ref().map(Block::digest) {
                Some(l) if l != block.digest() => {
                    out.push(Output::Ignored("proposal is not the locked block".into()));
                    return self.send_round_change(env, round.saturating_add(1), out);
                }
                Some(_) => {
                    self.proposal = Some(block.clone());
                    self.phase = Phase::Prepared;
                    return self.send_commit(env, &block, out);
                }
                None => {
                    if !self.record(env, block.digest(), out) {
                        return;
                    }
                    self.proposal = Some(block.clone());
                    self.phase = Phase::Preprepared;
                    return self.sign_and_emit(env, Content::Prepare(block.digest()), out);
                }
            }
        }
        let Some(block) = self.proposal.clone() else {
            return;
        };
        let digest = block.digest();
        let m = self.rounds.entry(round).or_default();
        let commits: Vec<(Address, [u8; 65])> = m
            .commits
            .iter()
            .filter(|(_, (d, _))| *d == digest)
            .map(|(a, (_, s))| (*a, *s))
            .collect();
        if self.phase == Phase::Preprepared {
            let prepared: BTreeSet<Address> = m
                .prepares
                .iter()
                .filter(|(_, d)| **d == digest)
                .map(|(a, _)| *a)
                .chain(commits.iter().map(|(a, _)| *a))
                .collect();
            let for_lock = self.locked.as_ref().map(Block::digest) == Some(digest)
                && m.prepares.values().any(|d| *d == digest);
            if prepared.len() >= self.cfg.quorum() || for_lock {
                self.phase = Phase::Prepared;
                return self.send_commit(env, &block, out);
            }
        }
        if commits.len() >= self.cfg.quorum() {
            let seals: Vec<[u8; 65]> = commits.iter().map(|(_, s)| *s).collect();
            match seal::with_committed_seals(block.header(), &seals) {
                Ok(header) => {
                    self.locked = Some(block.clone());
                    self.phase = Phase::Committed;
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
