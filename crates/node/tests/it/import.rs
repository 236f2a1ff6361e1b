//! `cachet_node::import`: a chain sealed by one node, written as concatenated block RLPs,
//! imports into a fresh store with every seal verified; a damaged file stops at the damage.

use std::sync::Arc;

use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::block;
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::import::{ImportReport, import_file};
use cachet_node::store::ChainStore;

fn open(dir: &std::path::Path, genesis: &[u8]) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    Arc::new(Chain::open(ChainStore::open(&dir.join("chain.redb")).unwrap(), g).unwrap())
}

/// Seals `n` blocks and returns the genesis and the blocks' RLP, in order.
fn sealed_chain(n: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let genesis = super::clique::genesis_json(&[keys.sealing_key().address()], 1);
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path(), &genesis);
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        keys.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let mut blocks = Vec::new();
    for i in 1..=n {
        sealer.seal_now(1_700_000_000 + i).unwrap().unwrap();
        let header = chain.header_rlp_by_number(i).unwrap().unwrap();
        let hash = alloy_primitives::keccak256(&header);
        let body = chain.store().body_by_hash(&hash).unwrap().unwrap();
        blocks.push(block::block_rlp(&header, &body).unwrap());
    }
    (genesis, blocks)
}

#[test]
fn accepts_a_sealed_chain_from_a_file_and_skips_known_blocks() {
    let (genesis, blocks) = sealed_chain(5);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.rlp");
    std::fs::write(&file, blocks.concat()).unwrap();
    let chain = open(dir.path(), &genesis);
    let mut report = ImportReport::default();
    import_file(&chain, &file, &mut report).unwrap();
    assert_eq!(
        report,
        ImportReport {
            imported: 5,
            known: 0,
            transactions: 0,
            gas: 0,
        }
    );
    assert_eq!(chain.head().header.number, 5);
    let mut again = ImportReport::default();
    import_file(&chain, &file, &mut again).unwrap();
    assert_eq!(
        again,
        ImportReport {
            imported: 0,
            known: 5,
            transactions: 0,
            gas: 0,
        }
    );
}

#[test]
fn rejects_a_tampered_block_keeping_the_ones_before_it() {
    let (genesis, mut blocks) = sealed_chain(4);
    // Flip a byte inside block 3's seal (the last bytes of its extraData sit just before the
    // mix digest, nonce and the two empty body lists).
    let third = blocks.get_mut(2).unwrap();
    let at = third.len() - 2 - 9 - 33 - 3;
    third[at] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.rlp");
    std::fs::write(&file, blocks.concat()).unwrap();
    let chain = open(dir.path(), &genesis);
    let mut report = ImportReport::default();
    let err = import_file(&chain, &file, &mut report).unwrap_err();
    assert_eq!(report.imported, 2, "{err}");
    assert_eq!(chain.head().header.number, 2);
    assert!(err.to_string().contains("block 3"), "{err}");
}

#[test]
fn rejects_a_truncated_file_naming_the_block() {
    let (genesis, blocks) = sealed_chain(2);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chain.rlp");
    let mut bytes = blocks.concat();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&file, bytes).unwrap();
    let chain = open(dir.path(), &genesis);
    let mut report = ImportReport::default();
    let err = import_file(&chain, &file, &mut report).unwrap_err();
    assert_eq!(report.imported, 1);
    assert!(err.to_string().contains("block #1"), "{err}");
}
