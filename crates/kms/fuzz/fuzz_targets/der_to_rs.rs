#![no_main]
//! DER ECDSA-Sig-Value parser (what AWS KMS `Sign` answers): never panics; what parses is two
//! non-zero scalars whose canonical DER is the input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cachet_kms::signer_fuzzing::der_to_rs(data);
});
