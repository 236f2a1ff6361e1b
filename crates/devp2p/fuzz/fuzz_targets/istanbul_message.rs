//! Fuzz target: `cachet_devp2p::fuzzing::istanbul_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_devp2p::fuzzing::istanbul_message(data));
