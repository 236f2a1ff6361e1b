//! A parsed geth-format `genesis.json`.

use std::collections::BTreeMap;
use std::path::Path;

use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::Value;

use crate::config::ChainConfig;
use crate::engine::{BftConfig, CliqueConfig, Engine, RaftMarker};
use crate::error::{Error, Result};
use crate::forkid::{ForkId, ForkSchedule};
use crate::header::genesis_header;
use crate::json::{self, Obj, invalid};

/// Largest genesis file read (a permissioned chain's alloc with contract code fits easily;
/// the cap keeps a wrong path, e.g. a chain database, from being read into memory).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// A geth-format genesis: the chain config and the genesis block's fields and state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    /// `config`.
    pub config: ChainConfig,
    /// `nonce` (the header's 8-byte nonce, as a number).
    pub nonce: u64,
    /// `timestamp` (Unix seconds).
    pub timestamp: u64,
    /// `extraData` (for clique/IBFT/QBFT, the initial signer/validator set).
    pub extra_data: Bytes,
    /// `gasLimit`; 0 or absent in the file means geth's default 4712388, or GoQuorum's
    /// 800,000,000 when `config.isQuorum` is set.
    pub gas_limit: u64,
    /// `difficulty`; absent means 0 (current geth without `ethash`), or 131072 when
    /// `config.isQuorum` is set (GoQuorum's `ToBlock`).
    pub difficulty: U256,
    /// `mixHash`.
    pub mix_hash: B256,
    /// `coinbase`.
    pub coinbase: Address,
    /// `baseFeePerGas`, when stated.
    pub base_fee_per_gas: Option<U256>,
    /// `number` (0 for every real genesis).
    pub number: u64,
    /// `gasUsed`.
    pub gas_used: u64,
    /// `parentHash`.
    pub parent_hash: B256,
    /// `excessBlobGas`, when stated (Cancun).
    pub excess_blob_gas: Option<u64>,
    /// `blobGasUsed`, when stated (Cancun).
    pub blob_gas_used: Option<u64>,
    /// `alloc`: the genesis accounts.
    pub alloc: BTreeMap<Address, GenesisAccount>,
}

/// One `alloc` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenesisAccount {
    /// `balance` (wei); required, as in geth.
    pub balance: U256,
    /// `nonce`.
    pub nonce: u64,
    /// `code`.
    pub code: Bytes,
    /// `storage`: slot → value, both 32-byte words.
    pub storage: BTreeMap<B256, B256>,
}

/// geth's `params.GenesisGasLimit`, used when `gasLimit` is 0 or absent.
const GENESIS_GAS_LIMIT: u64 = 4_712_388;

/// GoQuorum's `params.GenesisGasLimit` (800,000,000), used instead on `isQuorum` chains.
const QUORUM_GENESIS_GAS_LIMIT: u64 = 800_000_000;

/// geth's `params.GenesisDifficulty`, GoQuorum's default when `difficulty` is absent.
const GENESIS_DIFFICULTY: u64 = 131_072;

impl Genesis {
    /// Reads and parses a genesis file.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read (or exceeds 256 MiB), otherwise as
    /// [`Genesis::from_json`].
    pub fn from_file(path: &Path, raft: RaftMarker) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "genesis file larger than 256 MiB",
            )));
        }
        let text = std::fs::read(path).map_err(io)?;
        Self::from_json(&text, raft)
    }

    /// Parses genesis JSON as geth does: quantities in hex or decimal, keys matched
    /// case-insensitively, unknown keys ignored. `raft` says whether `--raft` was given.
    ///
    /// # Errors
    /// [`Error::Json`] for malformed JSON; [`Error::MissingField`] / [`Error::InvalidField`]
    /// naming the field; [`Error::NoEngine`] / [`Error::ConflictingEngines`].
    ///
    /// # Examples
    /// ```
    /// use cachet_genesis::{CliqueConfig, Engine, Genesis, RaftMarker};
    ///
    /// let json = br#"{
    ///   "config": {"chainId": 1337, "londonBlock": 0, "clique": {"period": 5, "epoch": 30000}},
    ///   "gasLimit": "0x1c9c380", "difficulty": "0x1", "timestamp": "1700000000",
    ///   "alloc": {"0x0000000000000000000000000000000000000001": {"balance": "0x1"}}
    /// }"#;
    /// let genesis = Genesis::from_json(json, RaftMarker::FromGenesis)?;
    /// assert_eq!(genesis.engine(), Engine::Clique);
    /// assert_eq!(genesis.clique(), Some(&CliqueConfig { period: 5, epoch: 30000 }));
    /// // London at genesis without baseFeePerGas: 1 gwei, as geth.
    /// assert_eq!(genesis.header().base_fee_per_gas, Some(alloy_primitives::U256::from(1_000_000_000u64)));
    /// let fork_id = genesis.fork_id(0, genesis.timestamp);
    /// assert_eq!(fork_id.next, 0);
    /// # Ok::<(), cachet_genesis::Error>(())
    /// ```
    pub fn from_json(text: &[u8], raft: RaftMarker) -> Result<Self> {
        let value: Value = serde_json::from_slice(text).map_err(|source| Error::Json {
            line: source.line(),
            column: source.column(),
            source,
        })?;
        let top = Obj::new("", &value)?;
        let config_value = top.get("config").ok_or_else(|| Error::MissingField {
            field: "config".into(),
        })?;
        let config = ChainConfig::from_json(&Obj::new("config", config_value)?, raft)?;
        let alloc = match top.get("alloc") {
            Some(v) => parse_alloc(&Obj::new("alloc", v)?)?,
            None => BTreeMap::new(),
        };
        let difficulty = match top.u256("difficulty")? {
            Some(d) => d,
            // GoQuorum's `ToBlock` uses geth's old default; current geth uses 0 without ethash.
            None if config.is_quorum => U256::from(GENESIS_DIFFICULTY),
            None => U256::ZERO,
        };
        let gas_limit = match top.u64("gasLimit")? {
            // GoQuorum's `ToBlock` replaces a zero gas limit with its own default.
            None | Some(0) if config.is_quorum => QUORUM_GENESIS_GAS_LIMIT,
            None | Some(0) => GENESIS_GAS_LIMIT,
            Some(g) => g,
        };
        Ok(Self {
            config,
            nonce: top.u64("nonce")?.unwrap_or(0),
            timestamp: top.u64("timestamp")?.unwrap_or(0),
            extra_data: top.bytes("extraData")?.unwrap_or_default(),
            gas_limit,
            difficulty,
            mix_hash: top.b256("mixHash")?.unwrap_or_default(),
            coinbase: top.address("coinbase")?.unwrap_or_default(),
            base_fee_per_gas: top.u256("baseFeePerGas")?,
            number: top.u64("number")?.unwrap_or(0),
            gas_used: top.u64("gasUsed")?.unwrap_or(0),
            parent_hash: top.b256("parentHash")?.unwrap_or_default(),
            excess_blob_gas: top.u64("excessBlobGas")?,
            blob_gas_used: top.u64("blobGasUsed")?,
            alloc,
        })
    }

    /// The consensus engine.
    pub const fn engine(&self) -> Engine {
        self.config.consensus.engine()
    }

    /// Clique's parameters (on a clique chain).
    pub const fn clique(&self) -> Option<&CliqueConfig> {
        self.config.consensus.clique()
    }

    /// The IBFT family's parameters (on an IBFT, IBFT 2.0 or QBFT chain).
    pub const fn bft(&self) -> Option<&BftConfig> {
        self.config.consensus.bft()
    }

    /// The genesis state root: the Merkle-Patricia root of `alloc`.
    pub fn state_root(&self) -> B256 {
        crate::state::state_root(&self.alloc)
    }

    /// The genesis block header, as geth's `Genesis.ToBlock` builds it.
    pub fn header(&self) -> cachet_primitives::Header {
        genesis_header(self)
    }

    /// The genesis block hash: keccak256 of the header's RLP.
    pub fn hash(&self) -> B256 {
        self.header().hash_slow()
    }

    /// The EIP-2124 fork schedule (genesis hash and fork list); build it once and reuse it.
    pub fn fork_schedule(&self) -> ForkSchedule {
        ForkSchedule::new(
            self.hash(),
            self.config.fork_id_blocks(),
            self.config.fork_id_times(self.timestamp),
        )
    }

    /// The EIP-2124 fork id at a head block with this number and timestamp.
    pub fn fork_id(&self, head_number: u64, head_time: u64) -> ForkId {
        self.fork_schedule().fork_id(head_number, head_time)
    }
}

fn parse_alloc(alloc: &Obj<'_>) -> Result<BTreeMap<Address, GenesisAccount>> {
    let mut accounts = BTreeMap::new();
    for (key, value) in alloc.entries() {
        let path = alloc.path_of(key);
        let address = json::address(&path, key)?;
        let account = Obj::new(&path, value)?;
        let balance = account
            .u256("balance")?
            .ok_or_else(|| Error::MissingField {
                field: account.path_of("balance"),
            })?;
        let mut storage = BTreeMap::new();
        if let Some(slots) = account.get("storage") {
            let storage_path = account.path_of("storage");
            let slots = Obj::new(&storage_path, slots)?;
            for (slot, word) in slots.entries() {
                let slot_path = slots.path_of(slot);
                let Value::String(word) = word else {
                    return Err(invalid(&slot_path, "expected a hex string storage value"));
                };
                storage.insert(
                    json::storage_word(&slot_path, slot)?,
                    json::storage_word(&slot_path, word)?,
                );
            }
        }
        let entry = GenesisAccount {
            balance,
            nonce: account.u64("nonce")?.unwrap_or(0),
            code: account.bytes("code")?.unwrap_or_default(),
            storage,
        };
        if accounts.insert(address, entry).is_some() {
            return Err(invalid(&path, "the same address appears twice in alloc"));
        }
    }
    Ok(accounts)
}
