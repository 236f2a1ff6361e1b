//! Init, unlock, rotate and destroy: the operations on a datadir's key bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachet_kms::{EncryptionContext, KmsConfig, MasterKey, MasterKeyRef, WrappedDataKey};
use cachet_primitives::fs::{Existing, SECRET_MODE, write_atomic};

use crate::audit::{AuditEvent, AuditLog};
use crate::bundle::{
    Bundle, BundleHeader, FORMAT_VERSION, MAX_FILE, MasterKeySection, bundle_path,
};
use crate::import::ImportedKeys;
use crate::keys::KeySecrets;
use crate::{Error, PublicIdentities, Result, SealingKeyMode, UnlockedKeys, datadir, sealed};

/// Encryption-context keys (they appear in CloudTrail and in IAM conditions).
pub const CONTEXT_PURPOSE: &str = "cachet:purpose";
/// The node's address, `0x` lowercase hex.
pub const CONTEXT_NODE: &str = "cachet:node";
/// The chain id, decimal.
pub const CONTEXT_CHAIN: &str = "cachet:chain";

/// What `init` creates.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The data directory (created 0700 if missing).
    pub datadir: PathBuf,
    /// The chain id bound into the encryption context.
    pub chain_id: u64,
    /// Separate sealing key, or the node key.
    pub sealing_key: SealingKeyMode,
}

/// A freshly initialised bundle.
#[derive(Debug)]
pub struct Initialised {
    /// The bundle file.
    pub bundle_path: PathBuf,
    /// The identities it holds.
    pub identities: PublicIdentities,
    /// The master key it is bound to.
    pub master_key: MasterKeyRef,
}

/// Creates `<datadir>/keys.cachet`: generates (or takes the imported) keys, asks the master key
/// for a data key bound to `{purpose, node, chain}`, seals, writes atomically, audits.
///
/// # Errors
/// [`Error::AlreadyInitialised`] when a bundle exists (nothing is changed); master-key errors.
pub async fn init(
    options: &InitOptions,
    master_key: &dyn MasterKey,
    imported: ImportedKeys,
) -> Result<Initialised> {
    crate::harden_process();
    let audit = AuditLog::new(&options.datadir);
    let result = init_inner(options, master_key, imported).await;
    match &result {
        Ok((initialised, context, calls, sources)) => {
            let mut event = AuditEvent::new("init")
                .with_key(&initialised.master_key, context)
                .with_calls(calls)
                .detail("enode_id", initialised.identities.enode_id.clone())
                .detail(
                    "sealing_key",
                    initialised.identities.sealing_key.to_string(),
                );
            if !sources.is_empty() {
                event = event.detail(
                    "imported",
                    serde_json::to_value(sources).unwrap_or_default(),
                );
            }
            audit.record(event);
            for source in sources {
                audit.record(
                    AuditEvent::new("import")
                        .with_key(&initialised.master_key, context)
                        .detail("role", source.role)
                        .detail("format", source.format)
                        .detail("source", source.path.display().to_string()),
                );
            }
        }
        Err(e) if !matches!(e, Error::AlreadyInitialised { .. }) || options.datadir.exists() => {
            audit.record(
                AuditEvent::new("init")
                    .failed(e)
                    .detail("master_key", master_key.reference().given),
            );
        }
        Err(_) => {}
    }
    result.map(|(initialised, ..)| initialised)
}

type InitParts = (
    Initialised,
    EncryptionContext,
    Vec<cachet_kms::CallRecord>,
    Vec<crate::import::ImportSource>,
);

async fn init_inner(
    options: &InitOptions,
    master_key: &dyn MasterKey,
    imported: ImportedKeys,
) -> Result<InitParts> {
    datadir::ensure_datadir(&options.datadir)?;
    let path = bundle_path(&options.datadir);
    if path.exists() {
        return Err(Error::AlreadyInitialised {
            datadir: options.datadir.clone(),
        });
    }
    let (secrets, sources) = imported.into_secrets(options.sealing_key);
    let identities = secrets.identities();
    let context = context_for(&identities, options.chain_id);
    let generated = master_key.generate_data_key(&context).await?;
    let header = BundleHeader {
        format: FORMAT_VERSION,
        encryption_context: context.clone(),
        identities: identities.clone(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    };
    let master = MasterKeySection {
        master_key: master_key.reference(),
        wrapped_data_key: generated.wrapped,
    };
    let unsealed = Bundle::new(header, master.clone(), [0; 12], Vec::new())?;
    let (nonce, ciphertext) =
        sealed::seal(&secrets, &generated.plaintext, &unsealed.associated_data())?;
    drop(generated.plaintext);
    let bundle = Bundle::new(unsealed.header, master, nonce, ciphertext)?;
    // Never replaces a bundle, even one created by a racing `init` since the check above.
    write_atomic(&path, &bundle.encode()?, SECRET_MODE, Existing::Refuse).map_err(|e| {
        if e.already_exists() {
            Error::AlreadyInitialised {
                datadir: options.datadir.clone(),
            }
        } else {
            e.into()
        }
    })?;
    Ok((
        Initialised {
            bundle_path: path,
            identities,
            master_key: bundle.master.master_key,
        },
        context,
        vec![generated.call],
        sources,
    ))
}

/// The encryption context of a node's bundle.
pub fn context_for(identities: &PublicIdentities, chain_id: u64) -> EncryptionContext {
    EncryptionContext::new()
        .with(CONTEXT_PURPOSE, "key-bundle")
        .with(
            CONTEXT_NODE,
            crate::identity::lowercase_hex(&identities.node_address),
        )
        .with(CONTEXT_CHAIN, chain_id.to_string())
}

/// A bundle read from disk and parsed, not yet decrypted (no master-key call made).
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    datadir: PathBuf,
    path: PathBuf,
    bundle: Bundle,
}

impl LoadedBundle {
    /// Reads and parses `<datadir>/keys.cachet`, refusing group/world-readable files.
    ///
    /// # Errors
    /// [`Error::NotInitialised`], [`Error::InsecurePermissions`], [`Error::CorruptBundle`].
    pub fn load(datadir: &Path) -> Result<Self> {
        let path = bundle_path(datadir);
        if !path.exists() {
            return Err(Error::NotInitialised {
                datadir: datadir.to_path_buf(),
            });
        }
        let bytes = datadir::read_private(&path, MAX_FILE)?;
        let bundle = Bundle::decode(&bytes, &path)?;
        Ok(Self {
            datadir: datadir.to_path_buf(),
            path,
            bundle,
        })
    }

    /// The public header (identities, context, creation time).
    pub fn header(&self) -> &BundleHeader {
        &self.bundle.header
    }

    /// The master key the bundle is bound to.
    pub fn master_key(&self) -> &MasterKeyRef {
        &self.bundle.master.master_key
    }

    /// The wrapped data key.
    pub fn wrapped_data_key(&self) -> &WrappedDataKey {
        &self.bundle.master.wrapped_data_key
    }

    /// The bundle file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decrypts the key set with exactly one master-key call, checks that the keys derive the
    /// header's identities, and audits the outcome.
    ///
    /// # Errors
    /// Master-key errors, [`Error::TamperedBundle`], [`Error::IdentityMismatch`].
    ///
    /// # Security
    /// The returned keys live in locked memory and are erased when dropped or wiped.
    pub async fn unlock_with(
        &self,
        master_key: &dyn MasterKey,
    ) -> Result<(UnlockedKeys, UnlockTiming)> {
        crate::harden_process();
        let audit = AuditLog::new(&self.datadir);
        let context = &self.bundle.header.encryption_context;
        let started = Instant::now();
        let result = async {
            let unwrapped = master_key
                .decrypt_data_key(self.wrapped_data_key(), context)
                .await?;
            let kms_time = started.elapsed();
            let secrets = sealed::open(
                &self.bundle.sealed,
                &self.bundle.nonce,
                &unwrapped.plaintext,
                &self.bundle.associated_data(),
                &self.path,
            )?;
            drop(unwrapped.plaintext);
            check_identities(&secrets, &self.bundle.header.identities, &self.path)?;
            let keys = UnlockedKeys::from_secrets(secrets);
            Ok::<_, Error>((keys, unwrapped.call, kms_time))
        }
        .await;
        match result {
            Ok((keys, call, kms_time)) => {
                let timing = UnlockTiming {
                    master_key: kms_time,
                    local: started.elapsed().saturating_sub(kms_time),
                };
                audit.record(
                    AuditEvent::new("unlock")
                        .with_key(self.master_key(), context)
                        .with_calls([&call])
                        .detail("memory_locked", keys.memory_locked()),
                );
                Ok((keys, timing))
            }
            Err(e) => {
                audit.record(
                    AuditEvent::new("unlock")
                        .with_key(self.master_key(), context)
                        .failed(&e),
                );
                Err(e)
            }
        }
    }
}

/// Where unlock time went.
#[derive(Debug, Clone, Copy)]
pub struct UnlockTiming {
    /// The master-key call.
    pub master_key: Duration,
    /// Everything local: AES-GCM, key parsing, identity checks, mlock.
    pub local: Duration,
}

/// An unlocked node: its keys and what the lease needs to re-prove master-key access.
#[derive(Debug)]
pub struct Unlocked {
    /// The keys.
    pub keys: UnlockedKeys,
    /// The master key, pinned to the bundle's recorded key id.
    pub master_key: Arc<dyn MasterKey>,
    /// The bundle as loaded.
    pub bundle: LoadedBundle,
    /// Where the time went.
    pub timing: UnlockTiming,
}

/// Loads `<datadir>/keys.cachet`, opens its recorded master key and unlocks: one master-key call.
///
/// # Errors
/// See [`LoadedBundle::load`] and [`LoadedBundle::unlock_with`]; failures to open the master
/// key are audited too.
pub async fn unlock(datadir: &Path, config: &KmsConfig) -> Result<Unlocked> {
    crate::harden_process();
    let bundle = LoadedBundle::load(datadir)?;
    let master_key: Arc<dyn MasterKey> =
        match cachet_kms::open_recorded(bundle.master_key(), config).await {
            Ok(key) => Arc::from(key),
            Err(e) => {
                let e = Error::from(e);
                AuditLog::new(datadir).record(
                    AuditEvent::new("unlock")
                        .with_key(bundle.master_key(), &bundle.header().encryption_context)
                        .failed(&e),
                );
                return Err(e);
            }
        };
    let (keys, timing) = bundle.unlock_with(master_key.as_ref()).await?;
    Ok(Unlocked {
        keys,
        master_key,
        bundle,
        timing,
    })
}

/// Moves the bundle's data key from its master key to `target` (AWS → AWS by `ReEncrypt`,
/// otherwise decrypt + wrap), rewriting only the master-key section, atomically. The keys and
/// the node identity do not change.
///
/// # Errors
/// Master-key errors from either key; nothing on disk changes on failure.
pub async fn rotate(
    datadir: &Path,
    from: &dyn MasterKey,
    target: &dyn MasterKey,
) -> Result<MasterKeyRef> {
    crate::harden_process();
    let loaded = LoadedBundle::load(datadir)?;
    let audit = AuditLog::new(datadir);
    let context = loaded.header().encryption_context.clone();
    let result = async {
        let (wrapped, calls) = from
            .rewrap_to(loaded.wrapped_data_key(), &context, target)
            .await?;
        let master = MasterKeySection {
            master_key: target.reference(),
            wrapped_data_key: wrapped,
        };
        let rotated = loaded.bundle.clone().with_master(master)?;
        write_atomic(
            &loaded.path,
            &rotated.encode()?,
            SECRET_MODE,
            Existing::Replace,
        )?;
        Ok::<_, Error>(calls)
    }
    .await;
    let event = AuditEvent::new("rotate")
        .with_key(loaded.master_key(), &context)
        .detail("to", target.reference().given)
        .detail("to_key_id", target.reference().key_id);
    match result {
        Ok(calls) => {
            audit.record(event.with_calls(&calls));
            Ok(target.reference())
        }
        Err(e) => {
            audit.record(event.failed(&e));
            Err(e)
        }
    }
}

/// Overwrites the bundle in place with random bytes, fsyncs, removes it and audits. Needs no master key:
/// destroying is always possible.
///
/// # Errors
/// [`Error::NotInitialised`] and I/O errors.
pub fn destroy(datadir: &Path) -> Result<PublicIdentities> {
    let loaded = LoadedBundle::load(datadir)?;
    let identities = loaded.header().identities.clone();
    datadir::shred(&loaded.path)?;
    AuditLog::new(datadir).record(
        AuditEvent::new("destroy")
            .with_key(loaded.master_key(), &loaded.header().encryption_context)
            .detail("enode_id", identities.enode_id.clone()),
    );
    Ok(identities)
}

fn check_identities(secrets: &KeySecrets, header: &PublicIdentities, path: &Path) -> Result<()> {
    let derived = secrets.identities();
    let mismatch = |which| {
        Err(Error::IdentityMismatch {
            path: path.to_path_buf(),
            which,
        })
    };
    if derived.enode_id != header.enode_id || derived.node_address != header.node_address {
        return mismatch("node key");
    }
    if derived.sealer_address != header.sealer_address || derived.sealing_key != header.sealing_key
    {
        return mismatch("sealing key");
    }
    if derived.wallet_address != header.wallet_address {
        return mismatch("wallet key");
    }
    if derived.ptm_public_key != header.ptm_public_key {
        return mismatch("PTM key");
    }
    Ok(())
}
