//! Block and body RLP: `block = [header, transactions, ommers, …]`, `body = [transactions,
//! ommers, …]`, split and joined on the one bounded reader.

use crate::error::DecodeError;
use crate::rlp::{self, Reader};

/// RLP of an empty body: `[transactions = [], ommers = []]`.
pub const EMPTY_BODY_RLP: [u8; 3] = [0xc2, 0xc0, 0xc0];

/// Wraps `payload` (already-encoded items) in an RLP list header.
pub fn rlp_list(payload: &[u8]) -> Vec<u8> {
    rlp::list(payload)
}

/// The raw items (each with its RLP header) of one RLP list spanning all of `input`.
///
/// # Errors
/// [`DecodeError`] naming `what` when `input` is not exactly one canonical list of well-formed
/// items.
pub fn list_items<'a>(input: &'a [u8], what: &'static str) -> Result<Vec<&'a [u8]>, DecodeError> {
    let mut list = rlp::single_list(input, what)?;
    let mut items = Vec::new();
    while !list.is_empty() {
        items.push(list.raw(what)?);
    }
    Ok(items)
}

/// The first item of `input` whole (header included) and the bytes after it; the item must be a
/// list (a block in a concatenated export file).
///
/// # Errors
/// [`DecodeError`] naming `what` when the first item is truncated, not canonical or a string.
pub fn split_first_list<'a>(
    input: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), DecodeError> {
    let mut r = Reader::new(input);
    let raw = r.raw(what)?;
    if raw.first().is_some_and(|b| *b < 0xc0) {
        return Err(DecodeError::ExpectedList { what });
    }
    Ok((raw, r.rest()))
}

/// The RLP of a whole block `[header, txs, ommers, …]` from header RLP and body RLP
/// (`[txs, ommers, …]`).
///
/// # Errors
/// [`DecodeError`] when `body_rlp` is not one RLP list.
pub fn block_rlp(header_rlp: &[u8], body_rlp: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let items = list_items(body_rlp, "block body")?;
    let mut payload = header_rlp.to_vec();
    for item in items {
        payload.extend_from_slice(item);
    }
    Ok(rlp_list(&payload))
}

/// Splits a block RLP into (header RLP, body RLP).
///
/// # Errors
/// [`DecodeError`] when it is not `[header, txs, ommers, …]`.
pub fn split_block(block: &[u8]) -> Result<(Vec<u8>, Vec<u8>), DecodeError> {
    let items = list_items(block, "block")?;
    let mut it = items.into_iter();
    let header = it.next().ok_or(DecodeError::WrongItemCount {
        what: "block",
        expected: "at least 1 (the header)",
        found: 0,
    })?;
    let rest: Vec<u8> = it.flat_map(|i| i.iter().copied()).collect();
    Ok((header.to_vec(), rlp_list(&rest)))
}

/// True when body RLP is `[[], []]` (no transactions, no ommers).
pub fn body_is_empty(body_rlp: &[u8]) -> bool {
    list_items(body_rlp, "block body")
        .map(|items| items.iter().all(|i| *i == [0xc0]))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Header;

    #[test]
    fn round_trips_block_rlp() {
        let header = Header {
            extra_data: vec![0u8; 97].into(),
            gas_limit: 8_000_000,
            ..Header::default()
        };
        let hr = header.encode();
        let block = block_rlp(&hr, &EMPTY_BODY_RLP).unwrap();
        let (h2, b2) = split_block(&block).unwrap();
        assert_eq!(h2, hr);
        assert_eq!(b2, EMPTY_BODY_RLP);
        assert!(body_is_empty(&b2));
    }

    #[test]
    fn rejects_every_truncation_of_a_block() {
        let header = Header::default().encode();
        let block = block_rlp(&header, &EMPTY_BODY_RLP).unwrap();
        for n in 0..block.len() {
            assert!(split_block(&block[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn rejects_items_overrunning_their_list() {
        // A list of 2 bytes whose one item claims 3.
        assert!(list_items(&[0xc2, 0x83, 0x01], "t").is_err());
        // Trailing bytes after the list.
        assert!(list_items(&[0xc0, 0x00], "t").is_err());
    }

    #[test]
    fn splits_the_first_list_of_concatenated_blocks() {
        assert!(split_first_list(&[0xc2, 0x80], "b").is_err());
        assert!(split_first_list(&[0x82, 0x01, 0x02], "b").is_err());
        assert!(split_first_list(&[0xf9], "b").is_err());
        let (item, rest) = split_first_list(&[0xc1, 0x80, 0xc0], "b").unwrap();
        assert_eq!(item, &[0xc1, 0x80]);
        assert_eq!(rest, &[0xc0]);
    }
}
