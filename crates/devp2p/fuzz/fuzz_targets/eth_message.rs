//! Fuzz target: `cachet_devp2p::fuzzing::eth_message`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cachet_devp2p::fuzzing::eth_message(data));
