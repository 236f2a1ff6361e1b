//! Seal (hash + sign) and recover per engine, with raw libsecp256k1 sign and recover measured in
//! the same run as the baseline. `cargo bench -p cachet-seal`; ratios = raw time / engine time.
#![allow(missing_docs, reason = "criterion macros generate undocumented items")]

use std::hint::black_box;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use cachet_keyprovider::UnlockedKeys;
use cachet_seal::bft::{BftExtra, ISTANBUL_DIGEST};
use cachet_seal::ibft::IstanbulExtra;
use cachet_seal::{Header, RaftMembers, clique, ibft, ibft2, qbft, raft};
use criterion::{Criterion, criterion_group};
use secp256k1::{Message, SECP256K1, SecretKey};

const SECRET: [u8; 32] = [0x42; 32];

fn header(extra: Vec<u8>, mix: B256) -> Header {
    Header {
        parent_hash: B256::repeat_byte(1),
        ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
        state_root: B256::repeat_byte(2),
        transactions_root: B256::repeat_byte(3),
        receipts_root: B256::repeat_byte(4),
        difficulty: U256::from(1),
        number: 1_000_000,
        gas_limit: 30_000_000,
        gas_used: 21_000,
        timestamp: 1_700_000_000,
        extra_data: Bytes::from(extra),
        mix_hash: mix,
        base_fee_per_gas: Some(U256::from(7)),
        ..Header::default()
    }
}

fn bench(c: &mut Criterion) {
    let keys =
        UnlockedKeys::from_secrets_for_tests(SECRET, Some(SECRET), [7; 32], [9; 32]).unwrap();
    let node = keys.node_key();
    let signer = node.signer();
    let sealer = keys.sealing_key();
    let vals: Vec<Address> = (1..=4u8)
        .map(Address::repeat_byte)
        .chain([signer.address()])
        .collect();

    let sk = SecretKey::from_byte_array(&SECRET).unwrap();
    let digest = keccak256(b"cachet");
    let msg = Message::from_digest(digest.0);
    let raw_sig = SECP256K1.sign_ecdsa_recoverable(&msg, &sk);
    c.bench_function("raw/sign", |b| {
        b.iter(|| SECP256K1.sign_ecdsa_recoverable(black_box(&msg), &sk))
    });
    c.bench_function("raw/recover", |b| {
        b.iter(|| SECP256K1.recover_ecdsa(black_box(&msg), &raw_sig).unwrap())
    });

    let ch = header(vec![0u8; 97], B256::ZERO);
    let ch_sealed = clique::sign_header(&ch, &sealer).unwrap();
    c.bench_function("clique/seal", |b| {
        b.iter(|| clique::sign_header(black_box(&ch), &sealer).unwrap())
    });
    c.bench_function("clique/recover", |b| {
        b.iter(|| clique::recover_signer(black_box(&ch_sealed)).unwrap())
    });

    let ih = header(
        IstanbulExtra {
            vanity: [0; 32],
            validators: vals.clone(),
            seal: vec![],
            committed_seals: vec![],
        }
        .encode(),
        ISTANBUL_DIGEST,
    );
    let ih_sealed = ibft::sign_proposal(&ih, signer).unwrap();
    c.bench_function("ibft/seal", |b| {
        b.iter(|| ibft::sign_proposal(black_box(&ih), signer).unwrap())
    });
    c.bench_function("ibft/recover", |b| {
        b.iter(|| ibft::recover_proposer(black_box(&ih_sealed)).unwrap())
    });

    let extra = BftExtra {
        vanity: vec![0; 32],
        validators: vals,
        ..BftExtra::default()
    };
    let mut i2 = header(ibft2::encode_extra(&extra), ISTANBUL_DIGEST);
    i2.beneficiary = signer.address();
    let i2_sealed =
        ibft2::with_committed_seals(&i2, &[ibft2::sign_commit(&i2, signer).unwrap()]).unwrap();
    c.bench_function("ibft2/seal", |b| {
        b.iter(|| ibft2::sign_commit(black_box(&i2), signer).unwrap())
    });
    c.bench_function("ibft2/recover", |b| {
        b.iter(|| ibft2::recover(black_box(&i2_sealed)).unwrap())
    });

    let mut q = header(qbft::encode_extra(&extra), ISTANBUL_DIGEST);
    q.beneficiary = signer.address();
    let q_sealed =
        qbft::with_committed_seals(&q, &[qbft::sign_commit(&q, signer).unwrap()]).unwrap();
    c.bench_function("qbft/seal", |b| {
        b.iter(|| qbft::sign_commit(black_box(&q), signer).unwrap())
    });
    c.bench_function("qbft/recover", |b| {
        b.iter(|| qbft::recover(black_box(&q_sealed)).unwrap())
    });

    let mut members = RaftMembers::new();
    members.insert(1, signer.public_key());
    let rh = header(vec![], B256::ZERO);
    let rh_sealed = raft::sign_block(&rh, 1, signer, &members).unwrap();
    // sign_block verifies its own signature before returning (one recovery included).
    c.bench_function("raft/seal", |b| {
        b.iter(|| raft::sign_block(black_box(&rh), 1, signer, &members).unwrap())
    });
    c.bench_function("raft/recover", |b| {
        b.iter(|| raft::recover(black_box(&rh_sealed)).unwrap())
    });
}

/// Interleaved rounds (thread CPU time): each round times a batch of raw operations and a batch of the engine's,
/// so load from other processes hits both alike; the table reports the median per-round ratio
/// raw time / engine time (1.0 = as fast as raw libsecp256k1).
fn paired_table() {
    let keys =
        UnlockedKeys::from_secrets_for_tests(SECRET, Some(SECRET), [7; 32], [9; 32]).unwrap();
    let node = keys.node_key();
    let signer = node.signer();
    let sealer = keys.sealing_key();
    let vals: Vec<Address> = (1..=4u8)
        .map(Address::repeat_byte)
        .chain([signer.address()])
        .collect();
    let sk = SecretKey::from_byte_array(&SECRET).unwrap();
    let msg = Message::from_digest(keccak256(b"cachet").0);
    let raw_sig = SECP256K1.sign_ecdsa_recoverable(&msg, &sk);
    let raw_sign = || {
        black_box(SECP256K1.sign_ecdsa_recoverable(black_box(&msg), &sk));
    };
    let raw_recover = || {
        black_box(SECP256K1.recover_ecdsa(black_box(&msg), &raw_sig).unwrap());
    };

    let ch = header(vec![0u8; 97], B256::ZERO);
    let ch_sealed = clique::sign_header(&ch, &sealer).unwrap();
    let ih = header(
        IstanbulExtra {
            vanity: [0; 32],
            validators: vals.clone(),
            seal: vec![],
            committed_seals: vec![],
        }
        .encode(),
        ISTANBUL_DIGEST,
    );
    let ih_sealed = ibft::sign_proposal(&ih, signer).unwrap();
    let extra = BftExtra {
        vanity: vec![0; 32],
        validators: vals,
        ..BftExtra::default()
    };
    let mut i2 = header(ibft2::encode_extra(&extra), ISTANBUL_DIGEST);
    i2.beneficiary = signer.address();
    let i2_sealed =
        ibft2::with_committed_seals(&i2, &[ibft2::sign_commit(&i2, signer).unwrap()]).unwrap();
    let mut q = header(qbft::encode_extra(&extra), ISTANBUL_DIGEST);
    q.beneficiary = signer.address();
    let q_sealed =
        qbft::with_committed_seals(&q, &[qbft::sign_commit(&q, signer).unwrap()]).unwrap();
    let mut members = RaftMembers::new();
    members.insert(1, signer.public_key());
    let rh = header(vec![], B256::ZERO);
    let rh_sealed = raft::sign_block(&rh, 1, signer, &members).unwrap();

    type Op<'a> = Box<dyn Fn() + 'a>;
    let rows: Vec<(&str, bool, Op<'_>)> = vec![
        (
            "clique seal",
            true,
            Box::new(|| {
                black_box(clique::sign_header(&ch, &sealer).unwrap());
            }),
        ),
        (
            "clique recover",
            false,
            Box::new(|| {
                black_box(clique::recover_signer(&ch_sealed).unwrap());
            }),
        ),
        (
            "ibft seal",
            true,
            Box::new(|| {
                black_box(ibft::sign_proposal(&ih, signer).unwrap());
            }),
        ),
        (
            "ibft recover",
            false,
            Box::new(|| {
                black_box(ibft::recover_proposer(&ih_sealed).unwrap());
            }),
        ),
        (
            "ibft2 seal",
            true,
            Box::new(|| {
                black_box(ibft2::sign_commit(&i2, signer).unwrap());
            }),
        ),
        (
            "ibft2 recover",
            false,
            Box::new(|| {
                black_box(ibft2::recover_committers(&i2_sealed).unwrap());
            }),
        ),
        (
            "qbft seal",
            true,
            Box::new(|| {
                black_box(qbft::sign_commit(&q, signer).unwrap());
            }),
        ),
        (
            "qbft recover",
            false,
            Box::new(|| {
                black_box(qbft::recover_committers(&q_sealed).unwrap());
            }),
        ),
        (
            "raft seal+selfcheck",
            true,
            Box::new(|| {
                drop(black_box(
                    raft::sign_block(&rh, 1, signer, &members).unwrap(),
                ))
            }),
        ),
        (
            "raft recover",
            false,
            Box::new(|| {
                black_box(raft::recover(&rh_sealed).unwrap());
            }),
        ),
    ];
    // Thread CPU time, not wall time: on a shared machine the wall clock also counts the time
    // this thread was descheduled.
    let cpu_us = || {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        t.tv_sec as f64 * 1e6 + t.tv_nsec as f64 / 1e3
    };
    let time = |f: &dyn Fn(), n: u32| {
        let start = cpu_us();
        for _ in 0..n {
            f();
        }
        (cpu_us() - start) / f64::from(n)
    };
    println!(
        "\n{:<20} {:>10} {:>10} {:>8}",
        "operation", "raw µs", "cachet µs", "ratio"
    );
    for (name, is_sign, op) in &rows {
        let raw: &dyn Fn() = if *is_sign { &raw_sign } else { &raw_recover };
        let (mut ratios, mut raws, mut ours) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..31 {
            let r = time(raw, 200);
            let o = time(op.as_ref(), 200);
            ratios.push(r / o);
            raws.push(r);
            ours.push(o);
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{:<20} {:>10.2} {:>10.2} {:>8.3}",
            name,
            median(&mut raws),
            median(&mut ours),
            median(&mut ratios)
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    paired_table();
}
