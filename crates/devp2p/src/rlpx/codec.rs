//! The RLPx frame codec (devp2p `rlpx.md`, "Framing"): AES-256-CTR with the session's
//! `aes-secret` in both directions, and a header MAC and a frame MAC per frame.
//!
//! Frames carry `frame-data` (message id ‖ payload) untouched; the p2p layer compresses.
//! Decoding errors surface as `io::ErrorKind::InvalidData` wrapping a [`DecodeError`].

use std::io;

use aes::Aes256;
use aes::cipher::{KeyIvInit, StreamCipher};
use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::DecodeError;
use crate::rlpx::Secrets;
use crate::rlpx::mac::MacState;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The largest frame: `frame-size` is a 24-bit field. It also bounds the memory one peer can
/// make us buffer for one message (16 MiB, the limit devp2p sets for message data).
pub const MAX_FRAME_SIZE: usize = 0xff_ffff;

/// `header-data` we send: the RLP list `[capability-id = 0, context-id = 0]`.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

/// Encrypts and MACs outgoing frames, verifies and decrypts incoming ones.
pub struct FrameCodec {
    egress: Aes256Ctr,
    ingress: Aes256Ctr,
    egress_mac: MacState,
    ingress_mac: MacState,
    max_frame: usize,
    /// Size of the frame whose header was read and whose body is awaited.
    pending: Option<usize>,
}

impl FrameCodec {
    /// A codec for a session.
    pub fn new(secrets: Secrets) -> Self {
        let iv = [0u8; 16];
        Self {
            egress: Aes256Ctr::new((&*secrets.aes).into(), (&iv).into()),
            ingress: Aes256Ctr::new((&*secrets.aes).into(), (&iv).into()),
            egress_mac: MacState::new(secrets.egress_mac, &secrets.mac),
            ingress_mac: MacState::new(secrets.ingress_mac, &secrets.mac),
            max_frame: MAX_FRAME_SIZE,
            pending: None,
        }
    }

    /// Lowers the largest frame accepted or sent (memory bound per peer).
    pub fn with_max_frame(mut self, max: usize) -> Self {
        self.max_frame = max.min(MAX_FRAME_SIZE);
        self
    }

    /// The ingress MAC digest (tests).
    #[cfg(test)]
    pub(crate) fn ingress_mac(&self) -> &MacState {
        &self.ingress_mac
    }
}

impl std::fmt::Debug for FrameCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameCodec")
            .field("max_frame", &self.max_frame)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> io::Result<Option<BytesMut>> {
        let size = match self.pending {
            Some(size) => size,
            None => {
                let Some(head) = src.first_chunk::<32>() else {
                    return Ok(None);
                };
                let (header_ct, mac) = split16(head);
                if !ct_eq(&self.ingress_mac.header(&header_ct), &mac) {
                    return Err(invalid(DecodeError::HeaderMac));
                }
                let mut header = header_ct;
                self.ingress.apply_keystream(&mut header);
                let [a, b, c, ..] = header;
                let size = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                if size > self.max_frame {
                    return Err(invalid(DecodeError::TooLarge {
                        what: "rlpx frame",
                        size,
                        cap: self.max_frame,
                    }));
                }
                src.advance(32);
                self.pending = Some(size);
                size
            }
        };
        let padded = padded(size);
        if src.len() < padded + 16 {
            src.reserve(padded + 16 - src.len());
            return Ok(None);
        }
        let mut body = src.split_to(padded);
        let mac = src.split_to(16);
        if !ct_eq(&self.ingress_mac.frame(&body), &mac) {
            return Err(invalid(DecodeError::FrameMac));
        }
        self.ingress.apply_keystream(&mut body);
        body.truncate(size);
        self.pending = None;
        Ok(Some(body))
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = io::Error;

    fn encode(&mut self, frame: &[u8], dst: &mut BytesMut) -> io::Result<()> {
        if frame.len() > self.max_frame {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "outgoing frame of {} bytes exceeds the {}-byte cap",
                    frame.len(),
                    self.max_frame
                ),
            ));
        }
        let size = frame.len();
        let mut header = [0u8; 16];
        #[allow(
            clippy::cast_possible_truncation,
            reason = "size <= MAX_FRAME_SIZE fits 24 bits"
        )]
        let size_bytes = [(size >> 16) as u8, (size >> 8) as u8, size as u8];
        for (h, b) in header.iter_mut().zip(size_bytes.iter().chain(&HEADER_DATA)) {
            *h = *b;
        }
        self.egress.apply_keystream(&mut header);
        let header_mac = self.egress_mac.header(&header);
        let padded = padded(size);
        dst.reserve(32 + padded + 16);
        dst.put_slice(&header);
        dst.put_slice(&header_mac);
        let start = dst.len();
        dst.put_slice(frame);
        dst.put_bytes(0, padded - size);
        let body = dst.get_mut(start..).unwrap_or_default();
        self.egress.apply_keystream(body);
        let frame_mac = self.egress_mac.frame(body);
        dst.put_slice(&frame_mac);
        Ok(())
    }
}

/// Wraps a decode error for the codec's `io::Error` channel.
pub(crate) fn invalid(e: DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn padded(size: usize) -> usize {
    size.div_ceil(16) * 16
}

fn split16(block: &[u8; 32]) -> ([u8; 16], [u8; 16]) {
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    for (i, byte) in block.iter().enumerate() {
        if let Some(slot) = if i < 16 {
            a.get_mut(i)
        } else {
            b.get_mut(i - 16)
        } {
            *slot = *byte;
        }
    }
    (a, b)
}

fn ct_eq(a: &[u8; 16], b: &[u8]) -> bool {
    b.len() == 16 && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
