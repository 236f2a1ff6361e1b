#![no_main]
//! Key bundle parser behind the checksum: the input is a bundle without its SHA-256, which the
//! target appends, so mutations reach the header, the master-key slots and the sealed keys.
//! Seeds: the `bundle_decode` corpus with the last 32 bytes cut.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cachet_keyprovider::fuzzing::decode_bundle_body(data);
});
