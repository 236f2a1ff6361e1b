//! Unlock cost: prints a table of median times and the master-key calls per unlock.
//!
//! Baselines measured in the same run: a raw AES-256-GCM open of a key-set-sized payload, and
//! the local master key's unwrap (which stands in for the KMS call). Goal: the local part of an
//! unlock (everything but the master-key call) under 1 ms for the full key set.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, LoadedBundle, SealingKeyMode};
use cachet_kms::{
    CallRecord, DataKey, EncryptionContext, GeneratedDataKey, LocalMasterKey, MasterKey,
    MasterKeyRef, Unwrapped, WrappedDataKey,
};

const ROUNDS: usize = 2000;

#[derive(Debug)]
struct Counting(LocalMasterKey, Arc<AtomicUsize>);

#[async_trait]
impl MasterKey for Counting {
    fn reference(&self) -> MasterKeyRef {
        self.0.reference()
    }
    async fn generate_data_key(
        &self,
        c: &EncryptionContext,
    ) -> cachet_kms::Result<GeneratedDataKey> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.generate_data_key(c).await
    }
    async fn decrypt_data_key(
        &self,
        w: &WrappedDataKey,
        c: &EncryptionContext,
    ) -> cachet_kms::Result<Unwrapped> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.decrypt_data_key(w, c).await
    }
    async fn wrap_data_key(
        &self,
        k: &DataKey,
        c: &EncryptionContext,
    ) -> cachet_kms::Result<(WrappedDataKey, CallRecord)> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.wrap_data_key(k, c).await
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let master_path = dir.path().join("master.key");
    LocalMasterKey::create(&master_path).unwrap();
    let datadir = dir.path().join("data");
    let calls = Arc::new(AtomicUsize::new(0));
    let master = Counting(LocalMasterKey::open(&master_path).unwrap(), calls.clone());
    let options = InitOptions {
        datadir: datadir.clone(),
        chain_id: 1337,
        sealing_key: SealingKeyMode::Separate,
    };
    rt.block_on(cachet_keyprovider::init(
        &options,
        &master,
        ImportedKeys::none(),
    ))
    .unwrap();
    // Keep the audit log from growing into the measurement: unlock appends one line each.
    let loaded = LoadedBundle::load(&datadir).unwrap();

    // Baseline 1: raw AES-256-GCM open of a 130-byte payload.
    let cipher = Aes256Gcm::new(&[7u8; 32].into());
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(&[1; 12]),
            Payload {
                msg: &[0u8; 130],
                aad: &[0u8; 600],
            },
        )
        .unwrap();
    let raw_gcm = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let _ = std::hint::black_box(cipher.decrypt(
                    Nonce::from_slice(&[1; 12]),
                    Payload {
                        msg: &sealed,
                        aad: &[0u8; 600],
                    },
                ));
                t.elapsed()
            })
            .collect(),
    );

    // Baseline 2: the master-key call alone (local unwrap).
    let context = loaded.header().encryption_context.clone();
    let mk_call = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                let _ = std::hint::black_box(
                    rt.block_on(
                        master
                            .0
                            .decrypt_data_key(loaded.wrapped_data_key(), &context),
                    ),
                );
                t.elapsed()
            })
            .collect(),
    );

    // Full unlock; `local` excludes the master-key call.
    calls.store(0, Ordering::Relaxed);
    let mut totals = Vec::with_capacity(ROUNDS);
    let mut locals = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let (keys, timing) = rt.block_on(loaded.unlock_with(&master)).unwrap();
        totals.push(t.elapsed());
        locals.push(timing.local);
        drop(keys);
    }
    let per_unlock = calls.load(Ordering::Relaxed) as f64 / ROUNDS as f64;
    let total = median(totals);
    let local = median(locals);

    println!("| measurement (median of {ROUNDS}) | time | × raw AES-GCM open |");
    println!("|---|---|---|");
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.1} µs | {:.1}× |",
            d.as_secs_f64() * 1e6,
            d.as_secs_f64() / raw_gcm.as_secs_f64()
        )
    };
    row("raw AES-256-GCM open, 130 B (baseline)", raw_gcm);
    row("master-key call (local unwrap)", mk_call);
    row("unlock, local work only (goal < 1 ms)", local);
    row("unlock, total incl. master-key call and audit fsync", total);
    println!("\nmaster-key calls per unlock: {per_unlock}");
}
