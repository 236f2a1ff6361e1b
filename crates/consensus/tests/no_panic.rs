//! The decoder never panics: mutations of the vectors and random bytes, `CACHET_FUZZ_CASES`
//! cases (default 2000; the fuzz target in `fuzz/` runs the same entry point for 1M+ runs).

mod common;

use cachet_consensus::fuzzing::qbft_message;
use common::{load, unhex};
use rand::{Rng, SeedableRng, rngs::StdRng};

#[test]
fn decoder_survives_mutated_vectors_and_random_bytes() {
    let cases: usize = std::env::var("CACHET_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
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
    let mut rng = StdRng::seed_from_u64(0x9bf7);
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
        qbft_message(&input);
    }
}
