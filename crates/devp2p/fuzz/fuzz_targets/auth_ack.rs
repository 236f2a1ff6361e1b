//! Fuzz target: `cachet_devp2p::fuzzing::auth_ack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_devp2p::fuzzing::auth_ack(data));
