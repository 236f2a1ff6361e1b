//! Property: a block of random transfers between a few funded accounts conserves ether (before
//! London nothing is burnt: what senders lose, recipients and the fee recipient gain), every
//! change's `before` matches the state it applies to, and the result is what the transfers say
//! account by account (value moved, fee = 21000 × gas price, nonces counted).

mod support;

use std::collections::BTreeMap;

use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256, keccak256};
use cachet_execution::{Body, Executor};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;
use proptest::prelude::*;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use support::{Hashes, MemState};

const COINBASE: Address = Address::repeat_byte(0xc0);

fn keys() -> Vec<(SecretKey, Address)> {
    (1u8..=4)
        .map(|b| {
            let key = SecretKey::from_byte_array(&[b; 32]).unwrap();
            let public = PublicKey::from_secret_key(SECP256K1, &key).serialize_uncompressed();
            (key, Address::from_slice(&keccak256(&public[1..])[12..]))
        })
        .collect()
}

fn sign(tx: TxLegacy, key: &SecretKey) -> TxEnvelope {
    let message = Message::from_digest(tx.signature_hash().0);
    let (recid, compact) = SECP256K1
        .sign_ecdsa_recoverable(&message, key)
        .serialize_compact();
    let signature = Signature::new(
        U256::from_be_slice(&compact[..32]),
        U256::from_be_slice(&compact[32..]),
        i32::from(recid) == 1,
    );
    tx.into_signed(signature).into()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn transfers_conserve_ether_and_match_the_arithmetic(
        transfers in proptest::collection::vec((0usize..4, 0usize..5, 0u64..1_000_000, 0u128..50), 0..12)
    ) {
        let keys = keys();
        let genesis = Genesis::from_json(
            br#"{"config": {"chainId": 7, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
                "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
                "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0,
                "clique": {"period": 1}}}"#,
            RaftMarker::FromGenesis,
        )
        .unwrap();
        let executor = Executor::new(&genesis).unwrap();
        let mut state = MemState::default();
        let start = U256::from(10u64.pow(18));
        for (_, address) in &keys {
            state.insert(*address, 0, start, Bytes::new(), []);
        }
        let recipient_extra = Address::repeat_byte(0x77);
        let mut expected: BTreeMap<Address, (u64, U256)> =
            keys.iter().map(|(_, a)| (*a, (0, start))).collect();
        let mut txs = Vec::new();
        let mut senders = Vec::new();
        let mut fees = U256::ZERO;
        for (from, to, value, gas_price) in transfers {
            let (key, sender) = &keys[from];
            let to = keys.get(to).map_or(recipient_extra, |(_, a)| *a);
            let nonce = expected[sender].0;
            txs.push(sign(
                TxLegacy {
                    chain_id: Some(7),
                    nonce,
                    gas_price,
                    gas_limit: 21_000,
                    to: TxKind::Call(to),
                    value: U256::from(value),
                    input: Bytes::new(),
                },
                key,
            ));
            senders.push(*sender);
            let fee = U256::from(21_000u128 * gas_price);
            fees += fee;
            let entry = expected.get_mut(sender).unwrap();
            entry.0 += 1;
            entry.1 -= U256::from(value) + fee;
            expected.entry(to).or_insert((0, U256::ZERO)).1 += U256::from(value);
        }
        if !fees.is_zero() {
            expected.insert(COINBASE, (0, fees));
        }
        // EIP-161: a transfer of 0 to a fresh address leaves no account.
        expected.retain(|_, (nonce, balance)| *nonce != 0 || !balance.is_zero());
        let header = Header { number: 1, gas_limit: 30_000_000, timestamp: 1, ..Header::default() };
        let body = Body { transactions: txs, ..Body::default() };
        let before_total: U256 = state.accounts.values().map(|a| a.balance).sum();
        let outcome = executor
            .execute(&header, COINBASE, &body, &senders, &state, &Hashes::default())
            .unwrap();
        prop_assert_eq!(outcome.gas_used, 21_000 * body.transactions.len() as u64);
        state.apply(&outcome.changes).unwrap();
        let after_total: U256 = state.accounts.values().map(|a| a.balance).sum();
        prop_assert_eq!(before_total, after_total);
        let actual: BTreeMap<Address, (u64, U256)> =
            state.accounts.iter().map(|(a, i)| (*a, (i.nonce, i.balance))).collect();
        prop_assert_eq!(actual, expected);
    }
}
