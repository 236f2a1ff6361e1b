#![no_main]
//! SubjectPublicKeyInfo reader (what AWS KMS `GetPublicKey` answers): never panics; a key it
//! accepts is a secp256k1 point.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    cachet_kms::signer_fuzzing::public_key_from_spki(data);
});
