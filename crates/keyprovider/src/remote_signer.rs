//! [`RemoteSigner`]: the synchronous face of an HSM/KMS-resident key.
//!
//! The seal engines and the wallet sign through alloy's synchronous `SignerSync`; the HSM and
//! KMS signers are async ([`DigestSigner`]). Each remote key gets a dedicated thread that owns
//! a current-thread tokio runtime and runs one signature at a time; a caller hands it the
//! digest and waits on a channel with the per-call deadline (`--signer-timeout`). Nothing here
//! calls `block_on` on the caller's runtime, so a node's runtime (current-thread or not) never
//! waits on itself. A call that misses the deadline fails with [`Error::SigningTimeout`]
//! whatever the backend is doing: a PKCS#11 `C_Sign` cannot be interrupted, so the thread may
//! still be inside it, and later calls queue behind it and time out the same way.
//!
//! Every signature is appended to the audit log (`sign`, with the call record or the error).
//! An answer of class *denied* (the key object removed, the PIN changed, `AccessDenied`, a
//! disabled key) publishes a [`SignerRevoked`] for the holder, which stops as on a master-key
//! revocation.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use cachet_kms::{CallRecord, DigestSigner, ErrorClass};
use cachet_primitives::error::Chain;
use tokio::sync::watch;

use crate::audit::{AuditEvent, AuditLog};
use crate::remote_key::RemoteKey;
use crate::{Error, Result};

/// A remote key found revoked while in use.
#[derive(Clone, Debug)]
pub struct SignerRevoked {
    /// The key's record.
    pub key: RemoteKey,
    /// The backend's answer, with its causes.
    pub error: String,
}

impl std::fmt::Display for SignerRevoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} in {} was revoked: {}",
            self.key.role,
            self.key.location(),
            self.error
        )
    }
}

/// Where a revocation is published (one per key set).
pub(crate) type RevokedTx = Arc<watch::Sender<Option<SignerRevoked>>>;

type Answer = cachet_kms::Result<([u8; 65], CallRecord)>;

struct Job {
    digest: [u8; 32],
    reply: mpsc::SyncSender<Answer>,
}

/// A handle on an HSM/KMS-resident key; clones share the thread.
#[derive(Clone)]
pub struct RemoteSigner {
    inner: Arc<Inner>,
}

struct Inner {
    key: RemoteKey,
    jobs: mpsc::Sender<Job>,
    deadline: Duration,
    audit: Option<AuditLog>,
    revoked: RevokedTx,
}

impl RemoteSigner {
    /// Starts the signing thread for `signer` (already opened and checked against `key`).
    ///
    /// # Errors
    /// [`Error::Io`] when the thread cannot be started.
    pub(crate) fn spawn(
        key: RemoteKey,
        signer: Arc<dyn DigestSigner>,
        deadline: Duration,
        audit: Option<AuditLog>,
        revoked: RevokedTx,
    ) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        // Time and I/O: the AWS SDK's timers and its HTTP connections run on this runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Io {
                action: "start the runtime of the signing thread for",
                path: key.location().into(),
                source,
            })?;
        std::thread::Builder::new()
            .name(format!("cachet-{}-signer", key.role.name()))
            .spawn(move || {
                // Ends when every handle (every sender) is dropped.
                while let Ok(job) = queue.recv() {
                    let answer = runtime.block_on(signer.sign_digest(&job.digest));
                    // The caller may have given up (deadline): nobody to tell.
                    let _ = job.reply.send(answer);
                }
            })
            .map_err(|source| Error::Io {
                action: "start the signing thread for",
                path: key.location().into(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                jobs,
                deadline,
                audit,
                revoked,
            }),
        })
    }

    /// The key's record.
    pub fn key(&self) -> &RemoteKey {
        &self.inner.key
    }

    /// Signs a 32-byte digest as given in the HSM/KMS, waiting at most the deadline: `r ‖ s ‖ v`,
    /// low-s, recovering to the recorded public key. Audited.
    ///
    /// # Errors
    /// [`Error::SigningKey`] with the backend's error (its class decides), or
    /// [`Error::SigningTimeout`].
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; 65]> {
        let inner = &*self.inner;
        let (reply, answer) = mpsc::sync_channel(1);
        let outcome = if inner
            .jobs
            .send(Job {
                digest: *digest,
                reply,
            })
            .is_err()
        {
            Err(Error::Internal("the signing thread has stopped"))
        } else {
            match answer.recv_timeout(inner.deadline) {
                Ok(Ok((signature, call))) => Ok((signature, call)),
                Ok(Err(source)) => Err(Error::SigningKey {
                    role: inner.key.role.to_string(),
                    location: inner.key.location(),
                    source: Box::new(source),
                }),
                Err(RecvTimeoutError::Timeout) => Err(Error::SigningTimeout {
                    role: inner.key.role.to_string(),
                    location: inner.key.location(),
                    millis: inner.deadline.as_millis() as u64,
                }),
                Err(RecvTimeoutError::Disconnected) => {
                    Err(Error::Internal("the signing thread stopped during a call"))
                }
            }
        };
        let event = AuditEvent::new("sign")
            .detail("role", inner.key.role.name())
            .detail("key", inner.key.location())
            .detail("digest", hex::encode(digest));
        match outcome {
            Ok((signature, call)) => {
                if let Some(audit) = &inner.audit {
                    audit.record(event.with_calls([&call]));
                }
                Ok(signature)
            }
            Err(error) => {
                if let Some(audit) = &inner.audit {
                    audit.record(event.failed(&error));
                }
                if let Error::SigningKey { source, .. } = &error
                    && error.class() == ErrorClass::Denied
                {
                    tracing::error!(target: "cachet::keyprovider", key = %inner.key.location(), error = %Chain(&**source), "signing key revoked");
                    let revoked = SignerRevoked {
                        key: inner.key.clone(),
                        error: Chain(&**source).to_string(),
                    };
                    inner.revoked.send_if_modified(|slot| {
                        if slot.is_none() {
                            *slot = Some(revoked);
                            true
                        } else {
                            false
                        }
                    });
                }
                Err(error)
            }
        }
    }
}

impl std::fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("key", &self.inner.key.location())
            .field("deadline", &self.inner.deadline)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use alloy_primitives::B256;
    use alloy_signer::SignerSync as _;
    use async_trait::async_trait;
    use cachet_kms::{SignerRef, recoverable};
    use secp256k1::{Message, SECP256K1, SecretKey};

    use super::*;
    use crate::{KeyRole, RemoteRole, UnlockedKeys, address_of};

    /// A signer that answers like a PKCS#11 token (raw r, s; the shared code adds low-s and v)
    /// after `delay`, or refuses as a token whose key object was deleted.
    #[derive(Debug)]
    struct Token {
        secret: SecretKey,
        delay: Duration,
        deleted: AtomicBool,
    }

    impl Token {
        fn new(seed: u8, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                secret: SecretKey::from_byte_array(&[seed; 32]).unwrap(),
                delay,
                deleted: AtomicBool::new(false),
            })
        }
    }

    #[async_trait]
    impl DigestSigner for Token {
        fn reference(&self) -> SignerRef {
            SignerRef {
                given: "pkcs11:object=test".into(),
                key_id: "pkcs11:object=test".into(),
            }
        }

        fn public_key(&self) -> [u8; 65] {
            self.secret.public_key(SECP256K1).serialize_uncompressed()
        }

        async fn sign_digest(
            &self,
            digest: &[u8; 32],
        ) -> cachet_kms::Result<([u8; 65], CallRecord)> {
            tokio::time::sleep(self.delay).await;
            if self.deleted.load(Ordering::SeqCst) {
                return Err(cachet_kms::Error::KeyObjectMissing {
                    key: "pkcs11:object=test".into(),
                });
            }
            let sig = SECP256K1
                .sign_ecdsa(&Message::from_digest(*digest), &self.secret)
                .serialize_compact();
            let (r, s) = sig.split_at(32);
            let out = recoverable(
                r.try_into().unwrap(),
                s.try_into().unwrap(),
                digest,
                &self.public_key(),
            )?;
            Ok((
                out,
                CallRecord {
                    operation: "Sign",
                    key_id: "pkcs11:object=test".into(),
                    request_id: None,
                    latency: self.delay,
                    attempts: 1,
                },
            ))
        }
    }

    fn audit_ops(dir: &std::path::Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn signs_through_the_thread_recovering_to_the_remote_key_and_audits_each_signature() {
        let dir = tempfile::tempdir().unwrap();
        let token = Token::new(5, Duration::ZERO);
        let keys = UnlockedKeys::with_remote_for_tests(
            vec![(RemoteRole::Sealing, token.clone() as Arc<dyn DigestSigner>)],
            Duration::from_secs(30),
            Some(dir.path()),
        )
        .unwrap();
        let expected = address_of(&token.secret.public_key(SECP256K1));
        assert_eq!(keys.identities().sealer_address, expected);
        let sealing = keys.sealing_key();
        assert_eq!(sealing.address(), expected);
        assert!(sealing.remote().is_some());
        assert!(keys.wallet_key().remote().is_none());
        for i in 0..3u8 {
            let digest = B256::repeat_byte(i + 1);
            let sig = sealing.sign_hash_sync(&digest).unwrap();
            assert_eq!(sig.recover_address_from_prehash(&digest).unwrap(), expected);
        }
        let lines = audit_ops(dir.path());
        assert_eq!(lines.len(), 3, "{lines:?}");
        for line in &lines {
            assert_eq!(line["op"], "sign");
            assert_eq!(line["outcome"], "ok");
            assert_eq!(line["details"]["role"], "sealing");
            assert_eq!(line["details"]["key"], "hsm:pkcs11:object=test");
            assert_eq!(line["calls"][0]["operation"], "Sign");
        }
        // The bundle's sealing key never existed here: handing it over is refused.
        let err = keys.secret_handoff(crate::HandoffKey::Sealing).unwrap_err();
        assert!(matches!(err, Error::KeyNotHeld { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Usage);
        // A wiped key set signs nothing, wherever its keys live.
        keys.wipe();
        assert!(matches!(
            sealing.sign_digest(&[1; 32]),
            Err(Error::KeysWiped)
        ));
    }

    #[test]
    fn a_call_past_the_deadline_fails_as_unreachable() {
        let token = Token::new(6, Duration::from_secs(3600));
        let keys = UnlockedKeys::with_remote_for_tests(
            vec![(RemoteRole::Wallet, token as Arc<dyn DigestSigner>)],
            Duration::from_millis(50),
            None,
        )
        .unwrap();
        let err = keys.wallet_key().sign_digest(&[7; 32]).unwrap_err();
        assert!(
            matches!(err, Error::SigningTimeout { millis: 50, .. }),
            "{err}"
        );
        assert_eq!(err.class(), ErrorClass::Unreachable);
        assert!(
            keys.signer_revoked().borrow().is_none(),
            "a timeout is no revocation"
        );
    }

    #[test]
    fn a_denied_signature_publishes_the_revocation_once() {
        let dir = tempfile::tempdir().unwrap();
        let token = Token::new(7, Duration::ZERO);
        let keys = UnlockedKeys::with_remote_for_tests(
            vec![(RemoteRole::Wallet, token.clone() as Arc<dyn DigestSigner>)],
            Duration::from_secs(30),
            Some(dir.path()),
        )
        .unwrap();
        let revoked = keys.signer_revoked();
        keys.wallet_key().sign_digest(&[1; 32]).unwrap();
        assert!(revoked.borrow().is_none());
        token.deleted.store(true, Ordering::SeqCst);
        let err = keys.wallet_key().sign_digest(&[2; 32]).unwrap_err();
        assert!(matches!(err, Error::SigningKey { .. }), "{err}");
        assert_eq!(err.class(), ErrorClass::Denied);
        let found = revoked.borrow().clone().expect("revocation published");
        assert_eq!(found.key.role.role(), KeyRole::Wallet);
        assert!(
            found.to_string().starts_with(
                "the wallet key in hsm:pkcs11:object=test was revoked: PKCS#11 key pkcs11:object=test is not on the token"
            ),
            "{found}"
        );
        let lines = audit_ops(dir.path());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["outcome"], "error");
        assert_eq!(lines[1]["error_class"], "denied");
    }
}
