//! Blocks with transactions on every engine: each producer builds a block from a
//! `TxSource` of really signed transfers (secp256k1, funded by the genesis alloc), seals it,
//! and `Chain::import` (its own and a fresh follower's, which re-execute the block and check
//! every root) accepts it. Balances, nonces and fees are worked out by hand from the
//! transactions' values and gas; a bad nonce is left out with the sender's later ones; the
//! gas limit holds; the raft minter mints only while transactions are pending; a block with
//! transactions recorded before a crash is sealed again with its body.

use std::sync::Arc;
use std::time::Duration;

use alloy_consensus::{SignableTransaction, Signed, TxLegacy};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256, keccak256};
use cachet_execution::Candidate;
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::bft::BftSealer;
use cachet_node::block::EMPTY_ROOT_HASH;
use cachet_node::chain::{Chain, Imported};
use cachet_node::clique::{CliqueSealer, Proposals};
use cachet_node::consensus::{BlockProducer, TxSource};
use cachet_node::produce::{self, BuildConfig};
use cachet_node::raft::RaftMinter;
use cachet_node::store::ChainStore;
use cachet_node::testing::VecTxSource;
use cachet_seal::{Engine, RaftMembers};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use tokio::sync::watch;

const ETHER: u128 = 1_000_000_000_000_000_000;
const GWEI: u128 = 1_000_000_000;
/// Every test transfer pays 2 gwei per gas (above any base fee here).
const GAS_PRICE: u128 = 2 * GWEI;
const RECIPIENT: Address = Address::repeat_byte(0x22);
/// EIP-1559: the genesis carries 1 gwei and is empty, so block 1's base fee is 7/8 of it.
const BLOCK1_BASE_FEE: u128 = 875_000_000;

pub(crate) fn key(byte: u8) -> SecretKey {
    SecretKey::from_byte_array(&[byte; 32]).unwrap()
}

pub(crate) fn address_of(key: &SecretKey) -> Address {
    let public = PublicKey::from_secret_key(SECP256K1, key).serialize_uncompressed();
    Address::from_slice(&keccak256(&public[1..])[12..])
}

pub(crate) fn sign<T: SignableTransaction<Signature>>(tx: T, key: &SecretKey) -> Signed<T> {
    let message = Message::from_digest(tx.signature_hash().0);
    let (recid, compact) = SECP256K1
        .sign_ecdsa_recoverable(&message, key)
        .serialize_compact();
    let signature = Signature::new(
        U256::from_be_slice(&compact[..32]),
        U256::from_be_slice(&compact[32..]),
        i32::from(recid) == 1,
    );
    tx.into_signed(signature)
}

/// A signed EIP-155 transfer of `value` wei to RECIPIENT (21000 gas at 2 gwei).
fn transfer(key: &SecretKey, nonce: u64, value: u64) -> Candidate {
    let tx = TxLegacy {
        chain_id: Some(1337),
        nonce,
        gas_price: GAS_PRICE,
        gas_limit: 21_000,
        to: TxKind::Call(RECIPIENT),
        value: U256::from(value),
        input: Bytes::new(),
    };
    Candidate {
        tx: sign(tx, key).into(),
        sender: address_of(key),
    }
}

/// `genesis` with `funded` accounts (1 ether each) and gas limit `gas_limit`.
fn with_alloc(genesis: &[u8], funded: &[Address], gas_limit: u64) -> Vec<u8> {
    let mut g: serde_json::Value = serde_json::from_slice(genesis).unwrap();
    for a in funded {
        g["alloc"][format!("{a:x}")] = serde_json::json!({"balance": format!("{ETHER:#x}")});
    }
    g["gasLimit"] = serde_json::json!(format!("{gas_limit:#x}"));
    serde_json::to_vec(&g).unwrap()
}

fn open(dir: &std::path::Path, genesis: &[u8], members: RaftMembers) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
    Arc::new(Chain::open_with(store, g, members).unwrap())
}

/// A chain of `engine` with one producer (the keys' sealing key for clique, node key for
/// the others) and `funded` accounts; returns the chain, the producer, its author and the
/// raft members (for a follower).
fn setup(
    engine: Engine,
    dir: &std::path::Path,
    funded: &[Address],
    gas_limit: u64,
) -> (Arc<Chain>, Box<dyn BlockProducer>, Address, RaftMembers) {
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let node = k.node_key().signer().address();
    let mut members = RaftMembers::new();
    let genesis = match engine {
        Engine::Clique => crate::clique::genesis_json(&[k.sealing_key().address()], 1),
        Engine::Raft => {
            members.insert(1, k.node_key().signer().public_key());
            // A GoQuorum chain charges gas only once gas price is enabled.
            let mut g: serde_json::Value =
                serde_json::from_slice(&crate::engines::genesis_json(Engine::Raft, &[])).unwrap();
            g["config"]["enableGasPriceBlock"] = serde_json::json!(0);
            serde_json::to_vec(&g).unwrap()
        }
        _ => crate::engines::genesis_json(engine, &[node]),
    };
    let chain = open(
        &dir.join("producer"),
        &with_alloc(&genesis, funded, gas_limit),
        members.clone(),
    );
    let d = dir.join("producer");
    let (producer, author): (Box<dyn BlockProducer>, Address) = match engine {
        Engine::Clique => (
            Box::new(
                CliqueSealer::new(chain.clone(), &d, k.sealing_key(), Proposals::default())
                    .unwrap(),
            ),
            k.sealing_key().address(),
        ),
        Engine::Raft => (
            Box::new(
                RaftMinter::new(
                    chain.clone(),
                    &d,
                    k.node_key(),
                    1,
                    Duration::from_millis(10),
                )
                .unwrap(),
            ),
            node,
        ),
        _ => (
            Box::new(BftSealer::new(chain.clone(), &d, k.node_key()).unwrap()),
            node,
        ),
    };
    (chain, producer, author, members)
}

fn balance(chain: &Chain, a: &Address) -> U256 {
    chain
        .account(chain.head().hash, a)
        .unwrap()
        .map(|x| x.balance)
        .unwrap_or_default()
}

fn nonce(chain: &Chain, a: &Address) -> u64 {
    chain
        .account(chain.head().hash, a)
        .unwrap()
        .map(|x| x.nonce)
        .unwrap_or_default()
}

/// A fresh node of the same chain imports the producer's blocks 1..=head (re-executing them).
fn follower_imports(engine: Engine, chain: &Chain, dir: &std::path::Path, members: RaftMembers) {
    let follower = Chain::open_with(
        ChainStore::open(&dir.join("follower.redb")).unwrap(),
        chain.genesis().clone(),
        members,
    )
    .unwrap();
    for n in 1..=chain.head().header.number {
        let header = chain.header_rlp_by_number(n).unwrap().unwrap();
        let hash = chain.hash_rlp(&header);
        let body = chain.store().body_by_hash(&hash).unwrap().unwrap();
        assert_eq!(
            follower.import(&header, &body).unwrap(),
            Imported::Head,
            "{engine}: block {n}"
        );
    }
    assert_eq!(follower.head().hash, chain.head().hash);
}

fn builds_a_block_with_transactions(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (key(0xa1), key(0xb2));
    let (aa, ba) = (address_of(&a), address_of(&b));
    let (chain, mut producer, author, members) = setup(engine, dir.path(), &[aa, ba], 30_000_000);
    let source = Arc::new(VecTxSource::new(vec![
        transfer(&a, 0, 1000),
        transfer(&b, 7, 5), // nonce gap: b's transactions are left out
        transfer(&a, 1, 2000),
        transfer(&b, 0, 5), // b's later one: left out with it
    ]));
    let build = BuildConfig {
        source: Some(source.clone() as Arc<dyn TxSource>),
        gas_limit: None,
    };
    let author_before = balance(&chain, &author);
    let h = produce::produce_now(producer.as_mut(), &chain, &build)
        .unwrap()
        .expect("a block");
    assert_eq!(h.number, 1);
    assert_eq!(chain.head().header.number, 1, "{engine}: imported");
    assert_eq!(h.gas_used, 42_000, "{engine}: two transfers");
    assert_ne!(h.transactions_root, EMPTY_ROOT_HASH);
    assert_eq!(h.gas_limit, 30_000_000, "{engine}: the parent's gas limit");

    // a: 1000 + 2000 wei and 2 × 21000 gas at 2 gwei; b untouched; the recipient 3000 wei.
    let fee = 2 * 21_000 * GAS_PRICE;
    assert_eq!(balance(&chain, &aa), U256::from(ETHER - 3000 - fee));
    assert_eq!(nonce(&chain, &aa), 2);
    assert_eq!(balance(&chain, &ba), U256::from(ETHER));
    assert_eq!(nonce(&chain, &ba), 0);
    assert_eq!(balance(&chain, &RECIPIENT), U256::from(3000));
    // The author gets the tip: the whole price before London (raft), price − base fee after.
    let tip = if engine == Engine::Raft {
        GAS_PRICE
    } else {
        GAS_PRICE - BLOCK1_BASE_FEE
    };
    assert_eq!(
        balance(&chain, &author) - author_before,
        U256::from(2 * 21_000 * tip),
        "{engine}: fees to the block's author"
    );

    // The included ones gone, b's nonce-0 transfer is next: block 2 holds exactly it.
    source.remove(&[*transfer(&a, 0, 1000).tx.hash()]);
    let next = BuildConfig {
        source: Some(Arc::new(VecTxSource::new(vec![transfer(&b, 0, 5)])) as Arc<dyn TxSource>),
        gas_limit: None,
    };
    let h2 = produce::produce_now(producer.as_mut(), &chain, &next)
        .unwrap()
        .expect("a block");
    assert_eq!(h2.gas_used, 21_000);
    assert_eq!(nonce(&chain, &ba), 1);
    assert_eq!(balance(&chain, &RECIPIENT), U256::from(3005));

    follower_imports(engine, &chain, dir.path(), members);
}

#[test]
fn clique_builds_blocks_with_transactions() {
    builds_a_block_with_transactions(Engine::Clique);
}

#[test]
fn ibft_builds_blocks_with_transactions() {
    builds_a_block_with_transactions(Engine::Ibft);
}

#[test]
fn ibft2_builds_blocks_with_transactions() {
    builds_a_block_with_transactions(Engine::Ibft2);
}

#[test]
fn qbft_builds_blocks_with_transactions() {
    builds_a_block_with_transactions(Engine::Qbft);
}

#[test]
fn raft_builds_blocks_with_transactions() {
    builds_a_block_with_transactions(Engine::Raft);
}

#[test]
fn fills_blocks_up_to_the_gas_limit_and_moves_it_toward_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let a = key(0xa1);
    let aa = address_of(&a);
    // 100000 gas: four transfers (84000) fit, 16000 is less than a fifth.
    let (chain, mut producer, _, members) = setup(Engine::Clique, dir.path(), &[aa], 100_000);
    let source = Arc::new(VecTxSource::new(
        (0..6).map(|n| transfer(&a, n, 1)).collect(),
    ));
    let build = BuildConfig {
        source: Some(source as Arc<dyn TxSource>),
        gas_limit: None,
    };
    let h = produce::produce_now(producer.as_mut(), &chain, &build)
        .unwrap()
        .unwrap();
    assert_eq!((h.gas_limit, h.gas_used), (100_000, 84_000));
    assert_eq!(nonce(&chain, &aa), 4);
    let h = produce::produce_now(producer.as_mut(), &chain, &build)
        .unwrap()
        .unwrap();
    assert_eq!(h.gas_used, 42_000, "the remaining two");
    assert_eq!(nonce(&chain, &aa), 6);

    // --miner.gaslimit 200000: up by 100000/1024 - 1 = 96 gas a block (geth's CalcGasLimit),
    // then by 97 from 100096 (100096/1024 = 97.75 → 97, minus 1 = 96: 100192).
    let up = BuildConfig {
        source: None,
        gas_limit: Some(200_000),
    };
    let h = produce::produce_now(producer.as_mut(), &chain, &up)
        .unwrap()
        .unwrap();
    assert_eq!(h.gas_limit, 100_096);
    let h = produce::produce_now(producer.as_mut(), &chain, &up)
        .unwrap()
        .unwrap();
    assert_eq!(h.gas_limit, 100_192);
    // Down toward 100100: one step lands on it.
    let down = BuildConfig {
        source: None,
        gas_limit: Some(100_100),
    };
    let h = produce::produce_now(producer.as_mut(), &chain, &down)
        .unwrap()
        .unwrap();
    assert_eq!(h.gas_limit, 100_100);
    follower_imports(Engine::Clique, &chain, dir.path(), members);
}

#[test]
fn raft_mints_nothing_without_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let a = key(0xa1);
    let (chain, mut producer, _, _) =
        setup(Engine::Raft, dir.path(), &[address_of(&a)], 30_000_000);
    assert!(producer.needs_transactions());
    // No source, an empty one, or one whose only transaction cannot be included: no block.
    assert_eq!(
        produce::produce_now(producer.as_mut(), &chain, &BuildConfig::default()).unwrap(),
        None
    );
    let source = Arc::new(VecTxSource::default());
    let build = BuildConfig {
        source: Some(source.clone() as Arc<dyn TxSource>),
        gas_limit: None,
    };
    assert_eq!(
        produce::produce_now(producer.as_mut(), &chain, &build).unwrap(),
        None
    );
    source.push(transfer(&a, 3, 1));
    assert_eq!(
        produce::produce_now(producer.as_mut(), &chain, &build).unwrap(),
        None
    );
    assert_eq!(chain.head().header.number, 0);
}

/// The driver (`produce::run`): no raft block while the source is empty; one soon after a
/// transaction appears, holding it; none after it while nothing new is includable.
#[tokio::test]
async fn raft_driver_mints_when_a_transaction_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let a = key(0xa1);
    let aa = address_of(&a);
    let (chain, producer, _, _) = setup(Engine::Raft, dir.path(), &[aa], 30_000_000);
    let source = Arc::new(VecTxSource::default());
    let build = BuildConfig {
        source: Some(source.clone() as Arc<dyn TxSource>),
        gas_limit: None,
    };
    let (allowed_tx, allowed) = watch::channel(true);
    let task = tokio::spawn(produce::run(producer, chain.clone(), allowed, build, None));
    let mut heads = chain.subscribe();
    // Idle: the driver waits on the source (ten block times pass without a block).
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        chain.head().header.number,
        0,
        "no block without transactions"
    );
    heads.borrow_and_update();

    source.push(transfer(&a, 0, 7));
    tokio::time::timeout(Duration::from_secs(20), heads.changed())
        .await
        .expect("a block after the transaction")
        .unwrap();
    let head = chain.head().header;
    assert_eq!((head.number, head.gas_used), (1, 21_000));
    assert_eq!(balance(&chain, &RECIPIENT), U256::from(7));

    // The transaction stays in this source (nothing removes it) but is no longer includable:
    // no empty block follows.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(chain.head().header.number, 1);
    source.push(transfer(&a, 1, 8));
    tokio::time::timeout(Duration::from_secs(20), async {
        while chain.head().header.number < 2 {
            heads.changed().await.unwrap();
        }
    })
    .await
    .expect("a block for the second transaction");
    assert_eq!(balance(&chain, &RECIPIENT), U256::from(15));

    allowed_tx.send_replace(false);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the driver stops")
        .unwrap();
}

/// A crash after the journal recorded a block with transactions, before the chain stored
/// it: the restarted sealer seals that block again, with its body, and it imports.
#[test]
fn reseals_a_recorded_block_with_its_transactions_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let a = key(0xa1);
    let aa = address_of(&a);
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let genesis = with_alloc(
        &crate::clique::genesis_json(&[k.sealing_key().address()], 1),
        &[aa],
        30_000_000,
    );
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        k.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let head = chain.head();
    let snap = chain.snapshot(&head.hash).unwrap();
    let unsealed = sealer.build(&head, &snap, 1_700_000_001).unwrap();
    let (built, body) = chain
        .build_child(unsealed, sealer.address(), &[transfer(&a, 0, 9)])
        .unwrap();
    let (lost, _) = sealer.seal(&built, &body).unwrap();
    drop(sealer);

    let mut sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        k.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    // Later, with other transactions on offer, the recorded block is sealed instead.
    let other = BuildConfig {
        source: Some(Arc::new(VecTxSource::new(vec![transfer(&a, 0, 1)])) as Arc<dyn TxSource>),
        gas_limit: None,
    };
    let h = produce::produce_now(&mut sealer, &chain, &other)
        .unwrap()
        .unwrap();
    assert_eq!(h, lost);
    assert_eq!(balance(&chain, &RECIPIENT), U256::from(9));
}

/// A signed EIP-1559 transaction (chain 1337) calling or creating.
fn dynamic(
    key: &SecretKey,
    nonce: u64,
    to: TxKind,
    value: u64,
    gas: u64,
    input: &[u8],
) -> Candidate {
    let tx = alloy_consensus::TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: GAS_PRICE,
        max_priority_fee_per_gas: GWEI / 2,
        to,
        value: U256::from(value),
        input: Bytes::copy_from_slice(input),
        ..alloy_consensus::TxEip1559::default()
    };
    Candidate {
        tx: sign(tx, key).into(),
        sender: address_of(key),
    }
}

/// Cachet builds and seals a clique chain with transactions (legacy and EIP-1559 transfers, a
/// contract creation that stores, a skipped nonce gap, an empty block); py-evm replays the
/// included transactions on the genesis alloc, with the signer its own clique code recovers
/// as the author, and reaches the state root, receipts root and gas used of every block.
#[test]
#[ignore = "needs python (.venv-test): run scripts/test"]
fn py_evm_replays_a_cachet_built_clique_chain_to_its_roots() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (key(0xa1), key(0xb2), key(0xc3));
    let funded = [address_of(&a), address_of(&b), address_of(&c)];
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let genesis = with_alloc(
        &crate::clique::genesis_json(&[k.sealing_key().address()], 1),
        &funded,
        30_000_000,
    );
    let chain = open(&dir.path().join("chain"), &genesis, RaftMembers::new());
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        &dir.path().join("chain"),
        k.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    // PUSH1 0x2a PUSH1 0 SSTORE: the created contract's slot 0 holds 42 (no code returned).
    let init = [0x60, 0x2a, 0x60, 0x00, 0x55];
    let blocks: Vec<Vec<Candidate>> = vec![
        vec![
            transfer(&a, 0, 1000),
            transfer(&b, 3, 1), // nonce gap: left out
            transfer(&a, 1, 2000),
        ],
        vec![
            dynamic(&b, 0, TxKind::Call(RECIPIENT), 77, 21_000, &[]),
            dynamic(&c, 0, TxKind::Create, 0, 100_000, &init),
            transfer(&a, 2, 3),
        ],
        vec![],
        vec![
            dynamic(&c, 1, TxKind::Call(funded[0]), 5, 30_000, &[]),
            transfer(&b, 1, 6),
        ],
    ];
    let mut included = Vec::new();
    let mut replayed = Vec::new();
    for candidates in blocks {
        let build = BuildConfig {
            source: Some(Arc::new(VecTxSource::new(candidates)) as Arc<dyn TxSource>),
            gas_limit: None,
        };
        let h = produce::produce_now(&mut sealer, &chain, &build)
            .unwrap()
            .unwrap();
        let hash = chain.head().hash;
        let body = chain.store().body_by_hash(&hash).unwrap().unwrap();
        let txs = cachet_execution::decode_body(&body).unwrap().transactions;
        included.push(txs.len());
        let raws: Vec<String> = txs
            .iter()
            .map(|t| {
                use alloy_eips::eip2718::Encodable2718;
                format!("0x{}", hex::encode(t.encoded_2718()))
            })
            .collect();
        let header_rlp = chain.header_rlp_by_number(h.number).unwrap().unwrap();
        let entry = serde_json::json!({
            "number": h.number,
            "header": format!("0x{}", hex::encode(&header_rlp)),
            "txs": raws,
        });
        replayed.push(entry);
    }
    assert_eq!(included, vec![2, 3, 0, 2], "what the builder included");

    // The replay's input: genesis.json and expected.json (genesis header, each block's header
    // RLP and raw transactions; no root in them is read).
    let genesis_header = chain.header_rlp_by_number(0).unwrap().unwrap();
    std::fs::write(dir.path().join("genesis.json"), &genesis).unwrap();
    std::fs::write(
        dir.path().join("expected.json"),
        serde_json::json!({
            "genesisHeader": format!("0x{}", hex::encode(genesis_header)),
            "blocks": replayed,
        })
        .to_string(),
    )
    .unwrap();
    let out = cachet_testkit::run_python("replay_state_roots.py", &[dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "replay_state_roots.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replay: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(replay.len(), 5);
    let signer = format!("{:#x}", k.sealing_key().address());
    for r in &replay[1..] {
        let n = r["number"].as_u64().unwrap();
        let h = cachet_node::chain::decode_header(&chain.header_rlp_by_number(n).unwrap().unwrap())
            .unwrap();
        let ours = (
            format!("{:#x}", h.state_root),
            format!("{:#x}", h.receipts_root),
            h.gas_used,
        );
        let py_evm = (
            r["stateRoot"].as_str().unwrap().to_owned(),
            r["receiptsRoot"].as_str().unwrap().to_owned(),
            r["gasUsed"].as_u64().unwrap(),
        );
        assert_eq!(ours, py_evm, "block {n}: cachet vs py-evm");
        assert_eq!(r["signer"].as_str().unwrap(), signer, "block {n} author");
        assert!(r["statuses"].as_array().unwrap().iter().all(|s| s == 1));
    }
}

/// Besu IBFT 2.0 pays `blockreward` to the coinbase: the producer builds with itself as the
/// coinbase, so the block it seals carries the state root with the reward and imports, with
/// and without transactions.
#[test]
fn ibft2_pays_the_block_reward_to_the_proposer_it_builds_with() {
    let dir = tempfile::tempdir().unwrap();
    let k = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let me = k.node_key().signer().address();
    let a = key(0xa1);
    let mut g: serde_json::Value =
        serde_json::from_slice(&crate::engines::genesis_json(Engine::Ibft2, &[me])).unwrap();
    g["config"]["ibft2"]["blockreward"] = serde_json::json!("0x3e8");
    let genesis = with_alloc(
        &serde_json::to_vec(&g).unwrap(),
        &[address_of(&a)],
        30_000_000,
    );
    let chain = open(dir.path(), &genesis, RaftMembers::new());
    let mut sealer = BftSealer::new(chain.clone(), dir.path(), k.node_key()).unwrap();
    let empty = produce::produce_now(&mut sealer, &chain, &BuildConfig::default())
        .unwrap()
        .unwrap();
    assert_eq!(empty.beneficiary, me);
    assert_eq!(balance(&chain, &me), U256::from(1000), "one reward");
    let build = BuildConfig {
        source: Some(Arc::new(VecTxSource::new(vec![transfer(&a, 0, 1)])) as Arc<dyn TxSource>),
        gas_limit: None,
    };
    let h = produce::produce_now(&mut sealer, &chain, &build)
        .unwrap()
        .unwrap();
    assert_eq!(h.gas_used, 21_000);
    // Block 2's base fee: block 1 was empty, so 7/8 of block 1's 875,000,000.
    let tip = GAS_PRICE - BLOCK1_BASE_FEE * 7 / 8;
    assert_eq!(balance(&chain, &me), U256::from(2000 + 21_000 * tip));
}
