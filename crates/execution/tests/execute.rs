//! Hand-checked execution on an in-memory state: exact balances, nonces and fees of a
//! transfer, a revert, an out-of-gas creation, rewards, size limits and the refusals. Every
//! expected number is worked out in the comments from the Yellow Paper's gas schedule.

mod support;

use alloy_consensus::{
    SignableTransaction, Signed, TxEip1559, TxEip4844, TxEip4844Variant, TxEnvelope, TxLegacy,
};
use alloy_primitives::{Address, B256, Bloom, Bytes, Signature, TxKind, U256, b256, keccak256};
use cachet_execution::{
    BlockError, Body, Executor, TxError, Unsupported, decode_receipts, encode_receipts,
};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;
use cachet_state::AccountInfo;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use serde_json::{Value, json};
use support::{Hashes, MemState};

const ETHER: u128 = 1_000_000_000_000_000_000;
/// The receipts root of a block whose only transaction is a successful legacy transfer using
/// 21000 gas without logs (mainnet and testnet blocks with one plain transfer carry it).
const ONE_TRANSFER_RECEIPTS_ROOT: B256 =
    b256!("056b23fbba480696b65fe5a59b8f2148a1299103c4f57df839233af2cf4ca2d2");
const COINBASE: Address = Address::repeat_byte(0xc0);
const RECIPIENT: Address = Address::repeat_byte(0x22);

fn key(byte: u8) -> SecretKey {
    SecretKey::from_byte_array(&[byte; 32]).unwrap()
}

fn address_of(key: &SecretKey) -> Address {
    let public = PublicKey::from_secret_key(SECP256K1, key).serialize_uncompressed();
    Address::from_slice(&keccak256(&public[1..])[12..])
}

fn sign<T: SignableTransaction<Signature>>(tx: T, key: &SecretKey) -> Signed<T> {
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

/// A clique genesis (Istanbul unless `extra` adds forks) with `extra` merged into `config`.
fn genesis(extra: Value) -> Genesis {
    let mut config = json!({
        "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
        "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
        "istanbulBlock": 0, "clique": {"period": 5, "epoch": 30000}
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            config.as_object_mut().unwrap().remove(k);
        } else {
            config[k] = v.clone();
        }
    }
    let text = json!({"config": config, "gasLimit": "0x1c9c380", "difficulty": "0x1"});
    Genesis::from_json(text.to_string().as_bytes(), RaftMarker::FromGenesis).unwrap()
}

fn header(number: u64, gas_limit: u64) -> Header {
    Header {
        number,
        gas_limit,
        timestamp: 1_700_000_000 + number,
        difficulty: U256::from(2),
        beneficiary: Address::ZERO,
        ..Header::default()
    }
}

fn legacy(nonce: u64, to: TxKind, value: u64, gas_limit: u64, input: Bytes) -> TxLegacy {
    TxLegacy {
        chain_id: Some(1337),
        nonce,
        gas_price: 2,
        gas_limit,
        to,
        value: U256::from(value),
        input,
    }
}

fn run(
    executor: &Executor,
    state: &MemState,
    txs: Vec<TxEnvelope>,
    senders: Vec<Address>,
) -> Result<cachet_execution::BlockOutcome, BlockError> {
    let body = Body {
        transactions: txs,
        ..Body::default()
    };
    executor.execute(
        &header(1, 30_000_000),
        COINBASE,
        &body,
        &senders,
        state,
        &Hashes::default(),
    )
}

fn funded(sender: Address, wei: u128) -> MemState {
    let mut state = MemState::default();
    state.insert(sender, 0, U256::from(wei), Bytes::new(), []);
    state
}

fn account(nonce: u64, balance: u128) -> Option<AccountInfo> {
    Some(AccountInfo {
        nonce,
        balance: U256::from(balance),
        ..AccountInfo::default()
    })
}

#[test]
fn legacy_transfer_moves_value_and_pays_the_fee_to_the_beneficiary() {
    let key = key(0x11);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    let tx = sign(
        legacy(0, TxKind::Call(RECIPIENT), 1000, 21_000, Bytes::new()),
        &key,
    );
    let outcome = run(&executor, &state, vec![tx.into()], vec![sender]).unwrap();

    // 21000 gas at 2 wei: the sender pays 1000 + 42000, the clique signer (no block reward)
    // receives the 42000 fee.
    assert_eq!(outcome.gas_used, 21_000);
    let changes = &outcome.changes.accounts;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[&sender].before, account(0, ETHER));
    assert_eq!(changes[&sender].after, account(1, ETHER - 43_000));
    assert_eq!(changes[&RECIPIENT].before, None);
    assert_eq!(changes[&RECIPIENT].after, account(0, 1000));
    assert_eq!(changes[&COINBASE].after, account(0, 42_000));
    assert!(changes.values().all(|c| !c.wiped && c.storage.is_empty()));
    assert!(outcome.changes.codes.is_empty());
    assert_eq!(outcome.receipts_root, ONE_TRANSFER_RECEIPTS_ROOT);
    assert_eq!(outcome.logs_bloom, Bloom::ZERO);
    assert_eq!(outcome.receipts.len(), 1);
    assert!(outcome.receipts[0].is_success());
    assert_eq!(outcome.receipts[0].cumulative_gas_used(), 21_000);

    let mut good = header(1, 30_000_000);
    good.gas_used = 21_000;
    good.receipts_root = ONE_TRANSFER_RECEIPTS_ROOT;
    outcome.check_against(&good).unwrap();
    let mut wrong_gas = good.clone();
    wrong_gas.gas_used = 21_001;
    assert!(matches!(
        outcome.check_against(&wrong_gas),
        Err(BlockError::GasUsed {
            header: 21_001,
            computed: 21_000
        })
    ));
    let mut wrong_root = good.clone();
    wrong_root.receipts_root = B256::repeat_byte(1);
    assert!(matches!(
        outcome.check_against(&wrong_root),
        Err(BlockError::ReceiptsRoot { .. })
    ));
    let mut wrong_bloom = good;
    wrong_bloom.logs_bloom = Bloom::repeat_byte(1);
    assert!(matches!(
        outcome.check_against(&wrong_bloom),
        Err(BlockError::LogsBloom { .. })
    ));

    // The stored form round-trips.
    assert_eq!(
        decode_receipts(&encode_receipts(&outcome.receipts)).unwrap(),
        outcome.receipts
    );
}

#[test]
fn a_revert_charges_the_gas_used_and_keeps_the_nonce_increment() {
    let key = key(0x12);
    let sender = address_of(&key);
    let mut state = funded(sender, ETHER);
    // PUSH1 0 PUSH1 0 REVERT: 3 + 3 gas, no memory expansion.
    let reverter = Address::repeat_byte(0x33);
    state.insert(
        reverter,
        1,
        U256::ZERO,
        Bytes::from_static(&[0x60, 0, 0x60, 0, 0xfd]),
        [],
    );
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    let tx = sign(
        legacy(0, TxKind::Call(reverter), 0, 30_000, Bytes::new()),
        &key,
    );
    let outcome = run(&executor, &state, vec![tx.into()], vec![sender]).unwrap();

    // 21000 intrinsic + 6: 21006 gas at 2 wei = 42012 wei.
    assert_eq!(outcome.gas_used, 21_006);
    assert!(!outcome.receipts[0].is_success());
    let changes = &outcome.changes.accounts;
    assert_eq!(changes[&sender].after, account(1, ETHER - 42_012));
    assert_eq!(changes[&COINBASE].after, account(0, 42_012));
    assert!(!changes.contains_key(&reverter), "{changes:?}");
}

#[test]
fn an_out_of_gas_creation_consumes_all_gas_and_creates_nothing() {
    let key = key(0x13);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    // JUMPDEST PUSH1 0 JUMP: loops until the gas is gone. Intrinsic (Istanbul): 53000 for a
    // creation + 3 non-zero bytes × 16 + 1 zero byte × 4 = 53052 < 60000.
    let init = Bytes::from_static(&[0x5b, 0x60, 0x00, 0x56]);
    let tx = sign(legacy(0, TxKind::Create, 0, 60_000, init), &key);
    let outcome = run(&executor, &state, vec![tx.into()], vec![sender]).unwrap();

    assert_eq!(outcome.gas_used, 60_000);
    assert!(!outcome.receipts[0].is_success());
    let changes = &outcome.changes.accounts;
    assert_eq!(
        changes.len(),
        2,
        "only the sender and the fee recipient: {changes:?}"
    );
    assert_eq!(changes[&sender].after, account(1, ETHER - 120_000));
    assert_eq!(changes[&COINBASE].after, account(0, 120_000));
    assert!(outcome.changes.codes.is_empty());
}

#[test]
fn storage_writes_and_logs_appear_in_the_outcome() {
    let key = key(0x14);
    let sender = address_of(&key);
    let mut state = funded(sender, ETHER);
    // PUSH1 0x2a PUSH1 0x07 SSTORE; PUSH1 0 PUSH1 0 LOG0; STOP
    let contract = Address::repeat_byte(0x44);
    let code = [0x60, 0x2a, 0x60, 0x07, 0x55, 0x60, 0, 0x60, 0, 0xa0, 0x00];
    state.insert(
        contract,
        1,
        U256::ZERO,
        Bytes::copy_from_slice(&code),
        [(U256::from(9), U256::from(1))],
    );
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    let tx = sign(
        legacy(0, TxKind::Call(contract), 0, 100_000, Bytes::new()),
        &key,
    );
    let outcome = run(&executor, &state, vec![tx.into()], vec![sender]).unwrap();

    // Istanbul: 21000 + 3 + 3 + SSTORE of a fresh slot (EIP-2200: 20000) + 3 + 3 + LOG0 375.
    assert_eq!(outcome.gas_used, 21_000 + 6 + 20_000 + 6 + 375);
    let slot = &outcome.changes.accounts[&contract].storage[&U256::from(7)];
    assert_eq!((slot.before, slot.after), (U256::ZERO, U256::from(0x2a)));
    let logs = outcome.receipts[0].logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].address, contract);
    let mut bloom = Bloom::ZERO;
    bloom.accrue(alloy_primitives::BloomInput::Raw(contract.as_slice()));
    assert_eq!(outcome.logs_bloom, bloom);
}

#[test]
fn goquorum_max_code_size_raises_the_contract_size_limit() {
    let key = key(0x15);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    // PUSH2 25000 PUSH1 0 RETURN: deploys 25000 zero bytes, above EIP-170's 24576.
    let init = Bytes::from_static(&[0x61, 0x61, 0xa8, 0x60, 0x00, 0xf3]);
    let tx: TxEnvelope = sign(legacy(0, TxKind::Create, 0, 6_000_000, init), &key).into();
    let code_hash = keccak256(vec![0u8; 25_000]);
    // The contract's address: keccak256(rlp([sender, 0]))[12..] (Yellow Paper, eq. 85).
    let mut preimage = vec![0xd6, 0x94];
    preimage.extend_from_slice(sender.as_slice());
    preimage.push(0x80);
    let contract = Address::from_slice(&keccak256(&preimage)[12..]);
    let deployed = |executor: &Executor| {
        let outcome = run(executor, &state, vec![tx.clone()], vec![sender]).unwrap();
        let success = outcome.receipts[0].is_success();
        if success {
            assert_eq!(outcome.changes.codes.len(), 1);
            assert_eq!(outcome.changes.codes[&code_hash].len(), 25_000);
            let after = outcome.changes.accounts[&contract].after.unwrap();
            assert_eq!((after.nonce, after.code_hash), (1, code_hash));
        } else {
            assert!(outcome.changes.codes.is_empty());
            assert!(!outcome.changes.accounts.contains_key(&contract));
        }
        success
    };
    assert!(!deployed(&Executor::new(&genesis(json!({}))).unwrap()));
    let quorum = genesis(json!({"isQuorum": true, "maxCodeSize": 32, "enableGasPriceBlock": 0}));
    assert!(deployed(&Executor::new(&quorum).unwrap()));
    // From maxCodeSizeChangeBlock on only: block 1 is before block 2.
    let later = genesis(json!({"maxCodeSize": 32, "maxCodeSizeChangeBlock": 2}));
    assert!(!deployed(&Executor::new(&later).unwrap()));
    let besu = genesis(json!({"contractSizeLimit": 30000}));
    assert!(deployed(&Executor::new(&besu).unwrap()));
}

#[test]
fn ethash_pays_block_and_ommer_rewards() {
    let mut config = json!({"ethash": {}, "clique": null});
    config["chainId"] = json!(1);
    let executor = Executor::new(&genesis(config)).unwrap();
    let miner = Address::repeat_byte(0x55);
    let uncle_miner = Address::repeat_byte(0x66);
    let mut block = header(10, 8_000_000);
    block.beneficiary = miner;
    let ommer = Header {
        number: 9,
        beneficiary: uncle_miner,
        ..Header::default()
    };
    let body = Body {
        ommers: vec![ommer],
        ..Body::default()
    };
    let outcome = executor
        .execute(
            &block,
            miner,
            &body,
            &[],
            &MemState::default(),
            &Hashes::default(),
        )
        .unwrap();
    // Petersburg: 2 ether + 1/32 of it per ommer; the ommer one block back gets 7/8 of 2 ether.
    let changes = &outcome.changes.accounts;
    assert_eq!(
        changes[&miner].after,
        account(0, 2 * ETHER + 2 * ETHER / 32)
    );
    assert_eq!(changes[&uncle_miner].after, account(0, 2 * ETHER * 7 / 8));
}

#[test]
fn besu_bft_block_reward_goes_to_the_mining_beneficiary() {
    let fixed = Address::repeat_byte(0x77);
    let config = json!({
        "clique": null,
        "qbft": {"blockreward": "0x5", "miningbeneficiary": fixed.to_string()}
    });
    let executor = Executor::new(&genesis(config)).unwrap();
    let outcome = executor
        .execute(
            &header(1, 8_000_000),
            COINBASE,
            &Body::default(),
            &[],
            &MemState::default(),
            &Hashes::default(),
        )
        .unwrap();
    assert_eq!(outcome.changes.accounts.len(), 1);
    assert_eq!(outcome.changes.accounts[&fixed].after, account(0, 5));
}

#[test]
fn refuses_invalid_transactions_naming_the_rule_and_index() {
    let key = key(0x16);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    let ok: TxEnvelope = sign(
        legacy(0, TxKind::Call(RECIPIENT), 1, 21_000, Bytes::new()),
        &key,
    )
    .into();
    // Nonce 5 while the account's is 1 after the first transaction.
    let bad_nonce: TxEnvelope = sign(
        legacy(5, TxKind::Call(RECIPIENT), 1, 21_000, Bytes::new()),
        &key,
    )
    .into();
    let err = run(
        &executor,
        &state,
        vec![ok.clone(), bad_nonce],
        vec![sender, sender],
    )
    .unwrap_err();
    assert!(
        matches!(err, BlockError::InvalidTransaction { index: 1, .. }),
        "{err}"
    );

    // In a 30M block, after a transfer that used 21000 (of its 20M limit), 29_979_000 gas is
    // left: a 29_990_000 gas limit does not fit (geth's gas pool: limits against gas used).
    let big: TxEnvelope = sign(
        legacy(1, TxKind::Call(RECIPIENT), 1, 29_990_000, Bytes::new()),
        &key,
    )
    .into();
    let first: TxEnvelope = sign(
        legacy(0, TxKind::Call(RECIPIENT), 1, 20_000_000, Bytes::new()),
        &key,
    )
    .into();
    let err = run(&executor, &state, vec![first, big], vec![sender, sender]).unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::BlockGasExceeded {
                index: 1,
                tx_gas: 29_990_000,
                available: 29_979_000
            }
        ),
        "{err}"
    );

    // An EIP-1559 transaction before London.
    let tip = sign(
        TxEip1559 {
            chain_id: 1337,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 2,
            max_priority_fee_per_gas: 1,
            to: TxKind::Call(RECIPIENT),
            ..TxEip1559::default()
        },
        &key,
    );
    let err = run(&executor, &state, vec![tip.into()], vec![sender]).unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::Transaction {
                index: 0,
                source: TxError::TypeNotActive { tx_type: 2, .. }
            }
        ),
        "{err}"
    );

    // The sender list must match.
    let err = run(&executor, &state, vec![ok], vec![]).unwrap_err();
    assert!(matches!(err, BlockError::SendersMismatch { .. }));
    assert!(!err.is_invalid_block());
}

#[test]
fn refuses_goquorum_private_transactions() {
    let key = key(0x17);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    let executor = Executor::new(&genesis(json!({"isQuorum": true, "chainId": 10}))).unwrap();
    // Chain id 1 in EIP-155 gives v = 37/38, GoQuorum's private marker.
    let mut tx = legacy(0, TxKind::Call(RECIPIENT), 0, 21_000, Bytes::new());
    tx.chain_id = Some(1);
    let private: TxEnvelope = sign(tx, &key).into();
    let err = run(&executor, &state, vec![private.clone()], vec![sender]).unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::Transaction {
                index: 0,
                source: TxError::PrivateTransaction
            }
        ),
        "{err}"
    );
    assert_eq!(
        executor.check_transaction(&private, 1, 0),
        Err(TxError::PrivateTransaction)
    );
}

#[test]
fn check_transaction_applies_type_chain_id_and_size_rules() {
    let key = key(0x18);
    let london = Executor::new(&genesis(json!({"berlinBlock": 0, "londonBlock": 10}))).unwrap();
    let tip: TxEnvelope = sign(
        TxEip1559 {
            chain_id: 1337,
            gas_limit: 21_000,
            max_fee_per_gas: 2,
            to: TxKind::Call(RECIPIENT),
            ..TxEip1559::default()
        },
        &key,
    )
    .into();
    assert!(matches!(
        london.check_transaction(&tip, 9, 0),
        Err(TxError::TypeNotActive {
            tx_type: 2,
            fork: "London",
            ..
        })
    ));
    assert_eq!(london.check_transaction(&tip, 10, 0), Ok(()));

    let mut other_chain = legacy(0, TxKind::Call(RECIPIENT), 0, 21_000, Bytes::new());
    other_chain.chain_id = Some(5);
    let other_chain: TxEnvelope = sign(other_chain, &key).into();
    assert_eq!(
        london.check_transaction(&other_chain, 1, 0),
        Err(TxError::ChainId {
            expected: 1337,
            found: 5
        })
    );

    let blob: TxEnvelope = TxEnvelope::Eip4844(sign(
        <TxEip4844Variant>::TxEip4844(TxEip4844::default()),
        &key,
    ));
    assert!(matches!(
        london.check_transaction(&blob, 20, 0),
        Err(TxError::TypeUnsupported { tx_type: 3, .. })
    ));

    // GoQuorum's default txnSizeLimit is 64 KiB; 70000 bytes of data exceed it.
    let quorum = Executor::new(&genesis(
        json!({"isQuorum": true, "enableGasPriceBlock": 0}),
    ))
    .unwrap();
    let large: TxEnvelope = sign(
        legacy(
            0,
            TxKind::Call(RECIPIENT),
            0,
            5_000_000,
            Bytes::from(vec![1u8; 70_000]),
        ),
        &key,
    )
    .into();
    assert!(matches!(
        quorum.check_transaction(&large, 1, 0),
        Err(TxError::TooLarge { limit: 65_536, .. })
    ));
    let raised = Executor::new(&genesis(
        json!({"isQuorum": true, "txnSizeLimit": 128, "enableGasPriceBlock": 0}),
    ))
    .unwrap();
    assert_eq!(raised.check_transaction(&large, 1, 0), Ok(()));
    // Replay-protected before eip155Block.
    let pre155 = Executor::new(&genesis(
        json!({"eip155Block": 5, "eip158Block": 5, "byzantiumBlock": 5,
        "constantinopleBlock": 5, "petersburgBlock": 5, "istanbulBlock": 5}),
    ))
    .unwrap();
    let protected: TxEnvelope = sign(
        legacy(0, TxKind::Call(RECIPIENT), 0, 21_000, Bytes::new()),
        &key,
    )
    .into();
    assert_eq!(
        pre155.check_transaction(&protected, 4, 0),
        Err(TxError::ReplayProtectionNotActive)
    );
    assert_eq!(pre155.check_transaction(&protected, 5, 0), Ok(()));
}

#[test]
fn refuses_unsupported_genesis_settings_naming_the_key() {
    let refused = |extra: Value| Executor::new(&genesis(extra)).unwrap_err();
    assert!(matches!(
        refused(
            json!({"berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 0, "cancunTime": 0, "clique": null, "qbft": {}})
        ),
        Unsupported::Fork {
            key: "cancunTime",
            ..
        }
    ));
    assert!(matches!(
        refused(json!({"berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 0})),
        Unsupported::Fork {
            key: "shanghaiTime",
            ..
        }
    ));
    assert!(matches!(
        refused(json!({"petersburgBlock": 5, "istanbulBlock": 5})),
        Unsupported::Fork {
            key: "constantinopleBlock",
            ..
        }
    ));
    assert!(matches!(
        refused(json!({"berlinBlock": 0, "shanghaiTime": 0, "clique": null, "qbft": {}})),
        Unsupported::ForkOrder {
            earlier: "londonBlock",
            later: "shanghaiTime",
            problem: "is missing"
        }
    ));
    assert!(matches!(
        refused(
            json!({"byzantiumBlock": 10, "constantinopleBlock": 5, "petersburgBlock": 5, "istanbulBlock": 5})
        ),
        Unsupported::ForkOrder {
            earlier: "byzantiumBlock",
            later: "constantinopleBlock",
            problem: "comes after it"
        }
    ));
    let key_of = |u: Unsupported| match u {
        Unsupported::Key { key, .. } => key,
        other => panic!("unexpected {other}"),
    };
    assert_eq!(
        key_of(refused(json!({"daoForkBlock": 0, "daoForkSupport": true}))),
        "config.daoForkSupport"
    );
    assert_eq!(
        key_of(refused(json!({"zeroBaseFee": true}))),
        "config.zeroBaseFee"
    );
    assert_eq!(
        key_of(refused(json!({"privacyPrecompileBlock": 0}))),
        "config.privacyPrecompileBlock"
    );
    assert_eq!(
        key_of(refused(
            json!({"transitions": [{"block": 5, "blockReward": "0x1"}]})
        )),
        "config.transitions[0].blockReward"
    );
    assert!(matches!(
        refused(json!({"maxCodeSize": 10})),
        Unsupported::OutOfRange {
            key: "config.maxCodeSize",
            value: 10,
            ..
        }
    ));
    assert!(matches!(
        refused(json!({"isQuorum": true, "txnSizeLimit": 200})),
        Unsupported::OutOfRange {
            key: "config.txnSizeLimit",
            value: 200,
            ..
        }
    ));
    assert!(matches!(
        refused(json!({"maxCodeSize": 32, "maxCodeSizeConfig": [{"block": 0, "size": 32}]})),
        Unsupported::Invalid {
            key: "config.maxCodeSize",
            ..
        }
    ));
    assert!(matches!(
        refused(json!({"maxCodeSizeConfig": [{"block": 5, "size": 32}, {"block": 4, "size": 40}]})),
        Unsupported::Invalid {
            key: "config.maxCodeSizeConfig",
            ..
        }
    ));
    let message = refused(json!({"zeroBaseFee": true})).to_string();
    assert!(
        message.starts_with("genesis config.zeroBaseFee is set"),
        "{message}"
    );
    // A DAO fork block without support is only a header rule: accepted.
    Executor::new(&genesis(json!({"daoForkBlock": 0}))).unwrap();
    // Shanghai on Besu's QBFT is accepted.
    Executor::new(&genesis(
        json!({"berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 0, "clique": null, "qbft": {}}),
    ))
    .unwrap();
}

#[test]
fn withdrawals_are_required_exactly_from_shanghai() {
    let executor = Executor::new(&genesis(json!({
        "berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 1_700_000_005u64, "clique": null, "qbft": {}
    })))
    .unwrap();
    let mut before = header(1, 8_000_000);
    before.base_fee_per_gas = Some(U256::from(7));
    let err = executor
        .execute(
            &before,
            COINBASE,
            &Body {
                withdrawals: Some(vec![]),
                ..Body::default()
            },
            &[],
            &MemState::default(),
            &Hashes::default(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::WithdrawalsFork {
                found: "present",
                ..
            }
        ),
        "{err}"
    );
    let mut after = header(5, 8_000_000);
    after.base_fee_per_gas = Some(U256::from(7));
    let err = executor
        .execute(
            &after,
            COINBASE,
            &Body::default(),
            &[],
            &MemState::default(),
            &Hashes::default(),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::WithdrawalsFork {
                found: "missing",
                ..
            }
        ),
        "{err}"
    );
    // 3 gwei to one address: 3e9 wei.
    let to = Address::repeat_byte(0x99);
    let withdrawal = alloy_eips::eip4895::Withdrawal {
        index: 0,
        validator_index: 1,
        address: to,
        amount: 3,
    };
    let outcome = executor
        .execute(
            &after,
            COINBASE,
            &Body {
                withdrawals: Some(vec![withdrawal]),
                ..Body::default()
            },
            &[],
            &MemState::default(),
            &Hashes::default(),
        )
        .unwrap();
    assert_eq!(
        outcome.changes.accounts[&to].after,
        account(0, 3_000_000_000)
    );
}

/// A store that fails every read.
struct BrokenStore;

impl cachet_state::StateView for BrokenStore {
    fn account(&self, _: &Address) -> Result<Option<AccountInfo>, cachet_state::StateError> {
        Err(cachet_state::StateError::Corrupt {
            what: "test".into(),
        })
    }
    fn storage(&self, _: &Address, _: &U256) -> Result<U256, cachet_state::StateError> {
        Err(cachet_state::StateError::Corrupt {
            what: "test".into(),
        })
    }
    fn code(&self, _: &B256) -> Result<Option<Bytes>, cachet_state::StateError> {
        Err(cachet_state::StateError::Corrupt {
            what: "test".into(),
        })
    }
}

#[test]
fn a_failing_store_is_a_state_error_not_an_invalid_block() {
    let key = key(0x19);
    let sender = address_of(&key);
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    let tx: TxEnvelope = sign(
        legacy(0, TxKind::Call(RECIPIENT), 1, 21_000, Bytes::new()),
        &key,
    )
    .into();
    let body = Body {
        transactions: vec![tx],
        ..Body::default()
    };
    let err = executor
        .execute(
            &header(1, 30_000_000),
            COINBASE,
            &body,
            &[sender],
            &BrokenStore,
            &Hashes::default(),
        )
        .unwrap_err();
    assert!(
        matches!(&err, BlockError::State { source: cachet_state::StateError::Corrupt { what } } if what == "test"),
        "{err}"
    );
    assert!(!err.is_invalid_block());
}

#[test]
fn goquorum_refuses_gas_prices_until_gas_price_is_enabled() {
    let key = key(0x1a);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    let paid: TxEnvelope = sign(
        legacy(0, TxKind::Call(RECIPIENT), 1, 21_000, Bytes::new()),
        &key,
    )
    .into();
    let mut free = legacy(0, TxKind::Call(RECIPIENT), 1, 21_000, Bytes::new());
    free.gas_price = 0;
    let free: TxEnvelope = sign(free, &key).into();

    let quorum = Executor::new(&genesis(json!({"isQuorum": true}))).unwrap();
    let err = run(&quorum, &state, vec![paid.clone()], vec![sender]).unwrap_err();
    assert!(
        matches!(
            err,
            BlockError::Transaction {
                index: 0,
                source: TxError::GasPriceNotEnabled { gas_price: 2 }
            }
        ),
        "{err}"
    );
    // Free gas: the sender pays only the value; the signer receives nothing.
    let outcome = run(&quorum, &state, vec![free], vec![sender]).unwrap();
    assert_eq!(outcome.gas_used, 21_000);
    assert_eq!(
        outcome.changes.accounts[&sender].after,
        account(1, ETHER - 1)
    );
    assert!(!outcome.changes.accounts.contains_key(&COINBASE));

    // enableGasPriceBlock 1 (block 1 is the block executed) and a transitions entry both enable it.
    let enabled = Executor::new(&genesis(
        json!({"isQuorum": true, "enableGasPriceBlock": 1}),
    ))
    .unwrap();
    run(&enabled, &state, vec![paid.clone()], vec![sender]).unwrap();
    let transition = Executor::new(&genesis(json!({
        "isQuorum": true, "transitions": [{"block": 1, "gasPriceEnabled": true}]
    })))
    .unwrap();
    assert_eq!(transition.check_transaction(&paid, 1, 0), Ok(()));
    assert_eq!(
        transition.check_transaction(&paid, 0, 0),
        Err(TxError::GasPriceNotEnabled { gas_price: 2 })
    );
    // Not a GoQuorum chain: no such rule.
    let plain = Executor::new(&genesis(json!({}))).unwrap();
    assert_eq!(plain.check_transaction(&paid, 0, 0), Ok(()));
}

#[test]
fn a_besu_genesis_with_only_berlin_block_has_every_earlier_fork() {
    // Besu's QBFT tutorial genesis: `berlinBlock: 0` and nothing before it.
    let text = json!({
        "config": {"chainId": 1337, "berlinBlock": 0, "qbft": {"blockperiodseconds": 2}},
        "gasLimit": "0x1fffffffffffff", "difficulty": "0x1"
    });
    let besu = Genesis::from_json(text.to_string().as_bytes(), RaftMarker::FromGenesis).unwrap();
    let executor = Executor::new(&besu).unwrap();
    let key = key(0x1b);
    let sender = address_of(&key);
    let state = funded(sender, ETHER);
    // EIP-155 and EIP-2930 are valid; EIP-1559 is not (no London).
    let protected: TxEnvelope = sign(
        legacy(0, TxKind::Call(RECIPIENT), 1, 21_000, Bytes::new()),
        &key,
    )
    .into();
    let access_list: TxEnvelope = sign(
        alloy_consensus::TxEip2930 {
            chain_id: 1337,
            nonce: 1,
            gas_price: 2,
            gas_limit: 21_000,
            to: TxKind::Call(RECIPIENT),
            ..alloy_consensus::TxEip2930::default()
        },
        &key,
    )
    .into();
    let outcome = run(
        &executor,
        &state,
        vec![protected, access_list],
        vec![sender, sender],
    )
    .unwrap();
    assert_eq!(outcome.gas_used, 42_000);
    assert!(matches!(
        outcome.receipts[1],
        alloy_consensus::ReceiptEnvelope::Eip2930(_)
    ));
    let tip: TxEnvelope = sign(
        TxEip1559 {
            chain_id: 1337,
            gas_limit: 21_000,
            to: TxKind::Call(RECIPIENT),
            ..TxEip1559::default()
        },
        &key,
    )
    .into();
    assert!(matches!(
        executor.check_transaction(&tip, 1, 0),
        Err(TxError::TypeNotActive { tx_type: 2, .. })
    ));
}

#[test]
fn the_executor_and_its_outcome_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Executor>();
    send_sync::<cachet_execution::BlockOutcome>();
    send_sync::<Body>();
    send_sync::<BlockError>();
}

#[test]
fn selfdestruct_deletes_the_account_and_wipes_its_storage() {
    let key = key(0x1c);
    let sender = address_of(&key);
    let mut state = funded(sender, ETHER);
    // PUSH20 heir SELFDESTRUCT, holding 100 wei and slot 1 = 5.
    let heir = Address::repeat_byte(0x88);
    let mut code = vec![0x73];
    code.extend_from_slice(heir.as_slice());
    code.push(0xff);
    let doomed = Address::repeat_byte(0x99);
    state.insert(
        doomed,
        1,
        U256::from(100),
        Bytes::from(code),
        [(U256::from(1), U256::from(5))],
    );
    let executor = Executor::new(&genesis(json!({}))).unwrap();
    let tx = sign(
        legacy(0, TxKind::Call(doomed), 0, 100_000, Bytes::new()),
        &key,
    );
    let outcome = run(&executor, &state, vec![tx.into()], vec![sender]).unwrap();

    // Istanbul: 21000 + PUSH20 3 + SELFDESTRUCT 5000 + 25000 (value sent to a new account)
    // = 51003, minus the 24000 SELFDESTRUCT refund (below half of 51003) = 27003.
    assert_eq!(outcome.gas_used, 27_003);
    let change = &outcome.changes.accounts[&doomed];
    assert!(change.wiped);
    assert_eq!(change.after, None);
    assert_eq!(outcome.changes.accounts[&heir].after, account(0, 100));
    assert_eq!(
        outcome.changes.accounts[&sender].after,
        account(1, ETHER - 54_006)
    );
    state.apply(&outcome.changes).unwrap();
    assert!(!state.accounts.contains_key(&doomed));
    assert!(!state.storage.contains_key(&doomed));
}
