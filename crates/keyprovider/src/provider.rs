//! Init, unlock, rotate and destroy: the operations on a datadir's key bundle.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cachet_kms::{EncryptionContext, KmsConfig, MasterKey, MasterKeyRef, WrappedDataKey};
use cachet_primitives::fs::{Existing, SECRET_MODE, write_atomic};

use crate::audit::{AuditEvent, AuditLog};
use cachet_primitives::error::Chain;

use crate::bundle::{
    Bundle, BundleHeader, FORMAT_VERSION, MAX_FILE, MAX_SLOTS, MasterKeySection, bundle_path,
};
use crate::import::ImportedKeys;
use crate::keys::KeySecrets;
use crate::remote_key::{RemoteKey, RemoteRole};
use crate::remote_signer::{RemoteSigner, RevokedTx};
use crate::{
    Error, ErrorClass, PublicIdentities, Result, SealingKeyMode, UnlockedKeys, datadir, sealed,
};

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
    init_with_remote(options, master_key, imported, Vec::new()).await
}

/// As [`init`], with keys an HSM or KMS holds (records made with [`RemoteKey::from_signer`]):
/// their secrets are never generated into the bundle; the header records where they live and
/// their public keys. At most one record per role; a remote sealing key needs
/// `options.sealing_key` = separate.
///
/// # Errors
/// As [`init`]; [`Error::Internal`] for two records of one role or a remote sealing key with
/// the node key sealing (the CLI refuses both first).
pub async fn init_with_remote(
    options: &InitOptions,
    master_key: &dyn MasterKey,
    imported: ImportedKeys,
    remote_keys: Vec<RemoteKey>,
) -> Result<Initialised> {
    crate::harden_process();
    let audit = AuditLog::new(&options.datadir);
    let result = init_inner(options, master_key, imported, &remote_keys).await;
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
            if !remote_keys.is_empty() {
                event = event.detail("remote_keys", remote_summary(&remote_keys));
            }
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
    remote_keys: &[RemoteKey],
) -> Result<InitParts> {
    datadir::ensure_datadir(&options.datadir)?;
    let path = bundle_path(&options.datadir);
    if path.exists() {
        return Err(Error::AlreadyInitialised {
            datadir: options.datadir.clone(),
        });
    }
    let mut roles = std::collections::HashSet::new();
    if !remote_keys.iter().all(|r| roles.insert(r.role))
        || (options.sealing_key == SealingKeyMode::Node
            && remote_keys.iter().any(|r| r.role == RemoteRole::Sealing))
    {
        return Err(Error::Internal(
            "init options name one remote role twice, or a remote sealing key with the node key sealing",
        ));
    }
    let (mut secrets, sources) = imported.into_secrets(options.sealing_key);
    secrets.make_remote(remote_keys.to_vec());
    let identities = secrets.identities()?;
    let context = context_for(&identities, options.chain_id);
    let generated = master_key.generate_data_key(&context).await?;
    let header = BundleHeader {
        format: FORMAT_VERSION,
        encryption_context: context.clone(),
        identities: identities.clone(),
        created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        remote_keys: remote_keys.to_vec(),
    };
    let master = MasterKeySection {
        master_key: master_key.reference(),
        wrapped_data_key: generated.wrapped,
    };
    let unsealed = Bundle::new(header, vec![master.clone()], [0; 12], Vec::new())?;
    let (nonce, ciphertext) =
        sealed::seal(&secrets, &generated.plaintext, &unsealed.associated_data())?;
    drop(generated.plaintext);
    let bundle = Bundle::new(unsealed.header, vec![master.clone()], nonce, ciphertext)?;
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
            master_key: master.master_key,
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

/// Where unlock and rotate get the master key of a slot.
#[derive(Clone, Copy, Debug)]
pub enum Unwrap<'a> {
    /// Open each slot's recorded master key (pinned to its key id), in slot order.
    Recorded(&'a KmsConfig),
    /// Use this master key for the slot that records it (or, if none does, the first slot:
    /// the key then answers that it is the wrong one).
    With(&'a dyn MasterKey),
}

/// A slot's master key: opened from the record, or the caller's.
enum SlotKey<'a> {
    Borrowed(&'a dyn MasterKey),
    Owned(Arc<dyn MasterKey>),
}

impl SlotKey<'_> {
    fn get(&self) -> &dyn MasterKey {
        match self {
            Self::Borrowed(key) => *key,
            Self::Owned(key) => key.as_ref(),
        }
    }
}

/// What the slot that answered gave.
enum Answer {
    /// The plaintext data key (a `Decrypt`).
    Plain(cachet_kms::Unwrapped),
    /// The data key wrapped for a rotation target (an AWS `ReEncrypt`).
    Rewrapped(WrappedDataKey, Vec<cachet_kms::CallRecord>),
}

/// The first slot that answered.
struct Walked<'a> {
    index: usize,
    key: SlotKey<'a>,
    answer: Answer,
}

impl LoadedBundle {
    /// Reads and parses `<datadir>/keys.cachet` (format v1 or v2), refusing group/world-readable
    /// files.
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

    /// The file's format version (1 or 2).
    pub fn format(&self) -> u16 {
        self.bundle.version()
    }

    /// The master-key slots in unlock order (one in v1).
    pub fn slots(&self) -> Vec<&MasterKeySection> {
        self.bundle.slots().collect()
    }

    /// The first (primary) master key.
    pub fn master_key(&self) -> &MasterKeyRef {
        &self.primary().master_key
    }

    /// The data key wrapped by the first (primary) master key.
    pub fn wrapped_data_key(&self) -> &WrappedDataKey {
        &self.primary().wrapped_data_key
    }

    fn primary(&self) -> &MasterKeySection {
        // A decoded or built bundle always has a slot; `slots()` is never empty.
        self.bundle
            .slot(0)
            .unwrap_or_else(|| unreachable!("a bundle has at least one master key"))
    }

    /// The bundle file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decrypts the key set with `master_key` (the slot recording it, or the first slot) in
    /// exactly one master-key call, checks that the keys derive the header's identities, and
    /// audits the outcome.
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
        let (keys, timing, ..) = self
            .unlock_slots(Unwrap::With(master_key), None, &KmsConfig::default())
            .await?;
        Ok((keys, timing))
    }

    /// Tries the slots in order until one master key decrypts the data key: exactly one
    /// successful master-key call. Each failed slot is audited and the next one tried, except
    /// a corrupt or tampered answer, which stops at once (a break-glass key never masks
    /// tampering; decision 291). Then the key set is opened and checked.
    async fn unlock_slots<'a>(
        &self,
        keys: Unwrap<'a>,
        only: Option<usize>,
        config: &KmsConfig,
    ) -> Result<(UnlockedKeys, UnlockTiming, usize, SlotKey<'a>)> {
        crate::harden_process();
        let audit = AuditLog::new(&self.datadir);
        let context = &self.bundle.header.encryption_context;
        let started = Instant::now();
        let candidates = match only {
            Some(index) => {
                let count = self.bundle.slots().len();
                if index >= count {
                    return Err(Error::NoSuchMasterKey {
                        path: self.path.clone(),
                        slot: index + 1,
                        count,
                    });
                }
                vec![index]
            }
            None => self.candidates(keys, None),
        };
        let walked = self.walk(keys, &candidates, "unlock", None).await?;
        let kms_time = started.elapsed();
        let slot = self.slot(walked.index)?;
        let Answer::Plain(unwrapped) = walked.answer else {
            return Err(Error::Internal("unlock asked for no rewrap"));
        };
        let opened = self.open_key_set(&unwrapped.plaintext);
        drop(unwrapped.plaintext);
        let mut event = AuditEvent::new("unlock")
            .with_key(&slot.master_key, context)
            .with_calls([&unwrapped.call])
            .detail("slot", walked.index + 1)
            .detail("slots", self.bundle.slots().len());
        let remote = &self.bundle.header.remote_keys;
        if !remote.is_empty() {
            event = event.detail("remote_keys", remote_summary(remote));
        }
        // The records are authenticated only now (the header is the key set's associated
        // data): no HSM or KMS named by an unauthenticated header is ever contacted.
        let opened = match opened {
            Ok(secrets) => self.open_remote(secrets, config).await,
            Err(e) => Err(e),
        };
        match opened {
            Ok((secrets, signers, revoked)) => {
                let keys = UnlockedKeys::with_remote(secrets, signers, revoked)?;
                let timing = UnlockTiming {
                    master_key: kms_time,
                    local: started.elapsed().saturating_sub(kms_time),
                };
                audit.record(event.detail("memory_locked", keys.memory_locked()));
                Ok((keys, timing, walked.index, walked.key))
            }
            Err(e) => {
                audit.record(event.failed(&e));
                Err(e)
            }
        }
    }

    /// Opens the signer of each HSM/KMS key the header records, pinned to its reference, and
    /// checks that it still answers with the recorded public key (a replaced key: corrupt, exit
    /// 12; a revoked one: denied, exit 10).
    async fn open_remote(
        &self,
        secrets: Box<KeySecrets>,
        config: &KmsConfig,
    ) -> Result<(Box<KeySecrets>, Vec<RemoteSigner>, RevokedTx)> {
        let revoked: RevokedTx = Arc::new(tokio::sync::watch::channel(None).0);
        let mut signers = Vec::new();
        for record in &self.bundle.header.remote_keys {
            // Boxed: the AWS SDK's futures are deep, and every caller's future would hold them.
            let signer = Box::pin(cachet_kms::open_signer_recorded(
                record.backend,
                &record.reference,
                &record.public_key_bytes(),
                config,
            ))
            .await
            .map_err(|source| Error::SigningKey {
                role: record.role.to_string(),
                location: record.location(),
                source: Box::new(source),
            })?;
            signers.push(RemoteSigner::spawn(
                record.clone(),
                signer,
                config.signer_deadline(),
                Some(AuditLog::new(&self.datadir)),
                revoked.clone(),
            )?);
        }
        Ok((secrets, signers, revoked))
    }

    /// Opens the sealed key set with a data key and checks the identities.
    fn open_key_set(&self, data_key: &cachet_kms::DataKey) -> Result<Box<KeySecrets>> {
        let secrets = sealed::open(
            &self.bundle.sealed,
            &self.bundle.nonce,
            data_key,
            &self.bundle.associated_data(),
            &self.path,
            &self.bundle.header.remote_keys,
        )?;
        check_identities(&secrets, &self.bundle.header.identities, &self.path)?;
        Ok(secrets)
    }

    fn slot(&self, index: usize) -> Result<&MasterKeySection> {
        self.bundle
            .slot(index)
            .ok_or(Error::Internal("slot index out of range"))
    }

    /// The slots to try, in order, leaving out `except`.
    fn candidates(&self, keys: Unwrap<'_>, except: Option<usize>) -> Vec<usize> {
        let allowed: Vec<usize> = (0..self.bundle.slots().len())
            .filter(|i| Some(*i) != except)
            .collect();
        match keys {
            Unwrap::Recorded(_) => allowed,
            Unwrap::With(key) => {
                let id = key.reference().key_id;
                let matching: Vec<usize> = allowed
                    .iter()
                    .copied()
                    .filter(|i| {
                        self.bundle
                            .slot(*i)
                            .is_some_and(|s| s.master_key.key_id == id)
                    })
                    .collect();
                if matching.is_empty() {
                    allowed.into_iter().take(1).collect()
                } else {
                    matching
                }
            }
        }
    }

    /// Calls the master keys of `candidates` in order until one answers: `Decrypt`, or, with
    /// `reencrypt_to` and both keys in AWS, `ReEncrypt` to it. Every failure is audited under
    /// `op`; a corrupt answer stops the walk.
    async fn walk<'a>(
        &self,
        keys: Unwrap<'a>,
        candidates: &[usize],
        op: &str,
        reencrypt_to: Option<&dyn MasterKey>,
    ) -> Result<Walked<'a>> {
        let audit = AuditLog::new(&self.datadir);
        let context = &self.bundle.header.encryption_context;
        let total = self.bundle.slots().len();
        let mut failures: Vec<(usize, Error)> = Vec::new();
        for (n, &index) in candidates.iter().enumerate() {
            let slot = self.slot(index)?;
            let attempt = async {
                let key = match keys {
                    Unwrap::With(key) => SlotKey::Borrowed(key),
                    Unwrap::Recorded(config) => SlotKey::Owned(Arc::from(
                        cachet_kms::open_recorded(&slot.master_key, config).await?,
                    )),
                };
                let answer = match reencrypt_to {
                    Some(target)
                        if key.get().aws_key_arn().is_some() && target.aws_key_arn().is_some() =>
                    {
                        let (wrapped, calls) = key
                            .get()
                            .rewrap_to(&slot.wrapped_data_key, context, target)
                            .await?;
                        Answer::Rewrapped(wrapped, calls)
                    }
                    _ => Answer::Plain(
                        key.get()
                            .decrypt_data_key(&slot.wrapped_data_key, context)
                            .await?,
                    ),
                };
                Ok::<_, Error>((key, answer))
            }
            .await;
            match attempt {
                Ok((key, answer)) => return Ok(Walked { index, key, answer }),
                Err(e) => {
                    let next = candidates
                        .get(n + 1)
                        .filter(|_| e.class() != ErrorClass::Corrupt);
                    let mut event = AuditEvent::new(op)
                        .with_key(&slot.master_key, context)
                        .failed(&e)
                        .detail("slot", index + 1)
                        .detail("slots", total);
                    if let Some(next) = next {
                        event = event.detail("next_slot", next + 1);
                    }
                    audit.record(event);
                    if e.class() == ErrorClass::Corrupt {
                        return Err(e);
                    }
                    failures.push((index, e));
                }
            }
        }
        Err(self.every_slot_failed(failures))
    }

    /// The error when no slot answered: the first slot's error decides the class (decision
    /// 292); the message lists every slot's.
    fn every_slot_failed(&self, mut failures: Vec<(usize, Error)>) -> Error {
        if failures.len() <= 1 {
            return failures
                .pop()
                .map(|(_, e)| e)
                .unwrap_or(Error::Internal("no master key to try"));
        }
        let summary = failures
            .iter()
            .map(|(i, e)| {
                let given = self
                    .bundle
                    .slot(*i)
                    .map(|s| s.master_key.given.as_str())
                    .unwrap_or_default();
                format!("slot {} ({given}): {}", i + 1, Chain(e))
            })
            .collect::<Vec<_>>()
            .join("; ");
        let count = failures.len();
        let (_, first) = failures.remove(0);
        Error::NoMasterKeyUnlocked {
            path: self.path.clone(),
            count,
            class: first.class(),
            summary,
            source: Box::new(first),
        }
    }
}

/// Where unlock time went.
#[derive(Debug, Clone, Copy)]
pub struct UnlockTiming {
    /// The master-key calls (every slot tried, up to the one that answered).
    pub master_key: Duration,
    /// Everything local: AES-GCM, key parsing, identity checks, mlock.
    pub local: Duration,
}

/// An unlocked node: its keys and what the lease needs to re-prove master-key access.
#[derive(Debug)]
pub struct Unlocked {
    /// The keys.
    pub keys: UnlockedKeys,
    /// The master key that unlocked, pinned to its slot's recorded key id.
    pub master_key: Arc<dyn MasterKey>,
    /// The bundle as loaded.
    pub bundle: LoadedBundle,
    /// Where the time went.
    pub timing: UnlockTiming,
    /// Index (0-based) of the slot whose master key unlocked.
    pub slot: usize,
}

impl Unlocked {
    /// The slot that unlocked: the lease re-proves access to this master key (decision 293).
    pub fn unlocked_by(&self) -> &MasterKeySection {
        self.bundle
            .bundle
            .slot(self.slot)
            .unwrap_or_else(|| unreachable!("the unlocking slot is in the bundle"))
    }
}

/// Loads `<datadir>/keys.cachet` and unlocks with its master keys in slot order: exactly one
/// successful master-key call; each slot that fails first is audited.
///
/// # Errors
/// See [`LoadedBundle::load`] and [`LoadedBundle::unlock_with`]; with several master keys that
/// all fail, [`Error::NoMasterKeyUnlocked`], classed as the first slot's error.
pub async fn unlock(datadir: &Path, config: &KmsConfig) -> Result<Unlocked> {
    unlock_slot(datadir, config, None).await
}

/// As [`unlock`], with only master key `slot` (0-based) when given: an operator's test of a
/// break-glass key that leaves the other keys untouched (`cachet unlock --check --slot N`).
///
/// # Errors
/// As [`unlock`]; [`Error::NoSuchMasterKey`] when the bundle has no such slot.
pub async fn unlock_slot(
    datadir: &Path,
    config: &KmsConfig,
    slot: Option<usize>,
) -> Result<Unlocked> {
    crate::harden_process();
    let bundle = LoadedBundle::load(datadir)?;
    let (keys, timing, slot, key) = bundle
        .unlock_slots(Unwrap::Recorded(config), slot, config)
        .await?;
    let SlotKey::Owned(master_key) = key else {
        return Err(Error::Internal("a recorded master key was not opened"));
    };
    Ok(Unlocked {
        keys,
        master_key,
        bundle,
        timing,
        slot,
    })
}

/// What `rotate` changes in a bundle's master keys. Whatever the change, the bundle is written
/// in the current format (a v1 bundle is upgraded to v2).
#[derive(Clone, Copy, Debug)]
pub enum MasterKeyChange<'a> {
    /// No change to the master keys: upgrade a v1 bundle to v2.
    Upgrade,
    /// Replace the first (primary) master key with this one; the others stay.
    ReplacePrimary(&'a dyn MasterKey),
    /// Add this master key after the others.
    Add(&'a dyn MasterKey),
    /// Remove the master key named by this reference (as recorded, or its key id).
    Remove(&'a str),
}

impl MasterKeyChange<'_> {
    const fn name(&self) -> &'static str {
        match self {
            Self::Upgrade => "upgrade",
            Self::ReplacePrimary(_) => "replace-primary",
            Self::Add(_) => "add",
            Self::Remove(_) => "remove",
        }
    }

    fn target(&self) -> Option<&dyn MasterKey> {
        match self {
            Self::ReplacePrimary(key) | Self::Add(key) => Some(*key),
            Self::Upgrade | Self::Remove(_) => None,
        }
    }
}

/// Moves the bundle's data key from its (first working) master key to `target`, which replaces
/// the first slot; the keys and the node identity do not change. See [`change_master_keys`].
///
/// # Errors
/// As [`change_master_keys`].
pub async fn rotate(
    datadir: &Path,
    from: &dyn MasterKey,
    target: &dyn MasterKey,
) -> Result<MasterKeyRef> {
    change_master_keys(
        datadir,
        Unwrap::With(from),
        MasterKeyChange::ReplacePrimary(target),
    )
    .await?;
    Ok(target.reference())
}

/// Changes the bundle's master-key slots and writes it, atomically, in format v2: the data key
/// is unwrapped by the first slot that answers (tried in order, failures audited, as unlock
/// does) and wrapped under the new key (AWS → AWS: one `ReEncrypt`, the data key never leaves
/// KMS). Whenever the plaintext data key is at hand, the sealed key set is opened and checked
/// first, so a slot is never added for a data key that does not open this bundle. A removal
/// proves that a remaining slot opens the bundle; a v1 bundle is re-sealed under the v2 header.
/// The old file stays in place until the new one is durable. Returns the new slots' keys.
///
/// # Errors
/// Usage errors before any master-key call ([`Error::LastMasterKey`],
/// [`Error::MasterKeyNotInBundle`], [`Error::MasterKeyAlreadyInBundle`],
/// [`Error::TooManyMasterKeys`], [`Error::NothingToChange`]); master-key errors from either
/// side; nothing on disk changes on failure.
pub async fn change_master_keys(
    datadir: &Path,
    keys: Unwrap<'_>,
    change: MasterKeyChange<'_>,
) -> Result<Vec<MasterKeyRef>> {
    crate::harden_process();
    let loaded = LoadedBundle::load(datadir)?;
    let audit = AuditLog::new(datadir);
    let context = loaded.header().encryption_context.clone();
    let mut event = AuditEvent::new("rotate")
        .detail("change", change.name())
        .detail("format_before", loaded.format());
    if let Some(target) = change.target() {
        event = event
            .detail("to", target.reference().given)
            .detail("to_key_id", target.reference().key_id);
    }
    let result = change_inner(&loaded, keys, change).await;
    match result {
        Ok((index, slots, calls)) => {
            let by = loaded.slot(index)?.master_key.clone();
            let refs: Vec<MasterKeyRef> = slots.into_iter().map(|s| s.master_key).collect();
            let given: Vec<&str> = refs.iter().map(|r| r.given.as_str()).collect();
            audit.record(
                event
                    .with_key(&by, &context)
                    .with_calls(&calls)
                    .detail("slot", index + 1)
                    .detail("master_keys", given),
            );
            Ok(refs)
        }
        Err(e) => {
            audit.record(event.with_key(loaded.master_key(), &context).failed(&e));
            Err(e)
        }
    }
}

type Changed = (usize, Vec<MasterKeySection>, Vec<cachet_kms::CallRecord>);

async fn change_inner(
    loaded: &LoadedBundle,
    keys: Unwrap<'_>,
    change: MasterKeyChange<'_>,
) -> Result<Changed> {
    let path = &loaded.path;
    let current: Vec<MasterKeySection> = loaded.bundle.slots().cloned().collect();
    let context = &loaded.header().encryption_context;
    let present = |key_id: &str| current.iter().position(|s| s.master_key.key_id == key_id);
    // Every refusal comes before any master-key call.
    let mut removed = None;
    match change {
        MasterKeyChange::Upgrade if loaded.format() == FORMAT_VERSION => {
            return Err(Error::NothingToChange { path: path.clone() });
        }
        MasterKeyChange::Upgrade => {}
        MasterKeyChange::ReplacePrimary(target) => {
            if let Some(i) = present(&target.reference().key_id).filter(|i| *i != 0) {
                return Err(Error::MasterKeyAlreadyInBundle {
                    path: path.clone(),
                    given: target.reference().given,
                    slot: i + 1,
                });
            }
        }
        MasterKeyChange::Add(target) => {
            if let Some(i) = present(&target.reference().key_id) {
                return Err(Error::MasterKeyAlreadyInBundle {
                    path: path.clone(),
                    given: target.reference().given,
                    slot: i + 1,
                });
            }
            if current.len() >= MAX_SLOTS {
                return Err(Error::TooManyMasterKeys {
                    path: path.clone(),
                    max: MAX_SLOTS,
                });
            }
        }
        MasterKeyChange::Remove(given) => {
            let index = find_slot(&current, given).ok_or_else(|| Error::MasterKeyNotInBundle {
                path: path.clone(),
                given: given.to_owned(),
                present: current
                    .iter()
                    .map(|s| s.master_key.given.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            if current.len() == 1 {
                return Err(Error::LastMasterKey {
                    path: path.clone(),
                    given: given.to_owned(),
                });
            }
            removed = Some(index);
        }
    }
    // A v1 bundle is re-sealed (its associated data names version 1); a removal proves that
    // what remains opens the bundle: both need the plaintext data key. Otherwise an AWS → AWS
    // move is one ReEncrypt.
    let upgrade = loaded.format() != FORMAT_VERSION;
    let reencrypt_to = change.target().filter(|_| !upgrade);
    let candidates = loaded.candidates(keys, removed);
    let walked = loaded
        .walk(keys, &candidates, "rotate", reencrypt_to)
        .await?;
    let mut calls = Vec::new();
    let (wrapped, plaintext) = match walked.answer {
        Answer::Rewrapped(wrapped, rewrap_calls) => {
            calls.extend(rewrap_calls);
            (Some(wrapped), None)
        }
        Answer::Plain(unwrapped) => {
            calls.push(unwrapped.call);
            let mut wrapped = None;
            if let Some(target) = change.target() {
                let (w, call) = target.wrap_data_key(&unwrapped.plaintext, context).await?;
                calls.push(call);
                wrapped = Some(w);
            }
            (wrapped, Some(unwrapped.plaintext))
        }
    };
    let mut slots = current.clone();
    match change {
        MasterKeyChange::Upgrade => {}
        MasterKeyChange::ReplacePrimary(target) | MasterKeyChange::Add(target) => {
            let section = MasterKeySection {
                master_key: target.reference(),
                wrapped_data_key: wrapped
                    .ok_or(Error::Internal("no wrapped key for the target"))?,
            };
            if matches!(change, MasterKeyChange::Add(_)) {
                slots.push(section);
            } else if let Some(first) = slots.first_mut() {
                *first = section;
            }
        }
        MasterKeyChange::Remove(_) => {
            if let Some(index) = removed {
                slots.remove(index);
            }
        }
    }
    let rewritten = match plaintext {
        Some(data_key) => {
            // Proves this data key opens this bundle before it is wrapped anywhere else.
            let secrets = loaded.open_key_set(&data_key)?;
            if upgrade {
                let header = BundleHeader {
                    format: FORMAT_VERSION,
                    ..loaded.header().clone()
                };
                let unsealed = Bundle::new(header, slots.clone(), [0; 12], Vec::new())?;
                let (nonce, ciphertext) =
                    sealed::seal(&secrets, &data_key, &unsealed.associated_data())?;
                Bundle::new(unsealed.header, slots.clone(), nonce, ciphertext)?
            } else {
                loaded.bundle.clone().with_slots(slots.clone())?
            }
        }
        None => loaded.bundle.clone().with_slots(slots.clone())?,
    };
    // The old bundle stays in place until the new one is durable (temp file, fsync, rename,
    // fsync of the directory).
    write_atomic(
        &loaded.path,
        &rewritten.encode()?,
        SECRET_MODE,
        Existing::Replace,
    )?;
    Ok((walked.index, slots, calls))
}

/// The slot a `--remove-master-key` reference names: as recorded, by key id, or, for a local
/// key, by its absolute path.
fn find_slot(slots: &[MasterKeySection], given: &str) -> Option<usize> {
    let local = match cachet_kms::MasterKeySpec::parse(given) {
        Ok(cachet_kms::MasterKeySpec::Local(path)) => std::path::absolute(&path)
            .ok()
            .map(|p| format!("local:{}", p.display())),
        _ => None,
    };
    slots.iter().position(|s| {
        s.master_key.given == given
            || s.master_key.key_id == given
            || local.as_deref() == Some(s.master_key.given.as_str())
    })
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

/// `role:location` of each remote key, for audit lines.
fn remote_summary(keys: &[RemoteKey]) -> Vec<String> {
    keys.iter()
        .map(|r| format!("{}:{}", r.role.name(), r.location()))
        .collect()
}

fn check_identities(secrets: &KeySecrets, header: &PublicIdentities, path: &Path) -> Result<()> {
    let derived = secrets.identities()?;
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
