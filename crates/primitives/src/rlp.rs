//! The one RLP reader for untrusted bytes (a bounded cursor, canonical forms only) and a small
//! encoder.
//!
//! Every decoder of peer, file or operator bytes in Cachet reads RLP through [`Reader`]: headers
//! and extraData, block bodies, eth and p2p messages, discv4 packets, the fork id. The reader
//! never indexes and never allocates: every split is checked and returns a [`DecodeError`] that
//! names the value being decoded, and an item can never claim more bytes than the input holds.

use alloy_primitives::U256;

use crate::error::DecodeError;

/// A cursor over a sequence of RLP items (a list payload or a whole input).
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

/// One item: a string's bytes or a list's payload.
#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    /// A string's bytes.
    Str(&'a [u8]),
    /// A list's payload (its items, encoded).
    List(&'a [u8]),
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, a sequence of items.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Whether every item was read.
    pub const fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes.
    pub const fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Reads the next item and returns it whole, its RLP header included (validated to be one
    /// well-formed item).
    ///
    /// # Errors
    /// [`DecodeError`] when the item is truncated or not canonical.
    pub fn raw(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let start = self.buf;
        self.item(what)?;
        let used = start.len().saturating_sub(self.buf.len());
        start.get(..used).ok_or(DecodeError::Truncated { what })
    }

    /// Reads the next item if it is a canonical unsigned integer of at most 8 bytes; otherwise
    /// reads nothing. For optional trailing fields that EIP-8 lets a peer replace or extend.
    pub fn optional_u64(&mut self) -> Option<u64> {
        let mut probe = *self;
        let value = probe.u64("optional").ok()?;
        *self = probe;
        Some(value)
    }

    /// Counts the remaining items (validating only their headers).
    ///
    /// # Errors
    /// [`DecodeError`] when an item header is truncated or not canonical.
    pub fn count(&self, what: &'static str) -> Result<usize, DecodeError> {
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
    ///
    /// # Errors
    /// [`DecodeError`] when the item is truncated or not canonical.
    pub fn item(&mut self, what: &'static str) -> Result<Item<'a>, DecodeError> {
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
    ///
    /// # Errors
    /// [`DecodeError`] when the item is not a canonical string.
    pub fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], DecodeError> {
        match self.item(what)? {
            Item::Str(s) => Ok(s),
            Item::List(_) => Err(DecodeError::ExpectedString { what }),
        }
    }

    /// Reads a list item and returns a reader over its payload.
    ///
    /// # Errors
    /// [`DecodeError`] when the item is not a canonical list.
    pub fn list(&mut self, what: &'static str) -> Result<Self, DecodeError> {
        match self.item(what)? {
            Item::List(p) => Ok(Self::new(p)),
            Item::Str(_) => Err(DecodeError::ExpectedList { what }),
        }
    }

    /// Reads a string of exactly `N` bytes.
    ///
    /// # Errors
    /// [`DecodeError::WrongLength`] when the string has another length.
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.bytes(what)?;
        <[u8; N]>::try_from(s).map_err(|_| DecodeError::WrongLength {
            what,
            expected: N,
            found: s.len(),
        })
    }

    /// Reads a canonical unsigned integer of at most 8 bytes.
    ///
    /// # Errors
    /// [`DecodeError`] when the item is not a canonical integer that fits.
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let s = self.uint_bytes(what, 8)?;
        Ok(s.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Reads a canonical unsigned integer of at most 2 bytes (a port).
    ///
    /// # Errors
    /// [`DecodeError`] when the item is not a canonical integer that fits.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let s = self.uint_bytes(what, 2)?;
        Ok(s.iter().fold(0u16, |acc, b| (acc << 8) | u16::from(*b)))
    }

    /// Reads a canonical unsigned integer of at most 32 bytes.
    ///
    /// # Errors
    /// [`DecodeError`] when the item is not a canonical integer that fits.
    pub fn u256(&mut self, what: &'static str) -> Result<U256, DecodeError> {
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
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`] naming `what`.
    pub fn finish(self, what: &'static str) -> Result<(), DecodeError> {
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
///
/// # Errors
/// [`DecodeError`] when `input` is not exactly one canonical list.
pub fn single_list<'a>(input: &'a [u8], what: &'static str) -> Result<Reader<'a>, DecodeError> {
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
pub fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
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
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    let be = v.to_be_bytes();
    let skip = be.iter().take_while(|b| **b == 0).count();
    put_bytes(out, be.get(skip..).unwrap_or_default());
}

/// Appends a 256-bit unsigned integer in minimal big-endian form.
pub fn put_u256(out: &mut Vec<u8>, v: &U256) {
    let be = v.to_be_bytes::<32>();
    let skip = be.iter().take_while(|b| **b == 0).count();
    put_bytes(out, be.get(skip..).unwrap_or_default());
}

/// Appends a list with an already-encoded payload.
pub fn put_list(out: &mut Vec<u8>, payload: &[u8]) {
    put_len(out, payload.len(), 0xc0);
    out.extend_from_slice(payload);
}

/// Encodes a list payload as a complete list.
pub fn list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    put_list(&mut out, payload);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trips_any_string_and_list(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut s = Vec::new();
            put_bytes(&mut s, &bytes);
            prop_assert_eq!(Reader::new(&s).bytes("t").unwrap(), &bytes[..]);
            let l = list(&s);
            let mut r = single_list(&l, "t").unwrap();
            prop_assert_eq!(r.bytes("t").unwrap(), &bytes[..]);
            prop_assert!(r.finish("t").is_ok());
        }

        #[test]
        fn rejects_or_reads_any_bytes_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&bytes);
            while r.item("t").is_ok() && !r.is_empty() {}
        }
    }

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
    fn accepts_raw_items_of_every_header_form() {
        for item in [
            &[0x05u8][..],
            &[0x80],
            &[0x81, 0x80],
            &[0xc0],
            &[0xc2, 0x01, 0x02],
        ] {
            let input = [item, &[0xaa][..]].concat();
            let mut r = Reader::new(&input);
            assert_eq!(r.raw("t").unwrap(), item);
            assert_eq!(r.rest(), &[0xaa]);
        }
        assert!(Reader::new(&[0xc3, 0x01]).raw("t").is_err());
    }

    #[test]
    fn accepts_ports_at_the_cap_and_rejects_one_byte_more() {
        let mut out = Vec::new();
        put_u64(&mut out, u64::from(u16::MAX));
        assert_eq!(Reader::new(&out).u16("port"), Ok(u16::MAX));
        let mut out = Vec::new();
        put_u64(&mut out, 0x1_0000);
        assert_eq!(
            Reader::new(&out).u16("port"),
            Err(DecodeError::IntegerOverflow {
                what: "port",
                max_bytes: 2
            })
        );
    }

    #[test]
    fn reads_an_optional_integer_only_when_there_is_one() {
        let mut r = Reader::new(&[0x07, 0xc0]);
        assert_eq!(r.optional_u64(), Some(7));
        assert_eq!(r.optional_u64(), None);
        assert_eq!(r.rest(), &[0xc0]);
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
