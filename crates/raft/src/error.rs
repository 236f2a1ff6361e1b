//! Errors: [`DecodeError`] for bad bytes from a peer (drop the message, and the session when it
//! persists), [`Error`] for everything else.

use crate::rules::RaftRule;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Bytes that are not a raft message (or stored value) in Cachet's one encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A length or varint runs past the end.
    #[error("{what} is truncated")]
    Truncated {
        /// The value being decoded.
        what: &'static str,
    },
    /// A varint longer than 10 bytes, above 2^64, or not minimal.
    #[error("{what} has a malformed varint")]
    BadVarint {
        /// The value being decoded.
        what: &'static str,
    },
    /// A field number (or wire type) the message does not have.
    #[error("{what} has unknown field {field} (or a wrong wire type for it)")]
    UnknownField {
        /// The value being decoded.
        what: &'static str,
        /// The field number.
        field: u32,
    },
    /// Fields out of field-number order, or a non-repeated field twice.
    #[error("{what} has field {field} out of order or twice")]
    FieldOrder {
        /// The value being decoded.
        what: &'static str,
        /// The field number.
        field: u32,
    },
    /// A zero scalar or empty bytes written out (proto3 omits defaults; one encoding per value).
    #[error("{what} writes the default value of field {field}")]
    ExplicitDefault {
        /// The value being decoded.
        what: &'static str,
        /// The field number.
        field: u32,
    },
    /// A bool other than 1.
    #[error("{what} has a bool field {field} that is neither 0 nor 1")]
    BadBool {
        /// The value being decoded.
        what: &'static str,
        /// The field number.
        field: u32,
    },
    /// Larger than the cap.
    #[error("{what} is {found} bytes, above the cap of {max}")]
    TooLarge {
        /// The value being decoded.
        what: &'static str,
        /// The cap.
        max: usize,
        /// The size found.
        found: usize,
    },
    /// More items than the cap.
    #[error("{what}: more than {max}")]
    TooMany {
        /// The list.
        what: &'static str,
        /// The cap.
        max: usize,
    },
    /// A message type raft-rs does not have.
    #[error("unknown raft message type {found}")]
    UnknownMessageType {
        /// The value found.
        found: u64,
    },
    /// An entry type raft-rs does not have.
    #[error("unknown raft entry type {found}")]
    UnknownEntryType {
        /// The value found.
        found: u64,
    },
    /// A conf change type raft-rs does not have.
    #[error("unknown raft conf change type {found}")]
    UnknownConfChangeType {
        /// The value found.
        found: u64,
    },
    /// Snapshot data that is not the members, removed ids and node bytes.
    #[error("raft snapshot data is malformed: {reason}")]
    Snapshot {
        /// What is wrong.
        reason: String,
    },
    /// A raft id above 65535 (GoQuorum's raft ids are 16-bit).
    #[error("raft id {found} in {field} is above 65535")]
    RaftIdOutOfRange {
        /// The field.
        field: &'static str,
        /// The value found.
        found: u64,
    },
}

/// Failures of the raft node and its storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The redb store failed.
    #[error("raft store: {op} failed: check the disk and the data directory")]
    Store {
        /// What was being done.
        op: &'static str,
        /// The store's error.
        #[source]
        source: Box<redb::Error>,
    },
    /// A stored value does not decode: the raft store is corrupt.
    #[error("raft store: {what} is corrupt: restore the data directory or rejoin the cluster")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why it does not decode.
        #[source]
        source: DecodeError,
    },
    /// raft-rs refused a call.
    #[error("raft: {op} failed")]
    Raft {
        /// What was being done.
        op: &'static str,
        /// raft-rs's error.
        #[source]
        source: raft::Error,
    },
    /// A rule of the cluster refused an action or a block.
    #[error("raft rule {0}")]
    Rule(#[from] RaftRule),
    /// `initialize` on a store that already holds a cluster.
    #[error("raft store already holds a cluster: start the node without initializing it")]
    AlreadyInitialized,
    /// `compact` above the applied index (or the log).
    #[error("raft store cannot compact to index {index}: only {applied} is applied")]
    CompactBeyondApplied {
        /// The index asked for.
        index: u64,
        /// The applied index.
        applied: u64,
    },
    /// An invariant broke.
    #[error("raft: {0} (this is a bug in cachet)")]
    Internal(&'static str),
}

impl Error {
    pub(crate) fn store<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> Self {
        move |e| Self::Store {
            op,
            source: Box::new(e.into()),
        }
    }

    pub(crate) fn raft(op: &'static str) -> impl FnOnce(raft::Error) -> Self {
        move |source| Self::Raft { op, source }
    }
}
