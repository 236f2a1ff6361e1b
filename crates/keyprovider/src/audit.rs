//! The hash-chained audit log, `<datadir>/audit.log`.
//!
//! One JSON object per line. Each line carries `prev`: the SHA-256 (hex) of the previous line's
//! bytes without its newline (64 zeros for the first line), so deleting, reordering or editing a
//! line breaks the chain at that point. Every event also goes to tracing target `cachet::audit`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use cachet_kms::{CallRecord, EncryptionContext, MasterKeyRef};
use cachet_primitives::error::Chain;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The longest line we write is well under this; reading the tail this far back finds it.
const TAIL_WINDOW: u64 = 64 * 1024;

/// One audited event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC time.
    pub ts: String,
    /// `init`, `unlock`, `import`, `rotate`, `destroy`, `lease`.
    pub op: String,
    /// `ok` or `error`.
    pub outcome: String,
    /// The master key as the operator named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_key: Option<String>,
    /// The pinned key id (local fingerprint or AWS key ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The encryption context of the data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context: Option<EncryptionContext>,
    /// Master-key calls made: operation and request id (to find the CloudTrail event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<AuditCall>,
    /// For failures: the error class (`denied`, `unreachable`, `corrupt`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    /// For failures: the error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Operation-specific facts (imported file names, rotation target, …); never secrets.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// SHA-256 of the previous line.
    #[serde(default)]
    pub prev: String,
}

/// A master-key call as the audit log records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCall {
    /// `Decrypt`, `GenerateDataKey`, …
    pub operation: String,
    /// The key the call addressed.
    pub key_id: String,
    /// The backend's request id, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Milliseconds, retries included.
    pub latency_ms: u64,
    /// Attempts made.
    pub attempts: u32,
}

impl From<&CallRecord> for AuditCall {
    fn from(call: &CallRecord) -> Self {
        Self {
            operation: call.operation.to_owned(),
            key_id: call.key_id.clone(),
            request_id: call.request_id.clone(),
            latency_ms: call.latency.as_millis() as u64,
            attempts: call.attempts,
        }
    }
}

impl AuditEvent {
    /// A new event for `op`, stamped now, outcome `ok`.
    pub fn new(op: &str) -> Self {
        Self {
            ts: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            op: op.to_owned(),
            outcome: "ok".to_owned(),
            ..Self::default()
        }
    }

    /// Records the master key and context.
    pub fn with_key(mut self, key: &MasterKeyRef, context: &EncryptionContext) -> Self {
        self.master_key = Some(key.given.clone());
        self.key_id = Some(key.key_id.clone());
        self.encryption_context = Some(context.clone());
        self
    }

    /// Records master-key calls.
    pub fn with_calls<'a>(mut self, calls: impl IntoIterator<Item = &'a CallRecord>) -> Self {
        self.calls.extend(calls.into_iter().map(AuditCall::from));
        self
    }

    /// Adds a detail.
    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// Marks the event failed with `error`.
    pub fn failed(mut self, error: &Error) -> Self {
        self.outcome = "error".to_owned();
        self.error_class = Some(error.class().name().to_owned());
        self.error = Some(Chain(error).to_string());
        if let Error::MasterKey(e) = error {
            self = self.with_request_id(e);
        }
        self
    }

    /// Marks the event failed with a master-key error (the lease's checks).
    pub fn failed_master_key(mut self, error: &cachet_kms::Error) -> Self {
        self.outcome = "error".to_owned();
        self.error_class = Some(error.class().name().to_owned());
        self.error = Some(Chain(error).to_string());
        self.with_request_id(error)
    }

    /// The AWS request id of a failed call that KMS answered, to find it in CloudTrail.
    fn with_request_id(self, error: &cachet_kms::Error) -> Self {
        match error.request_id() {
            Some(id) => self.detail("request_id", id),
            None => self,
        }
    }
}

/// The audit log of one datadir.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    /// The log at `<datadir>/audit.log` (created on first append, mode 0600).
    pub fn new(datadir: &Path) -> Self {
        Self {
            path: datadir.join("audit.log"),
        }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `event`, chained to the last line, and fsyncs. Also emits it on `cachet::audit`.
    ///
    /// # Errors
    /// [`Error::Io`] when the log cannot be written.
    pub fn append(&self, mut event: AuditEvent) -> Result<()> {
        // Reading the last line and appending the next is one step: two writers in this process
        // (RPC signatures, the lease) would otherwise chain onto the same line.
        static APPEND: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = APPEND
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let io = |action: &'static str| {
            let path = self.path.clone();
            move |source| Error::Io {
                action,
                path,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(io("open audit log"))?;
        event.prev = last_line_hash(&mut file).map_err(io("read audit log"))?;
        let mut line = serde_json::to_vec(&event)
            .map_err(|_| Error::Internal("audit event does not serialise"))?;
        emit_tracing(&event);
        line.push(b'\n');
        file.write_all(&line).map_err(io("append to audit log"))?;
        file.sync_all().map_err(io("fsync audit log"))
    }

    /// Appends `event` when the datadir exists; otherwise only emits it on `cachet::audit`.
    /// Audit failures are logged, never raised over the error being reported.
    pub fn record(&self, event: AuditEvent) {
        if self.path.parent().is_some_and(Path::exists) {
            if let Err(e) = self.append(event) {
                tracing::error!(target: "cachet::audit", error = %Chain(&e), "could not write the audit log");
            }
        } else {
            emit_tracing(&event);
        }
    }

    /// Checks the whole chain.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read.
    pub fn verify(&self) -> Result<AuditReport> {
        let bytes = std::fs::read(&self.path).map_err(|source| Error::Io {
            action: "read audit log",
            path: self.path.clone(),
            source,
        })?;
        Ok(verify_bytes(&bytes))
    }
}

/// The outcome of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Lines whose link checked out.
    pub valid_lines: usize,
    /// The first broken line (1-based) and why, if any.
    pub first_broken: Option<(usize, String)>,
}

fn verify_bytes(bytes: &[u8]) -> AuditReport {
    let mut prev = GENESIS_PREV.to_owned();
    let mut valid = 0;
    let mut rest = bytes;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return broken(
                valid,
                number,
                "the last line is incomplete (no newline): a write was interrupted or the file truncated",
            );
        };
        let (line, tail) = rest.split_at(end);
        rest = tail.get(1..).unwrap_or_default();
        let event: AuditEvent = match serde_json::from_slice(line) {
            Ok(event) => event,
            Err(e) => return broken(valid, number, &format!("not an audit record: {e}")),
        };
        if event.prev != prev {
            return broken(
                valid,
                number,
                "its prev hash does not match the line before: a line was edited, removed or inserted",
            );
        }
        prev = hex::encode(Sha256::digest(line));
        valid += 1;
    }
    AuditReport {
        valid_lines: valid,
        first_broken: None,
    }
}

fn broken(valid: usize, line: usize, why: &str) -> AuditReport {
    AuditReport {
        valid_lines: valid,
        first_broken: Some((line, why.to_owned())),
    }
}

fn last_line_hash(file: &mut File) -> std::io::Result<String> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(GENESIS_PREV.to_owned());
    }
    let start = len.saturating_sub(TAIL_WINDOW);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let last = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => body.get(i + 1..).unwrap_or_default(),
        None => body,
    };
    Ok(hex::encode(Sha256::digest(last)))
}

fn emit_tracing(event: &AuditEvent) {
    tracing::info!(
        target: "cachet::audit",
        op = %event.op,
        outcome = %event.outcome,
        master_key = event.master_key.as_deref().unwrap_or(""),
        key_id = event.key_id.as_deref().unwrap_or(""),
        context_sha256 = %event.encryption_context.as_ref().map(EncryptionContext::digest_hex).unwrap_or_default(),
        request_ids = ?event.calls.iter().filter_map(|c| c.request_id.as_deref()).collect::<Vec<_>>(),
        error_class = event.error_class.as_deref().unwrap_or(""),
        "audit"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_lines_and_finds_the_first_broken_link() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path());
        for op in ["init", "unlock", "unlock", "destroy"] {
            log.append(AuditEvent::new(op)).unwrap();
        }
        assert_eq!(
            log.verify().unwrap(),
            AuditReport {
                valid_lines: 4,
                first_broken: None
            }
        );

        let text = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Remove line 2: line 3 (now 2) no longer links.
        let removed = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        let report = verify_bytes(removed.as_bytes());
        assert_eq!(report.valid_lines, 1);
        assert_eq!(report.first_broken.as_ref().unwrap().0, 2);
        // Edit line 1: line 2 breaks.
        let edited = text.replacen("\"init\"", "\"inIt\"", 1);
        assert_eq!(verify_bytes(edited.as_bytes()).first_broken.unwrap().0, 2);
        // Truncate mid-line.
        let torn = &text.as_bytes()[..text.len() - 5];
        assert_eq!(verify_bytes(torn).first_broken.unwrap().0, 4);
    }
}
