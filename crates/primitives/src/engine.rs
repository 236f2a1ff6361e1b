//! [`Engine`]: the consensus engine a chain runs, named once for the whole workspace.
//!
//! Every crate that needs to know the engine uses this one type: the genesis parser selects it
//! (with its per-engine parameters beside it), the seal journal keys on it, the CLI parses it
//! and the node picks its per-engine rules and block producer from it.

use std::fmt;
use std::str::FromStr;

/// A consensus engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// Clique proof of authority (EIP-225), sealed with the sealing key.
    Clique,
    /// Quorum IBFT (`istanbul`) = Besu IBFT 1.0.
    Ibft,
    /// Besu IBFT 2.0 (`ibft2`).
    Ibft2,
    /// QBFT (Besu and `GoQuorum`).
    Qbft,
    /// Quorum Raft (the leader's block signature, quorum PR 395).
    Raft,
    /// An `ethash` chain: proof of work, which Cachet neither seals nor verifies (a node on it
    /// stays at genesis and still runs discovery, eth Status and RPC).
    Ethash,
}

impl Engine {
    /// The engines Cachet seals (every engine but [`Self::Ethash`]).
    pub const SEALING: [Self; 5] = [
        Self::Clique,
        Self::Ibft,
        Self::Ibft2,
        Self::Qbft,
        Self::Raft,
    ];

    /// The engine's name as the CLI, the journal and `admin_nodeInfo` spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Clique => "clique",
            Self::Ibft => "ibft",
            Self::Ibft2 => "ibft2",
            Self::Qbft => "qbft",
            Self::Raft => "raft",
            Self::Ethash => "ethash",
        }
    }

    /// True for the BFT engines (IBFT, IBFT 2.0, QBFT), whose seals carry a round (so the
    /// journal key includes it) and committed seals from a fixed validator set.
    pub const fn has_rounds(self) -> bool {
        matches!(self, Self::Ibft | Self::Ibft2 | Self::Qbft)
    }

    /// True when Cachet seals blocks of this engine.
    pub const fn seals(self) -> bool {
        !matches!(self, Self::Ethash)
    }

    /// True when the node key seals (IBFT, QBFT and raft, as `GoQuorum` and Besu do); clique
    /// seals with the sealing key (geth's separate signer account).
    pub const fn seals_with_node_key(self) -> bool {
        matches!(self, Self::Ibft | Self::Ibft2 | Self::Qbft | Self::Raft)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Engine::SEALING`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEngine {
    name: String,
}

impl fmt::Display for UnknownEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown engine {:?}: expected clique, ibft, ibft2, qbft or raft",
            self.name
        )
    }
}

impl std::error::Error for UnknownEngine {}

impl FromStr for Engine {
    type Err = UnknownEngine;

    /// Parses a sealing engine's name (`ethash` is not one: it comes only from a genesis).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::SEALING
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEngine { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_sealing_name() {
        for engine in Engine::SEALING {
            assert_eq!(engine.name().parse::<Engine>(), Ok(engine));
        }
        assert_eq!(Engine::Ibft2.to_string(), "ibft2");
    }

    #[test]
    fn rejects_ethash_and_unknown_names() {
        let err = "ethash".parse::<Engine>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown engine \"ethash\": expected clique, ibft, ibft2, qbft or raft"
        );
        assert!("IBFT".parse::<Engine>().is_err());
    }

    #[test]
    fn accepts_rounds_and_keys_per_engine() {
        let bft: Vec<Engine> = Engine::SEALING
            .into_iter()
            .filter(|e| e.has_rounds())
            .collect();
        assert_eq!(bft, vec![Engine::Ibft, Engine::Ibft2, Engine::Qbft]);
        assert!(!Engine::Clique.seals_with_node_key());
        assert!(Engine::Raft.seals_with_node_key());
        assert!(!Engine::Ethash.seals());
    }
}
