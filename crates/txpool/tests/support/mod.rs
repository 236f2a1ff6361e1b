//! Shared by the pool's tests: real secp256k1 keys and signatures, a genesis, a map state.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Mutex;

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256};
use cachet_execution::Executor;
use cachet_genesis::{Genesis, RaftMarker};
use cachet_txpool::{AccountState, HeadContext, Pool, PoolConfig};
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};

pub const CHAIN_ID: u64 = 1337;
pub const GAS_LIMIT: u64 = 30_000_000;
pub const ETHER: u128 = 1_000_000_000_000_000_000;

/// A key with its address (computed from the public key here, not by the pool).
#[derive(Clone, Copy)]
pub struct Key {
    pub secret: SecretKey,
    pub address: Address,
}

pub fn key(i: u32) -> Key {
    let mut bytes = [0x11u8; 32];
    bytes[28..].copy_from_slice(&(i + 1).to_be_bytes());
    let secret = SecretKey::from_byte_array(&bytes).unwrap();
    let public = PublicKey::from_secret_key(SECP256K1, &secret).serialize_uncompressed();
    let mut raw = [0u8; 64];
    raw.copy_from_slice(&public[1..]);
    Key {
        secret,
        address: Address::from_raw_public_key(&raw),
    }
}

pub fn sign<T: SignableTransaction<Signature>>(tx: T, key: &Key) -> TxEnvelope
where
    TxEnvelope: From<alloy_consensus::Signed<T>>,
{
    let message = Message::from_digest(tx.signature_hash().0);
    let (recid, compact) = SECP256K1
        .sign_ecdsa_recoverable(&message, &key.secret)
        .serialize_compact();
    let signature = Signature::new(
        U256::from_be_slice(&compact[..32]),
        U256::from_be_slice(&compact[32..]),
        i32::from(recid) == 1,
    );
    TxEnvelope::from(tx.into_signed(signature))
}

/// A legacy EIP-155 transfer of 1 wei.
pub fn legacy(key: &Key, nonce: u64, gas_price: u128) -> TxEnvelope {
    sign(
        TxLegacy {
            chain_id: Some(CHAIN_ID),
            nonce,
            gas_price,
            gas_limit: 21_000,
            to: TxKind::Call(Address::repeat_byte(0xee)),
            value: U256::from(1),
            input: Bytes::new(),
        },
        key,
    )
}

pub fn legacy_with(key: &Key, f: impl FnOnce(&mut TxLegacy)) -> TxEnvelope {
    let mut tx = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce: 0,
        gas_price: 1,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(0xee)),
        value: U256::from(1),
        input: Bytes::new(),
    };
    f(&mut tx);
    sign(tx, key)
}

pub fn eip1559(key: &Key, nonce: u64, max_fee: u128, tip: u128) -> TxEnvelope {
    sign(
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(Address::repeat_byte(0xee)),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        },
        key,
    )
}

/// A clique genesis with every fork through London at block `london` (Berlin and
/// earlier at 0), chain id 1337.
pub fn executor(london: u64) -> Executor {
    let text = format!(
        r#"{{"config":{{"chainId":{CHAIN_ID},"homesteadBlock":0,"eip150Block":0,"eip155Block":0,"eip158Block":0,"byzantiumBlock":0,"constantinopleBlock":0,"petersburgBlock":0,"istanbulBlock":0,"berlinBlock":0,"londonBlock":{london},"clique":{{"period":5,"epoch":30000}}}},"gasLimit":"0x1c9c380","difficulty":"0x1"}}"#
    );
    let genesis = Genesis::from_json(text.as_bytes(), RaftMarker::FromGenesis).unwrap();
    Executor::new(&genesis).unwrap()
}

pub fn pool(config: PoolConfig) -> Pool {
    Pool::new(config, executor(0))
}

pub const fn head(number: u64, base_fee: Option<u64>) -> HeadContext {
    HeadContext {
        number,
        timestamp: 1_000 + number,
        gas_limit: GAS_LIMIT,
        base_fee,
    }
}

/// Accounts by address; absent accounts have nonce 0 and no balance.
#[derive(Default)]
pub struct MapState(pub Mutex<HashMap<Address, (u64, U256)>>);

impl MapState {
    pub fn funded(keys: impl IntoIterator<Item = Key>) -> Self {
        let state = Self::default();
        for k in keys {
            state.set(k.address, 0, U256::from(ETHER));
        }
        state
    }

    pub fn set(&self, address: Address, nonce: u64, balance: U256) {
        self.0.lock().unwrap().insert(address, (nonce, balance));
    }
}

impl AccountState for MapState {
    fn account(&self, address: &Address) -> Result<(u64, U256), String> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(address)
            .copied()
            .unwrap_or_default())
    }
}
