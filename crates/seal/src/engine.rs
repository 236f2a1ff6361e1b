//! The engine names shared by the journal and the CLI.

use std::fmt;
use std::str::FromStr;

/// A sealing engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// Clique (EIP-225).
    Clique,
    /// Quorum IBFT ("istanbul") = Besu IBFT 1.0.
    Ibft,
    /// Besu IBFT 2.0.
    Ibft2,
    /// QBFT.
    Qbft,
    /// Quorum Raft block signature.
    Raft,
}

impl Engine {
    /// Every engine.
    pub const ALL: [Self; 5] = [
        Self::Clique,
        Self::Ibft,
        Self::Ibft2,
        Self::Qbft,
        Self::Raft,
    ];

    /// The engine's name as the CLI and the journal spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Clique => "clique",
            Self::Ibft => "ibft",
            Self::Ibft2 => "ibft2",
            Self::Qbft => "qbft",
            Self::Raft => "raft",
        }
    }

    /// True for the BFT engines, whose journal key includes the round.
    pub const fn has_rounds(self) -> bool {
        matches!(self, Self::Ibft | Self::Ibft2 | Self::Qbft)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                format!("unknown engine {s:?}: expected clique, ibft, ibft2, qbft or raft")
            })
    }
}
