//! The unsealed child header (the producers fill it: [`crate::chain::Chain::build_child`]),
//! the gas limit's move toward `--miner.gaslimit`, and the block/body RLP the node stores and sends (the codec is
//! `cachet_primitives::block`, on the one bounded RLP reader; re-exported here).
//!
//! [`empty_child`] is a valid empty block: the state root is carried over from the parent, the
//! transaction and receipt roots are the empty-trie root, the gas limit equals the parent's
//! (inside the ±1/1024 bound), and the base fee follows EIP-1559 from the parent when London
//! is active; building a body fills the rest.

use alloy_primitives::{B256, Bytes, U256, b256};
use cachet_seal::{EMPTY_OMMERS_HASH, Header};

use crate::error::{Error, Result};

/// Root of the empty Merkle-Patricia trie (empty transaction and receipt lists).
pub const EMPTY_ROOT_HASH: B256 =
    b256!("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");

pub use cachet_primitives::block::{EMPTY_BODY_RLP, body_is_empty, rlp_list};

/// Smallest gas limit geth accepts.
pub const MIN_GAS_LIMIT: u64 = 5000;

/// Largest gas limit geth accepts (`params.MaxGasLimit`, 2^63 - 1).
pub const MAX_GAS_LIMIT: u64 = 0x7fff_ffff_ffff_ffff;

/// Unix time in seconds (block timestamps of every engine but raft).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// How long from now until Unix second `timestamp` begins (zero when it has), to the
/// nanosecond: a slot waits for its timestamp, not for the whole second after it.
pub fn until(timestamp: u64) -> std::time::Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    std::time::Duration::from_secs(timestamp).saturating_sub(now)
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

/// The gas limit of a child of a block with gas limit `parent_limit` when the producer aims
/// at `target` (`--miner.gaslimit`): one step toward it of at most `parent_limit / 1024 - 1`,
/// never below [`MIN_GAS_LIMIT`] as a target (geth's `core.CalcGasLimit`).
pub fn calc_gas_limit(parent_limit: u64, target: u64) -> u64 {
    let delta = (parent_limit / 1024).saturating_sub(1);
    let target = target.max(MIN_GAS_LIMIT);
    if parent_limit < target {
        parent_limit.saturating_add(delta).min(target)
    } else if parent_limit > target {
        parent_limit.saturating_sub(delta).max(target)
    } else {
        parent_limit
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

/// How a block's gas limit may move from its parent's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GasLimitStep {
    /// Within ±parent/1024 (geth, Besu).
    Bounded,
    /// The first London block: within ±1/1024 of twice the parent's limit (EIP-1559: the limit
    /// becomes the gas target times the elasticity multiplier, 2).
    LondonFork,
    /// Any step: GoQuorum chains (`isQuorum`) before London. GoQuorum's clique and istanbul
    /// engines never bound it, and its miner jumps to its 700,000,000 floor at block 1
    /// (`params.DefaultMinGasLimit`, `core.CalcGasLimit`; decision 378).
    Free,
}

/// Checks the rules every block must meet against its parent (engine-independent): number,
/// parent hash, timestamp order, gas limit step ([`GasLimitStep`]; ≥ 5000) and gas used.
///
/// # Errors
/// [`Error::InvalidBlock`] naming the rule.
pub fn check_against_parent(
    header: &Header,
    parent: &Header,
    parent_hash: B256,
    step: GasLimitStep,
) -> Result<()> {
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
    let parent_limit = if step == GasLimitStep::LondonFork {
        parent.gas_limit.saturating_mul(2)
    } else {
        parent.gas_limit
    };
    let bound = parent_limit / 1024;
    if step != GasLimitStep::Free && header.gas_limit.abs_diff(parent_limit) >= bound.max(1) {
        return Err(bad(format!(
            "gas limit {} too far from parent's {parent_limit}",
            header.gas_limit
        )));
    }
    if header.gas_limit < MIN_GAS_LIMIT
        || header.gas_limit > MAX_GAS_LIMIT
        || header.gas_used > header.gas_limit
    {
        return Err(bad(format!(
            "gas limit {} / gas used {} out of bounds",
            header.gas_limit, header.gas_used
        )));
    }
    Ok(())
}

/// The RLP of a whole block `[header, txs, ommers]` from header RLP and body RLP
/// (`[txs, ommers]`).
///
/// # Errors
/// [`Error::Decode`] when `body_rlp` is not one RLP list.
pub fn block_rlp(header_rlp: &[u8], body_rlp: &[u8]) -> Result<Vec<u8>> {
    cachet_primitives::block::block_rlp(header_rlp, body_rlp).map_err(|e| Error::Decode {
        what: "block body",
        source: Box::new(e),
    })
}

/// Splits a block RLP into (header RLP, body RLP).
///
/// # Errors
/// [`Error::Decode`] when it is not `[header, txs, ommers, ...]`.
pub fn split_block(block: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    cachet_primitives::block::split_block(block).map_err(|e| Error::Decode {
        what: "block",
        source: Box::new(e),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn waits_for_the_start_of_the_timestamp_not_a_whole_second_more() {
        assert_eq!(until(0), std::time::Duration::ZERO);
        let next = now_secs() + 2;
        let wait = until(next);
        // Less than two whole seconds (the part of the current second already gone counts),
        // where whole-second arithmetic waited exactly two.
        assert!(wait > std::time::Duration::ZERO, "{wait:?}");
        assert!(wait < std::time::Duration::from_secs(2), "{wait:?}");
    }
    use super::*;

    #[test]
    fn moves_the_gas_limit_toward_the_target_as_geth() {
        // 30,000,000 / 1024 = 29296 (integer division), minus 1: steps of 29295 gas.
        assert_eq!(calc_gas_limit(30_000_000, 60_000_000), 30_029_295);
        assert_eq!(calc_gas_limit(30_000_000, 15_000_000), 29_970_705);
        // The last step lands on the target exactly.
        assert_eq!(calc_gas_limit(30_000_000, 30_000_100), 30_000_100);
        assert_eq!(calc_gas_limit(30_000_000, 29_999_999), 29_999_999);
        assert_eq!(calc_gas_limit(30_000_000, 30_000_000), 30_000_000);
        // A target below geth's minimum aims at 5000; 8000 / 1024 - 1 = 6.
        assert_eq!(calc_gas_limit(8_000, 0), 7_994);
        // Every step stays inside the import rule (strictly less than parent/1024 away).
        let mut limit = 8_000_000;
        for _ in 0..100 {
            let next = calc_gas_limit(limit, 30_000_000);
            assert!(next.abs_diff(limit) < limit / 1024, "{limit} -> {next}");
            limit = next;
        }
    }

    #[test]
    fn goquorum_chains_take_any_gas_limit_step_before_london_others_the_1024th_bound() {
        // GoQuorum's miner goes from a 30,000,000 genesis straight to its 700,000,000 floor at
        // block 1 (seen on a 4-validator GoQuorum QBFT network, docs/interop.md).
        let parent = Header {
            number: 0,
            timestamp: 1,
            gas_limit: 30_000_000,
            ..Header::default()
        };
        let hash = parent.hash_slow();
        let child = |gas_limit| Header {
            number: 1,
            timestamp: 2,
            parent_hash: hash,
            gas_limit,
            ..Header::default()
        };
        let jump = child(700_000_000);
        check_against_parent(&jump, &parent, hash, GasLimitStep::Free).unwrap();
        let err = check_against_parent(&jump, &parent, hash, GasLimitStep::Bounded).unwrap_err();
        assert!(
            err.to_string().contains("too far from parent's 30000000"),
            "{err}"
        );
        // 30,000,000 / 1024 = 29296: one less passes, that much is refused.
        check_against_parent(&child(30_029_295), &parent, hash, GasLimitStep::Bounded).unwrap();
        check_against_parent(&child(30_029_296), &parent, hash, GasLimitStep::Bounded).unwrap_err();
        // The floor and gas used ≤ gas limit hold on every chain.
        check_against_parent(&child(4_999), &parent, hash, GasLimitStep::Free).unwrap_err();
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
