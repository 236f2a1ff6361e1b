//! Signing keys that never leave their HSM or KMS: the [`DigestSigner`] trait and the two steps
//! every backend shares, DER → (r, s) ([`der_to_rs`]) and low-s + recovery id
//! ([`recoverable`]).
//!
//! HSMs and KMSs answer an ECDSA signature without the recovery id Ethereum needs (`v`), as an
//! ASN.1 DER `ECDSA-Sig-Value` (AWS KMS) or as raw `r ‖ s` (PKCS#11 `CKM_ECDSA`), and either
//! half of the curve for `s`. Ethereum wants `s ≤ n/2` (EIP-2) and `v`; the id is found by trial
//! recovery against the public key the bundle recorded, which also proves the answer came from
//! that key.

use async_trait::async_trait;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId, Signature};
use secp256k1::{Message, PublicKey, SECP256K1};
use serde::{Deserialize, Serialize};
use spki::der::Decode as _;
use spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};

use crate::{CallRecord, Error, Result};

/// What a bundle records about a key that never leaves its HSM/KMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerRef {
    /// What the operator wrote (`kms:alias/validator-1`, `hsm:pkcs11:…`), for messages.
    pub given: String,
    /// The pinned key every call names (AWS: the key ARN; PKCS#11: the object's URI).
    pub key_id: String,
}

/// A secp256k1 key held by an HSM or KMS that signs 32-byte digests.
#[async_trait]
pub trait DigestSigner: Send + Sync + std::fmt::Debug {
    /// The reference recorded in the bundle.
    fn reference(&self) -> SignerRef;

    /// Uncompressed SEC1 public key (0x04 ‖ x ‖ y).
    fn public_key(&self) -> [u8; 65];

    /// r ‖ s ‖ v (v = recovery id 0/1), low-s, over the 32-byte digest as given (no hashing).
    ///
    /// # Errors
    /// The backend's access and availability errors (transient ones already retried), and
    /// [`Error::InvalidSignature`] wrapped in the backend's answer error when the signature does
    /// not parse or does not recover to [`Self::public_key`].
    async fn sign_digest(&self, digest: &[u8; 32]) -> Result<([u8; 65], CallRecord)>;
}

/// Parses a strict ASN.1 DER `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`, RFC 3279
/// § 2.2.3) into big-endian 32-byte `r` and `s`.
///
/// The parser is libsecp256k1's (`secp256k1_ecdsa_signature_parse_der`): minimal lengths, no
/// excess 0x00 padding, nothing after the sequence. `s` is returned as given (high or low).
///
/// # Errors
/// [`Error::InvalidSignature`] for anything else, and for r or s that is negative, zero, or not
/// below the curve order.
pub fn der_to_rs(der: &[u8]) -> Result<([u8; 32], [u8; 32])> {
    let signature = Signature::from_der(der).map_err(|_| Error::InvalidSignature {
        reason: format!(
            "{} bytes are not a strict DER ECDSA-Sig-Value (SEQUENCE of INTEGER r, INTEGER s, minimal lengths, nothing after it)",
            der.len()
        ),
    })?;
    // libsecp256k1 parses an out-of-range or negative integer as zero (an invalid signature).
    let compact = signature.serialize_compact();
    let (r, s) = split(&compact);
    if r == [0; 32] || s == [0; 32] {
        return Err(Error::InvalidSignature {
            reason: "r or s is zero, negative, or not below the curve order".to_owned(),
        });
    }
    Ok((r, s))
}

/// Makes `(r, s)` an Ethereum signature `r ‖ s ‖ v` over `digest` by `public_key`: `s` is
/// normalised to the low half (`s > n/2 → n − s`, EIP-2) and `v` (0 or 1) is the recovery id
/// under which the signature recovers to `public_key`.
///
/// # Errors
/// [`Error::InvalidSignature`] when `public_key` is not a secp256k1 point, `r`/`s` are zero or
/// not below the curve order, or neither recovery id recovers `public_key` (the signature was
/// made by another key, or over another digest).
pub fn recoverable(
    r: &[u8; 32],
    s: &[u8; 32],
    digest: &[u8; 32],
    public_key: &[u8; 65],
) -> Result<[u8; 65]> {
    let expected = PublicKey::from_slice(public_key).map_err(|_| Error::InvalidSignature {
        reason: "the recorded public key is not an uncompressed secp256k1 point".to_owned(),
    })?;
    let mut compact = [0u8; 64];
    compact[..32].copy_from_slice(r);
    compact[32..].copy_from_slice(s);
    if r == &[0; 32] || s == &[0; 32] {
        return Err(Error::InvalidSignature {
            reason: "r or s is zero".to_owned(),
        });
    }
    let mut signature = Signature::from_compact(&compact).map_err(|_| Error::InvalidSignature {
        reason: "r or s is not below the curve order".to_owned(),
    })?;
    signature.normalize_s();
    let low = signature.serialize_compact();
    let message = Message::from_digest(*digest);
    for (v, id) in [(0u8, RecoveryId::Zero), (1, RecoveryId::One)] {
        let Ok(candidate) = RecoverableSignature::from_compact(&low, id) else {
            continue;
        };
        if SECP256K1
            .recover_ecdsa(&message, &candidate)
            .is_ok_and(|recovered| recovered == expected)
        {
            let mut out = [0u8; 65];
            out[..64].copy_from_slice(&low);
            out[64] = v;
            return Ok(out);
        }
    }
    Err(Error::InvalidSignature {
        reason: "it does not recover to the recorded public key under recovery id 0 or 1: another key made it, or it is over another digest".to_owned(),
    })
}

/// Why a `SubjectPublicKeyInfo` is not a secp256k1 key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SpkiProblem {
    /// A well-formed key of another kind (the operator chose the wrong key spec).
    OtherKind(String),
    /// Not a well-formed key at all.
    Malformed(String),
}

/// `id-ecPublicKey` (RFC 5480 § 2.1.1).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256k1` (SEC 2 v2 § A.2.1).
const SECP256K1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");

/// The uncompressed point of a DER `SubjectPublicKeyInfo` (RFC 5280 § 4.1, RFC 5480) that must
/// be an `id-ecPublicKey` on `secp256k1`: what AWS KMS `GetPublicKey` answers.
pub(crate) fn public_key_from_spki(der: &[u8]) -> std::result::Result<[u8; 65], SpkiProblem> {
    let info = SubjectPublicKeyInfoRef::from_der(der)
        .map_err(|e| SpkiProblem::Malformed(format!("not a DER SubjectPublicKeyInfo ({e})")))?;
    if info.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(SpkiProblem::OtherKind(format!(
            "a {} key, not an elliptic-curve key",
            algorithm_name(info.algorithm.oid)
        )));
    }
    let curve = info
        .algorithm
        .parameters_oid()
        .map_err(|_| SpkiProblem::Malformed("an EC key without a named curve".to_owned()))?;
    if curve != SECP256K1_OID {
        return Err(SpkiProblem::OtherKind(format!(
            "a key on curve {}, not secp256k1",
            algorithm_name(curve)
        )));
    }
    let point = info.subject_public_key.as_bytes().ok_or_else(|| {
        SpkiProblem::Malformed("the public key bit string has unused bits".to_owned())
    })?;
    let key = PublicKey::from_slice(point).map_err(|_| {
        SpkiProblem::Malformed(format!(
            "the {}-byte public key is not a point on secp256k1",
            point.len()
        ))
    })?;
    Ok(key.serialize_uncompressed())
}

/// The AWS KMS key spec (or name) of an algorithm or curve OID, for messages.
fn algorithm_name(oid: ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => "RSA",
        "1.2.840.10045.3.1.7" => "ECC_NIST_P256",
        "1.3.132.0.34" => "ECC_NIST_P384",
        "1.3.132.0.35" => "ECC_NIST_P521",
        "1.2.156.10197.1.301" => "SM2",
        "1.3.101.112" => "Ed25519",
        other => return format!("OID {other}"),
    };
    format!("{name} ({oid})")
}

fn split(compact: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&compact[..32]);
    s.copy_from_slice(&compact[32..]);
    (r, s)
}

#[doc(hidden)]
pub mod fuzzing {
    //! Entry point for `cargo fuzz` (`crates/kms/fuzz`) and the in-crate random-input test.

    /// Parses arbitrary bytes as a DER signature; must never panic, and what parses is a pair
    /// of non-zero scalars that re-encode (as libsecp256k1's canonical DER) to the input.
    pub fn der_to_rs(data: &[u8]) {
        if let Ok((r, s)) = super::der_to_rs(data) {
            assert!(r != [0; 32] && s != [0; 32]);
            let mut compact = [0u8; 64];
            compact[..32].copy_from_slice(&r);
            compact[32..].copy_from_slice(&s);
            let again = secp256k1::ecdsa::Signature::from_compact(&compact)
                .expect("a parsed signature is in range")
                .serialize_der();
            assert_eq!(&*again, data, "strict DER has one encoding");
        }
    }

    /// Parses arbitrary bytes as a `SubjectPublicKeyInfo`; must never panic, and a key it
    /// accepts is a valid secp256k1 point.
    pub fn public_key_from_spki(data: &[u8]) {
        if let Ok(point) = super::public_key_from_spki(data) {
            assert!(secp256k1::PublicKey::from_slice(&point).is_ok());
        }
    }
}

#[cfg(test)]
mod tests {
    use secp256k1::SecretKey;

    use super::*;

    /// secp256k1's group order n (SEC 2 v2 § 2.4.1), written out here rather than taken from
    /// the crate under test.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];

    /// n − x, schoolbook with borrow.
    fn n_minus(x: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(N[i]) - i16::from(x[i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[i] = d as u8;
        }
        out
    }

    fn is_high(s: &[u8; 32]) -> bool {
        // s > n/2 ⟺ s > n − s.
        s > &n_minus(s)
    }

    /// Minimal DER INTEGER body for a 32-byte big-endian unsigned value.
    fn der_int(x: &[u8]) -> Vec<u8> {
        let start = x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1);
        let mut body = x[start..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    }

    fn der_sig(r: &[u8], s: &[u8]) -> Vec<u8> {
        let mut body = der_int(r);
        body.extend(der_int(s));
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    fn key(seed: u8) -> (SecretKey, [u8; 65]) {
        let secret = SecretKey::from_slice(&[seed; 32]).unwrap();
        let public = PublicKey::from_secret_key(SECP256K1, &secret).serialize_uncompressed();
        (secret, public)
    }

    fn sign(secret: &SecretKey, digest: [u8; 32]) -> ([u8; 32], [u8; 32], Vec<u8>) {
        let sig = SECP256K1.sign_ecdsa(&Message::from_digest(digest), secret);
        let der = sig.serialize_der().to_vec();
        let (r, s) = split(&sig.serialize_compact());
        (r, s, der)
    }

    #[test]
    fn parses_a_real_der_signature() {
        let (secret, _) = key(7);
        let (r, s, der) = sign(&secret, [1; 32]);
        assert_eq!(der[0], 0x30);
        assert_eq!(der_to_rs(&der).unwrap(), (r, s));
    }

    #[test]
    fn parses_a_high_s_der_signature_as_given() {
        let (secret, _) = key(7);
        let (r, s, _) = sign(&secret, [1; 32]);
        assert!(!is_high(&s), "libsecp256k1 signs low-s");
        let high = n_minus(&s);
        assert!(is_high(&high));
        let der = der_sig(&r, &high);
        assert_eq!(der_to_rs(&der).unwrap(), (r, high));
    }

    #[test]
    fn parses_short_r_and_s() {
        // r = 1, s = 0x7f…: one-byte and 31-byte integers, left-padded back to 32.
        let mut r = [0u8; 32];
        r[31] = 1;
        let mut s = [0u8; 32];
        s[1..].fill(0x7f);
        let der = der_sig(&r, &s);
        assert_eq!(
            &der[..5],
            &[0x30, 0x24, 0x02, 0x01, 0x01],
            "1-byte r, 31-byte s"
        );
        assert_eq!(der_to_rs(&der).unwrap(), (r, s));
    }

    #[test]
    fn parses_r_and_s_with_a_sign_byte() {
        let r = [0x80u8; 32];
        let s = [0x7fu8; 32];
        let der = der_sig(&r, &s);
        assert_eq!(&der[2..5], &[0x02, 0x21, 0x00], "33-byte r with its 0x00");
        assert_eq!(der_to_rs(&der).unwrap(), (r, s));
    }

    fn rejects(der: &[u8], why: &str) {
        let err = der_to_rs(der).expect_err(why);
        assert!(
            matches!(err, Error::InvalidSignature { .. }),
            "{why}: {err}"
        );
        assert_eq!(err.class(), crate::ErrorClass::Corrupt, "{why}");
    }

    #[test]
    fn rejects_malformed_der() {
        let (secret, _) = key(7);
        let (r, s, der) = sign(&secret, [1; 32]);
        rejects(&[], "empty");
        rejects(&der[..der.len() - 1], "truncated");
        let mut trailing = der.clone();
        trailing.push(0);
        rejects(&trailing, "trailing garbage");
        let mut long = der.clone();
        long[1] += 1;
        rejects(&long, "sequence length beyond the buffer");
        let mut huge = der.clone();
        huge[1] = 0x84;
        rejects(&huge, "4-byte length far beyond the buffer");
        let mut inner = der.clone();
        inner[3] = 0x7f;
        rejects(&inner, "integer length beyond the sequence");

        // Non-minimal length: 0x81 0x44 where 0x44 fits in one byte.
        let mut body = der[2..].to_vec();
        let mut nonminimal = vec![0x30, 0x81, body.len() as u8];
        nonminimal.append(&mut body);
        rejects(&nonminimal, "non-minimal sequence length");

        // Excess 0x00 padding on r.
        let mut r_body = vec![0x00];
        r_body.extend(r.iter().skip_while(|&&b| b == 0));
        if r_body[1] & 0x80 != 0 {
            r_body.insert(0, 0);
        }
        let mut body = vec![0x02, r_body.len() as u8];
        body.extend(r_body);
        body.extend(der_int(&s));
        let mut padded = vec![0x30, body.len() as u8];
        padded.extend(body);
        rejects(&padded, "excess 0x00 padding");

        // Negative r (0x80… without its sign byte).
        let mut body = vec![0x02, 0x20];
        body.extend([0x80u8; 32]);
        body.extend(der_int(&s));
        let mut negative = vec![0x30, body.len() as u8];
        negative.extend(body);
        rejects(&negative, "negative r");

        rejects(&der_sig(&[0; 32], &s), "r = 0");
        rejects(&der_sig(&r, &N), "s = n");
        rejects(&der_sig(&[0xff; 32], &s), "r > n");
        let mut wrong_tag = der;
        wrong_tag[0] = 0x31;
        rejects(&wrong_tag, "SET instead of SEQUENCE");
    }

    #[test]
    fn finds_the_recovery_id_and_normalises_s() {
        for seed in 1..=8u8 {
            let (secret, public) = key(seed);
            let digest = [seed.wrapping_mul(31); 32];
            let expected = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(digest), &secret);
            let (id, compact) = expected.serialize_compact();
            let (r, s) = split(&compact);

            let low = recoverable(&r, &s, &digest, &public).unwrap();
            assert_eq!(&low[..64], &compact[..]);
            assert_eq!(i32::from(low[64]), i32::from(id));

            // The HSM's other answer for the same signature: (r, n − s), recovery id flipped.
            let high = recoverable(&r, &n_minus(&s), &digest, &public).unwrap();
            assert_eq!(high, low, "high-s normalised to the same signature");
        }
    }

    #[test]
    fn refuses_a_signature_by_another_key() {
        let (secret, _) = key(1);
        let (_, other) = key(2);
        let (r, s, _) = sign(&secret, [9; 32]);
        let err = recoverable(&r, &s, &[9; 32], &other).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not recover to the recorded public key"),
            "{err}"
        );
        let (_, mine) = key(1);
        let err = recoverable(&r, &s, &[8; 32], &mine).unwrap_err();
        assert!(matches!(err, Error::InvalidSignature { .. }), "{err}");
    }

    #[test]
    fn refuses_out_of_range_inputs() {
        let (secret, public) = key(1);
        let (r, s, _) = sign(&secret, [9; 32]);
        for (r, s, why) in [
            ([0; 32], s, "r = 0"),
            (r, [0; 32], "s = 0"),
            (N, s, "r = n"),
            (r, [0xff; 32], "s > n"),
        ] {
            let err = recoverable(&r, &s, &[9; 32], &public).expect_err(why);
            assert!(
                matches!(err, Error::InvalidSignature { .. }),
                "{why}: {err}"
            );
        }
        let mut not_a_point = public;
        not_a_point[64] ^= 1;
        let err = recoverable(&r, &s, &[9; 32], &not_a_point).unwrap_err();
        assert!(err.to_string().contains("not an uncompressed"), "{err}");
    }

    #[test]
    fn der_to_rs_survives_the_seed_corpus() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/der_to_rs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&corpus).unwrap() {
            fuzzing::der_to_rs(&std::fs::read(entry.unwrap().path()).unwrap());
            seen += 1;
        }
        assert!(seen > 0, "empty corpus in {}", corpus.display());
    }

    /// RFC 5480 `SubjectPublicKeyInfo` for an uncompressed point: SEQUENCE { SEQUENCE {
    /// id-ecPublicKey, namedCurve }, BIT STRING (0 unused bits) }, built byte by byte here.
    fn spki(curve_oid_der: &[u8], point: &[u8]) -> Vec<u8> {
        let algorithm_oid = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        let mut algorithm = algorithm_oid.to_vec();
        algorithm.extend(curve_oid_der);
        let mut body = vec![0x30, algorithm.len() as u8];
        body.extend(algorithm);
        body.extend([0x03, point.len() as u8 + 1, 0x00]);
        body.extend(point);
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    const SECP256K1_DER: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];
    const P256_DER: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

    #[test]
    fn reads_the_point_of_a_secp256k1_spki() {
        let (_, public) = key(5);
        let der = spki(&SECP256K1_DER, &public);
        // The fixed 23-byte prefix every secp256k1 SPKI with an uncompressed point has.
        assert_eq!(
            hex::encode(&der[..23]),
            "3056301006072a8648ce3d020106052b8104000a034200"
        );
        assert_eq!(public_key_from_spki(&der).unwrap(), public);
    }

    #[test]
    fn refuses_other_curves_and_malformed_spki() {
        let (_, public) = key(5);
        let p256 = spki(&P256_DER, &public);
        let Err(SpkiProblem::OtherKind(why)) = public_key_from_spki(&p256) else {
            panic!("P-256 accepted")
        };
        assert_eq!(
            why,
            "a key on curve ECC_NIST_P256 (1.2.840.10045.3.1.7), not secp256k1"
        );
        // rsaEncryption with NULL parameters.
        let mut rsa = vec![
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00, 0x03, 0x03, 0x00, 0x30, 0x00,
        ];
        rsa.splice(0..0, [0x30, rsa.len() as u8]);
        let Err(SpkiProblem::OtherKind(why)) = public_key_from_spki(&rsa) else {
            panic!("RSA accepted")
        };
        assert!(why.starts_with("a RSA (1.2.840.113549.1.1.1) key"), "{why}");

        let mut not_a_point = public;
        not_a_point[64] ^= 1;
        let mut compressed = vec![0x02 | (public[64] & 1)];
        compressed.extend(&public[1..33]);
        let good = spki(&SECP256K1_DER, &public);
        let mut trailing = good.clone();
        trailing.push(0);
        for (der, why) in [
            (spki(&SECP256K1_DER, &not_a_point), "off the curve"),
            (spki(&SECP256K1_DER, &public[..64]), "short point"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            (trailing, "trailing byte"),
            (Vec::new(), "empty"),
        ] {
            assert!(
                matches!(public_key_from_spki(&der), Err(SpkiProblem::Malformed(_))),
                "{why}"
            );
        }
        // A compressed point is a valid secp256k1 key; it comes back uncompressed.
        assert_eq!(
            public_key_from_spki(&spki(&SECP256K1_DER, &compressed)).unwrap(),
            public
        );
    }

    /// Random and mutated inputs through the fuzz entry point (`CACHET_FUZZ_RUNS`, default 2000;
    /// `cargo fuzz` in `crates/kms/fuzz` goes further).
    #[test]
    fn der_to_rs_survives_random_and_mutated_input() {
        use rand::{Rng as _, SeedableRng as _};
        let runs: usize = std::env::var("CACHET_FUZZ_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let (secret, _) = key(3);
        let (_, _, der) = sign(&secret, [4; 32]);
        fuzzing::der_to_rs(&der);
        for _ in 0..runs {
            let mut input = if rng.gen_bool(0.5) {
                der.clone()
            } else {
                (0..rng.gen_range(0..80)).map(|_| rng.r#gen()).collect()
            };
            for _ in 0..rng.gen_range(0..4) {
                if input.is_empty() {
                    break;
                }
                let i = rng.gen_range(0..input.len());
                match rng.gen_range(0..3) {
                    0 => input[i] = rng.r#gen(),
                    1 => {
                        input.remove(i);
                    }
                    _ => input.insert(i, rng.r#gen()),
                }
            }
            fuzzing::der_to_rs(&input);
            fuzzing::public_key_from_spki(&input);
        }
        let spki = spki(&SECP256K1_DER, &key(6).1);
        for _ in 0..runs {
            let mut input = spki.clone();
            let i = rng.gen_range(0..input.len());
            input[i] = rng.r#gen();
            fuzzing::public_key_from_spki(&input);
        }
    }
}
