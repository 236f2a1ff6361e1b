//! p2p message framing: `frame-data = msg-id ‖ msg-data`, with `msg-data` snappy-compressed
//! after Hello (EIP-706).

use alloy_rlp::Encodable;

use crate::DecodeError;

/// Hello's message id.
pub const HELLO: u64 = 0x00;
/// Disconnect's message id.
pub const DISCONNECT: u64 = 0x01;
/// Ping's message id.
pub const PING: u64 = 0x02;
/// Pong's message id.
pub const PONG: u64 = 0x03;
/// Ping and Pong carry an empty list.
pub const EMPTY_LIST: [u8; 1] = [0xc0];
/// Cap on decompressed message data: devp2p says to reject messages over 16 MiB, checked from
/// the snappy length header before decompressing, so a small frame cannot make us allocate
/// more.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Splits frame data into the message id and the (possibly compressed) message data.
///
/// # Errors
/// [`DecodeError`] when the id is not a canonical RLP integer.
pub fn split(frame: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let mut buf = frame;
    let id = crate::cursor::rlp::u64(&mut buf, "message id")?;
    Ok((id, buf))
}

/// Builds frame data, compressing `data` when `compress`.
pub fn join(id: u64, data: &[u8], compress: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + data.len());
    id.encode(&mut out);
    if compress {
        let start = out.len();
        out.resize(start + snap::raw::max_compress_len(data.len()), 0);
        let n = out
            .get_mut(start..)
            .and_then(|dst| snap::raw::Encoder::new().compress(data, dst).ok())
            .unwrap_or(0);
        out.truncate(start + n);
    } else {
        out.extend_from_slice(data);
    }
    out
}

/// Decompresses message data, refusing (before allocating) anything over `cap` bytes.
///
/// # Errors
/// [`DecodeError::TooLarge`] over the cap, [`DecodeError::Snappy`] when it does not decompress.
pub fn decompress(data: &[u8], cap: usize) -> Result<Vec<u8>, DecodeError> {
    let len = snap::raw::decompress_len(data).map_err(|_| DecodeError::Snappy)?;
    if len > cap {
        return Err(DecodeError::TooLarge {
            what: "decompressed message",
            size: len,
            cap,
        });
    }
    let mut out = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(data, &mut out)
        .map_err(|_| DecodeError::Snappy)?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_compressed_and_plain() {
        for compress in [false, true] {
            for id in [0u64, 1, 0x10, 0x7f, 0x80, 0x1234] {
                let data = vec![7u8; 300];
                let frame = join(id, &data, compress);
                let (got, rest) = split(&frame).unwrap();
                assert_eq!(got, id);
                let rest = if compress {
                    decompress(rest, MAX_MESSAGE_SIZE).unwrap()
                } else {
                    rest.to_vec()
                };
                assert_eq!(rest, data);
            }
        }
    }

    #[test]
    fn rejects_decompressed_sizes_over_the_cap_and_accepts_the_cap() {
        let data = vec![0u8; 1000];
        let frame = join(0x10, &data, true);
        let (_, c) = split(&frame).unwrap();
        assert_eq!(decompress(c, 1000).unwrap().len(), 1000);
        assert_eq!(
            decompress(c, 999),
            Err(DecodeError::TooLarge {
                what: "decompressed message",
                size: 1000,
                cap: 999
            })
        );
        // A 6-byte header claiming 4 GiB is refused without allocating.
        assert!(matches!(
            decompress(&[0x80, 0x80, 0x80, 0x80, 0x0f, 0x00], MAX_MESSAGE_SIZE),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_non_canonical_ids_and_garbage_snappy() {
        assert!(split(&[0x81, 0x05]).is_err());
        assert!(split(&[]).is_err());
        assert_eq!(
            decompress(&[0x05, 0xff, 0xff], 100),
            Err(DecodeError::Snappy)
        );
    }
}
