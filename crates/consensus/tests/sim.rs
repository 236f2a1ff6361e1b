//! Deterministic simulation of N in-process QBFT validators (`docs/dev/bft-wire.md` §10).
//!
//! A seeded scheduler on a virtual clock delivers every message through encode → decode with a
//! random delay, drops some, duplicates some (delay reorders them), and runs faulty validators:
//! crash/restart (the journal survives), silent, or Byzantine (equivocating proposals, PREPAREs
//! and COMMITs). Checked per seed: every honest validator reaches the target height (≤ F faulty),
//! no two validators decide different blocks at a height, every decided block's commit seals
//! verify with `cachet_seal::qbft::verify` at ⌈2N/3⌉; with more than F silent, nothing commits.
//!
//! `CACHET_BFT_SEEDS` sets the seeds per scenario (default 50).

mod common;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use alloy_primitives::{Address, B256, U256};
use cachet_consensus::qbft::message::{Commit, Prepare, Proposal, Signed};
use cachet_consensus::qbft::validators::{ProposerPolicy, f};
use cachet_consensus::qbft::{
    Backlog, Block, BlockCheck, Config, Env, Input, Journal, JournalError, MemoryJournal, Message,
    Output, PreparedCertificate, Signer, State,
};
use cachet_primitives::Header;
use cachet_seal::bft::{ISTANBUL_DIGEST, Threshold};
use cachet_seal::qbft as seal;
use common::TestKey;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TARGET: u64 = 4;
const TIMEOUT_MS: u64 = 1000;
const TIME_LIMIT_MS: u64 = 2_000_000;

fn seeds() -> u64 {
    std::env::var("CACHET_BFT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Honest,
    /// Crashes at `at` and restarts `down` later (journal kept).
    Crash {
        at: u64,
        down: u64,
    },
    /// Never sends anything.
    Silent,
    /// Equivocates: conflicting proposals, PREPAREs and COMMITs to two halves of the network.
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

struct Node {
    key: TestKey,
    fault: Fault,
    journal: Box<dyn Journal>,
    state: Option<State>,
    /// Decided headers, index = height - 1.
    chain: Vec<Header>,
    backlog: Backlog,
    timer_gen: u64,
    /// Announced blocks above the next height (announcements arrive out of order).
    pending: BTreeMap<u64, Header>,
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

struct Sim {
    rng: StdRng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    nodes: Vec<Node>,
    validators: Vec<Address>,
    genesis: Header,
    decided: BTreeMap<u64, B256>,
    drop_p: f64,
    dup_p: f64,
    /// Block propagation delay range (ms).
    sync_delay: (u64, u64),
    commits: usize,
    /// Decisions made in a round above 0.
    late_commits: usize,
    max_round: u32,
    trace: Vec<String>,
}

fn genesis(validators: &[Address]) -> Header {
    Header {
        number: 0,
        difficulty: U256::from(1),
        mix_hash: ISTANBUL_DIGEST,
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        gas_limit: 30_000_000,
        extra_data: seal::encode_extra(&seal::BftExtra {
            vanity: vec![0; 32],
            validators: validators.to_vec(),
            vote: None,
            round: 0,
            committed_seals: vec![],
        })
        .into(),
        ..Header::default()
    }
}

impl Sim {
    fn new(seed: u64, n: usize, faults: &[Fault], drop_p: f64, dup_p: f64) -> Self {
        let mut keys: Vec<TestKey> = (1..=n as u64).map(TestKey::numbered).collect();
        keys.sort_by_key(|k| k.address());
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
                backlog: Backlog::default(),
                timer_gen: 0,
                pending: BTreeMap::new(),
            })
            .collect();
        let genesis = genesis(&validators);
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
        seal::block_hash(self.head(i)).unwrap()
    }

    fn config(&self, i: usize) -> Config {
        let head = self.head(i);
        Config {
            validators: self.validators.clone(),
            last_proposer: head.beneficiary,
            policy: ProposerPolicy::RoundRobin,
            request_timeout_ms: TIMEOUT_MS,
            max_request_timeout_ms: 0,
        }
    }

    fn start_height(&mut self, i: usize) {
        let h = self.nodes[i].chain.len() as u64 + 1;
        let cfg = self.config(i);
        let state = State::new(h, cfg, &*self.nodes[i].journal);
        self.nodes[i].state = Some(state);
        self.input(i, Input::Start);
        for msg in self.nodes[i].backlog.take(h) {
            self.input(i, Input::Message(msg));
        }
    }

    fn input(&mut self, i: usize, input: Input) {
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
        let outputs = state.handle(&mut env, input);
        for o in outputs {
            self.output(i, o);
        }
    }

    fn output(&mut self, i: usize, o: Output) {
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
        let hash = seal::block_hash(&header).unwrap();
        seal::verify(&header, Some(&self.validators), Threshold::BesuTwoThirds)
            .unwrap_or_else(|e| panic!("node {i} committed height {h} with bad seals: {e}"));
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

    fn send(&mut self, to: usize, msg: &Message) {
        if self.rng.gen_bool(self.drop_p) {
            return;
        }
        let copies = if self.rng.gen_bool(self.dup_p) { 2 } else { 1 };
        for _ in 0..copies {
            let d = self.rng.gen_range(1..200);
            self.schedule(
                d,
                Event::Deliver {
                    to,
                    code: msg.code() as u8,
                    bytes: msg.encode(),
                },
            );
        }
    }

    fn broadcast(&mut self, from: usize, msg: Message) {
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
    fn equivocate(&mut self, from: usize, msg: Message) {
        let key = self.nodes[from].key.clone();
        let twin = match &msg {
            Message::PrePrepare(pp) => {
                let mut header = pp.proposal.payload.block.header().clone();
                header.timestamp += 1_000_000;
                let block = Block::new(header, &[0xc0], &[0xc0]).unwrap();
                let proposal = Proposal {
                    block,
                    ..pp.proposal.payload.clone()
                };
                let mut pp = pp.clone();
                pp.proposal = Signed::sign(proposal, &key).unwrap();
                Message::PrePrepare(pp)
            }
            Message::Prepare(p) => Message::Prepare(
                Signed::sign(
                    Prepare {
                        digest: B256::from(self.rng.r#gen::<[u8; 32]>()),
                        ..p.payload
                    },
                    &key,
                )
                .unwrap(),
            ),
            Message::Commit(c) => {
                let digest = B256::from(self.rng.r#gen::<[u8; 32]>());
                Message::Commit(
                    Signed::sign(
                        Commit {
                            digest,
                            commit_seal: key.sign(&digest).unwrap(),
                            ..c.payload
                        },
                        &key,
                    )
                    .unwrap(),
                )
            }
            Message::RoundChange(_) => msg.clone(),
        };
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
        let msg = Message::decode(code, bytes).expect("own encoding decodes");
        assert_eq!(msg.encode(), bytes);
        let h = self.nodes[to].chain.len() as u64 + 1;
        let mh = msg.view().0;
        if mh > h {
            self.nodes[to].backlog.push(h, msg);
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
        seal::verify(&header, Some(&self.validators), Threshold::BesuTwoThirds).unwrap();
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
            seal::verify(&header, Some(&self.validators), Threshold::BesuTwoThirds).unwrap();
            assert_eq!(header.parent_hash, self.head_hash(i));
            self.nodes[i].chain.push(header);
        }
        self.start_height(i);
    }

    fn built(&mut self, i: usize, height: u64, round: u32) {
        let Some(state) = &self.nodes[i].state else {
            return;
        };
        if state.height() != height || state.round() != round {
            return;
        }
        let header = Header {
            parent_hash: self.head_hash(i),
            number: height,
            beneficiary: self.nodes[i].key.address(),
            timestamp: self.head(i).timestamp + 1,
            difficulty: U256::from(1),
            mix_hash: ISTANBUL_DIGEST,
            ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
            gas_limit: 30_000_000,
            extra_data: seal::encode_extra(&seal::BftExtra {
                vanity: vec![0; 32],
                validators: self.validators.clone(),
                vote: None,
                round: 0,
                committed_seals: vec![],
            })
            .into(),
            ..Header::default()
        };
        let block = Block::new(header, &[0xc0], &[0xc0]).unwrap();
        self.input(i, Input::Block(block));
    }

    fn done(&self, target: u64) -> bool {
        self.nodes
            .iter()
            .filter(|n| matches!(n.fault, Fault::Honest | Fault::Crash { .. }))
            .all(|n| n.chain.len() as u64 >= target)
    }

    /// Runs until every honest validator reaches `target` or the virtual time limit.
    fn run(&mut self, target: u64, limit_ms: u64) -> bool {
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
                    self.nodes[node].backlog = Backlog::default();
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

fn faults(rng: &mut StdRng, n: usize, byzantine: bool) -> Vec<Fault> {
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

/// A lossy network (15% of consensus messages lost) where decided blocks take 2–10 s to spread:
/// validators that missed the COMMITs change rounds while others have decided, so the next
/// round's proposal must respect the prepared certificate (the lock) or they would fork.
fn run_lossy(n: usize) {
    let mut failures = Vec::new();
    let (mut late, mut max_round) = (0, 0);
    for seed in 0..seeds() {
        let fs = vec![Fault::Honest; n];
        let mut sim = Sim::new(seed ^ 0x1055 ^ ((n as u64) << 40), n, &fs, 0.15, 0.05);
        sim.sync_delay = (2000, 10_000);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sim.run(TARGET, TIME_LIMIT_MS)
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
                    .map(|n| n.state.as_ref().map(|s| (s.height(), s.round())))
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

#[test]
fn lossy_networks_with_slow_sync_keep_the_lock_and_do_not_fork() {
    run_lossy(4);
    run_lossy(7);
}

fn run_scenario(n: usize, byzantine: bool) {
    let mut failures = Vec::new();
    let mut commits = 0;
    let (mut late, mut max_round, mut faulty, mut time) = (0, 0, 0, 0);
    for seed in 0..seeds() {
        let mut rng = StdRng::seed_from_u64(seed ^ ((n as u64) << 32) ^ u64::from(byzantine));
        let fs = faults(&mut rng, n, byzantine);
        let sim_seed = rng.r#gen();
        let mut sim = Sim::new(sim_seed, n, &fs, 0.05, 0.05);
        faulty += fs.iter().filter(|f| **f != Fault::Honest).count();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ok = sim.run(TARGET, TIME_LIMIT_MS);
            (ok, sim.commits)
        }));
        late += sim.late_commits;
        max_round = max_round.max(sim.max_round);
        time += sim.now;
        match result {
            Ok((true, c)) => commits += c,
            Ok((false, _)) => failures.push(format!("seed {seed} ({fs:?}): target not reached")),
            Err(_) => failures.push(format!(
                "seed {seed} ({fs:?}): invariant broken (see panic)"
            )),
        }
    }
    eprintln!(
        "N={n} byzantine={byzantine}: {} seeds, {faulty} faulty validators in all, {commits} decisions \
         ({late} after a round change, highest round {max_round}), mean virtual time {} ms",
        seeds(),
        time / seeds().max(1)
    );
    assert!(failures.is_empty(), "N={n}: {failures:#?}");
    assert!(commits as u64 >= seeds() * TARGET);
}

#[test]
fn four_validators_with_up_to_f_crashed_or_silent_reach_the_target_without_fork() {
    run_scenario(4, false);
}

#[test]
fn seven_validators_with_up_to_f_crashed_or_silent_reach_the_target_without_fork() {
    run_scenario(7, false);
}

#[test]
fn four_validators_with_a_byzantine_one_do_not_fork() {
    run_scenario(4, true);
}

#[test]
fn seven_validators_with_f_byzantine_do_not_fork() {
    run_scenario(7, true);
}

#[test]
fn more_than_f_silent_validators_means_no_commit_and_no_fork() {
    for n in [4usize, 7] {
        for seed in 0..seeds() {
            let mut fs = vec![Fault::Honest; n];
            for slot in fs.iter_mut().take(f(n) + 1) {
                *slot = Fault::Silent;
            }
            let mut sim = Sim::new(seed, n, &fs, 0.05, 0.05);
            assert!(!sim.run(1, 300_000), "N={n} seed {seed}");
            assert_eq!(sim.commits, 0, "N={n} seed {seed}: {:?}", sim.trace);
        }
    }
}
