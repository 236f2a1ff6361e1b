//! Block building: what `Executor::build` includes and leaves out (worked out by hand from the
//! transactions' values and gas), and that its outcome is exactly what `Executor::execute`
//! computes for the built body.

mod support;

use alloy_consensus::{SignableTransaction, Signed, TxEip1559, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256, keccak256};
use cachet_execution::{Candidate, Executor, decode_body, recover_senders};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use serde_json::json;
use support::{Hashes, MemState};

const ETHER: u128 = 1_000_000_000_000_000_000;
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

/// A clique genesis through London (London adds the base fee), chain id 1337.
fn genesis(london: bool) -> Genesis {
    let mut config = json!({
        "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
        "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
        "istanbulBlock": 0, "berlinBlock": 0, "clique": {"period": 5, "epoch": 30000}
    });
    if london {
        config["londonBlock"] = json!(0);
    }
    let text = json!({"config": config, "gasLimit": "0x1c9c380", "difficulty": "0x1"});
    Genesis::from_json(text.to_string().as_bytes(), RaftMarker::FromGenesis).unwrap()
}

fn header(gas_limit: u64, base_fee: Option<u64>) -> Header {
    Header {
        number: 1,
        gas_limit,
        timestamp: 1_700_000_001,
        difficulty: U256::from(2),
        base_fee_per_gas: base_fee.map(U256::from),
        ..Header::default()
    }
}

/// A signed legacy transfer of `value` wei to RECIPIENT at 2 wei per gas.
fn transfer(key: &SecretKey, nonce: u64, value: u64, gas_limit: u64) -> Candidate {
    let tx = TxLegacy {
        chain_id: Some(1337),
        nonce,
        gas_price: 2,
        gas_limit,
        to: TxKind::Call(RECIPIENT),
        value: U256::from(value),
        input: Bytes::new(),
    };
    Candidate {
        tx: sign(tx, key).into(),
        sender: address_of(key),
    }
}

fn funded(accounts: &[(Address, u128)]) -> MemState {
    let mut state = MemState::default();
    for (a, wei) in accounts {
        state.insert(*a, 0, U256::from(*wei), Bytes::new(), []);
    }
    state
}

/// Builds, then executes the built body as an importing node does, and checks both agree.
fn build_and_execute(
    executor: &Executor,
    header: &Header,
    state: &MemState,
    candidates: &[Candidate],
) -> cachet_execution::Built {
    let built = executor
        .build(header, COINBASE, candidates, state, &Hashes::default())
        .unwrap();
    // The body travels as RLP: decode it strictly and recover the senders as import does.
    let body = decode_body(&built.body_rlp()).unwrap();
    assert_eq!(body, built.body);
    let senders = recover_senders(&body.transactions).unwrap();
    assert_eq!(senders, built.senders);
    let executed = executor
        .execute(header, COINBASE, &body, &senders, state, &Hashes::default())
        .unwrap();
    assert_eq!(executed, built.outcome, "building and executing disagree");
    let mut sealed = header.clone();
    sealed.transactions_root = body.transactions_root();
    sealed.ommers_hash = body.ommers_hash();
    sealed.gas_used = built.outcome.gas_used;
    sealed.receipts_root = built.outcome.receipts_root;
    sealed.logs_bloom = built.outcome.logs_bloom;
    body.check_against(&sealed).unwrap();
    built.outcome.check_against(&sealed).unwrap();
    built
}

fn hashes(txs: &[TxEnvelope]) -> Vec<alloy_primitives::B256> {
    txs.iter().map(|t| *t.hash()).collect()
}

#[test]
fn builds_valid_transactions_and_skips_bad_ones_with_their_senders_later_ones() {
    let (a, b, c) = (key(0xa1), key(0xb2), key(0xc3));
    let (aa, ba, ca) = (address_of(&a), address_of(&b), address_of(&c));
    // c holds too little for 1000 wei + 21000 × 2.
    let state = funded(&[(aa, ETHER), (ba, ETHER), (ca, 42_999)]);
    let executor = Executor::new(&genesis(false)).unwrap();
    let candidates = vec![
        transfer(&a, 0, 1000, 21_000),
        transfer(&b, 5, 7, 21_000), // nonce gap: b is skipped from here
        transfer(&c, 0, 1000, 21_000),
        transfer(&a, 1, 2000, 21_000),
        transfer(&b, 0, 9, 21_000), // b's later candidate: skipped with it
    ];
    let built = build_and_execute(&executor, &header(30_000_000, None), &state, &candidates);
    assert_eq!(
        hashes(&built.body.transactions),
        hashes(&[candidates[0].tx.clone(), candidates[3].tx.clone()])
    );
    assert_eq!(built.senders, vec![aa, aa]);
    assert_eq!(built.outcome.gas_used, 42_000);
    let changes = &built.outcome.changes.accounts;
    // a paid 1000 + 2000 and 2 × 21000 × 2 wei, its nonce is 2; the recipient has 3000; the
    // fee recipient 84000; b and c are untouched.
    let after = |x: &Address| changes[x].after.unwrap();
    assert_eq!(after(&aa).nonce, 2);
    assert_eq!(after(&aa).balance, U256::from(ETHER - 3000 - 84_000));
    assert_eq!(after(&RECIPIENT).balance, U256::from(3000));
    assert_eq!(after(&COINBASE).balance, U256::from(84_000));
    assert!(!changes.contains_key(&ba) && !changes.contains_key(&ca));
    assert_eq!(built.body.withdrawals, None);
}

#[test]
fn stops_below_a_transfers_gas_and_skips_what_does_not_fit() {
    let keys: Vec<SecretKey> = (1..=4).map(|i| key(0x40 + i)).collect();
    let funds: Vec<(Address, u128)> = keys.iter().map(|k| (address_of(k), ETHER)).collect();
    let state = funded(&funds);
    let executor = Executor::new(&genesis(false)).unwrap();
    // Gas limit 70000: the first transfer leaves 49000; the second asks 60000 (skipped), the
    // third fits (28000 left), the fourth fits (7000 left).
    let candidates = vec![
        transfer(&keys[0], 0, 1, 21_000),
        transfer(&keys[1], 0, 1, 60_000),
        transfer(&keys[2], 0, 1, 21_000),
        transfer(&keys[3], 0, 1, 21_000),
    ];
    let built = build_and_execute(&executor, &header(70_000, None), &state, &candidates);
    assert_eq!(built.outcome.gas_used, 63_000);
    assert_eq!(
        built.senders,
        vec![funds[0].0, funds[2].0, funds[3].0],
        "the 60000-gas one is left out"
    );
    // Gas limit 50000: two transfers leave 8000, less than a transfer: the rest is not tried.
    let built = build_and_execute(&executor, &header(50_000, None), &state, &candidates[2..]);
    assert_eq!(built.outcome.gas_used, 42_000);
    let mut more = candidates[2..].to_vec();
    more.push(transfer(&keys[0], 0, 1, 21_000));
    let built = build_and_execute(&executor, &header(50_000, None), &state, &more);
    assert_eq!(built.senders.len(), 2);
}

#[test]
fn skips_fee_caps_below_the_base_fee_and_pays_the_tip() {
    let (a, b) = (key(0xd1), key(0xd2));
    let (aa, ba) = (address_of(&a), address_of(&b));
    let state = funded(&[(aa, ETHER), (ba, ETHER)]);
    let executor = Executor::new(&genesis(true)).unwrap();
    let dynamic = |k: &SecretKey, max_fee: u128| {
        let tx = TxEip1559 {
            chain_id: 1337,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: 3,
            to: TxKind::Call(RECIPIENT),
            value: U256::from(5),
            ..TxEip1559::default()
        };
        Candidate {
            tx: sign(tx, k).into(),
            sender: address_of(k),
        }
    };
    // Base fee 10: a's cap 9 is too low; b's cap 20 pays 10 burnt + 3 tip per gas.
    let candidates = vec![dynamic(&a, 9), dynamic(&b, 20)];
    let built = build_and_execute(
        &executor,
        &header(30_000_000, Some(10)),
        &state,
        &candidates,
    );
    assert_eq!(built.senders, vec![ba]);
    let changes = &built.outcome.changes.accounts;
    assert_eq!(
        changes[&ba].after.unwrap().balance,
        U256::from(ETHER - 5 - 21_000 * 13)
    );
    assert_eq!(
        changes[&COINBASE].after.unwrap().balance,
        U256::from(21_000 * 3)
    );
}

#[test]
fn builds_an_empty_block_from_no_candidates() {
    let executor = Executor::new(&genesis(false)).unwrap();
    let built = build_and_execute(
        &executor,
        &header(30_000_000, None),
        &MemState::default(),
        &[],
    );
    assert!(built.body.transactions.is_empty());
    assert_eq!(built.body_rlp(), cachet_primitives::block::EMPTY_BODY_RLP);
}

#[test]
fn skips_a_stale_nonce_alone() {
    let a = key(0xe1);
    let aa = address_of(&a);
    let state = funded(&[(aa, ETHER)]);
    let executor = Executor::new(&genesis(false)).unwrap();
    // The second nonce-0 transfer is stale once the first is in: only it is left out, the
    // sender's nonce-1 transfer follows (geth shifts past a too-low nonce).
    let candidates = vec![
        transfer(&a, 0, 1, 21_000),
        transfer(&a, 0, 2, 21_000),
        transfer(&a, 1, 4, 21_000),
    ];
    let built = build_and_execute(&executor, &header(30_000_000, None), &state, &candidates);
    assert_eq!(
        hashes(&built.body.transactions),
        hashes(&[candidates[0].tx.clone(), candidates[2].tx.clone()])
    );
    let changes = &built.outcome.changes.accounts;
    assert_eq!(changes[&RECIPIENT].after.unwrap().balance, U256::from(5));
}
