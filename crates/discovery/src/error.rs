//! Discovery errors: [`DecodeError`] for bad bytes from a peer, [`Error`] for our own failures.

use std::net::SocketAddr;

/// `Result` with the discovery [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A discovery packet or record from a peer that we refuse. The response is to drop it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram is larger than discv4 allows.
    #[error(
        "discv4 packet of {len} bytes exceeds the 1280-byte limit: the peer is broken or hostile"
    )]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// The datagram is shorter than hash, signature and type.
    #[error(
        "discv4 packet of {len} bytes is shorter than its 98-byte header: the peer is broken or not speaking discv4"
    )]
    TooShort {
        /// Its size.
        len: usize,
    },
    /// The keccak256 hash at the front does not match the rest of the packet.
    #[error("discv4 packet hash does not match its contents: corrupted or not discv4")]
    HashMismatch,
    /// The signature does not recover a public key.
    #[error("discv4 packet signature does not recover a public key: the peer is broken or hostile")]
    BadSignature,
    /// The packet type is not one discv4 defines (discarded silently per EIP-8).
    #[error("discv4 packet type {0:#04x} is unknown: ignored (EIP-8)")]
    UnknownType(u8),
    /// The RLP body of a message does not decode.
    #[error("discv4 {message} body does not decode: {reason}")]
    Rlp {
        /// Which message.
        message: &'static str,
        /// What the RLP reader found.
        reason: cachet_primitives::DecodeError,
    },
    /// An IP address field is neither 4 nor 16 bytes.
    #[error("discv4 {message} carries an ip address of {len} bytes: expected 4 or 16")]
    IpLength {
        /// Which message.
        message: &'static str,
        /// The field's length.
        len: usize,
    },
    /// An ENR in an `ENRResponse` is over the EIP-778 limit of 300 bytes.
    #[error("node record from the peer is {size} bytes, over the 300-byte limit of EIP-778")]
    EnrTooLarge {
        /// The record's size.
        size: usize,
    },
}

/// Our own discovery failures (binding, signing, internal state).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The UDP socket could not be bound.
    #[error(
        "cannot bind the discovery udp socket on {addr}: check that the port is free and the address is local"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The node key refused to sign (it was wiped).
    #[error("the node key cannot sign discovery packets: the keys were wiped, restart the node")]
    Signing(#[source] cachet_primitives::KeyError),
    /// Our own node record is over the EIP-778 limit of 300 bytes.
    #[error(
        "the local node record is {size} bytes, over the 300-byte limit of EIP-778: drop optional fields"
    )]
    EnrTooLarge {
        /// The record's size.
        size: usize,
    },
    /// The `enr` crate refused to build our node record, or to take the node key.
    #[error("cannot build the local node record")]
    Enr(#[source] enr::Error),
    /// sigp's discv5 failed to start; it reports its cause only as text.
    #[error("discv5 failed to start on {addr}: {reason}: check that the port is free")]
    Discv5 {
        /// The listen address.
        addr: SocketAddr,
        /// discv5's own message (its errors are `&'static str` or carry no `Error` impl).
        reason: String,
    },
    /// The discovery service has stopped.
    #[error("the discovery service has stopped: check the log for the cause")]
    Stopped,
    /// A request to a peer got no answer in time.
    #[error(
        "no discovery reply from {peer} in time: check that the peer is running and reachable over udp"
    )]
    Timeout {
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A broken invariant inside cachet.
    #[error("{0} (this is a bug in cachet)")]
    Internal(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_error_message_as_written() {
        let addr: SocketAddr = "127.0.0.1:30303".parse().unwrap();
        let decode = [
            (
                DecodeError::TooLarge { len: 1281 },
                "discv4 packet of 1281 bytes exceeds the 1280-byte limit: the peer is broken or hostile",
            ),
            (
                DecodeError::TooShort { len: 97 },
                "discv4 packet of 97 bytes is shorter than its 98-byte header: the peer is broken or not speaking discv4",
            ),
            (
                DecodeError::HashMismatch,
                "discv4 packet hash does not match its contents: corrupted or not discv4",
            ),
            (
                DecodeError::BadSignature,
                "discv4 packet signature does not recover a public key: the peer is broken or hostile",
            ),
            (
                DecodeError::UnknownType(7),
                "discv4 packet type 0x07 is unknown: ignored (EIP-8)",
            ),
            (
                DecodeError::Rlp {
                    message: "ping",
                    reason: cachet_primitives::DecodeError::Truncated { what: "ping" },
                },
                "discv4 ping body does not decode: ping: input truncated: check that the whole value was copied",
            ),
            (
                DecodeError::IpLength {
                    message: "neighbors",
                    len: 5,
                },
                "discv4 neighbors carries an ip address of 5 bytes: expected 4 or 16",
            ),
            (
                DecodeError::EnrTooLarge { size: 301 },
                "node record from the peer is 301 bytes, over the 300-byte limit of EIP-778",
            ),
        ];
        for (error, text) in decode {
            assert_eq!(error.to_string(), text);
        }
        let ours = [
            (
                Error::Bind {
                    addr,
                    source: std::io::Error::other("x"),
                },
                "cannot bind the discovery udp socket on 127.0.0.1:30303: check that the port is free and the address is local",
            ),
            (
                Error::Signing(cachet_primitives::KeyError::Wiped),
                "the node key cannot sign discovery packets: the keys were wiped, restart the node",
            ),
            (
                Error::EnrTooLarge { size: 301 },
                "the local node record is 301 bytes, over the 300-byte limit of EIP-778: drop optional fields",
            ),
            (
                Error::Enr(enr::Error::SigningError),
                "cannot build the local node record",
            ),
            (
                Error::Discv5 {
                    addr,
                    reason: "busy".into(),
                },
                "discv5 failed to start on 127.0.0.1:30303: busy: check that the port is free",
            ),
            (
                Error::Stopped,
                "the discovery service has stopped: check the log for the cause",
            ),
            (
                Error::Timeout { peer: addr },
                "no discovery reply from 127.0.0.1:30303 in time: check that the peer is running and reachable over udp",
            ),
            (Error::Internal("oops"), "oops (this is a bug in cachet)"),
        ];
        for (error, text) in ours {
            assert_eq!(error.to_string(), text);
        }
    }
}
