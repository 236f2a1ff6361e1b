//! Shared helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use cachet_keyprovider::import::ImportedKeys;
use cachet_keyprovider::{InitOptions, SealingKeyMode};
use cachet_kms::{
    CallRecord, DataKey, EncryptionContext, GeneratedDataKey, LocalMasterKey, MasterKey,
    MasterKeyRef, Unwrapped, WrappedDataKey,
};

/// `testdata/vectors/<name>`, parsed.
pub(crate) fn vectors(name: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/vectors")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

pub(crate) fn vector(name: &str, case: &str) -> serde_json::Value {
    vectors(name)
        .into_iter()
        .find(|v| v["name"] == case)
        .unwrap_or_else(|| panic!("no vector {case}"))
}

pub(crate) fn hex32(text: &str) -> [u8; 32] {
    hex::decode(text.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

/// A datadir and a local master key in a fresh temp dir.
pub(crate) struct Node {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) master: LocalMasterKey,
}

impl Node {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let master = LocalMasterKey::create(&dir.path().join("master.key")).unwrap();
        Self { dir, master }
    }

    pub(crate) fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn bundle(&self) -> PathBuf {
        self.datadir().join("keys.cachet")
    }

    pub(crate) async fn init(&self, mode: SealingKeyMode, imported: ImportedKeys) {
        let options = InitOptions {
            datadir: self.datadir(),
            chain_id: 1337,
            sealing_key: mode,
        };
        cachet_keyprovider::init(&options, &self.master, imported)
            .await
            .unwrap();
    }
}

/// Wraps a master key and counts calls that reach it.
#[derive(Debug)]
pub(crate) struct Counting<M> {
    pub(crate) inner: M,
    pub(crate) calls: Arc<AtomicUsize>,
}

impl<M: MasterKey> Counting<M> {
    pub(crate) fn new(inner: M) -> Self {
        Self {
            inner,
            calls: Arc::default(),
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl<M: MasterKey> MasterKey for Counting<M> {
    fn reference(&self) -> MasterKeyRef {
        self.inner.reference()
    }

    async fn generate_data_key(
        &self,
        c: &EncryptionContext,
    ) -> cachet_kms::Result<GeneratedDataKey> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.generate_data_key(c).await
    }

    async fn decrypt_data_key(
        &self,
        w: &WrappedDataKey,
        c: &EncryptionContext,
    ) -> cachet_kms::Result<Unwrapped> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt_data_key(w, c).await
    }

    async fn wrap_data_key(
        &self,
        k: &DataKey,
        c: &EncryptionContext,
    ) -> cachet_kms::Result<(WrappedDataKey, CallRecord)> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.wrap_data_key(k, c).await
    }
}
