//! Empty-block building and the block/body RLP the node stores and sends.
//!
//! Until Cachet executes transactions every block it seals is empty, but valid: the state root
//! is carried over from the parent, the transaction and receipt roots are the empty-trie root,
//! the gas limit equals the parent's (inside the ±1/1024 bound), and the base fee follows
//! EIP-1559 from the parent when London is active.

use alloy_primitives::{B256, Bytes, U256, b256};
use cachet_seal::{EMPTY_OMMERS_HASH, Header};

use crate::error::{Error, Result};

/// Root of the empty Merkle-Patricia trie (empty transaction and receipt lists).
pub const EMPTY_ROOT_HASH: B256 =
    b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

/// RLP of an empty body: `[transactions = [], ommers = []]`.
pub const EMPTY_BODY_RLP: [u8; 3] = [0xc2, 0xc0, 0xc0];

/// Smallest gas limit geth accepts.
pub const MIN_GAS_LIMIT: u64 = 5000;

/// Unix time in seconds (block timestamps of every engine but raft).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The EIP-1559 base fee of the block after `parent` (elasticity 2, change denominator 8).
/// `None` when London is not active at the child.
pub fn next_base_fee(
    parent: &Header,
    london_at_child: bool,
    london_at_parent: bool,
) -> Option<U256> {
    if !london_at_child {
        return None;
    }
    let initial = U256::from(cachet_genesis::INITIAL_BASE_FEE);
    let (Some(base), true) = (parent.base_fee_per_gas, london_at_parent) else {
        return Some(initial);
    };
    let target = parent.gas_limit / 2;
    if target == 0 || parent.gas_used == target {
        return Some(base);
    }
    let target_u = U256::from(target);
    if parent.gas_used > target {
        let delta = base * U256::from(parent.gas_used - target) / target_u / U256::from(8);
        Some(base + delta.max(U256::from(1)))
    } else {
        let delta = base * U256::from(target - parent.gas_used) / target_u / U256::from(8);
        Some(base.saturating_sub(delta))
    }
}

/// An unsealed empty child of `parent` (whose block hash, as its engine defines it, is
/// `parent_hash`): roots carried over or empty, gas limit unchanged, `extra_data` and
/// `difficulty` as given (the engine fills them).
pub fn empty_child(
    parent: &Header,
    parent_hash: B256,
    timestamp: u64,
    difficulty: U256,
    extra_data: Vec<u8>,
    base_fee: Option<U256>,
) -> Header {
    Header {
        parent_hash,
        ommers_hash: EMPTY_OMMERS_HASH,
        state_root: parent.state_root,
        transactions_root: EMPTY_ROOT_HASH,
        receipts_root: EMPTY_ROOT_HASH,
        difficulty,
        number: parent.number.saturating_add(1),
        gas_limit: parent.gas_limit.max(MIN_GAS_LIMIT),
        gas_used: 0,
        timestamp,
        extra_data: Bytes::from(extra_data),
        base_fee_per_gas: base_fee,
        ..Header::default()
    }
}

/// Checks the rules every block must meet against its parent (engine-independent): number,
/// parent hash, timestamp order, gas limit bound (±parent/1024, ≥ 5000) and gas used.
///
/// # Errors
/// [`Error::InvalidBlock`] naming the rule.
pub fn check_against_parent(header: &Header, parent: &Header, parent_hash: B256) -> Result<()> {
    let bad = |rule: String| Error::InvalidBlock {
        number: header.number,
        rule,
    };
    if header.parent_hash != parent_hash || header.number != parent.number.saturating_add(1) {
        return Err(bad(format!(
            "parent {} / number {} do not follow block {} ({parent_hash})",
            header.parent_hash, header.number, parent.number
        )));
    }
    if header.timestamp <= parent.timestamp {
        return Err(bad(format!(
            "timestamp {} not after parent's {}",
            header.timestamp, parent.timestamp
        )));
    }
    let bound = parent.gas_limit / 1024;
    if header.gas_limit.abs_diff(parent.gas_limit) >= bound.max(1) {
        return Err(bad(format!(
            "gas limit {} too far from parent's {}",
            header.gas_limit, parent.gas_limit
        )));
    }
    if header.gas_limit < MIN_GAS_LIMIT || header.gas_used > header.gas_limit {
        return Err(bad(format!(
            "gas limit {} / gas used {} out of bounds",
            header.gas_limit, header.gas_used
        )));
    }
    Ok(())
}

/// Wraps `payload` (already-encoded items) in an RLP list header.
pub fn rlp_list(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 9);
    alloy_rlp::Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// The RLP of a whole block `[header, txs, ommers]` from header RLP and body RLP
/// (`[txs, ommers]`).
///
/// # Errors
/// [`Error::Decode`] or [`Error::Malformed`] when `body_rlp` is not one RLP list.
pub fn block_rlp(header_rlp: &[u8], body_rlp: &[u8]) -> Result<Vec<u8>> {
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
/// [`Error::Decode`] or [`Error::Malformed`] when it is not `[header, txs, ommers, ...]`.
pub fn split_block(block: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let items = list_items(block, "block")?;
    let mut it = items.into_iter();
    let header = it.next().ok_or_else(|| malformed("block", "no header"))?;
    let rest: Vec<u8> = it.flat_map(|i| i.iter().copied()).collect();
    Ok((header.to_vec(), rlp_list(&rest)))
}

/// True when body RLP is `[[], []]` (no transactions, no ommers).
pub fn body_is_empty(body_rlp: &[u8]) -> bool {
    list_items(body_rlp, "block body")
        .map(|items| items.iter().all(|i| *i == [0xc0]))
        .unwrap_or(false)
}

fn malformed(what: &'static str, reason: &'static str) -> Error {
    Error::Malformed { what, reason }
}

fn rlp(what: &'static str) -> impl FnOnce(alloy_rlp::Error) -> Error {
    move |e| Error::Decode {
        what,
        source: Box::new(e),
    }
}

/// The raw items (each with its RLP header) of one RLP list spanning all of `input`.
fn list_items<'a>(input: &'a [u8], what: &'static str) -> Result<Vec<&'a [u8]>> {
    let mut buf = input;
    let h = alloy_rlp::Header::decode(&mut buf).map_err(rlp(what))?;
    if !h.list || h.payload_length != buf.len() {
        return Err(malformed(what, "not a single RLP list"));
    }
    let mut items = Vec::new();
    while !buf.is_empty() {
        let before = buf;
        let ih = alloy_rlp::Header::decode(&mut buf).map_err(rlp(what))?;
        let head_len = before.len() - buf.len();
        let total = head_len
            .checked_add(ih.payload_length)
            .filter(|t| *t <= before.len())
            .ok_or_else(|| malformed(what, "item overruns the list"))?;
        let (item, rest) = before.split_at(total);
        items.push(item);
        buf = rest;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_block_rlp() {
        let header = Header {
            extra_data: Bytes::from(vec![0u8; 97]),
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
    fn rejects_truncated_block() {
        let header = Header::default().encode();
        let block = block_rlp(&header, &EMPTY_BODY_RLP).unwrap();
        assert!(split_block(&block[..block.len() - 1]).is_err());
    }

    #[test]
    fn accepts_base_fee_decrease_on_empty_parent() {
        // EIP-1559: an empty parent lowers the base fee by 1/8.
        let parent = Header {
            gas_limit: 30_000_000,
            base_fee_per_gas: Some(U256::from(1_000_000_000u64)),
            ..Header::default()
        };
        assert_eq!(
            next_base_fee(&parent, true, true),
            Some(U256::from(875_000_000u64))
        );
    }
}
