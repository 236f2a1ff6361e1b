//! The lease: a running node re-proves, every `--kms-recheck`, that it may still use its master
//! key, by decrypting its wrapped data key again (the plaintext is dropped at once, zeroized).
//!
//! | check result | state |
//! |---|---|
//! | success | [`LeaseState::Healthy`] |
//! | transient failure ([`ErrorClass::Unreachable`]: throttling, 5xx, network, deadline) | [`LeaseState::Degraded`] from the first such failure; [`LeaseState::Revoked`] once it has lasted `grace` |
//! | any other failure (access denied, key disabled or pending deletion, key file gone or replaced, context rejected) | [`LeaseState::Revoked`] at once |
//!
//! Revoked is final: the task stops. The holder stops using the keys (the node: sealing and
//! discv5) and hands over to [`Revocation::carry_out`], the one place that zeroizes the keys
//! ([`crate::UnlockedKeys::wipe`]) and appends the `revoked` audit line, for the node and
//! `cachet unlock --watch` alike; then it exits 10.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cachet_kms::{CallRecord, EncryptionContext, ErrorClass, MasterKey, WrappedDataKey};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often access is re-proved when `--kms-recheck` is not given.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(5 * 60);

/// How long transient failures are tolerated when `--kms-grace` is not given.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30 * 60);

/// What the lease last found.
#[derive(Clone, Debug)]
pub enum LeaseState {
    /// The last check decrypted the data key.
    Healthy,
    /// Checks have failed transiently since `since`; tolerated until `grace` has passed.
    Degraded {
        /// When the first failing check of this run of failures ended.
        since: Instant,
        /// The latest failure.
        error: Arc<cachet_kms::Error>,
    },
    /// Access is gone: a definitive failure, or transient ones for longer than `grace`.
    Revoked {
        /// The failure that decided it.
        error: Arc<cachet_kms::Error>,
    },
}

impl LeaseState {
    /// True for [`LeaseState::Revoked`].
    pub const fn is_revoked(&self) -> bool {
        matches!(self, Self::Revoked { .. })
    }

    /// A short name for logs and the audit log: `healthy`, `degraded`, `revoked`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded { .. } => "degraded",
            Self::Revoked { .. } => "revoked",
        }
    }
}

/// The lease timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Time between checks (`--kms-recheck`).
    pub recheck: Duration,
    /// How long transient failures are tolerated (`--kms-grace`).
    pub grace: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        Self {
            recheck: DEFAULT_RECHECK,
            grace: DEFAULT_GRACE,
        }
    }
}

/// The outcome of one check, for an observer that audits every decryption.
pub type LeaseCheck = Result<CallRecord, Arc<cachet_kms::Error>>;

/// Called after every check (audit hook).
pub type LeaseObserver = Box<dyn Fn(&LeaseCheck) + Send + Sync>;

/// A running lease; dropping it stops the checks.
pub struct Lease {
    state: watch::Receiver<LeaseState>,
    task: JoinHandle<()>,
}

impl Lease {
    /// Starts checking in the background (on the current tokio runtime); the first check runs
    /// one `recheck` from now, the state starts [`LeaseState::Healthy`] because the caller has
    /// just unlocked with this key.
    pub fn start(
        master_key: Arc<dyn MasterKey>,
        wrapped: WrappedDataKey,
        context: EncryptionContext,
        config: LeaseConfig,
    ) -> Self {
        Self::start_observed(master_key, wrapped, context, config, Box::new(|_| {}))
    }

    /// As [`Lease::start`], calling `observer` after every check (to audit it).
    pub fn start_observed(
        master_key: Arc<dyn MasterKey>,
        wrapped: WrappedDataKey,
        context: EncryptionContext,
        config: LeaseConfig,
        observer: LeaseObserver,
    ) -> Self {
        let (tx, state) = watch::channel(LeaseState::Healthy);
        let checker = Checker {
            master_key,
            wrapped,
            context,
            config,
            observer,
        };
        let task = tokio::spawn(checker.run(tx));
        Self { state, task }
    }

    /// As [`Lease::start`] for an unlocked bundle, recording every check (`lease`) in the
    /// datadir's audit log, as every decryption must be.
    pub fn start_audited(
        unlocked: &crate::Unlocked,
        datadir: &std::path::Path,
        config: LeaseConfig,
    ) -> Self {
        // The slot that unlocked, not any slot: a break-glass key must not keep a node
        // running whose own master key was revoked (decision 293).
        let slot = unlocked.unlocked_by();
        let reference = slot.master_key.clone();
        let context = unlocked.bundle.header().encryption_context.clone();
        let audit = crate::AuditLog::new(datadir);
        let observer = {
            let context = context.clone();
            Box::new(move |check: &LeaseCheck| {
                let event = crate::AuditEvent::new("lease").with_key(&reference, &context);
                audit.record(match check {
                    Ok(call) => event.with_calls([call]),
                    Err(e) => event.failed_master_key(e),
                });
            })
        };
        Self::start_observed(
            Arc::clone(&unlocked.master_key),
            slot.wrapped_data_key.clone(),
            context,
            config,
            observer,
        )
    }

    /// The latest state.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// A receiver that wakes on every state change.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Waits until the lease is revoked and returns the deciding error.
    pub async fn revoked(&self) -> Arc<cachet_kms::Error> {
        let mut rx = self.state.clone();
        loop {
            if let LeaseState::Revoked { error } = &*rx.borrow_and_update() {
                return Arc::clone(error);
            }
            if rx.changed().await.is_err() {
                // The checker ended without revoking: only a panic in a backend does that.
                return Arc::new(cachet_kms::Error::Internal("the lease checker stopped"));
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("state", &self.state.borrow().name())
            .finish_non_exhaustive()
    }
}

/// Why keys are revoked: the lease's deciding master-key error, or a holder's own reason (an
/// embedder's key-status channel).
#[derive(Clone, Copy, Debug)]
pub enum RevocationCause<'a> {
    /// The lease's verdict.
    MasterKey(&'a cachet_kms::Error),
    /// Any other reason, recorded as `details.error`.
    Other(&'a str),
}

/// What the lease does on revocation, prepared when the keys are unlocked: wipe the keys,
/// then append one `revoked` audit line naming the cause and what the holder stopped.
pub struct Revocation {
    keys: crate::UnlockedKeys,
    audit: crate::AuditLog,
    reference: cachet_kms::MasterKeyRef,
    context: EncryptionContext,
}

impl Revocation {
    /// Prepares the revocation of `unlocked`'s keys, audited in `datadir`'s log.
    pub fn new(unlocked: &crate::Unlocked, datadir: &std::path::Path) -> Self {
        Self {
            keys: unlocked.keys.clone(),
            audit: crate::AuditLog::new(datadir),
            reference: unlocked.unlocked_by().master_key.clone(),
            context: unlocked.bundle.header().encryption_context.clone(),
        }
    }

    /// Zeroizes the keys (every handle at once) and records `revoked` with `keys_wiped` and,
    /// for each name in `stopped` (what the holder stopped first, e.g. `sealing`, `discv5`),
    /// `<name>_stopped: true`.
    ///
    /// # Security
    /// Copies of key material outside [`crate::UnlockedKeys`] (sigp discv5's own key) must be
    /// dropped by the holder before this call; `docs/threat-model.md` lists them.
    pub fn carry_out(&self, cause: RevocationCause<'_>, stopped: &[&str]) {
        self.keys.wipe();
        let mut event = crate::AuditEvent::new("revoked").with_key(&self.reference, &self.context);
        event = match cause {
            RevocationCause::MasterKey(error) => event.failed_master_key(error),
            RevocationCause::Other(why) => event.detail("error", why),
        };
        for name in stopped {
            event = event.detail(&format!("{name}_stopped"), true);
        }
        self.audit.record(event.detail("keys_wiped", true));
        tracing::error!(target: "cachet::keyprovider", stopped = ?stopped, "master key revoked: keys wiped");
    }
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocation")
            .field("master_key", &self.reference.key_id)
            .finish_non_exhaustive()
    }
}

struct Checker {
    master_key: Arc<dyn MasterKey>,
    wrapped: WrappedDataKey,
    context: EncryptionContext,
    config: LeaseConfig,
    observer: LeaseObserver,
}

impl Checker {
    async fn run(self, tx: watch::Sender<LeaseState>) {
        let mut degraded_since: Option<Instant> = None;
        loop {
            tokio::time::sleep(self.config.recheck).await;
            let check = match self
                .master_key
                .decrypt_data_key(&self.wrapped, &self.context)
                .await
            {
                // The plaintext drops (zeroized) here: only access is being proved.
                Ok(unwrapped) => Ok(unwrapped.call),
                Err(e) => Err(Arc::new(e)),
            };
            (self.observer)(&check);
            let next = match check {
                Ok(_) => {
                    degraded_since = None;
                    LeaseState::Healthy
                }
                Err(error) if error.class() == ErrorClass::Unreachable => {
                    let since = *degraded_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.config.grace {
                        LeaseState::Revoked { error }
                    } else {
                        LeaseState::Degraded { since, error }
                    }
                }
                Err(error) => LeaseState::Revoked { error },
            };
            tracing::info!(target: "cachet::keyprovider", state = next.name(), key_id = %self.master_key.reference().key_id, "master key lease checked");
            let revoked = next.is_revoked();
            tx.send_replace(next);
            if revoked {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use cachet_kms::{
        DataKey, Error as KmsError, GeneratedDataKey, LocalMasterKey, MasterKeyRef, Unwrapped,
    };

    use super::*;

    const CONFIG: LeaseConfig = LeaseConfig {
        recheck: Duration::from_secs(10),
        grace: Duration::from_secs(35),
    };

    fn ctx() -> EncryptionContext {
        EncryptionContext::new()
            .with("cachet:purpose", "key-bundle")
            .with("cachet:node", "0x00000000000000000000000000000000000000aa")
            .with("cachet:chain", "1337")
    }

    /// What the fake key answers next.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Answer {
        Ok,
        Throttled,
        Denied,
    }

    #[derive(Debug)]
    struct FakeKey {
        answer: Mutex<Answer>,
        calls: AtomicU32,
    }

    impl FakeKey {
        fn new() -> Arc<Self> {
            Arc::new(Self {
                answer: Mutex::new(Answer::Ok),
                calls: AtomicU32::new(0),
            })
        }

        fn set(&self, answer: Answer) {
            *self.answer.lock().unwrap() = answer;
        }
    }

    #[async_trait]
    impl MasterKey for FakeKey {
        fn reference(&self) -> MasterKeyRef {
            MasterKeyRef {
                given: "fake".into(),
                key_id: "fake".into(),
            }
        }

        async fn generate_data_key(
            &self,
            _: &EncryptionContext,
        ) -> cachet_kms::Result<GeneratedDataKey> {
            Err(KmsError::Internal("not used"))
        }

        async fn decrypt_data_key(
            &self,
            _: &WrappedDataKey,
            _: &EncryptionContext,
        ) -> cachet_kms::Result<Unwrapped> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = *self.answer.lock().unwrap();
            match answer {
                Answer::Ok => Ok(Unwrapped {
                    plaintext: DataKey::generate(),
                    call: CallRecord {
                        operation: "Decrypt",
                        key_id: "fake".into(),
                        request_id: None,
                        latency: Duration::ZERO,
                        attempts: 1,
                    },
                }),
                Answer::Throttled => Err(KmsError::DeadlineExceeded {
                    key: "fake".into(),
                    operation: "Decrypt",
                    seconds: 30,
                    attempts: 5,
                    source: None,
                }),
                Answer::Denied => Err(KmsError::AccessDenied {
                    key: "fake".into(),
                    operation: "Decrypt",
                    source: None,
                }),
            }
        }

        async fn wrap_data_key(
            &self,
            _: &DataKey,
            _: &EncryptionContext,
        ) -> cachet_kms::Result<(WrappedDataKey, CallRecord)> {
            Err(KmsError::Internal("not used"))
        }
    }

    /// Waits for the next state change.
    async fn next(rx: &mut watch::Receiver<LeaseState>) -> LeaseState {
        rx.changed().await.unwrap();
        rx.borrow_and_update().clone()
    }

    fn start(key: Arc<FakeKey>) -> Lease {
        Lease::start(key, WrappedDataKey::from_bytes(vec![1; 8]), ctx(), CONFIG)
    }

    #[tokio::test(start_paused = true)]
    async fn stays_healthy_while_checks_succeed() {
        let key = FakeKey::new();
        let lease = start(Arc::clone(&key));
        let mut rx = lease.subscribe();
        for _ in 0..3 {
            assert!(matches!(next(&mut rx).await, LeaseState::Healthy));
        }
        assert_eq!(key.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn degrades_on_transient_failures_and_recovers() {
        let key = FakeKey::new();
        let lease = start(Arc::clone(&key));
        let mut rx = lease.subscribe();
        key.set(Answer::Throttled);
        let LeaseState::Degraded { since, error } = next(&mut rx).await else {
            panic!()
        };
        assert_eq!(error.code(), "deadline-exceeded");
        let LeaseState::Degraded { since: still, .. } = next(&mut rx).await else {
            panic!()
        };
        assert_eq!(
            since, still,
            "the grace period counts from the first failure"
        );
        key.set(Answer::Ok);
        assert!(matches!(next(&mut rx).await, LeaseState::Healthy));
        // A new run of failures starts a new grace period.
        key.set(Answer::Throttled);
        let LeaseState::Degraded { since: again, .. } = next(&mut rx).await else {
            panic!()
        };
        assert!(again > since);
    }

    #[tokio::test(start_paused = true)]
    async fn revokes_once_transient_failures_outlast_the_grace() {
        let key = FakeKey::new();
        let lease = start(Arc::clone(&key));
        let mut rx = lease.subscribe();
        key.set(Answer::Throttled);
        let started = Instant::now();
        // Checks at 10–40 s are degraded (failing since 10 s); at 50 s, 40 s ≥ 35 s of grace.
        let mut states = Vec::new();
        loop {
            let state = next(&mut rx).await;
            states.push(state.name());
            if state.is_revoked() {
                break;
            }
        }
        assert_eq!(
            states,
            ["degraded", "degraded", "degraded", "degraded", "revoked"]
        );
        assert_eq!(started.elapsed(), Duration::from_secs(50));
        assert_eq!(lease.revoked().await.code(), "deadline-exceeded");
    }

    #[tokio::test(start_paused = true)]
    async fn revokes_at_once_on_a_definitive_failure() {
        let key = FakeKey::new();
        let lease = start(Arc::clone(&key));
        key.set(Answer::Denied);
        let error = lease.revoked().await;
        assert_eq!(error.code(), "access-denied");
        assert_eq!(key.calls.load(Ordering::SeqCst), 1);
        // Revoked is final: no more checks.
        tokio::time::sleep(CONFIG.recheck * 5).await;
        assert_eq!(key.calls.load(Ordering::SeqCst), 1);
        assert!(lease.state().is_revoked());
    }

    #[tokio::test(start_paused = true)]
    async fn observer_sees_every_check() {
        let key = FakeKey::new();
        let seen = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&seen);
        let lease = Lease::start_observed(
            Arc::clone(&key) as Arc<dyn MasterKey>,
            WrappedDataKey::from_bytes(vec![1; 8]),
            ctx(),
            CONFIG,
            Box::new(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let mut rx = lease.subscribe();
        next(&mut rx).await;
        key.set(Answer::Denied);
        lease.revoked().await;
        assert_eq!(seen.load(Ordering::SeqCst), 2);
    }

    async fn local_lease(dir: &std::path::Path) -> (Lease, std::path::PathBuf) {
        let path = dir.join("master.key");
        let key = LocalMasterKey::create(&path).unwrap();
        let generated = key.generate_data_key(&ctx()).await.unwrap();
        let lease = Lease::start(Arc::new(key), generated.wrapped, ctx(), CONFIG);
        (lease, path)
    }

    #[tokio::test]
    async fn revocation_wipes_the_keys_and_audits_once() {
        let dir = tempfile::tempdir().unwrap();
        let datadir = dir.path().join("node");
        let master = LocalMasterKey::create(&dir.path().join("mk")).unwrap();
        crate::init(
            &crate::InitOptions {
                datadir: datadir.clone(),
                chain_id: 1337,
                sealing_key: crate::SealingKeyMode::Separate,
            },
            &master,
            crate::import::ImportedKeys::default(),
        )
        .await
        .unwrap();
        let unlocked = crate::unlock(&datadir, &cachet_kms::KmsConfig::default())
            .await
            .unwrap();
        let revocation = Revocation::new(&unlocked, &datadir);
        let error = KmsError::AccessDenied {
            key: "fake".into(),
            operation: "Decrypt",
            source: None,
        };
        revocation.carry_out(RevocationCause::MasterKey(&error), &["sealing", "discv5"]);
        assert!(unlocked.keys.is_wiped());
        let log = std::fs::read_to_string(datadir.join("audit.log")).unwrap();
        let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
        assert_eq!(last["op"], "revoked");
        assert_eq!(last["outcome"], "error");
        assert_eq!(last["details"]["keys_wiped"], true);
        assert_eq!(last["details"]["sealing_stopped"], true);
        assert_eq!(last["details"]["discv5_stopped"], true);
        assert_eq!(log.matches("\"op\":\"revoked\"").count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn revokes_when_the_local_key_file_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (lease, path) = local_lease(dir.path()).await;
        let mut rx = lease.subscribe();
        assert!(matches!(next(&mut rx).await, LeaseState::Healthy));
        std::fs::remove_file(&path).unwrap();
        let error = lease.revoked().await;
        assert_eq!(error.code(), "key-not-found");
        assert_eq!(error.class(), ErrorClass::Denied);
    }

    #[tokio::test(start_paused = true)]
    async fn revokes_when_the_local_key_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (lease, path) = local_lease(dir.path()).await;
        let mut rx = lease.subscribe();
        assert!(matches!(next(&mut rx).await, LeaseState::Healthy));
        std::fs::remove_file(&path).unwrap();
        LocalMasterKey::create(&path).unwrap();
        let error = lease.revoked().await;
        assert_eq!(error.code(), "wrong-master-key");
    }
}
