//! Fuzz target: `cachet_execution::fuzzing::transaction`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_execution::fuzzing::transaction(data));
