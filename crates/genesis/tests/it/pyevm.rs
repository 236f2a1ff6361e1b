//! Interop: py-evm's `AccountDB` computes the same state root from `alloc`, including what
//! EthereumJS handles differently from geth (zero storage values, short storage keys, an empty
//! account): `tests/py/genesis_state_root.py`.

use alloy_primitives::hex;
use cachet_genesis::RaftMarker;
use serde_json::Value;

use crate::{genesis_path, load};

const FILES: [(&str, RaftMarker); 6] = [
    ("clique-storage-edge-cases.json", RaftMarker::FromGenesis),
    ("clique-london-alloc.json", RaftMarker::FromGenesis),
    ("goerli.json", RaftMarker::FromGenesis),
    ("rinkeby.json", RaftMarker::FromGenesis),
    ("7nodes-raft-genesis.json", RaftMarker::Flag),
    ("besu-qbft.json", RaftMarker::FromGenesis),
];

#[test]
#[ignore = "needs py-evm: run scripts/test"]
fn accepts_state_roots_computed_by_py_evm() {
    let paths: Vec<String> = FILES
        .iter()
        .map(|(name, _)| genesis_path(name).display().to_string())
        .collect();
    let args: Vec<&str> = paths.iter().map(String::as_str).collect();
    let output = cachet_testkit::run_python("genesis_state_root.py", &args);
    assert!(
        output.status.success(),
        "genesis_state_root.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(results.len(), FILES.len());
    for ((name, raft), theirs) in FILES.iter().zip(&results) {
        assert_eq!(theirs["file"], *name);
        let ours = hex::encode_prefixed(load(name, *raft).state_root());
        assert_eq!(ours, theirs["stateRoot"].as_str().unwrap(), "{name}");
    }
}
