//! Genesis hashes and state roots against values stated by other implementations
//! (`testdata/vectors/genesis.json`, each entry naming its source).

use alloy_primitives::{B256, U256, b256, hex};
use cachet_genesis::{CliqueConfig, Engine, RaftMarker};
use serde_json::Value;

use crate::load;

fn vector(name: &str) -> Value {
    let path = cachet_testkit::workspace_root().join("testdata/vectors/genesis.json");
    let all: Vec<Value> = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    all.into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("vector {name}"))
}

fn b256_of(v: &Value) -> B256 {
    v.as_str().unwrap().parse().unwrap()
}

/// Goerli: hash stated by py-evm, header RLP and state root from geth's Goerli header.
#[test]
fn accepts_goerli_genesis_hash_and_header() {
    let v = vector("goerli");
    let genesis = load(v["genesis_file"].as_str().unwrap(), RaftMarker::FromGenesis);
    let header = genesis.header();
    assert_eq!(header.state_root, b256_of(&v["state_root"]));
    assert_eq!(
        hex::encode_prefixed(header.encode()),
        v["header_rlp"].as_str().unwrap()
    );
    assert_eq!(genesis.hash(), b256_of(&v["block_hash"]));
    assert_eq!(genesis.engine(), Engine::Clique);
    assert_eq!(
        genesis.clique(),
        Some(&CliqueConfig {
            period: 15,
            epoch: 30000
        })
    );
}

/// Rinkeby: `RinkebyGenesisHash` from geth's `params/config.go`.
#[test]
fn accepts_rinkeby_genesis_hash() {
    let v = vector("rinkeby");
    let genesis = load(v["genesis_file"].as_str().unwrap(), RaftMarker::FromGenesis);
    assert_eq!(
        hex::encode_prefixed(&genesis.extra_data),
        v["extra_data"].as_str().unwrap()
    );
    assert_eq!(genesis.hash(), b256_of(&v["block_hash"]));
}

/// A GoQuorum clique genesis with `gasLimit` 0: GoQuorum's `geth init` gives block 0 its
/// own default gas limit (800,000,000, not geth's 4,712,388); the hash GoQuorum computed.
#[test]
fn accepts_goquorum_genesis_with_zero_gas_limit() {
    let v = vector("goquorum-clique-gaslimit-zero");
    let genesis = load(v["genesis_file"].as_str().unwrap(), RaftMarker::FromGenesis);
    assert!(genesis.config.is_quorum);
    assert_eq!(genesis.hash(), b256_of(&v["block_hash"]));
}

/// The quorum-examples 7nodes files: the extraData stated in the vectors is what the file
/// carries, and each file selects the engine its consensus section names.
#[test]
fn accepts_7nodes_genesis_files() {
    for name in ["7nodes-clique", "7nodes-istanbul"] {
        let v = vector(name);
        let genesis = load(v["genesis_file"].as_str().unwrap(), RaftMarker::FromGenesis);
        assert_eq!(
            hex::encode_prefixed(&genesis.extra_data),
            v["extra_data"].as_str().unwrap()
        );
        assert!(genesis.config.is_quorum);
        assert_eq!(genesis.config.chain_id, 10);
    }
    let clique = load("7nodes-clique-genesis.json", RaftMarker::FromGenesis);
    assert_eq!(clique.engine(), Engine::Clique);
    assert_eq!(
        clique.clique(),
        Some(&CliqueConfig {
            period: 2,
            epoch: 30000
        })
    );
    let istanbul = load("7nodes-istanbul-genesis.json", RaftMarker::FromGenesis);
    assert_eq!(istanbul.engine(), Engine::Ibft);
    let ibft = istanbul.bft().expect("istanbul parameters");
    assert_eq!(ibft.qbft_block, None);
    assert_eq!(ibft.ceil2nby3_block, Some(0));
    let qbft = load("7nodes-qbft-genesis.json", RaftMarker::FromGenesis);
    assert_eq!(qbft.engine(), Engine::Qbft);
    assert_eq!(qbft.bft().map(|b| b.epoch), Some(30000));
    let raft = load("7nodes-raft-genesis.json", RaftMarker::Flag);
    assert_eq!(raft.engine(), Engine::Raft);
    // `mixhash` (lower case) is read as geth reads it (Go's case-insensitive JSON keys).
    assert_eq!(
        raft.mix_hash,
        b256!("00000000000000000000000000000000000000647572616c65787365646c6578")
    );
    // Decimal balances.
    let balance = raft.alloc.values().next().unwrap().balance;
    assert_eq!(balance, U256::from(10u64).pow(U256::from(27)));
}

/// London at block 0 without `baseFeePerGas` gets geth's initial base fee (1 gwei); later-fork
/// header fields appear only when their fork is active at genesis.
#[test]
fn accepts_fork_dependent_header_fields() {
    let london = load("clique-london-alloc.json", RaftMarker::FromGenesis).header();
    assert_eq!(london.base_fee_per_gas, Some(U256::from(1_000_000_000u64)));
    assert_eq!(london.withdrawals_root, None);
    let with_fee = load("clique-london-basefee.json", RaftMarker::FromGenesis).header();
    assert_eq!(with_fee.base_fee_per_gas, Some(U256::from(7)));
    let later = load("clique-berlin-london-later.json", RaftMarker::FromGenesis).header();
    assert_eq!(later.base_fee_per_gas, None);
    let cancun = load("clique-cancun.json", RaftMarker::FromGenesis).header();
    assert!(cancun.withdrawals_root.is_some() && cancun.parent_beacon_block_root.is_some());
    assert_eq!(
        (
            cancun.blob_gas_used,
            cancun.excess_blob_gas,
            cancun.requests_hash
        ),
        (Some(0), Some(0), None)
    );
    assert_eq!(
        cachet_genesis::genesis_body_rlp(&cancun),
        [0xc3, 0xc0, 0xc0, 0xc0]
    );
    assert_eq!(
        cachet_genesis::genesis_body_rlp(&london),
        [0xc2, 0xc0, 0xc0]
    );
}
