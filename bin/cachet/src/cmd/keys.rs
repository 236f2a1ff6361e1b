//! Key commands: `init`, `inspect`, `unlock`, `rotate`, `destroy`, `audit verify`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use cachet_keyprovider::import::{self, ImportedKeys};
use cachet_keyprovider::{
    AuditLog, BundleHeader, InitOptions, LoadedBundle, PublicIdentities, RemoteKey, RemoteRole,
    SealingKeyMode,
};
use cachet_kms::{KmsConfig, MasterKeySpec, SigningKeySpec};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use zeroize::Zeroizing;

use crate::exit::Failure;

/// Master-key backend settings shared by every command that calls a master key.
#[derive(Debug, Clone, Args)]
pub(crate) struct KmsArgs {
    /// AWS region for KMS (default: the ARN's region, then the standard AWS chain).
    #[arg(long, value_name = "REGION")]
    pub(crate) kms_region: Option<String>,
    /// KMS endpoint URL (emulators, VPC endpoints); also `AWS_ENDPOINT_URL_KMS`.
    #[arg(long, value_name = "URL")]
    pub(crate) kms_endpoint: Option<String>,
    /// AWS profile for credentials.
    #[arg(long, value_name = "NAME")]
    pub(crate) aws_profile: Option<String>,
    /// Total deadline for one master-key operation, retries included (seconds).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub(crate) kms_timeout: u64,
    /// PKCS#11 module (shared library) for `pkcs11:` master keys whose URI has no module-path.
    #[arg(long, value_name = "PATH", env = "CACHET_PKCS11_MODULE")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// Deadline of one signature by a sealing or wallet key held in an HSM or KMS, retries
    /// included (seconds, fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) signer_timeout: f64,
}

impl KmsArgs {
    pub(crate) fn config(&self) -> KmsConfig {
        KmsConfig {
            region: self.kms_region.clone(),
            endpoint: self.kms_endpoint.clone(),
            profile: self.aws_profile.clone(),
            timeout: Some(std::time::Duration::from_secs(self.kms_timeout)),
            pkcs11_module: self.pkcs11_module.clone(),
            signer_timeout: Some(std::time::Duration::from_secs_f64(
                self.signer_timeout.clamp(0.001, 3600.0),
            )),
        }
    }
}

/// `--sealing-key`: `separate`, `node`, or a key an HSM/KMS holds.
#[derive(Debug, Clone)]
pub(crate) enum SealingKeyArg {
    /// A sealing key of its own in the bundle (geth style).
    Separate,
    /// The node key also seals clique blocks (Besu style).
    Node,
    /// A key of its own that never leaves an HSM or KMS.
    Remote(SigningKeySpec),
}

fn parse_sealing_key(given: &str) -> Result<SealingKeyArg, String> {
    match given {
        "separate" => Ok(SealingKeyArg::Separate),
        "node" => Ok(SealingKeyArg::Node),
        _ => SigningKeySpec::parse(given)
            .map(SealingKeyArg::Remote)
            .map_err(|e| format!("want separate, node, hsm:pkcs11:URI or kms:KEY; {e}")),
    }
}

fn parse_signing_key(given: &str) -> Result<SigningKeySpec, String> {
    SigningKeySpec::parse(given).map_err(|e| e.to_string())
}

/// `--keystore-role`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum KeystoreRole {
    /// The keystore key becomes the clique sealing key.
    Sealer,
    /// The keystore key becomes the wallet account.
    Wallet,
}

/// `cachet init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The node's data directory (created with mode 0700).
    #[arg(long)]
    datadir: PathBuf,
    /// Master key: `local:PATH`, `aws-kms:KEY` or `pkcs11:URI` (RFC 7512).
    #[arg(long, value_name = "REF")]
    master_key: String,
    /// Chain id bound into the bundle's encryption context.
    #[arg(long, default_value_t = 1337)]
    chain_id: u64,
    /// The clique sealing key: `separate` (a key of its own in the bundle), `node` (the node
    /// key seals), or a key that never leaves an HSM or KMS: `hsm:pkcs11:URI` (RFC 7512, a
    /// secp256k1 private key; ?pin-source=file:PATH) or `kms:KEY` (an AWS KMS `ECC_SECG_P256K1`
    /// key: ARN, id, alias/NAME or alias ARN).
    #[arg(long, value_name = "separate|node|hsm:URI|kms:KEY", default_value = "separate", value_parser = parse_sealing_key)]
    sealing_key: SealingKeyArg,
    /// The wallet account in an HSM or KMS instead of the bundle: `hsm:pkcs11:URI` or
    /// `kms:KEY`, as for --sealing-key.
    #[arg(long, value_name = "hsm:URI|kms:KEY", value_parser = parse_signing_key)]
    wallet_key: Option<SigningKeySpec>,
    /// Import the node key from a geth `nodekey` file.
    #[arg(long, value_name = "FILE", conflicts_with = "import_besu_key")]
    import_nodekey: Option<PathBuf>,
    /// Import the node key from a Besu `key` file.
    #[arg(long, value_name = "FILE")]
    import_besu_key: Option<PathBuf>,
    /// Import the clique sealing key from a raw hex private-key file (geth `account import`
    /// format, 64 hex characters; a pipe such as `<(printf %s "$KEY")` keeps it off disk).
    #[arg(long, value_name = "FILE")]
    import_sealing_key: Option<PathBuf>,
    /// Import a geth keystore V3 file (see --keystore-role).
    #[arg(long, value_name = "FILE", requires = "keystore_role")]
    import_keystore: Option<PathBuf>,
    /// What the imported keystore key becomes.
    #[arg(long, value_enum)]
    keystore_role: Option<KeystoreRole>,
    /// Import the PTM keypair from a Tessera private key file.
    #[arg(long, value_name = "FILE")]
    import_tessera_key: Option<PathBuf>,
    /// File holding the keystore / Tessera password (otherwise prompted on a terminal).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// After a successful init, overwrite and delete the imported plaintext key files.
    #[arg(long)]
    shred_source: bool,
    #[command(flatten)]
    kms: KmsArgs,
}

/// `cachet inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The node's data directory.
    #[arg(long)]
    datadir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `cachet unlock`.
#[derive(Debug, Args)]
pub(crate) struct UnlockArgs {
    /// The node's data directory.
    #[arg(long)]
    datadir: PathBuf,
    /// Decrypt the bundle once, check the keys and print the identities (never secrets).
    #[arg(long)]
    check: bool,
    /// Hold the keys and re-prove master-key access every --kms-recheck, as the node does;
    /// exit 10 (keys wiped) when access is revoked or unreachable past --kms-grace.
    #[arg(long, conflicts_with = "check")]
    watch: bool,
    /// Unlock with master key N only (1-based, as `inspect` lists them), not the others: tests a
    /// break-glass key without making the primary unavailable.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=4))]
    slot: Option<u8>,
    #[command(flatten)]
    kms: KmsArgs,
    #[command(flatten)]
    lease: super::watch::LeaseArgs,
}

/// `cachet rotate`.
#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// The node's data directory.
    #[arg(long)]
    datadir: PathBuf,
    /// Replace the first (primary) master key with REF (`local:PATH`, `aws-kms:KEY` or
    /// `pkcs11:URI`); the other master keys stay.
    #[arg(long, value_name = "REF")]
    to: Option<String>,
    /// Add REF as one more master key (a break-glass key), tried after the others; at most 4.
    #[arg(long, value_name = "REF", conflicts_with_all = ["to", "remove_master_key"])]
    add_master_key: Option<String>,
    /// Remove the master key REF (as `inspect` shows it, or its key id); never the last one.
    #[arg(long, value_name = "REF", conflicts_with = "to")]
    remove_master_key: Option<String>,
    #[command(flatten)]
    kms: KmsArgs,
}

/// `cachet destroy`.
#[derive(Debug, Args)]
pub(crate) struct DestroyArgs {
    /// The node's data directory.
    #[arg(long)]
    datadir: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

/// `cachet audit`.
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the audit log's hash chain and report the first broken link.
    Verify {
        /// The node's data directory.
        #[arg(long)]
        datadir: PathBuf,
    },
}

pub(crate) async fn init(args: InitArgs) -> Result<(), Failure> {
    let spec = MasterKeySpec::parse(&args.master_key)?;
    let mode = match args.sealing_key {
        SealingKeyArg::Node => SealingKeyMode::Node,
        SealingKeyArg::Separate | SealingKeyArg::Remote(_) => SealingKeyMode::Separate,
    };
    let imported = read_imports(&args, mode)?;
    let config = args.kms.config();
    // Where each remote key lives and its public key, read before the master key is asked for
    // anything: a wrong reference fails init with nothing written.
    let mut remote_keys = Vec::new();
    let remote = [
        match &args.sealing_key {
            SealingKeyArg::Remote(spec) => Some((RemoteRole::Sealing, spec)),
            _ => None,
        },
        args.wallet_key
            .as_ref()
            .map(|spec| (RemoteRole::Wallet, spec)),
    ];
    for (role, spec) in remote.into_iter().flatten() {
        let signer = cachet_kms::open_signer(spec, &config).await?;
        remote_keys.push(RemoteKey::from_signer(role, spec.backend, signer.as_ref())?);
    }
    let master_key = cachet_kms::open_for_init(&spec, &config).await?;
    let options = InitOptions {
        datadir: args.datadir.clone(),
        chain_id: args.chain_id,
        sealing_key: mode,
    };
    let sources = imported.sources().to_vec();
    let initialised =
        cachet_keyprovider::init_with_remote(&options, master_key.as_ref(), imported, remote_keys)
            .await?;
    let mut out = identities_json(&initialised.identities);
    let header = LoadedBundle::load(&args.datadir)?.header().clone();
    out["key_locations"] = key_locations(&header);
    super::emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
    eprintln!(
        "created {} under {}",
        initialised.bundle_path.display(),
        initialised.master_key.given
    );
    // A pipe (`<(printf …)`) leaves nothing behind to shred or warn about.
    let sources: Vec<_> = sources.into_iter().filter(|s| s.is_on_disk()).collect();
    if !sources.is_empty() {
        if args.shred_source {
            import::shred_sources(&sources)?;
            for s in &sources {
                eprintln!("shredded plaintext source {}", s.path.display());
            }
        } else {
            eprintln!(
                "these plaintext key files are still on disk; delete them once you have a backup of the bundle, or rerun with --shred-source next time:"
            );
            for s in &sources {
                eprintln!("  {} ({} {})", s.path.display(), s.role, s.format);
            }
        }
    }
    Ok(())
}

pub(crate) fn inspect(args: InspectArgs) -> Result<(), Failure> {
    let bundle = LoadedBundle::load(&args.datadir)?;
    let header = bundle.header();
    let mut out = identities_json(&header.identities);
    out["master_key"] = json!(bundle.master_key().given);
    out["master_key_id"] = json!(bundle.master_key().key_id);
    out["master_keys"] = json!(
        bundle
            .slots()
            .iter()
            .map(
                |s| json!({"master_key": s.master_key.given, "master_key_id": s.master_key.key_id})
            )
            .collect::<Vec<_>>()
    );
    out["encryption_context"] = json!(header.encryption_context);
    out["created"] = json!(header.created);
    out["format"] = json!(header.format);
    out["key_locations"] = key_locations(header);
    if args.json {
        super::emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        let id = &header.identities;
        super::emit(&format!("enode id:        {}", id.enode_id));
        super::emit(&format!(
            "node address:    {}",
            out["node_address"].as_str().unwrap_or_default()
        ));
        let location = |role: RemoteRole| {
            header
                .remote_keys
                .iter()
                .find(|r| r.role == role)
                .map(|r| format!(", in {}", r.location()))
                .unwrap_or_default()
        };
        super::emit(&format!(
            "sealer address:  {} ({}{})",
            out["sealer_address"].as_str().unwrap_or_default(),
            id.sealing_key,
            location(RemoteRole::Sealing)
        ));
        super::emit(&format!(
            "wallet address:  {}{}",
            out["wallet_address"].as_str().unwrap_or_default(),
            location(RemoteRole::Wallet)
                .strip_prefix(", ")
                .map(|l| format!(" ({l})"))
                .unwrap_or_default()
        ));
        super::emit(&format!("ptm public key:  {}", id.ptm_public_key));
        for (i, slot) in bundle.slots().iter().enumerate() {
            let label = if i == 0 {
                "master key:     ".to_owned()
            } else {
                format!("master key {}:   ", i + 1)
            };
            super::emit(&format!(
                "{label} {} ({})",
                slot.master_key.given, slot.master_key.key_id
            ));
        }
        super::emit(&format!(
            "context:         {}",
            serde_json::to_string(&header.encryption_context).unwrap_or_default()
        ));
        super::emit(&format!("created:         {}", header.created));
    }
    Ok(())
}

pub(crate) async fn unlock(args: UnlockArgs) -> Result<(), Failure> {
    if !args.check && !args.watch {
        return Err(Failure::usage(
            "nothing to do: pass --check (decrypt once and verify) or --watch (hold the keys)",
        ));
    }
    let slot = args.slot.map(|n| usize::from(n) - 1);
    let unlocked = cachet_keyprovider::unlock_slot(&args.datadir, &args.kms.config(), slot).await?;
    let mut out = identities_json(unlocked.keys.identities());
    out["master_key"] = json!(unlocked.unlocked_by().master_key.given);
    out["slot"] = json!(unlocked.slot + 1);
    out["key_locations"] = key_locations(unlocked.bundle.header());
    out["memory_locked"] = json!(unlocked.keys.memory_locked());
    out["hardening"] = cachet_node::hardening_json(&unlocked.keys);
    out["unlocked"] = json!(true);
    super::emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
    if args.watch {
        return super::watch::watch(unlocked, &args.datadir, &args.lease).await;
    }
    unlocked.keys.wipe();
    Ok(())
}

pub(crate) async fn rotate(args: RotateArgs) -> Result<(), Failure> {
    use cachet_keyprovider::{MasterKeyChange, Unwrap};
    let config = args.kms.config();
    let open = |given: &str| {
        let spec = MasterKeySpec::parse(given);
        let config = &config;
        async move { cachet_kms::open_for_init(&spec?, config).await }
    };
    let target = match args.to.as_deref().or(args.add_master_key.as_deref()) {
        Some(given) => Some(open(given).await?),
        None => None,
    };
    let change = match (&target, &args.remove_master_key) {
        (Some(key), _) if args.to.is_some() => MasterKeyChange::ReplacePrimary(key.as_ref()),
        (Some(key), _) => MasterKeyChange::Add(key.as_ref()),
        (None, Some(given)) => MasterKeyChange::Remove(given),
        (None, None) => MasterKeyChange::Upgrade,
    };
    let keys =
        cachet_keyprovider::change_master_keys(&args.datadir, Unwrap::Recorded(&config), change)
            .await?;
    let first = keys.first();
    super::emit(
        &json!({
            "master_key": first.map(|k| &k.given),
            "master_key_id": first.map(|k| &k.key_id),
            "master_keys": keys.iter().map(|k| json!({"master_key": k.given, "master_key_id": k.key_id})).collect::<Vec<_>>(),
        })
        .to_string(),
    );
    Ok(())
}

pub(crate) fn destroy(args: DestroyArgs) -> Result<(), Failure> {
    let bundle = LoadedBundle::load(&args.datadir)?;
    let node = lowercase(&bundle.header().identities.node_address);
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage(
                "refusing to destroy keys without confirmation: pass --yes",
            ));
        }
        eprint!("This erases the keys of node {node} for good. Type the node address to confirm: ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Failure::internal(e.to_string()))?;
        if answer.trim() != node {
            return Err(Failure::usage(
                "confirmation did not match; nothing was destroyed",
            ));
        }
    }
    let identities = cachet_keyprovider::destroy(&args.datadir)?;
    super::emit(&format!(
        "destroyed the key bundle of node {}",
        lowercase(&identities.node_address)
    ));
    Ok(())
}

pub(crate) fn audit(command: AuditCommand) -> Result<(), Failure> {
    match command {
        AuditCommand::Verify { datadir } => {
            let report = AuditLog::new(&datadir).verify()?;
            match report.first_broken {
                None => {
                    super::emit(&format!("audit log intact: {} records", report.valid_lines));
                    Ok(())
                }
                Some((line, why)) => Err(cachet_node::exit::audit_log_broken(
                    &datadir.join("audit.log"),
                    line,
                    &why,
                    report.valid_lines,
                )),
            }
        }
    }
}

fn read_imports(args: &InitArgs, mode: SealingKeyMode) -> Result<ImportedKeys, Failure> {
    let mut imported = ImportedKeys::none();
    if let Some(path) = &args.import_nodekey {
        imported.set_node(import::read_geth_nodekey(path)?, "geth-nodekey", path);
    }
    if let Some(path) = &args.import_besu_key {
        imported.set_node(import::read_besu_key(path)?, "besu-key", path);
    }
    let remote_sealer = matches!(args.sealing_key, SealingKeyArg::Remote(_));
    if remote_sealer
        && (args.import_sealing_key.is_some()
            || matches!(args.keystore_role, Some(KeystoreRole::Sealer)))
    {
        return Err(Failure::usage(
            "--sealing-key hsm:/kms: names a key that never leaves its HSM or KMS: it cannot be imported (--import-sealing-key, --keystore-role sealer)",
        ));
    }
    if args.wallet_key.is_some()
        && args.import_keystore.is_some()
        && !matches!(args.keystore_role, Some(KeystoreRole::Sealer))
    {
        return Err(Failure::usage(
            "--wallet-key names a key that never leaves its HSM or KMS: it cannot be imported (--keystore-role wallet)",
        ));
    }
    if let Some(path) = &args.import_sealing_key {
        if matches!(mode, SealingKeyMode::Node) {
            return Err(Failure::usage(
                "--import-sealing-key conflicts with --sealing-key node (the node key seals)",
            ));
        }
        imported.set_sealer(import::read_geth_nodekey(path)?, "raw-hex", path);
    }
    if let Some(path) = &args.import_keystore {
        let password = read_password(args.password_file.as_deref(), path)?;
        let key = import::read_keystore_v3(path, &password)?;
        match args.keystore_role {
            Some(KeystoreRole::Sealer) if matches!(mode, SealingKeyMode::Node) => {
                return Err(Failure::usage(
                    "--keystore-role sealer conflicts with --sealing-key node (the node key seals)",
                ));
            }
            Some(KeystoreRole::Sealer) if args.import_sealing_key.is_some() => {
                return Err(Failure::usage(
                    "--keystore-role sealer conflicts with --import-sealing-key (one sealing key)",
                ));
            }
            Some(KeystoreRole::Sealer) => imported.set_sealer(key, "keystore-v3", path),
            Some(KeystoreRole::Wallet) | None => imported.set_wallet(key, "keystore-v3", path),
        }
    }
    if let Some(path) = &args.import_tessera_key {
        let password = if args.password_file.is_some() || std::io::stdin().is_terminal() {
            Some(read_password(args.password_file.as_deref(), path)?)
        } else {
            None
        };
        imported.set_ptm(
            import::read_tessera_key(path, password.as_deref().map(|p| p.as_slice()))?,
            path,
        );
    }
    Ok(imported)
}

/// The password: the file's first line (geth's --password convention), or a terminal prompt.
fn read_password(file: Option<&Path>, for_key: &Path) -> Result<Zeroizing<Vec<u8>>, Failure> {
    if let Some(file) = file {
        let bytes = Zeroizing::new(std::fs::read(file).map_err(|e| {
            Failure::usage(format!("reading password file {}: {e}", file.display()))
        })?);
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return Ok(Zeroizing::new(line.to_vec()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "{} needs a password: pass --password-file",
            for_key.display()
        )));
    }
    let password = rpassword::prompt_password(format!("password for {}: ", for_key.display()))
        .map_err(|e| Failure::usage(format!("reading the password: {e}")))?;
    Ok(Zeroizing::new(Zeroizing::new(password).as_bytes().to_vec()))
}

/// Where each key lives: `bundle`, or the HSM/KMS key (`hsm:pkcs11:…`, `kms:<key ARN>`) with
/// its backend and the public key the bundle recorded.
fn key_locations(header: &BundleHeader) -> serde_json::Value {
    let of = |role: RemoteRole| match header.remote_keys.iter().find(|r| r.role == role) {
        Some(r) => json!({
            "location": r.location(),
            "backend": r.backend,
            "given": r.reference.given,
            "public_key": hex::encode(r.public_key_bytes()),
        }),
        None => json!({"location": "bundle"}),
    };
    json!({
        "node": {"location": "bundle"},
        "sealing": if header.identities.sealing_key == SealingKeyMode::Node {
            json!({"location": "bundle", "same_as": "node"})
        } else {
            of(RemoteRole::Sealing)
        },
        "wallet": of(RemoteRole::Wallet),
        "ptm": {"location": "bundle"},
    })
}

fn identities_json(id: &PublicIdentities) -> serde_json::Value {
    json!({
        "enode_id": id.enode_id,
        "node_address": lowercase(&id.node_address),
        "sealer_address": lowercase(&id.sealer_address),
        "sealing_key": id.sealing_key,
        "wallet_address": lowercase(&id.wallet_address),
        "ptm_public_key": id.ptm_public_key,
    })
}

fn lowercase(address: &alloy_primitives::Address) -> String {
    format!("0x{}", hex::encode(address.as_slice()))
}
