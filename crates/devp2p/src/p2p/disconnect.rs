//! Disconnect reasons (devp2p `rlpx.md`, "Disconnect (0x01)").

use std::fmt;

use crate::DecodeError;
use crate::cursor::rlp;

/// Why a session ends. Unknown codes from peers decode as [`DisconnectReason::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    Requested,
    /// 0x01: TCP sub-system error.
    TcpError,
    /// 0x02: breach of protocol (malformed message, bad RLP, …).
    ProtocolBreach,
    /// 0x03: useless peer (no shared capability, other chain).
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleVersion,
    /// 0x07: null node identity received.
    NullIdentity,
    /// 0x08: client quitting.
    ClientQuitting,
    /// 0x09: unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node.
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol.
    SubprotocolSpecific,
    /// A code this list does not name.
    Other(u8),
}

impl DisconnectReason {
    /// The wire code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Requested => 0x00,
            Self::TcpError => 0x01,
            Self::ProtocolBreach => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleVersion => 0x06,
            Self::NullIdentity => 0x07,
            Self::ClientQuitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolSpecific => 0x10,
            Self::Other(c) => c,
        }
    }

    /// The reason for a wire code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::Requested,
            0x01 => Self::TcpError,
            0x02 => Self::ProtocolBreach,
            0x03 => Self::UselessPeer,
            0x04 => Self::TooManyPeers,
            0x05 => Self::AlreadyConnected,
            0x06 => Self::IncompatibleVersion,
            0x07 => Self::NullIdentity,
            0x08 => Self::ClientQuitting,
            0x09 => Self::UnexpectedIdentity,
            0x0a => Self::ConnectedToSelf,
            0x0b => Self::PingTimeout,
            0x10 => Self::SubprotocolSpecific,
            c => Self::Other(c),
        }
    }

    /// Encodes the Disconnect payload `[reason]`.
    pub fn encode(self) -> Vec<u8> {
        match self.code() {
            0 => vec![0xc1, 0x80],
            c if c < 0x80 => vec![0xc1, c],
            c => vec![0xc2, 0x81, c],
        }
    }

    /// Decodes a Disconnect payload. Tolerant, as deployed clients differ: accepts `[reason]`,
    /// `[]`, a bare `reason` and an empty payload (no reason means "requested"); extra list
    /// elements are ignored.
    ///
    /// # Errors
    /// [`DecodeError`] when the payload is not one of those forms or the code exceeds a byte.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "disconnect";
        let mut buf = payload;
        if buf.is_empty() {
            return Ok(Self::Requested);
        }
        let code = if buf.first().is_some_and(|b| *b >= 0xc0) {
            let mut list = rlp::list(&mut buf, WHAT)?;
            if list.is_empty() {
                0
            } else {
                rlp::u64(&mut list, WHAT)?
            }
        } else {
            rlp::u64(&mut buf, WHAT)?
        };
        rlp::finish(buf, WHAT)?;
        u8::try_from(code)
            .map(Self::from_code)
            .map_err(|_| DecodeError::InvalidValue {
                what: WHAT,
                reason: "reason code over 0xff",
            })
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Requested => "disconnect requested",
            Self::TcpError => "tcp sub-system error",
            Self::ProtocolBreach => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::NullIdentity => "null node identity",
            Self::ClientQuitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolSpecific => "subprotocol-specific reason",
            Self::Other(c) => return write!(f, "unknown reason {c:#04x}"),
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_code() {
        for c in 0..=255u8 {
            let r = DisconnectReason::from_code(c);
            assert_eq!(r.code(), c);
            assert_eq!(DisconnectReason::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn accepts_the_forms_clients_send() {
        assert_eq!(
            DisconnectReason::decode(&[]),
            Ok(DisconnectReason::Requested)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc0]),
            Ok(DisconnectReason::Requested)
        );
        assert_eq!(
            DisconnectReason::decode(&[0x04]),
            Ok(DisconnectReason::TooManyPeers)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc1, 0x04]),
            Ok(DisconnectReason::TooManyPeers)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc2, 0x04, 0x01]),
            Ok(DisconnectReason::TooManyPeers)
        );
    }

    #[test]
    fn rejects_trailing_bytes_and_wide_codes() {
        assert!(DisconnectReason::decode(&[0xc1, 0x04, 0x00]).is_err());
        assert!(DisconnectReason::decode(&[0xc3, 0x82, 0x01, 0x00]).is_err());
    }
}
