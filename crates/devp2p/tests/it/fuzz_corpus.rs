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
