//! A p2p session over an RLPx stream: the Hello exchange, then compressed messages.

use futures_util::{SinkExt, StreamExt};
use secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::p2p::capability::{Protocol, SharedCapability, negotiate};
use crate::p2p::message::{self, DISCONNECT, HELLO, MAX_MESSAGE_SIZE};
use crate::p2p::{DisconnectReason, Hello};
use crate::rlpx::RlpxStream;
use crate::{DecodeError, Error, PeerLabel, Result};

/// A session after Hello: both sides' Hello, the shared capabilities, and message I/O.
#[derive(Debug)]
pub struct Session<S> {
    stream: RlpxStream<S>,
    compress: bool,
    remote: Hello,
    shared: Vec<SharedCapability>,
    peer: PeerLabel,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    /// Exchanges Hello on a fresh RLPx stream and negotiates capabilities.
    ///
    /// # Errors
    /// [`Error::Disconnected`] when the peer sends Disconnect instead of Hello, or when we
    /// disconnect it (Hello id differs from the handshake's, our own id, no shared
    /// capability); [`Error::Decode`] for a malformed Hello; I/O errors.
    pub async fn handshake(
        mut stream: RlpxStream<S>,
        local: &Hello,
        protocols: &[Protocol],
        remote_id: PublicKey,
        peer: PeerLabel,
    ) -> Result<Self> {
        let hello = message::join(HELLO, &local.encode(), false);
        stream
            .send(&hello[..])
            .await
            .map_err(|e| io_or_decode("sending hello to", &peer, e))?;
        let frame = next_frame(&mut stream, &peer).await?;
        let (id, data) = message::split(&frame).map_err(|e| Error::decode(peer.clone(), e))?;
        let remote = match id {
            HELLO => Hello::decode(data).map_err(|e| Error::decode(peer.clone(), e))?,
            DISCONNECT => {
                let reason = decode_disconnect(data, false);
                return Err(Error::Disconnected { peer, reason });
            }
            _ => {
                return Err(Error::Protocol {
                    peer,
                    reason: "first message is not hello",
                });
            }
        };
        let compress = remote.protocol_version >= 5;
        let mut session = Self {
            stream,
            compress,
            remote,
            shared: Vec::new(),
            peer,
        };
        let refuse = if session.remote.id != remote_id {
            Some(DisconnectReason::UnexpectedIdentity)
        } else if session.remote.id == local.id {
            Some(DisconnectReason::ConnectedToSelf)
        } else {
            session.shared = negotiate(protocols, &session.remote.capabilities);
            session
                .shared
                .is_empty()
                .then_some(DisconnectReason::UselessPeer)
        };
        if let Some(reason) = refuse {
            let peer = session.peer.clone();
            session.disconnect(reason).await;
            return Err(Error::Disconnected { peer, reason });
        }
        Ok(session)
    }

    /// The peer's Hello.
    pub fn remote_hello(&self) -> &Hello {
        &self.remote
    }

    /// The capabilities both sides speak, with their offsets.
    pub fn shared(&self) -> &[SharedCapability] {
        &self.shared
    }

    /// The peer's label for logs and errors.
    pub fn peer(&self) -> &PeerLabel {
        &self.peer
    }

    /// Sends a message (absolute id), compressed when the peer speaks p2p v5.
    ///
    /// # Errors
    /// I/O errors, or a message over the frame cap.
    pub async fn send(&mut self, id: u64, data: &[u8]) -> Result<()> {
        let frame = message::join(id, data, self.compress);
        self.stream
            .send(&frame[..])
            .await
            .map_err(|e| io_or_decode("sending to", &self.peer, e))
    }

    /// Receives the next message: its absolute id and decompressed data. A Disconnect from the
    /// peer is returned as [`Error::Disconnected`].
    ///
    /// # Errors
    /// [`Error::Decode`] for malformed frames or data, [`Error::Closed`] at end of stream.
    pub async fn recv(&mut self) -> Result<(u64, Vec<u8>)> {
        let frame = next_frame(&mut self.stream, &self.peer).await?;
        let (id, data) = message::split(&frame).map_err(|e| Error::decode(self.peer.clone(), e))?;
        if id == DISCONNECT {
            let reason = decode_disconnect(data, self.compress);
            return Err(Error::Disconnected {
                peer: self.peer.clone(),
                reason,
            });
        }
        let data = if self.compress {
            message::decompress(data, MAX_MESSAGE_SIZE)
                .map_err(|e| Error::decode(self.peer.clone(), e))?
        } else {
            data.to_vec()
        };
        Ok((id, data))
    }

    /// Sends Disconnect with `reason` and flushes; errors are ignored (the session ends).
    pub async fn disconnect(&mut self, reason: DisconnectReason) {
        let _ = self.send(DISCONNECT, &reason.encode()).await;
        let _ = self.stream.close().await;
    }
}

async fn next_frame<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut RlpxStream<S>,
    peer: &PeerLabel,
) -> Result<bytes::BytesMut> {
    match stream.next().await {
        Some(Ok(frame)) => Ok(frame),
        Some(Err(e)) => Err(io_or_decode("reading from", peer, e)),
        None => Err(Error::Closed { peer: peer.clone() }),
    }
}

/// A Disconnect's reason; tolerant: compressed or not, any form, unknown → `Requested`.
fn decode_disconnect(data: &[u8], compressed: bool) -> DisconnectReason {
    let plain = compressed
        .then(|| message::decompress(data, 64).ok())
        .flatten();
    plain
        .as_deref()
        .and_then(|p| DisconnectReason::decode(p).ok())
        .or_else(|| DisconnectReason::decode(data).ok())
        .unwrap_or(DisconnectReason::Requested)
}

/// Maps a codec `io::Error`: `InvalidData` carrying a [`DecodeError`] is the peer's fault.
pub(crate) fn io_or_decode(action: &'static str, peer: &PeerLabel, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::InvalidData
        && e.get_ref().is_some_and(|inner| inner.is::<DecodeError>())
    {
        if let Some(d) = e
            .into_inner()
            .and_then(|inner| inner.downcast::<DecodeError>().ok())
        {
            return Error::decode(peer.clone(), *d);
        }
        return Error::Internal("decode error vanished");
    }
    Error::Io {
        action,
        peer: peer.clone(),
        source: e,
    }
}
