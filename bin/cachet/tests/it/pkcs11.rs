//! `cachet master-key new / init / unlock` with a `pkcs11:` master key in SoftHSM, and the exit
//! codes of its failures (docs/hsm.md).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cachet_testkit::{SoftHsm, USER_PIN};

fn cachet(hsm: &SoftHsm, module: Option<&Path>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cachet"));
    command
        .args(args)
        .stdin(Stdio::null())
        .envs(hsm.env())
        .env_remove("CACHET_PKCS11_MODULE");
    if let Some(module) = module {
        command.env("CACHET_PKCS11_MODULE", module);
    }
    command.output().expect("run cachet")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited by signal")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The key objects SoftHSM's file store keeps for the token (one file per object).
fn object_files(hsm: &SoftHsm) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for token in std::fs::read_dir(hsm.dir().join("tokens")).unwrap() {
        for file in std::fs::read_dir(token.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".object") && name != "token.object" {
                found.push(path);
            }
        }
    }
    found
}

#[test]
#[ignore = "needs softhsm2: run scripts/test"]
fn pkcs11_master_key_new_init_unlock_and_each_failure_class() {
    let hsm = SoftHsm::new();
    hsm.init_token("cachet");
    let pin = hsm.pin_file("pin", USER_PIN);
    let module = hsm.module();
    let key = format!(
        "pkcs11:token=cachet;object=cachet-master?pin-source=file:{}",
        pin.display()
    );
    let datadir = hsm.dir().join("d");
    let d = datadir.display().to_string();

    let out = cachet(&hsm, Some(&module), &["master-key", "new", &key]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), key);
    assert_eq!(object_files(&hsm).len(), 1, "one key object in the token");
    let again = cachet(&hsm, Some(&module), &["master-key", "new", &key]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));

    let out = cachet(
        &hsm,
        Some(&module),
        &[
            "init",
            "--datadir",
            &d,
            "--master-key",
            &key,
            "--chain-id",
            "1337",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let unlock = ["unlock", "--check", "--datadir", d.as_str()];
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let inspect = cachet(&hsm, None, &["inspect", "--datadir", &d, "--json"]);
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(inspect["master_key"], key.as_str());
    // The flag works like the environment variable.
    let module_arg = module.display().to_string();
    let mut with_flag = unlock.to_vec();
    with_flag.extend(["--pkcs11-module", module_arg.as_str()]);
    assert_eq!(code(&cachet(&hsm, None, &with_flag)), 0);

    // No module configured: a usage error naming the flag.
    let out = cachet(&hsm, None, &unlock);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("--pkcs11-module"), "{}", stderr(&out));
    // A module that is not there: unavailable, naming it.
    let gone = Path::new("/nonexistent/libpkcs11-vendor.so");
    let out = cachet(&hsm, Some(gone), &unlock);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/libpkcs11-vendor.so"),
        "{}",
        stderr(&out)
    );

    // A PIN the token refuses: revoked. The message names the file, never the PIN.
    hsm.pin_file("pin", "0000");
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(stderr(&out).contains("refused the PIN"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("0000"), "{}", stderr(&out));
    hsm.pin_file("pin", USER_PIN);
    assert_eq!(code(&cachet(&hsm, Some(&module), &unlock)), 0);

    // The key object deleted (SoftHSM keeps one file per object): revoked.
    for file in object_files(&hsm) {
        std::fs::remove_file(file).unwrap();
    }
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 10, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not on the token"),
        "{}",
        stderr(&out)
    );

    // The token gone: unavailable.
    hsm.util(&["--delete-token", "--token", "cachet"]);
    let out = cachet(&hsm, Some(&module), &unlock);
    assert_eq!(code(&out), 11, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no initialised token"),
        "{}",
        stderr(&out)
    );
}
