//! State-root cost per block on a small and a large state, same block contents: the issue's
//! "10,000 vs 1,000,000 accounts, ≤ 2× apart".
//!
//! Each state is built through the public API (batches of created accounts, plus contracts
//! with storage), then the same kind of block is committed again and again: 200 changed
//! accounts and 200 storage writes (half updates, half new slots) over 20 contracts. The table
//! shows the median time of `commit_trie` (the root), of `store_changes` + `apply_flat` (the
//! rest of a block's state work), their ratio large/small, and the peak RSS.
//!
//! `CACHET_BENCH_ACCOUNTS` sets the large state's size (default 100,000 so CI stays fast):
//! `CACHET_BENCH_ACCOUNTS=1000000 cargo bench -p cachet-state --bench state_root`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "benchmark binary"
)]

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY};
use cachet_state::{AccountChange, AccountInfo, ChangeSet, SlotChange, StateView, WorldState};
use redb::{Database, Durability, ReadableDatabase};

const SMALL: usize = 10_000;
const DEFAULT_LARGE: usize = 100_000;
const BATCH: usize = 25_000;
const BLOCKS: usize = 40;
const CHANGED_ACCOUNTS: usize = 200;
const STORAGE_WRITES: usize = 200;
const CONTRACTS: usize = 20;
const SLOTS_PER_CONTRACT: u64 = 500;

struct Measured {
    accounts: usize,
    setup: Duration,
    commit: Duration,
    rest: Duration,
    rss_kib: u64,
}

fn main() {
    let large = std::env::var("CACHET_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_LARGE);
    let small = measure(SMALL);
    let large = measure(large);
    println!(
        "| accounts | setup (s) | commit_trie / block (ms, median) | store_changes + apply_flat (ms, median) | peak RSS so far (MiB) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for m in [&small, &large] {
        println!(
            "| {} | {:.1} | {:.2} | {:.2} | {} |",
            m.accounts,
            m.setup.as_secs_f64(),
            ms(m.commit),
            ms(m.rest),
            m.rss_kib / 1024
        );
    }
    println!(
        "\ncommit_trie {} vs {} accounts: {:.2}× (goal ≤ 2×); block: {CHANGED_ACCOUNTS} accounts + {STORAGE_WRITES} slots over {CONTRACTS} contracts, median of {BLOCKS}",
        large.accounts,
        small.accounts,
        large.commit.as_secs_f64() / small.commit.as_secs_f64()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn account(i: usize) -> Address {
    Address::from_word(keccak256((i as u64).to_be_bytes()))
}

fn contract(i: usize) -> Address {
    Address::from_word(keccak256(
        [b"contract".as_slice(), &(i as u64).to_be_bytes()].concat(),
    ))
}

fn block_hash(tag: &str, n: usize) -> B256 {
    keccak256([tag.as_bytes(), &(n as u64).to_be_bytes()].concat())
}

/// A small deterministic generator (xorshift64*), the same sequence for both sizes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Commits `changes` as the next block (root, change set, flat state); returns the root and
/// the time of `commit_trie` and of the rest.
fn import(
    db: &Database,
    block: B256,
    parent: B256,
    changes: &ChangeSet,
) -> (B256, Duration, Duration) {
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(Durability::None).unwrap();
    let start = Instant::now();
    let root = WorldState::commit_trie(&txn, parent, changes).unwrap();
    let commit = start.elapsed();
    let start = Instant::now();
    WorldState::store_changes(&txn, block, (&[], &[]), changes).unwrap();
    WorldState::apply_flat(&txn, block).unwrap();
    let rest = start.elapsed();
    txn.commit().unwrap();
    (root, commit, rest)
}

fn measure(accounts: usize) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("state.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    WorldState::create_tables(&txn).unwrap();
    txn.commit().unwrap();

    let start = Instant::now();
    let mut root = EMPTY_ROOT_HASH;
    for (batch, first) in (0..accounts).step_by(BATCH).enumerate() {
        let mut changes = ChangeSet::default();
        for i in first..(first + BATCH).min(accounts) {
            let info = AccountInfo {
                nonce: 1,
                balance: U256::from(i),
                code_hash: KECCAK_EMPTY,
            };
            changes
                .accounts
                .insert(account(i), created(info, BTreeMap::new()));
        }
        if batch == 0 {
            for c in 0..CONTRACTS {
                let storage = (0..SLOTS_PER_CONTRACT)
                    .map(|s| (U256::from(s), slot(U256::ZERO, U256::from(s + 1))))
                    .collect();
                let info = AccountInfo {
                    nonce: 1,
                    balance: U256::ZERO,
                    code_hash: keccak256(c.to_be_bytes()),
                };
                changes.accounts.insert(contract(c), created(info, storage));
            }
        }
        root = import(&db, block_hash("setup", batch), root, &changes).0;
    }
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(Durability::Immediate).unwrap();
    txn.commit().unwrap();
    let setup = start.elapsed();

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut commits, mut rests) = (Vec::new(), Vec::new());
    for n in 0..BLOCKS {
        let changes = block(&db, accounts, &mut rng, n);
        let (next, commit, rest) = import(&db, block_hash("block", n), root, &changes);
        root = next;
        commits.push(commit);
        rests.push(rest);
    }
    Measured {
        accounts,
        setup,
        commit: median(commits),
        rest: median(rests),
        rss_kib: peak_rss_kib(),
    }
}

/// One benchmark block, with its "before" values read from the flat state.
fn block(db: &Database, accounts: usize, rng: &mut Rng, n: usize) -> ChangeSet {
    let txn = db.begin_read().unwrap();
    let state = WorldState::latest(&txn).unwrap();
    let mut changes = ChangeSet::default();
    while changes.accounts.len() < CHANGED_ACCOUNTS {
        let address = account(rng.below(accounts));
        let before = state.account(&address).unwrap().unwrap();
        let mut after = before;
        after.balance += U256::from(1);
        after.nonce += 1;
        changes.accounts.insert(
            address,
            AccountChange {
                before: Some(before),
                after: Some(after),
                ..AccountChange::default()
            },
        );
    }
    let mut writes = 0;
    while writes < STORAGE_WRITES {
        let address = contract(rng.below(CONTRACTS));
        let key = U256::from(rng.below(2 * SLOTS_PER_CONTRACT as usize));
        let before_value = state.storage(&address, &key).unwrap();
        let change = changes.accounts.entry(address).or_insert_with(|| {
            let info = state.account(&address).unwrap().unwrap();
            AccountChange {
                before: Some(info),
                after: Some(info),
                ..AccountChange::default()
            }
        });
        if change.storage.contains_key(&key) {
            continue;
        }
        change
            .storage
            .insert(key, slot(before_value, U256::from(n as u64 + 1_000_000)));
        writes += 1;
    }
    changes
}

fn created(info: AccountInfo, storage: BTreeMap<U256, SlotChange>) -> AccountChange {
    AccountChange {
        before: None,
        after: Some(info),
        wiped: false,
        storage,
    }
}

const fn slot(before: U256, after: U256) -> SlotChange {
    SlotChange { before, after }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Peak resident set size (`VmHWM` in /proc/self/status), KiB; 0 where there is none.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
