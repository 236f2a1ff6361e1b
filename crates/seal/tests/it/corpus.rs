//! Runs every fuzz function over its seed corpus (`crates/seal/fuzz/corpus/<target>/`), so a plain
//! `cargo test` catches regressions the fuzzer found.

use cachet_seal::fuzzing::TARGETS;

#[test]
fn accepts_every_fuzz_corpus_input_without_panicking() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .collect();
        assert!(!entries.is_empty(), "{name}: empty corpus");
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            target(&data);
            // Every prefix too: truncations must fail cleanly.
            for n in 0..data.len().min(4096) {
                target(&data[..n]);
            }
        }
    }
}
