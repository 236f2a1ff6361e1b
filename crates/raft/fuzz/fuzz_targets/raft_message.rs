//! Fuzz target: `cachet_raft::fuzzing::raft_message` (a raft message from a peer).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_raft::fuzzing::raft_message(data));
