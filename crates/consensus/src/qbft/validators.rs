//! Validator-set arithmetic: quorum and proposer selection (`bft-wire.md` §5, §6).

use alloy_primitives::Address;

/// Proposer policy from the genesis `policy` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProposerPolicy {
    /// 0: the proposer moves one place every block.
    #[default]
    RoundRobin,
    /// 1: the last proposer proposes again at round 0.
    Sticky,
}

/// Commit/prepare/round-change quorum: `ceil(2N/3)` (Besu always; `GoQuorum` from
/// `ceil2Nby3Block`, 0 by default for `qbft` genesis configs).
pub const fn quorum(n: usize) -> usize {
    (2 * n).div_ceil(3)
}

/// `F = ceil(N/3) - 1`, the faults tolerated.
pub const fn f(n: usize) -> usize {
    n.div_ceil(3).saturating_sub(1)
}

/// The proposer of `round` after a block proposed by `last_proposer`, from `validators` sorted
/// by address bytes (QBFT's order). `GoQuorum` `CalcProposer`: the seed is `round` when the last
/// proposer is the zero address (genesis), else its index (0 when it is no longer a validator)
/// plus `round`, plus one for round-robin.
pub fn proposer(
    validators: &[Address],
    last_proposer: Address,
    round: u32,
    policy: ProposerPolicy,
) -> Option<Address> {
    let n = validators.len();
    if n == 0 {
        return None;
    }
    let round = round as usize;
    let seed = if last_proposer.is_zero() {
        round
    } else {
        let index = validators
            .iter()
            .position(|v| *v == last_proposer)
            .unwrap_or(0);
        match policy {
            ProposerPolicy::RoundRobin => index + round + 1,
            ProposerPolicy::Sticky => index + round,
        }
    };
    validators.get(seed % n).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_matches_the_table_of_bft_wire_section_5() {
        // (N, F, ceil(2N/3)) from docs/dev/bft-wire.md §5.
        for (n, fv, q) in [
            (1, 0, 1),
            (4, 1, 3),
            (5, 1, 4),
            (6, 1, 4),
            (7, 2, 5),
            (8, 2, 6),
            (10, 3, 7),
        ] {
            assert_eq!((f(n), quorum(n)), (fv, q), "N = {n}");
        }
    }
}
