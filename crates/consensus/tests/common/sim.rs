//! The deterministic BFT simulation both engines run (`tests/sim.rs` for QBFT, `tests/ibft_sim.rs`
//! for legacy IBFT; `docs/dev/bft-wire.md` §10).
//!
//! A seeded scheduler on a virtual clock delivers every message through encode → decode with a
//! random delay, drops some, duplicates some (delay reorders them), and runs faulty validators:
//! crash/restart (the journal survives), silent, or Byzantine (equivocating). Checked per seed:
//! every honest validator reaches the target height (≤ F faulty), no two validators decide
//! different blocks at a height, every decided block's seals verify; with more than F silent,
//! nothing commits. The engine-specific parts are an [`Engine`].
//!
//! `CACHET_BFT_SEEDS` sets the seeds per scenario (default 50).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use alloy_primitives::{Address, B256};
use cachet_consensus::qbft::validators::f;
use cachet_consensus::qbft::{
    Block, BlockCheck, Env, Input, Journal, JournalError, MemoryJournal, Output,
    PreparedCertificate, Signer,
};
use cachet_primitives::Header;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::TestKey;

pub const TARGET: u64 = 4;
pub const TIMEOUT_MS: u64 = 1000;

pub fn seeds() -> u64 {
    std::env::var("CACHET_BFT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// What differs between engines.
pub trait Engine {
    /// The engine's message.
    type Msg: Clone + std::fmt::Debug;
    /// The per-height state machine.
    type State;
    /// Future-height messages.
    type Backlog: Default;
    /// Virtual time a scenario may take, in milliseconds.
    const TIME_LIMIT_MS: u64;
    /// Whether honest validators relay each message they see for the first time to the others
    /// (the host's gossip, `GoQuorum` `Gossip` after a handled message).
    const RELAY: bool;

    /// Orders the validators' keys as the engine's proposer order.
    fn order(keys: &mut [TestKey]);
    /// The genesis header.
    fn genesis(validators: &[Address]) -> Header;
    /// The state of `height` on top of `head`.
    fn new_state(
        height: u64,
        validators: &[Address],
        head: &Header,
        journal: &dyn Journal,
    ) -> Self::State;
    fn handle(
        state: &mut Self::State,
        env: &mut Env<'_>,
        input: Input<Self::Msg>,
    ) -> Vec<Output<Self::Msg>>;
    /// (height, round) of the state.
    fn view(state: &Self::State) -> (u64, u32);
    /// The p2p code and payload.
    fn encode(msg: &Self::Msg) -> (u8, Vec<u8>);
    /// Decodes what [`Engine::encode`] made (and checks it re-encodes to the same bytes).
    fn decode(code: u8, bytes: &[u8]) -> Self::Msg;
    fn height_of(msg: &Self::Msg) -> u64;
    fn backlog_push(backlog: &mut Self::Backlog, current: u64, msg: Self::Msg);
    fn backlog_take(backlog: &mut Self::Backlog, height: u64) -> Vec<Self::Msg>;
    fn block_hash(header: &Header) -> B256;
    /// Panics unless `header`'s seals verify for `validators` with a ⌈2N/3⌉ quorum.
    fn verify(header: &Header, validators: &[Address]);
    /// The block `proposer` builds on `parent` (hash `parent_hash`).
    fn build(
        parent: &Header,
        parent_hash: B256,
        proposer: Address,
        validators: &[Address],
    ) -> Block;
    /// A short description for traces.
    fn describe(msg: &Self::Msg) -> String;
    /// A conflicting twin of `msg`, signed by `key`.
    fn twin(msg: &Self::Msg, key: &TestKey, rng: &mut StdRng) -> Self::Msg;
}

/// A header with the fields both engines fix (`IstanbulDigest`, difficulty 1, empty ommers): the
/// genesis (`parent` = None) or the child of `parent` (hash `parent_hash`) one second later.
pub fn bft_header(
    parent: Option<(&Header, B256)>,
    beneficiary: Address,
    extra_data: alloy_primitives::Bytes,
) -> Header {
    let (number, parent_hash, timestamp) = parent.map_or((0, B256::ZERO, 0), |(p, h)| {
        (p.number + 1, h, p.timestamp + 1)
    });
    Header {
        parent_hash,
        number,
        beneficiary,
        timestamp,
        difficulty: alloy_primitives::U256::from(1),
        mix_hash: cachet_seal::bft::ISTANBUL_DIGEST,
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        gas_limit: 30_000_000,
        extra_data,
        ..Header::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Honest,
    /// Crashes at `at` and restarts `down` later (journal kept).
    Crash {
        at: u64,
        down: u64,
    },
    /// Never sends anything.
    Silent,
    /// Equivocates: conflicting messages to two halves of the network.
    Byzantine,
}

/// A journal that allows everything (the Byzantine validator's).
#[derive(Default)]
struct NoGuard(MemoryJournal);

impl Journal for NoGuard {
    fn record(&mut self, _: u64, _: u32, _: B256) -> Result<(), JournalError> {
        Ok(())
    }
    fn save_prepared(&mut self, h: u64, c: &PreparedCertificate) -> Result<(), JournalError> {
        self.0.save_prepared(h, c)
    }
    fn prepared(&self, h: u64) -> Option<PreparedCertificate> {
        self.0.prepared(h)
    }
}

struct ParentCheck(B256);

impl BlockCheck for ParentCheck {
    fn check(&self, _: u64, block: &Block) -> Result<(), String> {
        if block.header().parent_hash == self.0 {
            Ok(())
        } else {
            Err("unknown parent".into())
        }
    }
}

pub struct Node<E: Engine> {
    key: TestKey,
    fault: Fault,
    journal: Box<dyn Journal>,
    pub state: Option<E::State>,
    /// Decided headers, index = height - 1.
    pub chain: Vec<Header>,
    backlog: E::Backlog,
    timer_gen: u64,
    /// Announced blocks above the next height (announcements arrive out of order).
    pending: BTreeMap<u64, Header>,
    /// Messages already relayed (with [`Engine::RELAY`]).
    seen: std::collections::BTreeSet<B256>,
}

#[derive(Debug)]
enum Event {
    Deliver {
        to: usize,
        code: u8,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        height: u64,
        round: u32,
        generation: u64,
    },
    Built {
        node: usize,
        height: u64,
        round: u32,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    /// Block propagation (eth sync): reliable, delayed.
    Announce {
        to: usize,
        header: Box<Header>,
    },
}

pub struct Sim<E: Engine> {
    rng: StdRng,
    pub now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    pub nodes: Vec<Node<E>>,
    validators: Vec<Address>,
    genesis: Header,
    decided: BTreeMap<u64, B256>,
    drop_p: f64,
    dup_p: f64,
    /// Block propagation delay range (ms).
    pub sync_delay: (u64, u64),
    pub commits: usize,
    /// Decisions made in a round above 0.
    pub late_commits: usize,
    pub max_round: u32,
    pub trace: Vec<String>,
    /// Print every output (debugging one seed).
    pub verbose: bool,
}

impl<E: Engine> Sim<E> {
    pub fn new(seed: u64, n: usize, faults: &[Fault], drop_p: f64, dup_p: f64) -> Self {
        let mut keys: Vec<TestKey> = (1..=n as u64).map(TestKey::numbered).collect();
        E::order(&mut keys);
        let validators: Vec<Address> = keys.iter().map(Signer::address).collect();
        let nodes = keys
            .into_iter()
            .zip(faults)
            .map(|(key, fault)| Node {
                key,
                fault: *fault,
                journal: if *fault == Fault::Byzantine {
                    Box::new(NoGuard::default())
                } else {
                    Box::new(MemoryJournal::default())
                },
                state: None,
                chain: Vec::new(),
                backlog: E::Backlog::default(),
                timer_gen: 0,
                pending: BTreeMap::new(),
                seen: std::collections::BTreeSet::new(),
            })
            .collect();
        let genesis = E::genesis(&validators);
        Self {
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            nodes,
            validators,
            genesis,
            decided: BTreeMap::new(),
            drop_p,
            dup_p,
            sync_delay: (1, 300),
            commits: 0,
            late_commits: 0,
            max_round: 0,
            trace: Vec::new(),
            verbose: false,
        }
    }

    fn schedule(&mut self, after: u64, ev: Event) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + after, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn head(&self, i: usize) -> &Header {
        self.nodes[i].chain.last().unwrap_or(&self.genesis)
    }

    fn head_hash(&self, i: usize) -> B256 {
        E::block_hash(self.head(i))
    }

    fn start_height(&mut self, i: usize) {
        let h = self.nodes[i].chain.len() as u64 + 1;
        let state = E::new_state(h, &self.validators, self.head(i), &*self.nodes[i].journal);
        self.nodes[i].state = Some(state);
        self.input(i, Input::Start);
        for msg in E::backlog_take(&mut self.nodes[i].backlog, h) {
            self.input(i, Input::Message(msg));
        }
    }

    fn input(&mut self, i: usize, input: Input<E::Msg>) {
        let parent = self.head_hash(i);
        let node = &mut self.nodes[i];
        let Some(state) = node.state.as_mut() else {
            return;
        };
        let check = ParentCheck(parent);
        let mut env = Env {
            signer: &node.key,
            journal: &mut *node.journal,
            blocks: &check,
        };
        let outputs = E::handle(state, &mut env, input);
        for o in outputs {
            self.output(i, o);
        }
    }

    fn output(&mut self, i: usize, o: Output<E::Msg>) {
        if self.verbose {
            let what = match &o {
                Output::Broadcast(m) => E::describe(m),
                Output::Committed { round, .. } => format!("committed at round {round}"),
                Output::Ignored(why) => format!("ignored: {why}"),
                Output::SetTimer {
                    round, after_ms, ..
                } => format!("timer r{round} {after_ms}"),
                Output::BuildBlock { round, .. } => format!("build r{round}"),
            };
            eprintln!("t={} node {i}: {what}", self.now);
        }
        match o {
            Output::Broadcast(msg) => self.broadcast(i, msg),
            Output::SetTimer {
                height,
                round,
                after_ms,
            } => {
                self.nodes[i].timer_gen += 1;
                let generation = self.nodes[i].timer_gen;
                self.schedule(
                    after_ms,
                    Event::Timer {
                        node: i,
                        height,
                        round,
                        generation,
                    },
                );
            }
            Output::BuildBlock { height, round } => {
                let d = self.rng.gen_range(1..20);
                self.schedule(
                    d,
                    Event::Built {
                        node: i,
                        height,
                        round,
                    },
                );
            }
            Output::Committed { header, round, .. } => self.decide(i, *header, round),
            Output::Ignored(_) => {}
        }
    }

    fn decide(&mut self, i: usize, header: Header, round: u32) {
        let h = header.number;
        let hash = E::block_hash(&header);
        E::verify(&header, &self.validators);
        let honest = matches!(self.nodes[i].fault, Fault::Honest | Fault::Crash { .. });
        if honest {
            let prev = *self.decided.entry(h).or_insert(hash);
            assert_eq!(
                prev, hash,
                "FORK at height {h}: node {i} decided another block"
            );
        }
        self.commits += 1;
        self.late_commits += usize::from(round > 0);
        self.max_round = self.max_round.max(round);
        self.trace.push(format!(
            "t={} node {i} decided {h} at round {round}",
            self.now
        ));
        self.adopt(i, header);
        for to in 0..self.nodes.len() {
            if to != i {
                let d = self.rng.gen_range(self.sync_delay.0..self.sync_delay.1);
                self.schedule(
                    d,
                    Event::Announce {
                        to,
                        header: Box::new(self.nodes[i].chain.last().unwrap().clone()),
                    },
                );
            }
        }
    }

    /// Appends a decided header and moves to the next height.
    fn adopt(&mut self, i: usize, header: Header) {
        self.nodes[i].chain.push(header);
        if self.nodes[i].state.is_some() {
            self.start_height(i);
            let next = self.nodes[i].chain.len() as u64 + 1;
            if let Some(header) = self.nodes[i].pending.remove(&next) {
                self.announce(i, header);
            }
        }
    }

    fn send(&mut self, to: usize, msg: &E::Msg) {
        if self.rng.gen_bool(self.drop_p) {
            return;
        }
        let copies = if self.rng.gen_bool(self.dup_p) { 2 } else { 1 };
        for _ in 0..copies {
            let d = self.rng.gen_range(1..200);
            let (code, bytes) = E::encode(msg);
            self.schedule(d, Event::Deliver { to, code, bytes });
        }
    }

    fn broadcast(&mut self, from: usize, msg: E::Msg) {
        match self.nodes[from].fault {
            Fault::Silent => return,
            Fault::Byzantine => return self.equivocate(from, msg),
            _ => {}
        }
        for to in 0..self.nodes.len() {
            if to != from {
                self.send(to, &msg);
            }
        }
    }

    /// Sends `msg` to one half and a conflicting twin to the other.
    fn equivocate(&mut self, from: usize, msg: E::Msg) {
        let key = self.nodes[from].key.clone();
        let twin = E::twin(&msg, &key, &mut self.rng);
        for to in 0..self.nodes.len() {
            if to != from {
                let m = if self.rng.gen_bool(0.5) { &msg } else { &twin };
                let m = m.clone();
                self.send(to, &m);
            }
        }
    }

    fn deliver(&mut self, to: usize, code: u8, bytes: &[u8]) {
        if self.nodes[to].state.is_none() {
            return;
        }
        let msg = E::decode(code, bytes);
        let h = self.nodes[to].chain.len() as u64 + 1;
        let mh = E::height_of(&msg);
        let honest = matches!(self.nodes[to].fault, Fault::Honest | Fault::Crash { .. });
        if E::RELAY
            && honest
            && mh >= h
            && self.nodes[to]
                .seen
                .insert(alloy_primitives::keccak256(bytes))
        {
            for other in 0..self.nodes.len() {
                if other != to {
                    self.send(other, &msg);
                }
            }
        }
        if mh > h {
            E::backlog_push(&mut self.nodes[to].backlog, h, msg);
        } else if mh == h {
            self.input(to, Input::Message(msg));
        }
    }

    fn announce(&mut self, to: usize, header: Header) {
        if self.nodes[to].state.is_none() {
            return;
        }
        let h = self.nodes[to].chain.len() as u64 + 1;
        if header.number > h {
            self.nodes[to].pending.insert(header.number, header);
            return;
        }
        if header.number != h || header.parent_hash != self.head_hash(to) {
            return;
        }
        E::verify(&header, &self.validators);
        self.adopt(to, header);
    }

    /// A restarted validator syncs the longest chain its peers hold (verifying each block).
    fn restart(&mut self, i: usize) {
        let best = (0..self.nodes.len())
            .filter(|j| *j != i && !matches!(self.nodes[*j].fault, Fault::Byzantine))
            .max_by_key(|j| self.nodes[*j].chain.len())
            .unwrap();
        let from = self.nodes[i].chain.len();
        let extra: Vec<Header> = self.nodes[best]
            .chain
            .get(from..)
            .unwrap_or_default()
            .to_vec();
        for header in extra {
            E::verify(&header, &self.validators);
            assert_eq!(header.parent_hash, self.head_hash(i));
            self.nodes[i].chain.push(header);
        }
        self.start_height(i);
    }

    fn built(&mut self, i: usize, height: u64, round: u32) {
        let Some(state) = &self.nodes[i].state else {
            return;
        };
        if E::view(state) != (height, round) {
            return;
        }
        let block = E::build(
            self.head(i),
            self.head_hash(i),
            self.nodes[i].key.address(),
            &self.validators,
        );
        self.input(i, Input::Block(block));
    }

    fn done(&self, target: u64) -> bool {
        self.nodes
            .iter()
            .filter(|n| matches!(n.fault, Fault::Honest | Fault::Crash { .. }))
            .all(|n| n.chain.len() as u64 >= target)
    }

    /// Runs until every honest validator reaches `target` or the virtual time limit.
    pub fn run(&mut self, target: u64, limit_ms: u64) -> bool {
        for i in 0..self.nodes.len() {
            match self.nodes[i].fault {
                Fault::Crash { at, down } => {
                    self.schedule(at, Event::Crash { node: i });
                    self.schedule(at + down, Event::Restart { node: i });
                }
                Fault::Honest | Fault::Silent | Fault::Byzantine => {}
            }
            self.start_height(i);
        }
        while let Some(Reverse((t, seq))) = self.queue.pop() {
            if self.done(target) {
                return true;
            }
            if t > limit_ms {
                return false;
            }
            self.now = t;
            let ev = self.events.remove(&seq).unwrap();
            match ev {
                Event::Deliver { to, code, bytes } => self.deliver(to, code, &bytes),
                Event::Timer {
                    node,
                    height,
                    round,
                    generation,
                } => {
                    if self.nodes[node].timer_gen == generation {
                        self.input(node, Input::Timeout { height, round });
                    }
                }
                Event::Built {
                    node,
                    height,
                    round,
                } => self.built(node, height, round),
                Event::Crash { node } => {
                    self.trace.push(format!("t={t} node {node} crashed"));
                    self.nodes[node].state = None;
                    self.nodes[node].backlog = E::Backlog::default();
                }
                Event::Restart { node } => {
                    self.trace.push(format!("t={t} node {node} restarted"));
                    self.restart(node);
                }
                Event::Announce { to, header } => self.announce(to, *header),
            }
        }
        self.done(target)
    }
}

pub fn faults(rng: &mut StdRng, n: usize, byzantine: bool) -> Vec<Fault> {
    let mut out = vec![Fault::Honest; n];
    let k = rng.gen_range(0..=f(n));
    let mut idx: Vec<usize> = (0..n).collect();
    for j in 0..k {
        let pick = rng.gen_range(j..n);
        idx.swap(j, pick);
        out[idx[j]] = if byzantine {
            Fault::Byzantine
        } else {
            match rng.gen_range(0..2) {
                0 => Fault::Crash {
                    at: rng.gen_range(0..6000),
                    down: rng.gen_range(500..20_000),
                },
                _ => Fault::Silent,
            }
        };
    }
    out
}

/// A lossy network (a share `drop_p` of consensus messages lost on each link) where decided
/// blocks take 2–10 s to spread:
/// validators that missed the COMMITs change rounds while others have decided, so the next
/// round's proposal must respect the lock or they would fork.
pub fn run_lossy<E: Engine>(n: usize, drop_p: f64) {
    let mut failures = Vec::new();
    let (mut late, mut max_round) = (0, 0);
    for seed in 0..seeds() {
        let fs = vec![Fault::Honest; n];
        let mut sim = Sim::<E>::new(seed ^ 0x1055 ^ ((n as u64) << 40), n, &fs, drop_p, 0.05);
        sim.sync_delay = (2000, 10_000);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sim.run(TARGET, E::TIME_LIMIT_MS)
        }));
        late += sim.late_commits;
        max_round = max_round.max(sim.max_round);
        match result {
            Ok(true) => {}
            Ok(false) => failures.push(format!(
                "seed {seed}: target not reached: {:?} heights {:?} rounds {:?}",
                sim.trace,
                sim.nodes.iter().map(|n| n.chain.len()).collect::<Vec<_>>(),
                sim.nodes
                    .iter()
                    .map(|n| n.state.as_ref().map(E::view))
                    .collect::<Vec<_>>()
            )),
            Err(_) => failures.push(format!("seed {seed}: invariant broken (see panic)")),
        }
    }
    eprintln!(
        "N={n} lossy: {} seeds, {late} decisions after a round change, highest round {max_round}",
        seeds()
    );
    assert!(failures.is_empty(), "N={n}: {failures:#?}");
}

/// `live`: every honest validator must reach the target; else only safety is checked (and the
/// runs that stall are counted).
pub fn run_scenario<E: Engine>(n: usize, byzantine: bool, live: bool) {
    let mut failures = Vec::new();
    let mut commits = 0;
    let (mut late, mut max_round, mut faulty, mut time, mut stalled) = (0, 0, 0, 0, 0);
    for seed in 0..seeds() {
        let mut rng = StdRng::seed_from_u64(seed ^ ((n as u64) << 32) ^ u64::from(byzantine));
        let fs = faults(&mut rng, n, byzantine);
        let sim_seed = rng.r#gen();
        let mut sim = Sim::<E>::new(sim_seed, n, &fs, 0.05, 0.05);
        faulty += fs.iter().filter(|f| **f != Fault::Honest).count();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ok = sim.run(TARGET, E::TIME_LIMIT_MS);
            (ok, sim.commits)
        }));
        late += sim.late_commits;
        max_round = max_round.max(sim.max_round);
        time += sim.now;
        match result {
            Ok((true, c)) => commits += c,
            Ok((false, c)) if !live => {
                commits += c;
                stalled += 1;
            }
            Ok((false, _)) => failures.push(format!("seed {seed} ({fs:?}): target not reached")),
            Err(_) => failures.push(format!(
                "seed {seed} ({fs:?}): invariant broken (see panic)"
            )),
        }
    }
    eprintln!(
        "N={n} byzantine={byzantine}: {} seeds, {faulty} faulty validators in all, {commits} decisions \
         ({late} after a round change, highest round {max_round}), mean virtual time {} ms, \
         {stalled} seeds stalled",
        seeds(),
        time / seeds().max(1)
    );
    assert!(failures.is_empty(), "N={n}: {failures:#?}");
    if live {
        assert!(commits as u64 >= seeds() * TARGET);
    }
}

/// With F+1 silent validators nothing commits (and nothing forks).
pub fn run_more_than_f_silent<E: Engine>(limit_ms: u64) {
    for n in [4usize, 7] {
        for seed in 0..seeds() {
            let mut fs = vec![Fault::Honest; n];
            for slot in fs.iter_mut().take(f(n) + 1) {
                *slot = Fault::Silent;
            }
            let mut sim = Sim::<E>::new(seed, n, &fs, 0.05, 0.05);
            assert!(!sim.run(1, limit_ms), "N={n} seed {seed}");
            assert_eq!(sim.commits, 0, "N={n} seed {seed}: {:?}", sim.trace);
        }
    }
}
