//! Bounded readers over peer bytes: a byte cursor for fixed layouts and RLP helpers that never
//! index, never allocate more than the input holds, and name the structure in every error.

use alloy_rlp::Header;

use crate::DecodeError;

/// A cursor over a byte slice that hands out checked sub-slices and fixed-size arrays.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor over `buf`, decoding `what`.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated { what: self.what })?;
        self.buf = tail;
        Ok(*head)
    }

    /// Everything left.
    pub(crate) fn rest(self) -> &'a [u8] {
        self.buf
    }
}

/// RLP readers over `&mut &[u8]` that map errors to [`DecodeError`] naming `what`.
pub(crate) mod rlp {
    use super::*;

    /// The payload of the next list item.
    pub(crate) fn list<'a>(
        buf: &mut &'a [u8],
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        Header::decode_bytes(buf, true).map_err(|e| DecodeError::rlp(what, e))
    }

    /// The payload of the next string item.
    pub(crate) fn bytes<'a>(
        buf: &mut &'a [u8],
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        Header::decode_bytes(buf, false).map_err(|e| DecodeError::rlp(what, e))
    }

    /// The next string item, which must be exactly `N` bytes.
    pub(crate) fn array<const N: usize>(
        buf: &mut &[u8],
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let b = bytes(buf, what)?;
        <[u8; N]>::try_from(b).map_err(|_| DecodeError::InvalidValue {
            what,
            reason: "wrong byte length",
        })
    }

    /// The next canonical unsigned integer.
    pub(crate) fn u64(buf: &mut &[u8], what: &'static str) -> Result<u64, DecodeError> {
        <u64 as alloy_rlp::Decodable>::decode(buf).map_err(|e| DecodeError::rlp(what, e))
    }

    #[allow(dead_code, reason = "used by the eth decoders and tests")]
    /// The next item, header included, as raw bytes (validated to be one well-formed item).
    pub(crate) fn raw<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], DecodeError> {
        let start = *buf;
        let header = Header::decode(buf).map_err(|e| DecodeError::rlp(what, e))?;
        // A single byte below 0x80 is its own payload and was not consumed by the header.
        let payload_start =
            if !header.list && header.payload_length == 1 && start.len() == buf.len() {
                0
            } else {
                start.len() - buf.len()
            };
        let total = payload_start + header.payload_length;
        let (item, rest) = start
            .split_at_checked(total)
            .ok_or(DecodeError::Truncated { what })?;
        *buf = rest;
        Ok(item)
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless `buf` is empty.
    pub(crate) fn finish(buf: &[u8], what: &'static str) -> Result<(), DecodeError> {
        if buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                extra: buf.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_every_truncation_of_a_cursor_array() {
        let data = [1u8, 2, 3, 4];
        for n in 0..4 {
            let mut c = Cursor::new(&data[..n], "x");
            assert_eq!(c.array::<4>(), Err(DecodeError::Truncated { what: "x" }));
        }
        let mut c = Cursor::new(&data, "x");
        assert_eq!(c.array::<4>(), Ok(data));
        assert!(c.rest().is_empty());
    }

    #[test]
    fn accepts_raw_items_of_every_header_form() {
        for item in [
            &[0x05u8][..],
            &[0x80],
            &[0x81, 0x80],
            &[0xc0],
            &[0xc2, 0x01, 0x02],
        ] {
            let mut input = [item, &[0xaa][..]].concat();
            let mut buf = &input[..];
            assert_eq!(rlp::raw(&mut buf, "x").unwrap(), item);
            assert_eq!(buf, &[0xaa]);
            input.clear();
        }
        let mut buf = &[0xc3u8, 0x01][..];
        assert!(rlp::raw(&mut buf, "x").is_err());
    }
}
