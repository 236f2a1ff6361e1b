//! Fuzz target: `cachet_seal::fuzzing::header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_seal::fuzzing::header(data));
