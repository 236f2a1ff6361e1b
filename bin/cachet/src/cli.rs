//! The command line. Names here are a contract: docs and tests rely on them.

use clap::{Parser, Subcommand};

use crate::cmd;

/// Cachet: an Ethereum node for permissioned networks whose keys are safe.
#[derive(Debug, Parser)]
#[command(name = "cachet", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Log filter (tracing `EnvFilter` syntax, e.g. `info,cachet=debug`); also `RUST_LOG`.
    #[arg(long, global = true, value_name = "FILTER")]
    pub(crate) log: Option<String>,
    /// Log line format: `text` (for people) or `json` (one object per line, for collectors).
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Every `cachet` command.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or manage master keys.
    #[command(subcommand)]
    MasterKey(cmd::master_key::MasterKeyCommand),
    /// Create signing keys that never leave an HSM.
    #[command(subcommand)]
    SigningKey(cmd::signing_key::SigningKeyCommand),
    /// Create a node's key bundle (generate or import its keys) under a master key.
    Init(cmd::keys::InitArgs),
    /// Print a node's public identities from its bundle header (no master-key call).
    Inspect(cmd::keys::InspectArgs),
    /// Decrypt a node's bundle to check it (one master-key call).
    Unlock(cmd::keys::UnlockArgs),
    /// Change a bundle's master keys (replace, add, remove) or upgrade it to format v2; the
    /// node's keys and identity do not change.
    Rotate(cmd::keys::RotateArgs),
    /// Erase a node's key bundle.
    Destroy(cmd::keys::DestroyArgs),
    /// Audit log commands.
    #[command(subcommand)]
    Audit(cmd::keys::AuditCommand),
    /// Print a genesis file's chain id, engine, state root, genesis hash and EIP-2124 fork id.
    Genesis(cmd::genesis::GenesisArgs),
    /// Recover, verify and produce block seals (clique, ibft, ibft2, qbft, raft).
    #[command(subcommand)]
    Seal(cmd::seal::SealCommand),
    /// Run the devp2p stack alone on the node's unlocked key (connectivity checks).
    P2p(cmd::p2p::P2pArgs),
    /// Run a node: unlock its keys, follow and seal the chain, serve JSON-RPC.
    Node(Box<cmd::node::NodeArgs>),
    /// Import blocks from RLP files into a stopped node's chain, verifying each.
    Import(cmd::import::ImportArgs),
    /// Start a local devnet (master key, bundles, genesis, N node processes) until Ctrl-C.
    Devnet(cmd::devnet::DevnetArgs),
    /// Unlock the keys and run another client with them on fds 3, 4, … (never disk, argv or
    /// env); stop it when the master key is revoked.
    Exec(cmd::exec::ExecArgs),
    /// The process `cachet exec` starts: sets its parent-death signal, then becomes the client.
    #[command(hide = true)]
    ExecChild(cmd::exec::ExecChildArgs),
}

impl Command {
    /// True for the commands that run a node (they log progress at info by default).
    pub(crate) fn runs_a_node(&self) -> bool {
        matches!(
            self,
            Self::P2p(_) | Self::Node(_) | Self::Devnet(_) | Self::Exec(_)
        )
    }

    /// True for the commands that hold plaintext key material (they decrypt or create keys):
    /// the process is hardened before their first master-key call.
    pub(crate) fn handles_keys(&self) -> bool {
        match self {
            Self::MasterKey(_)
            | Self::SigningKey(_)
            | Self::Init(_)
            | Self::Unlock(_)
            | Self::Rotate(_)
            | Self::P2p(_)
            | Self::Node(_)
            | Self::Devnet(_)
            | Self::Exec(_) => true,
            Self::Seal(c) => c.signs(),
            Self::Inspect(_)
            | Self::Destroy(_)
            | Self::Audit(_)
            | Self::Genesis(_)
            | Self::Import(_)
            | Self::ExecChild(_) => false,
        }
    }
}
