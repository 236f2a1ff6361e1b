//! Deterministic simulation of an in-process Raft cluster (3 and 5 members) on a seeded
//! virtual network: message loss, delay and reordering, partitions (minority, majority with
//! the leader cut off, one-way cuts) and healing, crashes of the leader and of any member (some
//! in the middle of a `Ready`: stored, nothing sent or applied) and restarts from the stored
//! state. Every message
//! goes through `wire` both ways.
//!
//! Checked per seed: the applied chains of all members are prefixes of one another; every
//! committed block is signed by the member that led its entry's term (the simulation's own
//! record of leaders); no member refuses an honest message or committed entry; after the last
//! fault heals, a new block is applied on every member within `PROGRESS_BOUND` ticks (a small
//! number of election timeouts).
//!
//! `CACHET_RAFT_SEEDS` sets the seeds per cluster size (CI default 20);
//! `CACHET_RAFT_SEED_BASE` the first seed.

mod common;

use common::Cluster;
use rand::Rng;

/// Ticks of faults before everything heals.
const FAULT_TICKS: u64 = 400;
/// Election timeouts are 10–19 ticks: progress must resume within 8 of the longest (and the
/// block commit round trips).
const PROGRESS_BOUND: u64 = 8 * 20;

fn seeds() -> u64 {
    std::env::var("CACHET_RAFT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn seed_base() -> u64 {
    std::env::var("CACHET_RAFT_SEED_BASE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[derive(Debug, Default)]
struct Totals {
    blocks: u64,
    discarded: u64,
    leaders: u64,
    crashes: u64,
    mid_ready_crashes: u64,
    snapshots: u64,
    partitions: u64,
    worst_recovery: u64,
}

fn run_seed(seed: u64, n: u64, totals: &mut Totals) -> Result<(), String> {
    let mut c = Cluster::new(seed, n);
    c.loss = [0.0, 0.05, 0.15, 0.3][c.rng.gen_range(0..4)];
    c.max_delay = c.rng.gen_range(1..=6);
    c.crash_mid_p = [0.0, 0.002, 0.01][c.rng.gen_range(0..3)];
    let mut t = 0;
    while t < FAULT_TICKS {
        let span = c.rng.gen_range(20..80);
        match c.rng.gen_range(0..6) {
            // Crash the leader (sometimes mid-Ready) and restart it later.
            0 => {
                if let Some(l) = c.leader() {
                    let mid = c.rng.gen_bool(0.5);
                    c.crash(l, mid);
                    let at = c.now + c.rng.gen_range(5..60);
                    c.schedule_restart(l, at);
                }
            }
            // Cut a random minority (often the leader) off, both ways.
            1 | 2 => {
                let mut side: Vec<u64> = Vec::new();
                if let Some(l) = c.leader().filter(|_| c.rng.gen_bool(0.6)) {
                    side.push(l);
                }
                let k = c.rng.gen_range(1..=(n - 1) / 2) as usize;
                while side.len() < k {
                    let id = c.rng.gen_range(1..=n);
                    if !side.contains(&id) {
                        side.push(id);
                    }
                }
                for a in 1..=n {
                    for b in 1..=n {
                        if side.contains(&a) != side.contains(&b) {
                            c.cut.insert((a, b));
                        }
                    }
                }
                totals.partitions += 1;
            }
            // A one-way cut of random links.
            3 => {
                for _ in 0..n {
                    let a = c.rng.gen_range(1..=n);
                    let b = c.rng.gen_range(1..=n);
                    c.cut.insert((a, b));
                }
                totals.partitions += 1;
            }
            // Crash any member (a voter's term and vote must survive).
            4 => {
                let id = c.rng.gen_range(1..=n);
                let mid = c.rng.gen_bool(0.5);
                c.crash(id, mid);
                let at = c.now + c.rng.gen_range(1..40);
                c.schedule_restart(id, at);
            }
            // Calm.
            _ => {}
        }
        c.run(span);
        t += span;
        // Heal the cuts (not the crashes: restarts are scheduled).
        if c.rng.gen_bool(0.7) {
            c.cut.clear();
        }
        c.check_prefixes();
        if let Some(f) = c.failures.first() {
            return Err(format!("seed {seed}, n {n}, tick {}: {f}", c.now));
        }
    }
    // Heal everything: no cuts, no loss, every member up.
    c.cut.clear();
    c.loss = 0.0;
    c.crash_mid_p = 0.0;
    for id in 1..=n {
        if !c.up(id) {
            let now = c.now;
            c.schedule_restart(id, now + 1);
        }
    }
    c.run(2);
    let before = c.max_height();
    let healed_at = c.now;
    let mut recovered = None;
    while c.now < healed_at + PROGRESS_BOUND {
        c.tick();
        if c.min_height() > before {
            recovered = Some(c.now - healed_at);
            break;
        }
    }
    c.check_prefixes();
    if let Some(f) = c.failures.first() {
        return Err(format!("seed {seed}, n {n}, tick {}: {f}", c.now));
    }
    let Some(r) = recovered else {
        return Err(format!(
            "seed {seed}, n {n}: no new block on every member within {PROGRESS_BOUND} ticks of healing: {}",
            c.dump()
        ));
    };
    totals.worst_recovery = totals.worst_recovery.max(r);
    totals.blocks += c.stats.blocks;
    totals.discarded += c.stats.discarded;
    totals.leaders += c.stats.leaders;
    totals.crashes += c.stats.crashes;
    totals.mid_ready_crashes += c.stats.mid_ready_crashes;
    totals.snapshots += c.stats.snapshots;
    Ok(())
}

fn run(n: u64) {
    let mut totals = Totals::default();
    let base = seed_base();
    let mut failures = Vec::new();
    for seed in base..base + seeds() {
        if let Err(e) = run_seed(seed, n, &mut totals) {
            failures.push(e);
        }
    }
    eprintln!("n={n} seeds={} {totals:?}", seeds());
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The runs did exercise what they claim.
    assert!(totals.blocks > 0 && totals.leaders > seeds() && totals.crashes > 0);
}

#[test]
fn three_members_never_fork_and_recover() {
    run(3);
}

#[test]
fn five_members_never_fork_and_recover() {
    run(5);
}
