//! One unlock's master-key call through SoftHSM next to the local backend, in the same run.
//!
//! Rows (per `decrypt_data_key` of a data key wrapped under the same context, one thread):
//! - `local` (baseline): re-read the key file, AES-256-GCM open;
//! - `pkcs11 GCM (SoftHSM)`: open a session, read the PIN file, `C_Login`, find the key, key
//!   check, `C_Decrypt`, `C_Logout` — what every unlock and lease recheck does;
//! - `pkcs11 KWP (SoftHSM)`: the same with `CKM_AES_KEY_WRAP_PAD`;
//! - `pkcs11 ECDSA sign_digest (SoftHSM)`, next to `in-memory sign_ecdsa_recoverable`: the per-seal
//!   cost of an HSM-resident sealing key (login per signature, see docs/dev/decisions.md 272).
//!
//! SoftHSM reads `SOFTHSM2_CONF` once per process, so the bench re-runs itself with a temporary
//! token directory. Size: `CACHET_BENCH_PKCS11_N` calls per row (default 200).
//! Run: `cargo bench -p cachet-kms --features pkcs11 --bench unwrap_pkcs11`.

use std::time::{Duration, Instant};

use cachet_kms::{
    DigestSigner, EncryptionContext, KmsConfig, LocalMasterKey, MasterKey, Pkcs11MasterKey,
    Pkcs11Signer, SECP256K1_EC_PARAMS, WrapMode,
};
use cachet_testkit::{SoftHsm, USER_PIN};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

const CHILD: &str = "CACHET_BENCH_PKCS11_CHILD";

fn main() {
    if std::env::var_os(CHILD).is_none() {
        let hsm = SoftHsm::new();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .envs(hsm.env())
            .env(CHILD, hsm.dir())
            .status()
            .unwrap();
        std::process::exit(status.code().unwrap_or(1));
    }
    let dir = std::path::PathBuf::from(std::env::var_os(CHILD).unwrap());
    let n: usize = std::env::var("CACHET_BENCH_PKCS11_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(bench(&dir, n));
}

async fn bench(dir: &std::path::Path, n: usize) {
    let util = |args: &[&str]| {
        let ok = std::process::Command::new("softhsm2-util")
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "softhsm2-util {args:?}");
    };
    util(&[
        "--init-token",
        "--free",
        "--label",
        "bench",
        "--so-pin",
        "5678",
        "--pin",
        USER_PIN,
    ]);
    let pin = dir.join("pin");
    std::fs::write(&pin, USER_PIN).unwrap();
    std::fs::set_permissions(&pin, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let module = cachet_testkit::softhsm_module();
    let uri = |object: &str, kind: &str| {
        format!(
            "pkcs11:token=bench;object={object};type={kind}?module-path={}&pin-source=file:{}",
            module.display(),
            pin.display()
        )
    };
    let context = EncryptionContext::new()
        .with("cachet:purpose", "key-bundle")
        .with("cachet:node", "0x00000000000000000000000000000000000000aa")
        .with("cachet:chain", "1337");

    // A secp256k1 key pair in the token for the signing rows, made (and the module finalized,
    // as dropping a cryptoki context does) before cachet loads the module.
    {
        let ctx = cryptoki::context::Pkcs11::new(&module).unwrap();
        let _ = ctx.initialize(cryptoki::context::CInitializeArgs::OsThreads);
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).is_ok_and(|t| t.label() == "bench"))
            .unwrap();
        let session = ctx.open_rw_session(slot).unwrap();
        let _ = session.login(UserType::User, Some(&AuthPin::new(USER_PIN.into())));
        let label = Attribute::Label(b"sealer".to_vec());
        session
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &[
                    Attribute::Token(true),
                    label.clone(),
                    Attribute::EcParams(SECP256K1_EC_PARAMS.to_vec()),
                ],
                &[
                    Attribute::Token(true),
                    label,
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Sign(true),
                ],
            )
            .unwrap();
        let _ = session.logout();
    }
    let local = LocalMasterKey::create(&dir.join("local.key")).unwrap();
    let config = KmsConfig::default();
    let gcm = Pkcs11MasterKey::create(&uri("master", "secret-key"), &config).unwrap();
    let kwp = Pkcs11MasterKey::open_with(
        &uri("master", "secret-key"),
        &config,
        Some(WrapMode::KeyWrapPad),
    )
    .unwrap();

    let mut rows: Vec<(&str, Duration)> = Vec::new();
    for (name, key) in [
        ("local (baseline)", &local as &dyn MasterKey),
        ("pkcs11 GCM (SoftHSM)", &gcm),
        ("pkcs11 KWP (SoftHSM)", &kwp),
    ] {
        let wrapped = key.generate_data_key(&context).await.unwrap().wrapped;
        let started = Instant::now();
        for _ in 0..n {
            key.decrypt_data_key(&wrapped, &context).await.unwrap();
        }
        rows.push((name, started.elapsed()));
    }

    let signer = Pkcs11Signer::open(&uri("sealer", "private"), &config).unwrap();
    let secret = secp256k1::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let started = Instant::now();
    for i in 0..n {
        let digest = [i as u8; 32];
        std::hint::black_box(
            secp256k1::SECP256K1
                .sign_ecdsa_recoverable(&secp256k1::Message::from_digest(digest), &secret),
        );
    }
    let in_memory = started.elapsed();
    let started = Instant::now();
    for i in 0..n {
        signer.sign_digest(&[i as u8; 32]).await.unwrap();
    }
    let hsm_sign = started.elapsed();

    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let base = per(rows[0].1);
    println!("decrypt_data_key, {n} calls per row");
    println!("{:<40} {:>12} {:>10}", "row", "µs/call", "× local");
    for (name, d) in &rows {
        println!("{name:<40} {:>12.1} {:>10.1}", per(*d), per(*d) / base);
    }
    println!();
    println!("secp256k1 signature over a 32-byte digest, {n} per row");
    println!("{:<40} {:>12} {:>10}", "row", "µs/sig", "× memory");
    let mem = per(in_memory);
    println!(
        "{:<40} {mem:>12.1} {:>10.1}",
        "in-memory sign_ecdsa_recoverable", 1.0
    );
    println!(
        "{:<40} {:>12.1} {:>10.1}",
        "pkcs11 sign_digest (SoftHSM)",
        per(hsm_sign),
        per(hsm_sign) / mem
    );
}
