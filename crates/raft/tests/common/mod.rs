//! Test helpers: numbered test keys, signed raft blocks, and an in-process cluster on a seeded
//! virtual network (messages go through `wire` both ways).
#![allow(dead_code, unreachable_pub)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use alloy_primitives::{B256, Bytes};
use cachet_primitives::Header;
use cachet_primitives::block::{EMPTY_BODY_RLP, block_rlp};
use cachet_raft::{Config, Event, RaftNode, RaftRule, RedbStorage, StateRole, wire};
use cachet_seal::raft::{RaftSeal, signing_hash};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redb::Database;
use redb::backends::InMemoryBackend;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

/// A test key (plain memory; never a production key).
#[derive(Clone)]
pub struct TestKey {
    secret: SecretKey,
    pub public: PublicKey,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestKey")
    }
}

impl TestKey {
    /// Deterministic key number `i`.
    pub fn numbered(i: u64) -> Self {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&(i + 0x2000).to_be_bytes());
        b[0] = 0x51;
        let secret = SecretKey::from_slice(&b).unwrap();
        Self {
            public: PublicKey::from_secret_key(SECP256K1, &secret),
            secret,
        }
    }

    fn sign(&self, digest: B256) -> [u8; 65] {
        let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(digest.0), &self.secret);
        let (id, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = i32::from(id) as u8;
        out
    }
}

/// A block on `parent` (number `number`) signed by `key` as raft id `raft_id`; `salt` makes it
/// unique. Returns (hash, block RLP).
pub fn mint(key: &TestKey, raft_id: u16, parent: B256, number: u64, salt: u64) -> (B256, Vec<u8>) {
    let mut header = Header {
        parent_hash: parent,
        number,
        gas_limit: 8_000_000,
        timestamp: 1_000_000_000_000_000 + salt,
        ..Header::default()
    };
    let signature = key.sign(signing_hash(&header));
    header.extra_data = Bytes::from(RaftSeal { raft_id, signature }.encode());
    let rlp = block_rlp(&header.encode(), &EMPTY_BODY_RLP).unwrap();
    (header.hash_slow(), rlp)
}

/// A fresh in-memory database.
pub fn memory_db() -> Arc<Database> {
    Arc::new(
        Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap(),
    )
}

/// Snapshot data in the simulation: the applied chain's hashes (a node would carry membership
/// and the head hash, and sync the chain over eth).
pub fn encode_chain(chain: &[B256]) -> Vec<u8> {
    chain.iter().flat_map(|h| h.0).collect()
}

pub fn decode_chain(data: &[u8]) -> Vec<B256> {
    data.chunks(32).map(B256::from_slice).collect()
}

/// The genesis hash every chain starts on.
pub const GENESIS: B256 = B256::repeat_byte(0x99);

pub struct Member {
    pub id: u64,
    pub key: TestKey,
    pub db: Arc<Database>,
    pub node: Option<RaftNode>,
    /// The node's chain store (durable): applied block hashes in order.
    pub chain: Vec<B256>,
    pub election: usize,
    /// Removed from the cluster (stopped for good).
    pub removed: bool,
}

impl Member {
    pub fn head(&self) -> B256 {
        self.chain.last().copied().unwrap_or(GENESIS)
    }
}

#[derive(Debug)]
enum Ev {
    Deliver { from: u64, to: u64, bytes: Vec<u8> },
    Restart { id: u64 },
}

/// Statistics of one run.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub blocks: u64,
    pub discarded: u64,
    pub leaders: u64,
    pub crashes: u64,
    pub mid_ready_crashes: u64,
    pub snapshots: u64,
    pub dropped: u64,
    pub refused_steps: u64,
}

pub struct Cluster {
    pub rng: StdRng,
    pub now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Ev>,
    pub members: BTreeMap<u64, Member>,
    /// Links cut: (from, to).
    pub cut: BTreeSet<(u64, u64)>,
    pub loss: f64,
    pub max_delay: u64,
    /// Who led each term, as the simulation saw it (the truth).
    pub truth: BTreeMap<u64, u64>,
    pub stats: Stats,
    /// Mint when allowed with this probability per tick (transactions pending).
    pub mint_p: f64,
    /// Compact every this many applied entries.
    pub compact_every: u64,
    /// Per delivered message, the chance that its recipient crashes right after storing the
    /// resulting `Ready` (nothing sent, nothing applied) and restarts a little later.
    pub crash_mid_p: f64,
    /// Failures found (a test fails when any).
    pub failures: Vec<String>,
    salt: u64,
}

impl Cluster {
    /// A founded cluster of `n` voters (raft ids 1..=n).
    pub fn new(seed: u64, n: u64) -> Self {
        let mut c = Self {
            rng: StdRng::seed_from_u64(seed),
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            members: BTreeMap::new(),
            cut: BTreeSet::new(),
            loss: 0.0,
            max_delay: 3,
            truth: BTreeMap::new(),
            stats: Stats::default(),
            mint_p: 0.5,
            compact_every: 16,
            crash_mid_p: 0.0,
            failures: Vec::new(),
            salt: 0,
        };
        let founders: Vec<(u64, PublicKey)> =
            (1..=n).map(|i| (i, TestKey::numbered(i).public)).collect();
        for i in 1..=n {
            let db = memory_db();
            let mut s = RedbStorage::open(db.clone()).unwrap();
            s.set_durability_for_tests(false);
            s.initialize(&founders, &encode_chain(&[])).unwrap();
            c.add_member(i, db);
        }
        c
    }

    /// Starts member `id` on `db` (a new, empty one joins through a snapshot).
    pub fn add_member(&mut self, id: u64, db: Arc<Database>) {
        // Distinct, seeded election timeouts: raft-rs draws its own with thread_rng, so a
        // one-tick range keeps runs reproducible.
        let election = 10 + self.rng.gen_range(0..10usize);
        let m = Member {
            id,
            key: TestKey::numbered(id),
            db,
            node: None,
            chain: Vec::new(),
            election,
            removed: false,
        };
        self.members.insert(id, m);
        self.start(id);
    }

    pub fn config(id: u64, election: usize) -> Config {
        Config {
            election_tick: 10,
            heartbeat_tick: 2,
            min_election_tick: election,
            max_election_tick: election + 1,
            max_size_per_msg: 64 * 1024,
            ..Config::new(id)
        }
    }

    fn start(&mut self, id: u64) {
        let m = self.members.get_mut(&id).unwrap();
        let mut s = RedbStorage::open(m.db.clone()).unwrap();
        s.set_durability_for_tests(false);
        // A node that crashed after storing a snapshot but before syncing to it catches up at
        // startup.
        let snap = decode_chain(&s.snapshot_data().unwrap());
        if snap.len() > m.chain.len() {
            if !snap.starts_with(&m.chain) {
                self.failures
                    .push(format!("member {id}: stored snapshot forks its chain"));
            }
            m.chain = snap;
        }
        m.node = Some(RaftNode::new(&Self::config(id, m.election), s).unwrap());
    }

    pub fn crash(&mut self, id: u64, mid_ready: bool) {
        let m = self.members.get_mut(&id).unwrap();
        if let Some(mut node) = m.node.take() {
            if mid_ready {
                // Crash after the Ready was stored, before anything was sent or applied.
                let _ = node.ready().unwrap();
            }
            self.stats.crashes += 1;
        }
    }

    pub fn schedule_restart(&mut self, id: u64, at: u64) {
        self.push(at, Ev::Restart { id });
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, ev);
    }

    pub fn up(&self, id: u64) -> bool {
        self.members.get(&id).is_some_and(|m| m.node.is_some())
    }

    pub fn node(&mut self, id: u64) -> &mut RaftNode {
        self.members.get_mut(&id).unwrap().node.as_mut().unwrap()
    }

    /// The live leader with the highest term, if any.
    pub fn leader(&self) -> Option<u64> {
        self.members
            .values()
            .filter_map(|m| m.node.as_ref().map(|n| (n.term(), n.role(), m.id)))
            .filter(|(_, r, _)| *r == StateRole::Leader)
            .map(|(t, _, id)| (t, id))
            .max()
            .map(|(_, id)| id)
    }

    fn observe(&mut self, id: u64) {
        let Some(n) = self.members.get(&id).and_then(|m| m.node.as_ref()) else {
            return;
        };
        if n.role() == StateRole::Leader {
            let term = n.term();
            match self.truth.get(&term) {
                Some(l) if *l != id => self
                    .failures
                    .push(format!("two leaders in term {term}: {l} and {id}")),
                Some(_) => {}
                None => {
                    self.truth.insert(term, id);
                    self.stats.leaders += 1;
                }
            }
        }
    }

    /// Drains member `id`'s Ready: sends, applies, records applied, compacts.
    pub fn drain(&mut self, id: u64) {
        loop {
            self.observe(id);
            let Some(node) = self.members.get_mut(&id).and_then(|m| m.node.as_mut()) else {
                return;
            };
            let Some(rd) = node.ready().unwrap() else {
                return;
            };
            for msg in rd.messages {
                let to = msg.to;
                let snap = msg.get_msg_type() == cachet_raft::eraftpb::MessageType::MsgSnapshot;
                let bytes = wire::encode_message(&msg);
                if !self.send(id, to, bytes) && snap {
                    self.node(id).report_snapshot(to, false);
                }
            }
            let mut last = None;
            for ev in rd.events {
                self.apply(id, ev, &mut last);
            }
            let m = self.members.get_mut(&id).unwrap();
            if let (Some(index), Some(node)) = (last, m.node.as_mut()) {
                node.applied(index).unwrap();
                if index % self.compact_every == 0 {
                    node.compact(index, &encode_chain(&m.chain)).unwrap();
                }
            }
        }
    }

    fn apply(&mut self, id: u64, ev: Event, last: &mut Option<u64>) {
        let m = self.members.get_mut(&id).unwrap();
        match ev {
            Event::Snapshot { index, data, .. } => {
                self.stats.snapshots += 1;
                let snap = decode_chain(&data);
                if snap.len() >= m.chain.len() {
                    if !snap.starts_with(&m.chain) {
                        self.failures
                            .push(format!("member {id}: snapshot at {index} forks its chain"));
                    }
                    m.chain = snap;
                } else if !m.chain.starts_with(&snap) {
                    self.failures
                        .push(format!("member {id}: snapshot at {index} forks its chain"));
                }
                *last = Some(index);
            }
            Event::Block {
                index, term, block, ..
            } => {
                match self.truth.get(&term) {
                    Some(l) if *l == block.minter => {}
                    other => self.failures.push(format!(
                        "member {id}: block at {index} in term {term} minted by {} but the term's leader was {other:?}",
                        block.minter
                    )),
                }
                if block.header.parent_hash == m.head() {
                    m.chain.push(block.hash);
                    self.stats.blocks += 1;
                }
                // Otherwise known or non-extending: skipped (GoQuorum's rule).
                *last = Some(index);
            }
            Event::Refused { index, rule, .. } => self.failures.push(format!(
                "member {id}: committed entry {index} refused: {rule}"
            )),
            Event::Membership { index, change } => {
                if let cachet_raft::MembershipChange::Removed { id: gone } = change
                    && gone == id
                {
                    m.removed = true;
                }
                *last = Some(index);
            }
            Event::Discarded { .. } => self.stats.discarded += 1,
            Event::Role { .. } => {}
            _ => {}
        }
        if let Some(l) = *last {
            let _ = l;
        }
    }

    /// Queues a message; false when the network drops it.
    fn send(&mut self, from: u64, to: u64, bytes: Vec<u8>) -> bool {
        if self.cut.contains(&(from, to)) || self.rng.gen_bool(self.loss) {
            self.stats.dropped += 1;
            return false;
        }
        let d = self.rng.gen_range(1..=self.max_delay);
        self.push(self.now + d, Ev::Deliver { from, to, bytes });
        true
    }

    /// Tells a snapshot's sender whether it arrived (a transport knows whether its send
    /// completed).
    fn snapshot_outcome(&mut self, from: u64, to: u64, delivered: bool) {
        if self.up(from) {
            self.node(from).report_snapshot(to, delivered);
            self.drain(from);
        }
    }

    /// One tick: deliver what is due, tick every live member, mint where allowed.
    pub fn tick(&mut self) {
        self.now += 1;
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > self.now {
                break;
            }
            self.queue.pop();
            match self.events.remove(&seq).unwrap() {
                Ev::Deliver { from, to, bytes } => {
                    let msg = match wire::decode_message(&bytes) {
                        Ok(m) => m,
                        Err(e) => {
                            self.failures.push(format!("undecodable message: {e}"));
                            continue;
                        }
                    };
                    let snap = msg.get_msg_type() == cachet_raft::eraftpb::MessageType::MsgSnapshot;
                    if !self.up(to) || self.members[&to].removed {
                        if snap {
                            self.snapshot_outcome(from, to, false);
                        }
                        continue;
                    }
                    match self.node(to).step(from, msg) {
                        Ok(()) => {}
                        Err(cachet_raft::Error::Rule(RaftRule::RemovedId { .. })) => {
                            self.stats.refused_steps += 1;
                        }
                        Err(cachet_raft::Error::Rule(r)) => {
                            let members = self.node(to).storage().members().clone();
                            self.failures.push(format!(
                                "member {to}: honest message from {from} refused: {r} (voters {:?}, learners {:?}, removed {:?})",
                                members.voters(),
                                members.learners(),
                                members.removed()
                            ))
                        }
                        // raft-rs drops messages from unknown peers; not a failure.
                        Err(_) => {}
                    }
                    if self.crash_mid_p > 0.0 && self.rng.gen_bool(self.crash_mid_p) {
                        self.stats.mid_ready_crashes += 1;
                        self.crash(to, true);
                        let at = self.now + self.rng.gen_range(1..30);
                        self.schedule_restart(to, at);
                    } else {
                        self.drain(to);
                    }
                    // The transport reports every snapshot it sent, whatever the receiver did
                    // next (the leader sends that member nothing until it hears).
                    if snap {
                        self.snapshot_outcome(from, to, true);
                    }
                }
                Ev::Restart { id } => {
                    if !self.up(id) {
                        self.start(id);
                        self.drain(id);
                    }
                }
            }
        }
        let ids: Vec<u64> = self.members.keys().copied().collect();
        for id in ids {
            if !self.up(id) || self.members[&id].removed {
                continue;
            }
            self.node(id).tick();
            self.drain(id);
            if self.node(id).may_mint() && self.rng.gen_bool(self.mint_p) {
                self.salt += 1;
                let m = &self.members[&id];
                let (_, rlp) = mint(
                    &m.key,
                    id as u16,
                    m.head(),
                    m.chain.len() as u64 + 1,
                    self.salt,
                );
                self.node(id).propose_block(rlp).unwrap();
                self.drain(id);
            }
        }
    }

    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick();
        }
    }

    /// Checks that every two members' chains are prefixes of one another.
    pub fn check_prefixes(&mut self) {
        let chains: Vec<(u64, Vec<B256>)> = self
            .members
            .values()
            .map(|m| (m.id, m.chain.clone()))
            .collect();
        for (a, ca) in &chains {
            for (b, cb) in &chains {
                let n = ca.len().min(cb.len());
                if ca[..n] != cb[..n] {
                    self.failures
                        .push(format!("chains of {a} and {b} fork below height {n}"));
                }
            }
        }
    }

    /// The shortest chain among live, non-removed members.
    pub fn min_height(&self) -> usize {
        self.members
            .values()
            .filter(|m| !m.removed)
            .map(|m| m.chain.len())
            .min()
            .unwrap_or(0)
    }

    /// One line per member for failure messages.
    pub fn dump(&self) -> String {
        self.members
            .values()
            .map(|m| match &m.node {
                Some(n) => format!(
                    "[{} {:?} term {} leader {} commit {} last {} applied {} snap {} chain {}]",
                    m.id,
                    n.role(),
                    n.term(),
                    n.leader(),
                    n.committed(),
                    n.last_index(),
                    n.storage().applied(),
                    n.storage().snapshot_metadata().index,
                    m.chain.len()
                ),
                None => format!("[{} down chain {}]", m.id, m.chain.len()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn max_height(&self) -> usize {
        self.members
            .values()
            .map(|m| m.chain.len())
            .max()
            .unwrap_or(0)
    }
}
