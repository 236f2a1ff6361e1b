//! The handshake over a byte stream, yielding a framed RLPx stream.

use cachet_primitives::Ecdh;
use secp256k1::PublicKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Framed;
use zeroize::Zeroizing;

use crate::rlpx::ecies::EciesError;
use crate::rlpx::handshake::{
    self, Ack, Auth, Format, Initiator, LEGACY_ACK_LEN, LEGACY_AUTH_LEN, MAX_EIP8_LEN,
};
use crate::rlpx::{EphemeralKey, FrameCodec};
use crate::{DecodeError, Error, PeerLabel, Result};

/// A socket after the RLPx handshake: frames in, frames out.
pub type RlpxStream<S> = Framed<S, FrameCodec>;

/// Dials: sends an EIP-8 auth to `remote`, reads its ack (EIP-8 or pre-EIP-8) and returns the
/// framed stream. The caller bounds it with a timeout.
///
/// # Errors
/// [`Error::Io`] on socket errors, [`Error::Decode`] when the ack is malformed or not for us,
/// [`Error::NodeKey`] when the node key was wiped.
pub async fn connect<S>(
    mut io: S,
    key: &dyn Ecdh,
    remote: PublicKey,
    peer: PeerLabel,
) -> Result<RlpxStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let initiator = Initiator::new(key, remote).map_err(|e| e.into_error(peer.clone()))?;
    io.write_all(initiator.auth_wire())
        .await
        .map_err(|e| io_err("sending auth to", &peer, e))?;
    let (wire, plain, format) = read_message(&mut io, key, LEGACY_ACK_LEN, &peer).await?;
    let ack = match format {
        Format::Eip8 => Ack::decode_eip8(&plain),
        Format::Legacy => Ack::decode_legacy(&plain),
    }
    .map_err(|e| Error::decode(peer.clone(), e))?;
    let secrets = initiator.finish(&ack, &wire);
    Ok(Framed::new(io, FrameCodec::new(secrets)))
}

/// Answers a dial: reads the auth (EIP-8 or pre-EIP-8), verifies it, sends the ack in the same
/// format and returns the framed stream and the peer's proven node key.
///
/// # Errors
/// As [`connect`].
pub async fn accept<S>(
    mut io: S,
    key: &dyn Ecdh,
    peer: PeerLabel,
) -> Result<(RlpxStream<S>, PublicKey)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (wire, plain, format) = read_message(&mut io, key, LEGACY_AUTH_LEN, &peer).await?;
    let (auth, legacy_hash) = match format {
        Format::Eip8 => Auth::decode_eip8(&plain).map(|a| (a, None)),
        Format::Legacy => Auth::decode_legacy(&plain).map(|(a, h)| (a, Some(h))),
    }
    .map_err(|e| Error::decode(peer.clone(), e))?;
    let mut nonce = [0u8; 32];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut nonce);
    let padding = rand::Rng::gen_range(&mut rand::rngs::OsRng, 100..=300);
    let accepted = handshake::accept(
        key,
        &auth,
        legacy_hash,
        &wire,
        EphemeralKey::random(),
        nonce,
        padding,
    )
    .map_err(|e| e.into_error(peer.clone()))?;
    io.write_all(&accepted.ack_wire)
        .await
        .map_err(|e| io_err("sending ack to", &peer, e))?;
    let remote = accepted.secrets.remote_id();
    Ok((Framed::new(io, FrameCodec::new(accepted.secrets)), remote))
}

/// Reads one handshake message without reading past it. A message starting with `0x04` (an
/// uncompressed ECIES key) is first tried as pre-EIP-8 (`legacy_len` bytes), as geth did; if
/// it does not decrypt, the first two bytes are an EIP-8 size prefix (0x04xx ≥ 1024, longer
/// than any legacy message, so nothing was over-read).
async fn read_message<S>(
    io: &mut S,
    key: &dyn Ecdh,
    legacy_len: usize,
    peer: &PeerLabel,
) -> Result<(Vec<u8>, Zeroizing<Vec<u8>>, Format)>
where
    S: AsyncRead + Unpin,
{
    let mut wire = vec![0u8; 2];
    io.read_exact(&mut wire)
        .await
        .map_err(|e| io_err("reading handshake from", peer, e))?;
    let [first, second] = [
        wire.first().copied().unwrap_or(0),
        wire.get(1).copied().unwrap_or(0),
    ];
    if first == 0x04 {
        wire.resize(legacy_len, 0);
        if let Some(rest) = wire.get_mut(2..) {
            io.read_exact(rest)
                .await
                .map_err(|e| io_err("reading handshake from", peer, e))?;
        }
        match handshake::open(key, &wire, Format::Legacy) {
            Ok(plain) => return Ok((wire, plain, Format::Legacy)),
            Err(EciesError::Decode(_)) => {}
            Err(e) => return Err(e.into_error(peer.clone())),
        }
    }
    let size = usize::from(u16::from_be_bytes([first, second]));
    if size > MAX_EIP8_LEN {
        return Err(Error::decode(
            peer.clone(),
            DecodeError::TooLarge {
                what: "eip-8 handshake",
                size,
                cap: MAX_EIP8_LEN,
            },
        ));
    }
    let total = size + 2;
    if total < wire.len() {
        return Err(Error::decode(
            peer.clone(),
            DecodeError::Truncated {
                what: "eip-8 handshake",
            },
        ));
    }
    let have = wire.len();
    wire.resize(total, 0);
    if let Some(rest) = wire.get_mut(have..) {
        io.read_exact(rest)
            .await
            .map_err(|e| io_err("reading handshake from", peer, e))?;
    }
    let plain =
        handshake::open(key, &wire, Format::Eip8).map_err(|e| e.into_error(peer.clone()))?;
    Ok((wire, plain, Format::Eip8))
}

fn io_err(action: &'static str, peer: &PeerLabel, source: std::io::Error) -> Error {
    Error::Io {
        action,
        peer: peer.clone(),
        source,
    }
}
