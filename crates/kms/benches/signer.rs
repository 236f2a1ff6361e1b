//! What cachet adds to each HSM/KMS signature, next to an in-memory seal in the same run.
//!
//! Rows (per signature over a 32-byte digest, one thread):
//! - `in-memory sign_ecdsa_recoverable`: the baseline, what a bundle-held sealing key costs;
//! - `der_to_rs + recoverable (low-s)`: cachet's work on a KMS answer (DER parse, trial
//!   recovery against the recorded public key);
//! - `der_to_rs + recoverable (high-s)`: the same for an answer in the upper half (normalised);
//! - `sign + DER + der_to_rs + recoverable`: the signer's arithmetic done locally plus cachet's
//!   work, the CPU of an HSM/KMS seal without the network.
//!
//! The network round trip to KMS (milliseconds) is not here; see docs/aws-kms.md.
//! Size (env): `CACHET_BENCH_SIGNER_N` signatures per row (default 2000).
//! Run: `cargo bench -p cachet-kms --bench signer`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cachet_kms::{der_to_rs, recoverable};
use secp256k1::ecdsa::Signature;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

/// secp256k1's group order n (SEC 2 v2 § 2.4.1).
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
];

fn n_minus(x: &[u8]) -> [u8; 32] {
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

fn time(n: usize, mut f: impl FnMut(usize)) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        f(i);
    }
    started.elapsed()
}

fn main() {
    let n: usize = std::env::var("CACHET_BENCH_SIGNER_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let secret = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let public = PublicKey::from_secret_key(SECP256K1, &secret).serialize_uncompressed();
    let digests: Vec<[u8; 32]> = (0..n)
        .map(|i| {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_be_bytes());
            d[31] = 1;
            d
        })
        .collect();
    let low: Vec<Vec<u8>> = digests
        .iter()
        .map(|d| {
            let sig = SECP256K1.sign_ecdsa(&Message::from_digest(*d), &secret);
            sig.serialize_der().to_vec()
        })
        .collect();
    let high: Vec<Vec<u8>> = digests
        .iter()
        .map(|d| {
            let mut compact = SECP256K1
                .sign_ecdsa(&Message::from_digest(*d), &secret)
                .serialize_compact();
            let s = n_minus(&compact[32..]);
            compact[32..].copy_from_slice(&s);
            Signature::from_compact(&compact)
                .unwrap()
                .serialize_der()
                .to_vec()
        })
        .collect();

    let base = time(n, |i| {
        black_box(
            SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(digests[i]), black_box(&secret)),
        );
    });
    let post = |ders: &[Vec<u8>]| {
        time(n, |i| {
            let (r, s) = der_to_rs(black_box(&ders[i])).unwrap();
            black_box(recoverable(&r, &s, &digests[i], &public).unwrap());
        })
    };
    let low_t = post(&low);
    let high_t = post(&high);
    let full = time(n, |i| {
        let der = SECP256K1
            .sign_ecdsa(&Message::from_digest(digests[i]), black_box(&secret))
            .serialize_der();
        let (r, s) = der_to_rs(&der).unwrap();
        black_box(recoverable(&r, &s, &digests[i], &public).unwrap());
    });

    println!("signatures per row: {n} (release, one thread)");
    println!();
    println!("| path | µs / signature | signatures/s | time vs in-memory |");
    println!("|---|---:|---:|---:|");
    for (name, t) in [
        ("in-memory sign_ecdsa_recoverable", base),
        ("der_to_rs + recoverable (low-s)", low_t),
        ("der_to_rs + recoverable (high-s)", high_t),
        ("sign + DER + der_to_rs + recoverable", full),
    ] {
        let per = t.as_secs_f64() / n as f64;
        println!(
            "| {name} | {:.1} | {:.0} | {:.2}× |",
            per * 1e6,
            1.0 / per,
            t.as_secs_f64() / base.as_secs_f64()
        );
    }
}
