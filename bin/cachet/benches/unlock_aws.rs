//! Unlock against AWS KMS (moto on loopback): KMS calls per unlock, counted on the wire by a
//! proxy between cachet and the emulator (must be 1), and the unlock time split into the KMS
//! round trip and local work. Baseline measured in the same run: one `Decrypt` through an
//! already-built client (the floor for the KMS part).
//!
//! Run: `cargo bench -p cachet --bench unlock_aws` (needs `.venv-test`, as `scripts/test` makes).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{KmsConfig, MasterKeySpec};
use cachet_testkit::{MOTO_REGION, MotoServer};

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
    let counter = Arc::new(AtomicUsize::new(0));
    let proxy = counting_proxy(moto.port(), Arc::clone(&counter));
    let config = KmsConfig {
        region: Some(MOTO_REGION.to_owned()),
        endpoint: Some(format!("http://127.0.0.1:{proxy}")),
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
        let before = counter.load(Ordering::SeqCst);
        let started = Instant::now();
        let unlocked = cachet_keyprovider::unlock(&datadir, &config).await.unwrap();
        total.push(started.elapsed());
        calls.push(counter.load(Ordering::SeqCst) - before);
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

/// A TCP proxy to moto that counts KMS requests (`X-Amz-Target: TrentService.*`) on the wire.
fn counting_proxy(upstream: u16, counter: Arc<AtomicUsize>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let counter = Arc::clone(&counter);
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || pump(client, server, Some(counter)));
            std::thread::spawn(move || pump(s2, c2, None));
        }
    });
    port
}

fn pump(mut from: TcpStream, mut to: TcpStream, counter: Option<Arc<AtomicUsize>>) {
    let needle = b"x-amz-target: trentservice.";
    let mut buf = [0u8; 16 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(counter) = &counter {
            carry.extend(buf[..n].iter().map(u8::to_ascii_lowercase));
            let hits = carry.windows(needle.len()).filter(|w| *w == needle).count();
            counter.fetch_add(hits, Ordering::SeqCst);
            let keep = carry.len().saturating_sub(needle.len() - 1);
            carry.drain(..keep);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
