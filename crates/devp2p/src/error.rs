//! devp2p errors: [`DecodeError`] for bad bytes from a peer (answer: disconnect), [`Error`] for
//! everything else.

use std::net::SocketAddr;

use crate::p2p::DisconnectReason;

/// Result alias for devp2p operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A peer sent bytes that do not decode. The only answer is to disconnect it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the encoding said it would.
    #[error("{what} is truncated: the peer sent fewer bytes than its encoding declares")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
    },
    /// Bytes were left over after a structure that must fill its input.
    #[error("{what} has {extra} trailing bytes: the peer's encoding is not canonical")]
    TrailingBytes {
        /// The structure being decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A length exceeded its cap.
    #[error(
        "{what} is {size} bytes (or items), over the cap of {cap}: the peer sent more than the protocol allows"
    )]
    TooLarge {
        /// The structure being decoded.
        what: &'static str,
        /// The size the peer declared.
        size: usize,
        /// Our cap.
        cap: usize,
    },
    /// The RLP was malformed.
    #[error("{what} is not valid rlp ({reason}): the peer's encoding is broken")]
    Rlp {
        /// The structure being decoded.
        what: &'static str,
        /// What alloy-rlp found (a static description, no peer bytes).
        reason: &'static str,
    },
    /// An ECIES message failed its HMAC: not encrypted to our node key, or corrupted.
    #[error(
        "ecies message failed its mac check: the peer dialled another node key or the bytes were corrupted"
    )]
    EciesMac,
    /// A public key did not lie on secp256k1.
    #[error("{what} is not a valid secp256k1 public key")]
    InvalidPublicKey {
        /// Which key.
        what: &'static str,
    },
    /// The auth message signature does not recover to a public key.
    #[error("auth signature does not recover to a public key: the peer's handshake is broken")]
    InvalidSignature,
    /// A pre-EIP-8 auth carried an ephemeral-key hash that does not match its signature.
    #[error("pre-eip-8 auth carries the wrong ephemeral key hash: the peer's handshake is broken")]
    EphemeralKeyHash,
    /// A frame header failed its MAC.
    #[error(
        "rlpx frame header mac mismatch: the connection is corrupted or not from the handshake peer"
    )]
    HeaderMac,
    /// A frame body failed its MAC.
    #[error("rlpx frame mac mismatch: the connection is corrupted or not from the handshake peer")]
    FrameMac,
    /// A compressed message did not decompress.
    #[error("snappy payload does not decompress: the peer's compression is broken")]
    Snappy,
    /// A message id outside every negotiated capability.
    #[error("message id {id:#x} is outside every negotiated capability")]
    UnknownMessage {
        /// The id the peer sent.
        id: u64,
    },
    /// A message id inside eth's range that the negotiated version does not define
    /// (`GetNodeData` on eth/67 or eth/68, or an id never assigned).
    #[error("message id {id:#x} is not defined in eth/{version}")]
    UndefinedMessage {
        /// The id relative to the eth offset.
        id: u64,
        /// The negotiated eth version.
        version: u64,
    },
    /// A field had a value the protocol forbids.
    #[error("{what} has an invalid value: {reason}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// Why it is invalid.
        reason: &'static str,
    },
}

impl DecodeError {
    /// Maps an error of the one RLP reader to a peer decode error (same structure name).
    pub(crate) fn from_rlp(e: cachet_primitives::DecodeError) -> Self {
        use cachet_primitives::DecodeError as Rlp;
        let (what, reason) = match e {
            Rlp::Truncated { what } => return Self::Truncated { what },
            Rlp::TrailingBytes { what, extra } => return Self::TrailingBytes { what, extra },
            Rlp::TooLarge { what, cap, found } => {
                return Self::TooLarge {
                    what,
                    size: found,
                    cap,
                };
            }
            Rlp::WrongLength { what, .. } => {
                return Self::InvalidValue {
                    what,
                    reason: "wrong byte length",
                };
            }
            Rlp::NonCanonical { what } => (what, "non-canonical encoding"),
            Rlp::ExpectedString { what } => (what, "expected a string, got a list"),
            Rlp::ExpectedList { what } => (what, "expected a list, got a string"),
            Rlp::IntegerOverflow { what, .. } => (what, "integer overflow"),
            Rlp::WrongItemCount { what, .. } => (what, "wrong item count"),
            _ => ("rlp item", "invalid value"),
        };
        Self::Rlp { what, reason }
    }
}

/// What went wrong in the networking stack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A peer sent bytes that do not decode.
    #[error("peer {peer} sent bad data")]
    Decode {
        /// The peer's address.
        peer: PeerLabel,
        /// What was wrong.
        #[source]
        source: DecodeError,
    },
    /// A socket operation failed.
    #[error("{action} {peer} failed")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The peer or local address.
        peer: PeerLabel,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Binding the listening socket failed.
    #[error("cannot listen on {addr}: check that the port is free and the address is local")]
    Listen {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The node key could not be used (wiped after revocation).
    #[error("the node key is unavailable")]
    NodeKey(#[source] cachet_primitives::KeyError),
    /// A step did not finish in time.
    #[error(
        "{step} with {peer} timed out after {secs}s: check that the peer is reachable and speaks devp2p"
    )]
    Timeout {
        /// Which step.
        step: &'static str,
        /// The peer.
        peer: PeerLabel,
        /// The limit.
        secs: u64,
    },
    /// The peer disconnected us (or we it) with a reason.
    #[error("peer {peer} disconnected: {reason}")]
    Disconnected {
        /// The peer.
        peer: PeerLabel,
        /// The reason given.
        reason: DisconnectReason,
    },
    /// The peer closed the TCP connection.
    #[error("peer {peer} closed the connection")]
    Closed {
        /// The peer.
        peer: PeerLabel,
    },
    /// The peer broke the protocol in a way that decodes but is not allowed.
    #[error("peer {peer} broke the protocol: {reason}")]
    Protocol {
        /// The peer.
        peer: PeerLabel,
        /// What it did.
        reason: &'static str,
    },
    /// The peer is on another chain or network.
    #[error(
        "peer {peer} is on another network: {mismatch}; check --genesis and the peer's network id"
    )]
    IncompatibleChain {
        /// The peer.
        peer: PeerLabel,
        /// What differs.
        mismatch: ChainMismatch,
    },
    /// The network service has stopped.
    #[error("the devp2p service has stopped")]
    ServiceStopped,
    /// A broken invariant inside cachet.
    #[error("{0} (this is a bug in cachet)")]
    Internal(&'static str),
}

impl Error {
    /// Wraps a decode error from `peer`.
    pub(crate) fn decode(peer: impl Into<PeerLabel>, source: DecodeError) -> Self {
        Self::Decode {
            peer: peer.into(),
            source,
        }
    }

    /// The disconnect reason to send a peer after this error.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::Decode { .. } | Self::Protocol { .. } => DisconnectReason::ProtocolBreach,
            Self::Timeout { .. } => DisconnectReason::PingTimeout,
            Self::IncompatibleChain { .. } => DisconnectReason::UselessPeer,
            Self::Io { .. } | Self::Closed { .. } => DisconnectReason::TcpError,
            Self::Disconnected { reason, .. } => *reason,
            _ => DisconnectReason::Requested,
        }
    }
}

/// A peer's address (and node id once known) for messages. Public information only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerLabel(pub String);

impl std::fmt::Display for PeerLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SocketAddr> for PeerLabel {
    fn from(addr: SocketAddr) -> Self {
        Self(addr.to_string())
    }
}

impl From<&str> for PeerLabel {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// What in a peer's eth Status shows it is on another chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChainMismatch {
    /// The network id differs.
    #[error("network id {theirs} (ours {ours})")]
    NetworkId {
        /// The peer's.
        theirs: u64,
        /// Ours.
        ours: u64,
    },
    /// The genesis hash differs.
    #[error("genesis {theirs} (ours {ours})")]
    Genesis {
        /// The peer's.
        theirs: alloy_primitives::B256,
        /// Ours.
        ours: alloy_primitives::B256,
    },
    /// The fork id fails EIP-2124 validation against our schedule.
    #[error("fork id {theirs}: {reason}")]
    ForkId {
        /// The peer's fork id.
        theirs: cachet_primitives::ForkId,
        /// Why the schedule refuses it.
        reason: cachet_genesis::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_every_variant() {
        let peer = || PeerLabel::from("127.0.0.1:30303");
        let cases: Vec<(Error, &str)> = vec![
            (
                Error::decode(peer(), DecodeError::Truncated { what: "auth" }),
                "peer 127.0.0.1:30303 sent bad data",
            ),
            (
                Error::Io {
                    action: "connecting to",
                    peer: peer(),
                    source: std::io::Error::other("refused"),
                },
                "connecting to 127.0.0.1:30303 failed",
            ),
            (
                Error::Listen {
                    addr: "0.0.0.0:30303".parse().unwrap(),
                    source: std::io::Error::other("in use"),
                },
                "cannot listen on 0.0.0.0:30303: check that the port is free and the address is local",
            ),
            (
                Error::NodeKey(cachet_primitives::KeyError::Wiped),
                "the node key is unavailable",
            ),
            (
                Error::Timeout {
                    step: "rlpx handshake",
                    peer: peer(),
                    secs: 5,
                },
                "rlpx handshake with 127.0.0.1:30303 timed out after 5s: check that the peer is reachable and speaks devp2p",
            ),
            (
                Error::Disconnected {
                    peer: peer(),
                    reason: DisconnectReason::TooManyPeers,
                },
                "peer 127.0.0.1:30303 disconnected: too many peers",
            ),
            (
                Error::Closed { peer: peer() },
                "peer 127.0.0.1:30303 closed the connection",
            ),
            (
                Error::Protocol {
                    peer: peer(),
                    reason: "second hello",
                },
                "peer 127.0.0.1:30303 broke the protocol: second hello",
            ),
            (
                Error::IncompatibleChain {
                    peer: peer(),
                    mismatch: ChainMismatch::NetworkId {
                        theirs: 1,
                        ours: 1337,
                    },
                },
                "peer 127.0.0.1:30303 is on another network: network id 1 (ours 1337); check --genesis and the peer's network id",
            ),
            (Error::ServiceStopped, "the devp2p service has stopped"),
            (Error::Internal("x"), "x (this is a bug in cachet)"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        let decode: Vec<(DecodeError, &str)> = vec![
            (
                DecodeError::Truncated { what: "auth" },
                "auth is truncated: the peer sent fewer bytes than its encoding declares",
            ),
            (
                DecodeError::TrailingBytes {
                    what: "hello",
                    extra: 2,
                },
                "hello has 2 trailing bytes: the peer's encoding is not canonical",
            ),
            (
                DecodeError::TooLarge {
                    what: "frame",
                    size: 9,
                    cap: 8,
                },
                "frame is 9 bytes (or items), over the cap of 8: the peer sent more than the protocol allows",
            ),
            (
                DecodeError::Rlp {
                    what: "status",
                    reason: "leading zero",
                },
                "status is not valid rlp (leading zero): the peer's encoding is broken",
            ),
            (
                DecodeError::EciesMac,
                "ecies message failed its mac check: the peer dialled another node key or the bytes were corrupted",
            ),
            (
                DecodeError::InvalidPublicKey { what: "hello id" },
                "hello id is not a valid secp256k1 public key",
            ),
            (
                DecodeError::InvalidSignature,
                "auth signature does not recover to a public key: the peer's handshake is broken",
            ),
            (
                DecodeError::EphemeralKeyHash,
                "pre-eip-8 auth carries the wrong ephemeral key hash: the peer's handshake is broken",
            ),
            (
                DecodeError::HeaderMac,
                "rlpx frame header mac mismatch: the connection is corrupted or not from the handshake peer",
            ),
            (
                DecodeError::FrameMac,
                "rlpx frame mac mismatch: the connection is corrupted or not from the handshake peer",
            ),
            (
                DecodeError::Snappy,
                "snappy payload does not decompress: the peer's compression is broken",
            ),
            (
                DecodeError::UnknownMessage { id: 0x33 },
                "message id 0x33 is outside every negotiated capability",
            ),
            (
                DecodeError::UndefinedMessage {
                    id: 0x0d,
                    version: 67,
                },
                "message id 0xd is not defined in eth/67",
            ),
            (
                DecodeError::InvalidValue {
                    what: "hello",
                    reason: "x",
                },
                "hello has an invalid value: x",
            ),
        ];
        for (e, text) in decode {
            assert_eq!(e.to_string(), text);
        }
    }
}
