//! Unlock against AWS KMS (moto on loopback): KMS calls per unlock, counted on the wire by a
//! proxy between cachet and the emulator (must be 1), and the unlock time split into the KMS
//! round trip and local work. Baseline measured in the same run: one `Decrypt` through an
//! already-built client (the floor for the KMS part).
//!
//! Run: `cargo bench -p cachet --bench unlock_aws` (needs `.venv-test`, as `scripts/test` makes).

use std::process::Command;
use std::time::{Duration, Instant};

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{KmsConfig, MasterKeySpec};
use cachet_testkit::{KmsProxy, MOTO_REGION, MotoServer};

const ROUNDS: usize = 30;
const CHILD: &str = "CACHET_BENCH_CHILD";

fn main() {
    // The SDK reads credentials from the standard chain; set them for a child run of this bench
    // rather than mutating our own environment.
    if std::env::var_os(CHILD).is_none() {
        let status = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, "1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", MOTO_REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/cachet-bench/config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/cachet-bench/credentials",
            )
            .env_remove("AWS_PROFILE")
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let moto = MotoServer::start();
    moto.create_key(None, Some("alias/cachet"));
    let proxy = KmsProxy::start(moto.port());
    let config = KmsConfig {
        region: Some(MOTO_REGION.to_owned()),
        endpoint: Some(proxy.endpoint()),
        ..KmsConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("d");
    let master_key = cachet_kms::open_for_init(&MasterKeySpec::AwsKms(None), &config)
        .await
        .unwrap();
    let options = InitOptions {
        datadir: datadir.clone(),
        chain_id: 1337,
        sealing_key: SealingKeyMode::Separate,
    };
    cachet_keyprovider::init(&options, master_key.as_ref(), ImportedKeys::none())
        .await
        .unwrap();

    let (mut total, mut kms, mut local, mut calls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        proxy.take();
        let started = Instant::now();
        let unlocked = cachet_keyprovider::unlock(&datadir, &config).await.unwrap();
        total.push(started.elapsed());
        calls.push(proxy.take().len());
        kms.push(unlocked.timing.master_key);
        local.push(unlocked.timing.local);
        unlocked.keys.wipe();
    }

    // Baseline: Decrypt alone, through a client built once.
    let loaded = cachet_keyprovider::LoadedBundle::load(&datadir).unwrap();
    let key = cachet_kms::open_recorded(loaded.master_key(), &config)
        .await
        .unwrap();
    let mut baseline = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        key.decrypt_data_key(
            loaded.wrapped_data_key(),
            &loaded.header().encryption_context,
        )
        .await
        .unwrap();
        baseline.push(started.elapsed());
    }

    let per_unlock_max = calls.iter().copied().max().unwrap_or(0);
    let per_unlock_min = calls.iter().copied().min().unwrap_or(0);
    println!("unlock against moto on 127.0.0.1, {ROUNDS} rounds, medians");
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| KMS calls per unlock (counted by the proxy) | {per_unlock_min}..={per_unlock_max} |"
    );
    println!(
        "| unlock, total (incl. SDK client setup) | {:.2} ms |",
        ms(median(total.clone()))
    );
    println!(
        "| KMS round trip (Decrypt, retries incl.) | {:.2} ms |",
        ms(median(kms.clone()))
    );
    println!(
        "| local work (AES-GCM, key parsing, identity check, mlock) | {:.3} ms |",
        ms(median(local))
    );
    println!(
        "| baseline: Decrypt with a warm client | {:.2} ms |",
        ms(median(baseline.clone()))
    );
    println!(
        "| ratio unlock KMS part / baseline | {:.2} |",
        ms(median(kms)) / ms(median(baseline))
    );
    assert!(
        calls.iter().all(|&c| c == 1),
        "an unlock made other than one KMS call: {calls:?}"
    );
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
