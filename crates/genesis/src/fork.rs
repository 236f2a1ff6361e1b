//! The hard forks a genesis config can schedule, by block number or by timestamp.

/// A scheduled protocol upgrade, named as in geth's (and Quorum's) `ChainConfig`.
///
/// Every variant takes part in the EIP-2124 fork id when it is scheduled after genesis, except
/// [`Fork::Qip714`], which Quorum leaves out of its fork id (`core/forkid/forkid.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fork {
    /// Homestead (`homesteadBlock`).
    Homestead,
    /// The DAO fork (`daoForkBlock`).
    DaoFork,
    /// EIP-150, Tangerine Whistle (`eip150Block`).
    Eip150,
    /// EIP-155, Spurious Dragon replay protection (`eip155Block`).
    Eip155,
    /// EIP-158, Spurious Dragon state clearing (`eip158Block`).
    Eip158,
    /// Byzantium (`byzantiumBlock`).
    Byzantium,
    /// Constantinople (`constantinopleBlock`).
    Constantinople,
    /// Petersburg (`petersburgBlock`).
    Petersburg,
    /// Istanbul (`istanbulBlock`).
    Istanbul,
    /// Muir Glacier (`muirGlacierBlock`).
    MuirGlacier,
    /// Berlin (`berlinBlock`).
    Berlin,
    /// London, EIP-1559 base fee (`londonBlock`).
    London,
    /// Arrow Glacier (`arrowGlacierBlock`).
    ArrowGlacier,
    /// Gray Glacier (`grayGlacierBlock`).
    GrayGlacier,
    /// The merge netsplit block (`mergeNetsplitBlock`).
    MergeNetsplit,
    /// Quorum: permissioning (`qip714Block`); not part of the fork id.
    Qip714,
    /// Quorum: max code size change (`maxCodeSizeChangeBlock`).
    MaxCodeSizeChange,
    /// Quorum: privacy enhancements (`privacyEnhancementsBlock`).
    PrivacyEnhancements,
    /// Quorum: privacy precompile (`privacyPrecompileBlock`).
    PrivacyPrecompile,
    /// Quorum: gas price enabled (`enableGasPriceBlock`).
    EnableGasPrice,
    /// Shanghai (`shanghaiTime`).
    Shanghai,
    /// Cancun (`cancunTime`).
    Cancun,
    /// Prague (`pragueTime`).
    Prague,
    /// Osaka (`osakaTime`).
    Osaka,
}

/// When a fork activates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForkCondition {
    /// At this block number.
    Block(u64),
    /// At the first block whose timestamp is at least this (Unix seconds).
    Timestamp(u64),
}

impl Fork {
    /// Every fork, in the order geth's `ChainConfig` declares them (block forks, then time).
    pub const ALL: [Self; 24] = [
        Self::Homestead,
        Self::DaoFork,
        Self::Eip150,
        Self::Eip155,
        Self::Eip158,
        Self::Byzantium,
        Self::Constantinople,
        Self::Petersburg,
        Self::Istanbul,
        Self::MuirGlacier,
        Self::Berlin,
        Self::London,
        Self::ArrowGlacier,
        Self::GrayGlacier,
        Self::MergeNetsplit,
        Self::Qip714,
        Self::MaxCodeSizeChange,
        Self::PrivacyEnhancements,
        Self::PrivacyPrecompile,
        Self::EnableGasPrice,
        Self::Shanghai,
        Self::Cancun,
        Self::Prague,
        Self::Osaka,
    ];

    /// The key in `genesis.json`'s `config`.
    pub const fn json_key(self) -> &'static str {
        match self {
            Self::Homestead => "homesteadBlock",
            Self::DaoFork => "daoForkBlock",
            Self::Eip150 => "eip150Block",
            Self::Eip155 => "eip155Block",
            Self::Eip158 => "eip158Block",
            Self::Byzantium => "byzantiumBlock",
            Self::Constantinople => "constantinopleBlock",
            Self::Petersburg => "petersburgBlock",
            Self::Istanbul => "istanbulBlock",
            Self::MuirGlacier => "muirGlacierBlock",
            Self::Berlin => "berlinBlock",
            Self::London => "londonBlock",
            Self::ArrowGlacier => "arrowGlacierBlock",
            Self::GrayGlacier => "grayGlacierBlock",
            Self::MergeNetsplit => "mergeNetsplitBlock",
            Self::Qip714 => "qip714Block",
            Self::MaxCodeSizeChange => "maxCodeSizeChangeBlock",
            Self::PrivacyEnhancements => "privacyEnhancementsBlock",
            Self::PrivacyPrecompile => "privacyPrecompileBlock",
            Self::EnableGasPrice => "enableGasPriceBlock",
            Self::Shanghai => "shanghaiTime",
            Self::Cancun => "cancunTime",
            Self::Prague => "pragueTime",
            Self::Osaka => "osakaTime",
        }
    }

    /// Whether the fork is scheduled by timestamp (`…Time`) rather than block number.
    pub const fn is_timestamp_based(self) -> bool {
        matches!(
            self,
            Self::Shanghai | Self::Cancun | Self::Prague | Self::Osaka
        )
    }

    /// Whether the fork counts in the EIP-2124 fork id.
    pub const fn in_fork_id(self) -> bool {
        !matches!(self, Self::Qip714)
    }
}
