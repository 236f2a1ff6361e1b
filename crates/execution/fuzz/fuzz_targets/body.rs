//! Fuzz target: `cachet_execution::fuzzing::body`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_execution::fuzzing::body(data));
