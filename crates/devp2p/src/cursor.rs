//! Bounded readers over peer bytes: a byte cursor for fixed layouts, and the RLP helpers the
//! wire decoders use, which run on the one bounded RLP reader
//! ([`cachet_primitives::rlp::Reader`]) and name the structure in every error.

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

/// RLP readers over `&mut &[u8]`, each one step of [`cachet_primitives::rlp::Reader`], with its
/// errors mapped to [`DecodeError`] naming `what`.
pub(crate) mod rlp {
    use alloy_primitives::U256;
    use cachet_primitives::rlp::Reader;

    use super::*;

    /// Runs one reader step on `buf` and advances `buf` past what it read.
    fn step<'a, T>(
        buf: &mut &'a [u8],
        f: impl FnOnce(&mut Reader<'a>) -> Result<T, cachet_primitives::DecodeError>,
    ) -> Result<T, DecodeError> {
        let mut r = Reader::new(buf);
        let value = f(&mut r).map_err(DecodeError::from_rlp)?;
        *buf = r.rest();
        Ok(value)
    }

    /// The payload of the next list item.
    pub(crate) fn list<'a>(
        buf: &mut &'a [u8],
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        step(buf, |r| r.list(what).map(|l| l.rest()))
    }

    /// The payload of the next string item.
    pub(crate) fn bytes<'a>(
        buf: &mut &'a [u8],
        what: &'static str,
    ) -> Result<&'a [u8], DecodeError> {
        step(buf, |r| r.bytes(what))
    }

    /// The next string item, which must be exactly `N` bytes.
    pub(crate) fn array<const N: usize>(
        buf: &mut &[u8],
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        step(buf, |r| r.array(what))
    }

    /// The next canonical unsigned integer of at most 8 bytes.
    pub(crate) fn u64(buf: &mut &[u8], what: &'static str) -> Result<u64, DecodeError> {
        step(buf, |r| r.u64(what))
    }

    /// The next canonical unsigned integer of at most 32 bytes.
    pub(crate) fn u256(buf: &mut &[u8], what: &'static str) -> Result<U256, DecodeError> {
        step(buf, |r| r.u256(what))
    }

    /// The next item, header included, as raw bytes (validated to be one well-formed item).
    pub(crate) fn raw<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], DecodeError> {
        step(buf, |r| r.raw(what))
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless `buf` is empty.
    pub(crate) fn finish(buf: &[u8], what: &'static str) -> Result<(), DecodeError> {
        Reader::new(buf).finish(what).map_err(DecodeError::from_rlp)
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
