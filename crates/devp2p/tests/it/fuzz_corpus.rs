//! Runs every fuzz function over its seed corpus (`fuzz/corpus/<target>/`), so a plain
//! `cargo test` catches regressions the fuzzers found.

use cachet_devp2p::fuzzing;

fn run(target: &str, f: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        f(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count > 0, "empty corpus {}", dir.display());
}

#[test]
fn accepts_the_auth_ack_corpus_without_panicking() {
    run("auth_ack", fuzzing::auth_ack);
}

#[test]
fn accepts_the_frame_corpus_without_panicking() {
    run("frame", fuzzing::frame);
}

#[test]
fn accepts_the_p2p_message_corpus_without_panicking() {
    run("p2p_message", fuzzing::p2p_message);
}

#[test]
fn accepts_the_eth_message_corpus_without_panicking() {
    run("eth_message", fuzzing::eth_message);
}

#[test]
fn accepts_the_istanbul_message_corpus_without_panicking() {
    run("istanbul_message", fuzzing::istanbul_message);
}

/// A small in-CI fuzz of the eth decoders of every version: each `eth_message` seed, its first
/// byte moved to every (version, id) slot and its data mutated (byte flips, truncations,
/// insertions) by a fixed xorshift stream. `CACHET_FUZZ_ETH_RUNS` sets the mutations per seed
/// (default 200; the nightly `cargo fuzz run eth_message` is the long run).
#[test]
fn survives_mutated_eth_messages_of_every_version() {
    let runs: usize = std::env::var("CACHET_FUZZ_ETH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/eth_message");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((_, data)) = seed.split_first() else {
            continue;
        };
        // 54 = 18 ids × 3 versions.
        for first in 0..54u8 {
            let mut input = vec![first];
            input.extend_from_slice(data);
            fuzzing::eth_message(&input);
        }
        for _ in 0..runs {
            let mut input = seed.clone();
            input[0] = (next() % 54) as u8;
            for _ in 0..=(next() % 4) {
                let at = 1 + (next() as usize) % input.len().max(1);
                match next() % 3 {
                    0 if at < input.len() => input[at] ^= 1 << (next() % 8),
                    1 => input.truncate(at),
                    _ => input.insert(at.min(input.len()), next() as u8),
                }
            }
            fuzzing::eth_message(&input);
        }
    }
}

/// The same for `istanbul_message`: each seed's first bytes (its message id) set to every id
/// from 0x00 to 0x40 (p2p, eth/66, the whole istanbul/100 space and past it) and its bytes
/// mutated by a fixed xorshift stream. `CACHET_FUZZ_ISTANBUL_RUNS` sets the mutations per seed
/// (default 200).
#[test]
fn survives_mutated_istanbul_messages() {
    let runs: usize = std::env::var("CACHET_FUZZ_ISTANBUL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/istanbul_message");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        // Every seed's id is one byte (< 0x80): the rest is the payload.
        let Some((_, payload)) = seed.split_first() else {
            continue;
        };
        for id in 0..=0x40u8 {
            let mut input = vec![id];
            input.extend_from_slice(payload);
            fuzzing::istanbul_message(&input);
        }
        for _ in 0..runs {
            let mut input = seed.clone();
            input[0] = (next() % 0x41) as u8;
            for _ in 0..=(next() % 4) {
                let at = (next() as usize) % input.len().max(1);
                match next() % 3 {
                    0 if at < input.len() => input[at] ^= 1 << (next() % 8),
                    1 => input.truncate(at.max(1)),
                    _ => input.insert(at.min(input.len()), next() as u8),
                }
            }
            fuzzing::istanbul_message(&input);
        }
    }
}
