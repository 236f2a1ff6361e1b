//! The one block-production loop (`produce::run`) drives every engine's producer: clique and
//! QBFT produce (empty) blocks through it that their chain accepts, and the loop ends when
//! sealing is no longer allowed. Raft, which mints only with transactions, is driven in
//! `build.rs`.

use std::sync::Arc;
use std::time::Duration;

use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::bft::BftSealer;
use cachet_node::chain::Chain;
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::consensus::BlockProducer;
use cachet_node::store::ChainStore;
use cachet_seal::{Engine, RaftMembers};
use tokio::sync::watch;

fn open(dir: &std::path::Path, genesis: &[u8], members: RaftMembers) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
    Arc::new(Chain::open_with(store, g, members).unwrap())
}

/// Runs `producer` in the driver until the head reaches `blocks`, then stops it.
async fn drive(chain: &Arc<Chain>, producer: Box<dyn BlockProducer>, blocks: u64) {
    let (allowed_tx, allowed) = watch::channel(true);
    let task = tokio::spawn(cachet_node::produce::run(
        producer,
        chain.clone(),
        allowed,
        cachet_node::produce::BuildConfig::default(),
        None,
    ));
    let mut heads = chain.subscribe();
    tokio::time::timeout(Duration::from_secs(20), async {
        while heads.borrow_and_update().header.number < blocks {
            heads.changed().await.unwrap();
        }
    })
    .await
    .expect("the driver produces blocks");
    allowed_tx.send_replace(false);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the driver stops when sealing is no longer allowed")
        .unwrap();
}

#[tokio::test]
async fn accepts_clique_and_qbft_blocks_from_the_one_driver() {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);

    let dir = tempfile::tempdir().unwrap();
    let genesis = crate::clique::genesis_json(&[k.sealing_key().address()], 1);
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    let sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        k.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    drive(&chain, Box::new(sealer), 2).await;
    assert_eq!(chain.signers(), vec![k.sealing_key().address()]);

    let dir = tempfile::tempdir().unwrap();
    let me = k.node_key().signer().address();
    let genesis = crate::engines::genesis_json(Engine::Qbft, &[me]);
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    let sealer = BftSealer::new(chain.clone(), dir.path(), k.node_key()).unwrap();
    drive(&chain, Box::new(sealer), 2).await;
    assert_eq!(
        chain.head().header.beneficiary,
        me,
        "QBFT proposer = coinbase"
    );

    // Raft mints only with transactions: crate::build drives it with a transaction source.
}
