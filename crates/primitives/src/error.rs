//! [`DecodeError`]: bytes from outside (a peer, a file, an operator) that are not a valid RLP
//! item, header, extraData, fork id or enode. The data is at fault, not Cachet.
//!
//! [`Chain`]: printing an error with its causes, for operators: each crate's Display says what failed and
//! holds the cause as `source()` without repeating its text, so whoever prints an error for a
//! person (the CLI's `error:` line, the audit log) prints the chain.

use std::error::Error;
use std::fmt;

/// Displays an error and its sources on one line: `what failed: cause: root cause`.
///
/// A source whose text is already on the line is skipped (some libraries print their cause in
/// their own Display too), so nothing is printed twice.
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !text.is_empty() && !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            next = cause.source();
        }
        f.write_str(&line)
    }
}

/// The crate's result type.
pub type Result<T, E = DecodeError> = std::result::Result<T, E>;

/// Bytes that are not a valid RLP item, header, extraData, seal, fork id or enode. The data is
/// at fault, not Cachet.
///
/// `PartialEq` without `Eq`: [`hex::FromHexError`], a source, is only `PartialEq`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended inside an RLP item.
    #[error("{what}: input truncated: check that the whole value was copied")]
    Truncated {
        /// The value being decoded.
        what: &'static str,
    },
    /// An RLP item is not in canonical (shortest) form.
    #[error("{what}: non-canonical rlp encoding: reference clients reject this form")]
    NonCanonical {
        /// The value being decoded.
        what: &'static str,
    },
    /// Bytes follow the end of a complete value.
    #[error("{what}: {extra} trailing bytes after the value: check for concatenated input")]
    TrailingBytes {
        /// The value being decoded.
        what: &'static str,
        /// How many bytes are left over.
        extra: usize,
    },
    /// An RLP list was found where a string was expected.
    #[error("{what}: expected an rlp string, found a list")]
    ExpectedString {
        /// The value being decoded.
        what: &'static str,
    },
    /// An RLP string was found where a list was expected.
    #[error("{what}: expected an rlp list, found a string")]
    ExpectedList {
        /// The value being decoded.
        what: &'static str,
    },
    /// A fixed-size field has the wrong length.
    #[error("{what}: expected {expected} bytes, found {found}")]
    WrongLength {
        /// The value being decoded.
        what: &'static str,
        /// The length the format requires.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// An integer does not fit its type.
    #[error("{what}: integer too large (at most {max_bytes} bytes)")]
    IntegerOverflow {
        /// The value being decoded.
        what: &'static str,
        /// The largest allowed size in bytes.
        max_bytes: usize,
    },
    /// An input exceeds the size cap.
    #[error("{what}: {found} bytes exceeds the cap of {cap} bytes")]
    TooLarge {
        /// The value being decoded.
        what: &'static str,
        /// The cap.
        cap: usize,
        /// The size found.
        found: usize,
    },
    /// A list has the wrong number of items.
    #[error("{what}: expected {expected} items, found {found}")]
    WrongItemCount {
        /// The value being decoded.
        what: &'static str,
        /// The count the format requires.
        expected: &'static str,
        /// The count found.
        found: usize,
    },
    /// extraData is shorter than the engine's fixed parts.
    #[error(
        "{engine} extraData is {found} bytes, shorter than the minimum {min}: is this the right engine?"
    )]
    ExtraTooShort {
        /// The engine whose layout was expected.
        engine: &'static str,
        /// The minimum length.
        min: usize,
        /// The length found.
        found: usize,
    },
    /// The clique signer section is not a multiple of 20 bytes.
    #[error("clique extraData signer section is {found} bytes, not a multiple of 20")]
    SignerSectionLength {
        /// The length of the section.
        found: usize,
    },
    /// A vote item is not one of the encodings the engine allows.
    #[error("{what}: invalid vote encoding (allowed: {allowed})")]
    InvalidVote {
        /// The value being decoded.
        what: &'static str,
        /// The allowed encodings.
        allowed: &'static str,
    },
    /// A raft id is not lowercase ASCII hex without leading zeros that fits in 16 bits.
    #[error(
        "raft extraData: raft id {found:?} is not lowercase hex without leading zeros in 1..=ffff"
    )]
    InvalidRaftId {
        /// The id bytes, lossily as text.
        found: String,
    },
    /// Input that should be hex does not decode.
    #[error("{what}: invalid hex")]
    Hex {
        /// The value being decoded.
        what: &'static str,
        /// The hex decoder's error.
        #[source]
        source: hex::FromHexError,
    },
    /// Input that should be hex is not.
    #[error("{what}: invalid hex: {reason}")]
    InvalidHex {
        /// The value being decoded.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A JSON document is not a header, validator list or member list.
    #[error("{what}: invalid json: {reason}")]
    InvalidJson {
        /// The value being decoded.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An enode URL does not parse.
    #[error(
        "invalid enode url {url:?}: {reason}; expected enode://<128 hex>@ip:port[?discport=udp][&raftport=port]"
    )]
    InvalidEnode {
        /// The URL (public).
        url: String,
        /// What is wrong.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_enode_and_key_messages_as_written() {
        // The other variants' messages are checked in seal's error-message test.
        assert_eq!(
            DecodeError::InvalidEnode {
                url: "enode://x".into(),
                reason: "missing @host:port",
            }
            .to_string(),
            "invalid enode url \"enode://x\": missing @host:port; expected enode://<128 hex>@ip:port[?discport=udp][&raftport=port]"
        );
        assert_eq!(
            crate::KeyError::Wiped.to_string(),
            "the node key was wiped (revocation or shutdown): restart the node"
        );
    }

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Self>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|s| s as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> Layer {
        let mut layer = None;
        for text in texts.iter().rev() {
            layer = Some(Layer {
                text,
                source: layer.map(Box::new),
            });
        }
        layer.unwrap()
    }

    #[test]
    fn prints_every_cause_in_order() {
        let e = chain(&[
            "rename /d/keys.cachet failed",
            "No space left on device (os error 28)",
        ]);
        assert_eq!(
            Chain(&e).to_string(),
            "rename /d/keys.cachet failed: No space left on device (os error 28)"
        );
        let e = chain(&["unlocking failed", "read /k failed", "permission denied"]);
        assert_eq!(
            Chain(&e).to_string(),
            "unlocking failed: read /k failed: permission denied"
        );
    }

    #[test]
    fn prints_a_lone_error_as_its_display() {
        let e = chain(&["the devp2p service has stopped"]);
        assert_eq!(Chain(&e).to_string(), "the devp2p service has stopped");
    }

    #[test]
    fn skips_a_cause_already_on_the_line_and_empty_causes() {
        let e = chain(&["io error: disk full", "disk full", "", "firmware bug"]);
        assert_eq!(Chain(&e).to_string(), "io error: disk full: firmware bug");
    }
}
