#![no_main]
//! Key bundle parser: never panics; a bundle that decodes re-encodes to the same bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cachet_keyprovider::fuzzing::decode_bundle(data);
});
