//! Fuzz target: `cachet_consensus::fuzzing::ibft_message` (the input is an IBFT p2p payload).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_consensus::fuzzing::ibft_message(data));
