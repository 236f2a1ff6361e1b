//! Interop: EthereumJS computes the same genesis hash, state root and header RLP.
//!
//! `tests/peers/genesis-hash.mjs` runs `@ethereumjs/common` `createCommonFromGethGenesis`,
//! `@ethereumjs/blockchain` (genesis state root from `parseGethGenesisState`) and
//! `@ethereumjs/block` (header RLP and hash) over each file, and the EIP-2124 fork id at each
//! hardfork EthereumJS schedules (`Common.forkHash`, `nextHardforkBlockOrTimestamp`).

use alloy_primitives::hex;
use cachet_genesis::RaftMarker;
use serde_json::Value;

use crate::{genesis_path, load};

/// Files EthereumJS can read. Left out: `rinkeby.json` (EthereumJS requires `eip155Block` ==
/// `eip158Block`; Rinkeby has no `eip155Block`), whose hash is checked against geth's constant.
///
/// Where EthereumJS and geth differ, geth is followed and these files avoid the difference:
/// EthereumJS stores zero storage values and does not left-pad short storage keys (geth omits
/// the first and pads the second), and reads keys case-sensitively (geth does not: the 7nodes
/// raft file spells `mixhash`, so EthereumJS gets a copy spelled `mixHash`).
const FILES: [(&str, RaftMarker); 11] = [
    ("goerli.json", RaftMarker::FromGenesis),
    ("clique-london-alloc.json", RaftMarker::FromGenesis),
    ("clique-london-basefee.json", RaftMarker::FromGenesis),
    ("clique-berlin-london-later.json", RaftMarker::FromGenesis),
    ("clique-cancun.json", RaftMarker::FromGenesis),
    ("clique-shanghai-cancun-later.json", RaftMarker::FromGenesis),
    ("besu-qbft.json", RaftMarker::FromGenesis),
    ("7nodes-clique-genesis.json", RaftMarker::FromGenesis),
    ("7nodes-istanbul-genesis.json", RaftMarker::FromGenesis),
    ("7nodes-qbft-genesis.json", RaftMarker::FromGenesis),
    ("7nodes-raft-genesis.json", RaftMarker::Flag),
];

#[test]
#[ignore = "needs ethereumjs: run scripts/test"]
fn accepts_genesis_hashes_computed_by_ethereumjs() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<String> = FILES
        .iter()
        .map(|(name, _)| {
            let text = std::fs::read_to_string(genesis_path(name)).unwrap();
            // Go's encoding/json matches keys case-insensitively; JavaScript does not.
            let copy = dir.path().join(name);
            std::fs::write(&copy, text.replace("\"mixhash\"", "\"mixHash\"")).unwrap();
            copy.display().to_string()
        })
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let output = cachet_testkit::run_node_script("genesis-hash.mjs", &args);
    assert!(
        output.status.success(),
        "genesis-hash.mjs failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results.len(), FILES.len());
    let mut checked_fork_ids = 0;
    for ((name, raft), theirs) in FILES.iter().zip(&results) {
        assert_eq!(theirs["file"], *name);
        let genesis = load(name, *raft);
        let header = genesis.header();
        assert_eq!(
            hex::encode_prefixed(header.state_root),
            theirs["stateRoot"].as_str().unwrap(),
            "{name}: state root"
        );
        assert_eq!(
            hex::encode_prefixed(header.encode()),
            theirs["headerRlp"].as_str().unwrap(),
            "{name}: header RLP"
        );
        assert_eq!(
            hex::encode_prefixed(genesis.hash()),
            theirs["hash"].as_str().unwrap(),
            "{name}"
        );

        let schedule = genesis.fork_schedule();
        let last_block = schedule.fork_blocks().last().copied().unwrap_or(0);
        let fork_ids = theirs["forkIds"].as_array().unwrap();
        assert!(!fork_ids.is_empty(), "{name}: no fork ids from EthereumJS");
        for fork in fork_ids {
            // At a block fork: that block, genesis time. At a time fork: every block fork
            // passed, that time.
            let (number, time) = match (fork["block"].as_u64(), fork["timestamp"].as_u64()) {
                (Some(block), _) => (block, genesis.timestamp),
                (None, Some(time)) => (last_block, time),
                (None, None) => panic!("{name}: {fork}"),
            };
            let ours = schedule.fork_id(number, time);
            assert_eq!(
                ours.hash.to_string(),
                fork["hash"].as_str().unwrap(),
                "{name} {fork}"
            );
            assert_eq!(ours.next, fork["next"].as_u64().unwrap(), "{name} {fork}");
            checked_fork_ids += 1;
        }
    }
    assert!(
        checked_fork_ids > 50,
        "only {checked_fork_ids} fork ids compared"
    );
}
