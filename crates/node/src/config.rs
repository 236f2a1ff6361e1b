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
    /// JSON-RPC WebSocket listen address (`--ws`, `--ws.addr`/`--ws.port`); `None` disables it.
    pub ws: Option<SocketAddr>,
    /// Who may call what on JSON-RPC (`--http.api`, `--wallet.rpc`, JWT, TLS, vhosts, CORS,
    /// limits; `docs/rpc-security.md`). Its audit log defaults to the datadir's.
    pub rpc_access: crate::rpc::access::AccessConfig,
    /// `--mine`: seal blocks when the sealing key is an authorised signer.
    pub mine: bool,
    /// `--doppelganger-periods`: with `mine`, block periods to listen for blocks signed by our
    /// key before the first seal; 0 turns the doppelganger check off (unsafe).
    pub doppelganger_periods: u32,
    /// `--miner.extradata`: the clique vanity (at most 32 bytes; zero-padded).
    pub extra_data: Vec<u8>,
    /// `--miner.gaslimit`: the gas limit sealed blocks move toward (geth's
    /// `core.CalcGasLimit`); `None` keeps the parent's.
    pub miner_gas_limit: Option<u64>,
    /// The transaction pool (`--txpool.pricelimit` sets its minimum gas price; geth's
    /// limits otherwise).
    pub txpool: crate::PoolConfig,
    /// `--rpc.gascap`: gas cap of `eth_call` / `eth_estimateGas` (0: none).
    pub rpc_gas_cap: u64,
    /// `--rpc.evmtimeout`: wall-clock limit of one `eth_call` / `eth_estimateGas` (zero: none).
    pub rpc_evm_timeout: std::time::Duration,
    /// `--metrics` (`--metrics.addr`/`--metrics.port`): Prometheus text at `/metrics`; `None`
    /// serves no metrics.
    pub metrics: Option<SocketAddr>,
    /// Master-key access.
    pub kms: KmsConfig,
    /// The master-key lease (`--kms-recheck`, `--kms-grace`); `None` = checked only at start.
    pub lease: Option<cachet_keyprovider::LeaseConfig>,
    /// Quorum Raft options (GoQuorum's flag names).
    pub raft: RaftConfig,
    /// `--skip-pow`: accept ethash blocks without checking their proof of work (test chains).
    pub skip_pow: bool,
}

/// Quorum Raft options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// `--raft`: the genesis is a raft network even without `"raft": true` in its config.
    pub flag: bool,
    /// `--raft-id`: this node's raft id; with `--mine` it mints as that id.
    pub raft_id: Option<u16>,
    /// `--raftblocktime`: milliseconds between minted blocks.
    pub block_time_ms: u64,
    /// `--raft-members`: raft id → enode of the other minters whose blocks are accepted
    /// (`raft_cluster` JSON or `{"<raft id>": "<enode>"}`).
    pub members: Option<PathBuf>,
    /// `--raft-join-existing`: join a running cluster as this raft id (the one
    /// `raft_addPeer`/`raft_addLearner` returned); `<datadir>/static-nodes.json` lists members
    /// to dial.
    pub join_existing: Option<u16>,
}

impl Default for RaftConfig {
    fn default() -> Self {
        Self {
            flag: false,
            raft_id: None,
            block_time_ms: crate::raft::DEFAULT_RAFT_BLOCK_TIME_MS,
            members: None,
            join_existing: None,
        }
    }
}

/// Files and lines the node writes for scripts (the devnet reads them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Our enode URL.
    pub enode: String,
    /// JSON-RPC URL, when enabled.
    pub rpc_url: Option<String>,
    /// JSON-RPC WebSocket URL, when enabled.
    pub ws_url: Option<String>,
    /// The sealing address (clique: the sealing key's; IBFT/QBFT/Raft: the node key's).
    pub signer: alloy_primitives::Address,
    /// The genesis hash.
    pub genesis_hash: alloy_primitives::B256,
    /// Our discv5 ENR when discv5 runs.
    pub enr: Option<String>,
    /// The process hardening obtained (core limit, dumpable, memory locked or why not; see
    /// [`crate::run::hardening_json`]).
    pub hardening: serde_json::Value,
}
