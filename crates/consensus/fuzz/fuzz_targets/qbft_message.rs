//! Fuzz target: `cachet_consensus::fuzzing::qbft_message` (first byte picks the code).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_consensus::fuzzing::qbft_message(data));
