//! The QBFT and IBFT decoders never panic: mutations of the vectors and random bytes, `CACHET_FUZZ_CASES`
//! cases (default 2000; the fuzz target in `fuzz/` runs the same entry point for 1M+ runs).

mod common;

use cachet_consensus::fuzzing::{ibft_message, qbft_message};
use common::{load, unhex};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn cases() -> usize {
    std::env::var("CACHET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// `cases` mutations of `seeds` (bytes changed, truncated, inserted, removed, or replaced by
/// random bytes), each fed to `run`.
fn mutate(seeds: &[Vec<u8>], cases: usize, rng_seed: u64, run: fn(&[u8])) {
    let mut rng = StdRng::seed_from_u64(rng_seed);
    for i in 0..cases {
        let mut input = seeds[i % seeds.len()].clone();
        match rng.gen_range(0..5) {
            0 => {
                let n = rng.gen_range(1..8);
                for _ in 0..n {
                    let at = rng.gen_range(0..input.len());
                    input[at] = rng.r#gen();
                }
            }
            1 => input.truncate(rng.gen_range(0..input.len())),
            2 => {
                let at = rng.gen_range(0..input.len());
                input.insert(at, rng.r#gen());
            }
            3 => {
                let at = rng.gen_range(1..input.len());
                input.remove(at);
            }
            _ => {
                let n = rng.gen_range(0..300);
                input = (0..n).map(|_| rng.r#gen()).collect();
            }
        }
        run(&input);
    }
}

#[test]
fn ibft_decoder_survives_mutated_vectors_and_random_bytes() {
    let mut seeds = Vec::new();
    for c in load("ibft-messages.json") {
        let payload = unhex(c["p2p_payload"].as_str().unwrap());
        // Also the bare wrapper, so that mutations reach past the outer string header.
        seeds.push(unhex(c["message_rlp"].as_str().unwrap()));
        seeds.push(payload);
    }
    mutate(&seeds, cases(), 0x1bf7, ibft_message);
}

#[test]
fn decoder_survives_mutated_vectors_and_random_bytes() {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for f in ["qbft-messages.json", "qbft-goquorum-devnet.json"] {
        for c in load(f) {
            if let Some(p) = c.get("p2p_payload") {
                let code: u8 = match &c["p2p_msg_code"] {
                    serde_json::Value::String(s) => s.parse().unwrap(),
                    v => u8::try_from(v.as_u64().unwrap()).unwrap(),
                };
                let mut input = vec![code - 0x12];
                input.extend(unhex(p.as_str().unwrap()));
                seeds.push(input);
            }
        }
    }
    mutate(&seeds, cases(), 0x9bf7, qbft_message);
}
