//! The one place that maps failures to exit codes (documented in `docs/operations.md`): every
//! crate's error becomes a [`Failure`] with a [`Code`]; the binary prints it and exits with it.
//! The message is the error followed by its causes ([`Chain`]): each crate's Display leaves the
//! cause to its `source()`.
//! The binary itself only builds usage failures for its own flag checks.

use cachet_kms::ErrorClass;
use cachet_primitives::error::Chain;

/// Exit codes; a contract with operators and scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Anything not listed below.
    Failure = 1,
    /// Bad command line or input the operator can fix.
    Usage = 2,
    /// Master key access denied or revoked.
    Denied = 10,
    /// Master key unreachable: transient errors did not clear in time.
    Unreachable = 11,
    /// Bundle corrupt, tampered with, or bound to another context.
    Corrupt = 12,
    /// A key file or the bundle is readable by group or others.
    Permissions = 13,
    /// The datadir is not initialised, or already is.
    DatadirState = 14,
    /// Another node seals with this node's key (the doppelganger check): sealing refused.
    Doppelganger = 15,
    /// The raft cluster committed an entry this member's rules refuse (a block not signed by
    /// the leader of its term, by a non-member): the member stopped rather than fork.
    RaftRefused = 16,
}

impl From<ErrorClass> for Code {
    /// The master key's and the key provider's one classification.
    fn from(class: ErrorClass) -> Self {
        match class {
            ErrorClass::Denied => Self::Denied,
            ErrorClass::Unreachable => Self::Unreachable,
            ErrorClass::Corrupt => Self::Corrupt,
            ErrorClass::Permissions => Self::Permissions,
            ErrorClass::DatadirState => Self::DatadirState,
            ErrorClass::Usage => Self::Usage,
            ErrorClass::Local => Self::Failure,
        }
    }
}

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// How to exit.
    pub code: Code,
    /// What to print (after `error: `).
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Exit 2: something the operator can fix on the command line or in a file.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Code::Usage, message)
    }

    /// Exit 1.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Failure, message)
    }

    /// A failure with this code whose message is `error` followed by its causes.
    pub fn of(code: Code, error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(code, Chain(error).to_string())
    }
}

impl From<cachet_kms::Error> for Failure {
    fn from(e: cachet_kms::Error) -> Self {
        Self::of(e.class().into(), &e)
    }
}

impl From<cachet_keyprovider::Error> for Failure {
    fn from(e: cachet_keyprovider::Error) -> Self {
        Self::of(e.class().into(), &e)
    }
}

impl From<cachet_genesis::Error> for Failure {
    /// Every genesis error is the operator's to fix: the file, its path or a field.
    fn from(e: cachet_genesis::Error) -> Self {
        Self::of(Code::Usage, &e)
    }
}

impl From<cachet_seal::Error> for Failure {
    /// Malformed input is a usage error (exit 2); a journal that cannot be used is the
    /// datadir's state (exit 14); a seal or rule failure is exit 1.
    fn from(e: cachet_seal::Error) -> Self {
        use cachet_seal::Error as E;
        match e {
            E::Decode(_) | E::MissingRaftMembers => Self::of(Code::Usage, &e),
            E::Equivocation { .. } => Self::of(Code::Failure, &e),
            E::JournalLocked { .. } | E::JournalIo { .. } | E::JournalCorrupt { .. } => {
                Self::of(Code::DatadirState, &e)
            }
            other => Self::new(Code::Failure, format!("invalid seal: {}", Chain(&other))),
        }
    }
}

/// The master-key lease revoked access while keys were held (`unlock --watch`, the node):
/// the keys are wiped; exit 10.
pub fn revoked(error: &cachet_kms::Error) -> Failure {
    Failure::new(
        Code::Denied,
        format!("master key access lost, keys wiped: {}", Chain(error)),
    )
}

/// `cachet audit verify` found a broken link: exit 12, as for a tampered bundle.
pub fn audit_log_broken(log: &std::path::Path, line: usize, why: &str, intact: usize) -> Failure {
    Failure::new(
        Code::Corrupt,
        format!(
            "audit log {} is broken at line {line}: {why} ({intact} records before it are intact)",
            log.display()
        ),
    )
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        match e {
            E::Unlock(k) => k.into(),
            E::Genesis(g) => g.into(),
            E::MasterKey(k) => k.into(),
            E::KeysRevoked(_) => Self::of(Code::Denied, &e),
            E::Doppelganger(_) => Self::of(Code::Doppelganger, &e),
            E::RaftRefused { .. } => Self::of(Code::RaftRefused, &e),
            // Writing node state is local I/O, never the operator's flags (exit 1).
            E::StateWrite { .. } | E::ParentGone { .. } => Self::of(Code::Failure, &e),
            E::Config(_)
            | E::UnsupportedEngine(_)
            | E::Rpc { .. }
            | E::Network(_)
            | E::Discovery { .. }
            | E::ReadFile { .. }
            | E::RaftMembers { .. }
            | E::Execution(_) => Self::of(Code::Usage, &e),
            _ => Self::of(Code::Failure, &e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_of_node_state_is_a_local_failure_naming_path_and_cause() {
        let failure = Failure::from(crate::Error::StateWrite {
            path: "/d/sealing.rlp".into(),
            source: std::io::Error::other("disk full"),
        });
        assert_eq!(failure.code, Code::Failure);
        assert_eq!(
            failure.message,
            "cannot write /d/sealing.rlp: check the disk, its free space and the directory's permissions: disk full"
        );
    }

    #[test]
    fn maps_the_commands_errors_by_class() {
        let gone = Failure::from(crate::Error::ParentGone {
            parent: 7,
            source: None,
        });
        assert_eq!(gone.code, Code::Failure);
        assert_eq!(
            Failure::from(cachet_seal::Error::MissingRaftMembers).code,
            Code::Usage
        );
        assert_eq!(
            Failure::from(cachet_seal::Error::Unsealed { what: "clique" }).code,
            Code::Failure
        );
        let denied = cachet_kms::Error::AccessDenied {
            key: "k".into(),
            operation: "Decrypt",
            source: None,
        };
        assert_eq!(revoked(&denied).code, Code::Denied);
        assert_eq!(
            audit_log_broken(std::path::Path::new("/d/audit.log"), 3, "bad link", 2).code,
            Code::Corrupt
        );
    }

    #[test]
    fn a_doppelganger_exits_15_naming_block_key_and_peer() {
        let found = |what| {
            Failure::from(crate::Error::Doppelganger(
                crate::doppelganger::Doppelganger {
                    what,
                    number: 7,
                    hash: alloy_primitives::B256::repeat_byte(0xab),
                    signer: alloy_primitives::Address::repeat_byte(0x11),
                    peer: "enode-id".into(),
                },
            ))
        };
        let failure = found(crate::doppelganger::Evidence::Block);
        assert_eq!(failure.code as u8, 15);
        assert!(
            failure.message.starts_with("doppelganger: block 7 (0xabab"),
            "{}",
            failure.message
        );
        assert!(
            failure.message.contains(
                "key 0x1111111111111111111111111111111111111111 arrived from peer enode-id"
            ),
            "{}",
            failure.message
        );
        // A QBFT message that never reached a block (decision 533) names its kind and round.
        let failure = found(crate::doppelganger::Evidence::Message {
            kind: "PREPARE",
            round: 2,
        });
        assert_eq!(failure.code as u8, 15);
        assert!(
            failure
                .message
                .starts_with("doppelganger: PREPARE for height 7 round 2 (0xabab"),
            "{}",
            failure.message
        );
    }
}
