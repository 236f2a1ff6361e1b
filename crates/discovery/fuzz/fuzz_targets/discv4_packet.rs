//! discv4 packet decoder: any bytes, never a panic; decoded messages re-encode stably.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cachet_discovery::fuzzing::discv4_packet(data);
});
