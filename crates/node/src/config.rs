//! [`NodeConfig`]: what `cachet node` passes in (geth flag names where geth has one).

use std::net::SocketAddr;
use std::path::PathBuf;

use cachet_devp2p::net::Enode;
use cachet_kms::KmsConfig;

/// Node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `--datadir`: holds `keys.cachet`, `chain.redb`, `seal-journal`.
    pub datadir: PathBuf,
    /// `--genesis`: geth-format genesis file.
    pub genesis: PathBuf,
    /// `--networkid` (default: the chain id).
    pub network_id: Option<u64>,
    /// RLPx listen address (`--addr`/`--port`).
    pub p2p_listen: SocketAddr,
    /// `--bootnodes`.
    pub bootnodes: Vec<Enode>,
    /// `--maxpeers`.
    pub max_peers: usize,
    /// Discovery (`--discovery.port`, `--discv5.port`); `None` = `--nodiscover`.
    pub discovery: Option<crate::discovery::DiscoveryConfig>,
    /// JSON-RPC listen address (`--http.addr`/`--http.port`); `None` disables it.
    pub http: Option<SocketAddr>,
    /// `--mine`: seal blocks when the sealing key is an authorised signer.
    pub mine: bool,
    /// Master-key access.
    pub kms: KmsConfig,
    /// The master-key lease (`--kms-recheck`, `--kms-grace`); `None` = checked only at start.
    pub lease: Option<cachet_keyprovider::LeaseConfig>,
}

/// Files and lines the node writes for scripts (the devnet reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Our enode URL.
    pub enode: String,
    /// JSON-RPC URL, when enabled.
    pub rpc_url: Option<String>,
    /// The sealing address.
    pub signer: alloy_primitives::Address,
    /// The genesis hash.
    pub genesis_hash: alloy_primitives::B256,
    /// Our discv5 ENR when discv5 runs.
    pub enr: Option<String>,
}
