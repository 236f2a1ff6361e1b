//! A strict RLP reader (bounded cursor, canonical forms only) and a small encoder.
//!
//! The reader never indexes: every split is checked and returns [`DecodeError`] naming the value.

use alloy_primitives::U256;

use crate::error::DecodeError;

/// A cursor over a sequence of RLP items (a list payload or a whole input).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

/// One item: a string's bytes or a list's payload.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    Str(&'a [u8]),
    List(&'a [u8]),
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Counts the remaining items (validating only their headers).
    pub(crate) fn count(&self, what: &'static str) -> Result<usize, DecodeError> {
        let mut r = *self;
        let mut n = 0;
        while !r.is_empty() {
            r.item(what)?;
            n += 1;
        }
        Ok(n)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let (head, rest) = self
            .buf
            .split_at_checked(n)
            .ok_or(DecodeError::Truncated { what })?;
        self.buf = rest;
        Ok(head)
    }

    fn long_len(&mut self, len_of_len: usize, what: &'static str) -> Result<usize, DecodeError> {
        let bytes = self.take(len_of_len, what)?;
        if bytes.first() == Some(&0) {
            return Err(DecodeError::NonCanonical { what });
        }
        let mut len: usize = 0;
        for b in bytes {
            len = len
                .checked_mul(256)
                .and_then(|l| l.checked_add(usize::from(*b)))
                .ok_or(DecodeError::Truncated { what })?;
        }
        if len < 56 {
            return Err(DecodeError::NonCanonical { what });
        }
        Ok(len)
    }

    /// Reads the next item.
    pub(crate) fn item(&mut self, what: &'static str) -> Result<Item<'a>, DecodeError> {
        let (&b, _) = self
            .buf
            .split_first()
            .ok_or(DecodeError::Truncated { what })?;
        match b {
            0x00..=0x7f => Ok(Item::Str(self.take(1, what)?)),
            0x80..=0xb7 => {
                self.take(1, what)?;
                let s = self.take(usize::from(b - 0x80), what)?;
                if let [single] = s
                    && *single < 0x80
                {
                    return Err(DecodeError::NonCanonical { what });
                }
                Ok(Item::Str(s))
            }
            0xb8..=0xbf => {
                self.take(1, what)?;
                let len = self.long_len(usize::from(b - 0xb7), what)?;
                Ok(Item::Str(self.take(len, what)?))
            }
            0xc0..=0xf7 => {
                self.take(1, what)?;
                Ok(Item::List(self.take(usize::from(b - 0xc0), what)?))
            }
            0xf8..=0xff => {
                self.take(1, what)?;
                let len = self.long_len(usize::from(b - 0xf7), what)?;
                Ok(Item::List(self.take(len, what)?))
            }
        }
    }

    /// Reads a string item.
    pub(crate) fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.item(what)? {
            Item::Str(s) => Ok(s),
            Item::List(_) => Err(DecodeError::ExpectedString { what }),
        }
    }

    /// Reads a list item and returns a reader over its payload.
    pub(crate) fn list(&mut self, what: &'static str) -> Result<Self, DecodeError> {
        match self.item(what)? {
            Item::List(p) => Ok(Self::new(p)),
            Item::Str(_) => Err(DecodeError::ExpectedList { what }),
        }
    }

    /// Reads a string of exactly `N` bytes.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(what)?;
        <[u8; N]>::try_from(s).map_err(|_| DecodeError::WrongLength {
            what,
            expected: N,
            found: s.len(),
        })
    }

    /// Reads a canonical unsigned integer of at most 8 bytes.
    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let s = self.uint_bytes(what, 8)?;
        Ok(s.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Reads a canonical unsigned integer of at most 32 bytes.
    pub(crate) fn u256(&mut self, what: &'static str) -> Result<U256, DecodeError> {
        let s = self.uint_bytes(what, 32)?;
        U256::try_from_be_slice(s).ok_or(DecodeError::IntegerOverflow {
            what,
            max_bytes: 32,
        })
    }

    fn uint_bytes(
        &mut self,
        what: &'static str,
        max_bytes: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let s = self.bytes(what)?;
        if s.first() == Some(&0) {
            return Err(DecodeError::NonCanonical { what });
        }
        if s.len() > max_bytes {
            return Err(DecodeError::IntegerOverflow { what, max_bytes });
        }
        Ok(s)
    }

    /// Fails if any bytes remain.
    pub(crate) fn finish(self, what: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                extra: self.buf.len(),
            })
        }
    }
}

/// Decodes exactly one list item spanning all of `input` and returns its payload reader.
pub(crate) fn single_list<'a>(
    input: &'a [u8],
    what: &'static str,
) -> Result<Reader<'a>, DecodeError> {
    let mut outer = Reader::new(input);
    let list = outer.list(what)?;
    outer.finish(what)?;
    Ok(list)
}

fn put_len(out: &mut Vec<u8>, len: usize, short: u8) {
    if len < 56 {
        // len < 56 fits in the low bits of the prefix byte.
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|b| **b == 0).count();
        let tail = be.get(skip..).unwrap_or_default();
        out.push(short + 55 + tail.len() as u8);
        out.extend_from_slice(tail);
    }
}

/// Appends `bytes` as an RLP string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if let [b] = bytes
        && *b < 0x80
    {
        out.push(*b);
        return;
    }
    put_len(out, bytes.len(), 0x80);
    out.extend_from_slice(bytes);
}

/// Appends an unsigned integer in minimal big-endian form.
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    let be = v.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    put_bytes(out, be.get(skip..).unwrap_or_default());
}

/// Appends a 256-bit unsigned integer in minimal big-endian form.
pub(crate) fn put_u256(out: &mut Vec<u8>, v: &U256) {
    let be = v.to_be_bytes::<32>();
    let skip = be.iter().take_while(|b| **b == 0).count();
    put_bytes(out, be.get(skip..).unwrap_or_default());
}

/// Appends a list with an already-encoded payload.
pub(crate) fn put_list(out: &mut Vec<u8>, payload: &[u8]) {
    put_len(out, payload.len(), 0xc0);
    out.extend_from_slice(payload);
}

/// Encodes a list payload as a complete list.
pub(crate) fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    put_list(&mut out, payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_canonical_forms() {
        for bad in [
            &[0x81, 0x05][..],
            &[0xb8, 0x01, 0x00],
            &[0xf8, 0x02, 0x80, 0x80],
            &[0xb9, 0x00, 0x40],
        ] {
            assert!(Reader::new(bad).item("t").is_err(), "{bad:02x?}");
        }
        assert_eq!(
            Reader::new(&[0x82, 0x00, 0x01]).u64("t"),
            Err(DecodeError::NonCanonical { what: "t" })
        );
        assert_eq!(
            Reader::new(&[0x00]).u64("t"),
            Err(DecodeError::NonCanonical { what: "t" })
        );
    }

    #[test]
    fn rejects_every_truncation() {
        let mut v = Vec::new();
        put_bytes(&mut v, &[7u8; 100]);
        let l = list(&v);
        for n in 0..l.len() {
            assert!(single_list(&l[..n], "t").is_err());
        }
        assert!(single_list(&l, "t").is_ok());
    }

    #[test]
    fn round_trips_integers() {
        for v in [0u64, 1, 0x7f, 0x80, 0xff, 0x100, u64::MAX] {
            let mut out = Vec::new();
            put_u64(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.u64("t").unwrap(), v);
            r.finish("t").unwrap();
        }
    }
}
