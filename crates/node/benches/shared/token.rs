//! Shared by the `execute` and `devnet_tx` benches: the hand-assembled ERC-20-like token, the
//! genesis state in revm's in-memory database, signing a transfer, and raw revm executing
//! blocks of transactions (the baseline both benches compare against).
// Each bench uses part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use alloy_consensus::{SignableTransaction, Transaction as _, TxEip1559, TxEnvelope, TxLegacy};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256, keccak256};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::hardfork::SpecId;
use revm::state::{AccountInfo, Bytecode};
use revm::{ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use secp256k1::{Message, SECP256K1, SecretKey};

pub(crate) const CHAIN_ID: u64 = 1337;
pub(crate) const GWEI: u128 = 1_000_000_000;
pub(crate) const ETHER: u128 = GWEI * GWEI;
/// Where the token lives (genesis alloc).
pub(crate) const TOKEN: Address = Address::new([
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0e, 0x2c, 0x20,
]);
/// Token units each holder has at genesis.
pub(crate) const TOKENS_EACH: u128 = 1_000_000 * ETHER;
/// Gas limit of a token transfer (it uses at most about 52,000).
pub(crate) const TRANSFER_GAS: u64 = 100_000;

/// `keccak256("transfer(address,uint256)")[..4]`, checked by [`check_constants`].
pub(crate) const TRANSFER_SELECTOR: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
/// `keccak256("Transfer(address,address,uint256)")`, checked by [`check_constants`].
pub(crate) const TRANSFER_TOPIC: &str =
    "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// Panics when the selector or topic above is not what its signature hashes to.
pub(crate) fn check_constants() {
    assert_eq!(
        keccak256("transfer(address,uint256)")[..4],
        TRANSFER_SELECTOR
    );
    assert_eq!(
        hex::encode(keccak256("Transfer(address,address,uint256)")),
        TRANSFER_TOPIC
    );
}

/// The token's runtime code, assembled by hand (offsets in hex). Storage: `balances` at slot
/// 0 as Solidity lays out a `mapping(address => uint256)`: the balance of `a` is at
/// `keccak256(pad32(a) ‖ pad32(0))`. One function, `transfer(address to, uint256 amount)`
/// (selector 0xa9059cbb): reverts when the caller's balance is below `amount`, moves the
/// amount, emits `Transfer(caller, to, amount)` (LOG3: the event topic, from, to; data: the
/// amount) and returns `true`. Any other selector reverts. Minimal on purpose: no
/// `callvalue` or calldata-length checks, no other ERC-20 function.
pub(crate) fn token_runtime() -> Vec<u8> {
    let pieces: &[&str] = &[
        "600035",     // 00: PUSH1 0 CALLDATALOAD           word0 (stack: top last)
        "60e01c",     // 03: PUSH1 0xe0 SHR                 selector = calldata[0..4]
        "63a9059cbb", // 06: PUSH4 0xa9059cbb
        "14",         // 0b: EQ
        "601357",     // 0c: PUSH1 0x13 JUMPI               -> transfer
        "600080fd",   // 0f: PUSH1 0 DUP1 REVERT            unknown selector
        "5b",         // 13: JUMPDEST                       transfer(to, amount):
        "600435",     // 14: PUSH1 4 CALLDATALOAD           raw_to
        "73ffffffffffffffffffffffffffffffffffffffff16", // 17: PUSH20 mask AND  to
        "602435",     // 2d: PUSH1 0x24 CALLDATALOAD        to amt
        "33600052",   // 30: CALLER PUSH1 0 MSTORE          mem[0] = caller (mem[32..64] = 0)
        "6040600020", // 34: PUSH1 0x40 PUSH1 0 SHA3        to amt s_from
        "8054",       // 39: DUP1 SLOAD                     to amt s_from bal
        "8281",       // 3b: DUP3 DUP2                      .. bal amt bal
        "10",         // 3d: LT                             .. bal (bal < amt)
        "608957",     // 3e: PUSH1 0x89 JUMPI               insufficient -> revert
        "829003",     // 41: DUP3 SWAP1 SUB                 to amt s_from (bal - amt)
        "9055",       // 44: SWAP1 SSTORE                   to amt
        "81600052",   // 46: DUP2 PUSH1 0 MSTORE            mem[0] = to
        "6040600020", // 4a: PUSH1 0x40 PUSH1 0 SHA3        to amt s_to
        "8054",       // 4f: DUP1 SLOAD                     to amt s_to bal_to
        "8201",       // 51: DUP3 ADD                       to amt s_to (bal_to + amt)
        "9055",       // 53: SWAP1 SSTORE                   to amt
        "600052",     // 55: PUSH1 0 MSTORE                 to; mem[0] = amt
        "33",         // 58: CALLER                         to caller
        "7f",         // 59: PUSH32 the Transfer topic      to caller topic
        TRANSFER_TOPIC,
        "60206000",   // 7a: PUSH1 0x20 PUSH1 0
        "a3",         // 7e: LOG3 (mem[0..32], topic, caller, to)
        "6001600052", // 7f: PUSH1 1 PUSH1 0 MSTORE
        "60206000f3", // 84: PUSH1 0x20 PUSH1 0 RETURN      true
        "5b",         // 89: JUMPDEST
        "600080fd",   // 8a: PUSH1 0 DUP1 REVERT
    ];
    let code = hex::decode(pieces.concat()).expect("hex");
    assert_eq!(code.len(), 0x8e, "token code length");
    assert_eq!((code[0x13], code[0x89]), (0x5b, 0x5b), "jump targets moved");
    code
}

/// The token's storage slot holding `holder`'s balance.
pub(crate) fn balance_slot(holder: Address) -> B256 {
    let mut preimage = [0u8; 64];
    preimage[12..32].copy_from_slice(holder.as_slice());
    keccak256(preimage)
}

/// The token's genesis alloc entry (geth format): its code, each holder [`TOKENS_EACH`].
pub(crate) fn token_alloc(holders: &[Address]) -> serde_json::Value {
    let storage: serde_json::Map<String, serde_json::Value> = holders
        .iter()
        .map(|h| {
            (
                format!("{}", balance_slot(*h)),
                serde_json::Value::String(format!("{TOKENS_EACH:#066x}")),
            )
        })
        .collect();
    serde_json::json!({
        "balance": "0x0",
        "nonce": "0x1",
        "code": format!("0x{}", hex::encode(token_runtime())),
        "storage": storage,
    })
}

/// `transfer(to, amount)` calldata.
pub(crate) fn transfer_calldata(to: Address, amount: U256) -> Bytes {
    let mut data = TRANSFER_SELECTOR.to_vec();
    data.extend_from_slice(B256::left_padding_from(to.as_slice()).as_slice());
    data.extend_from_slice(&amount.to_be_bytes::<32>());
    Bytes::from(data)
}

/// The `i`th recipient address.
pub(crate) fn recipient(i: u64) -> Address {
    Address::from_slice(&keccak256(format!("recipient {i}"))[12..])
}

/// The genesis state in revm's in-memory database: each of `funded` with `eth_each` wei and
/// [`TOKENS_EACH`] tokens, the token's code.
pub(crate) fn genesis_db(funded: &[Address], eth_each: U256) -> CacheDB<EmptyDB> {
    let mut db = CacheDB::new(EmptyDB::default());
    for a in funded {
        db.insert_account_info(
            *a,
            AccountInfo {
                balance: eth_each,
                ..AccountInfo::default()
            },
        );
    }
    db.insert_account_info(
        TOKEN,
        AccountInfo::from_bytecode(Bytecode::new_raw(Bytes::from(token_runtime()))),
    );
    for a in funded {
        db.insert_account_storage(TOKEN, balance_slot(*a).into(), U256::from(TOKENS_EACH))
            .expect("storage");
    }
    db
}

/// What a signer needs: the key and its address.
pub(crate) fn address_of(key: &SecretKey) -> Address {
    cachet_keyprovider::address_of(&key.public_key(SECP256K1))
}

/// Signs `tx` (EIP-1559 when `fees` is `Some((max_fee, tip))`, else legacy EIP-155 at
/// `legacy_price`) with `key`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign(
    key: &SecretKey,
    nonce: u64,
    fees: Option<(u128, u128)>,
    legacy_price: u128,
    kind: TxKind,
    value: U256,
    input: Bytes,
    gas_limit: u64,
) -> TxEnvelope {
    let seal = |hash: B256| {
        let (id, bytes) = SECP256K1
            .sign_ecdsa_recoverable(&Message::from_digest(hash.0), key)
            .serialize_compact();
        Signature::from_bytes_and_parity(&bytes, i32::from(id) != 0)
    };
    match fees {
        Some((max_fee, tip)) => {
            let tx = TxEip1559 {
                chain_id: CHAIN_ID,
                nonce,
                gas_limit,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: tip,
                to: kind,
                value,
                access_list: Default::default(),
                input,
            };
            let sig = seal(tx.signature_hash());
            tx.into_signed(sig).into()
        }
        None => {
            let tx = TxLegacy {
                chain_id: Some(CHAIN_ID),
                nonce,
                gas_price: legacy_price,
                gas_limit,
                to: kind,
                value,
                input,
            };
            let sig = seal(tx.signature_hash());
            tx.into_signed(sig).into()
        }
    }
}

/// The transaction as revm runs it (the sender given, not recovered).
pub(crate) fn tx_env(tx: &TxEnvelope, sender: Address) -> TxEnv {
    let eip1559 = tx.is_dynamic_fee();
    TxEnv {
        tx_type: if eip1559 { 2 } else { 0 },
        caller: sender,
        gas_limit: tx.gas_limit(),
        gas_price: tx.max_fee_per_gas(),
        gas_priority_fee: if eip1559 {
            tx.max_priority_fee_per_gas()
        } else {
            None
        },
        kind: tx.kind(),
        value: tx.value(),
        data: tx.input().clone(),
        nonce: tx.nonce(),
        chain_id: tx.chain_id(),
        ..TxEnv::default()
    }
}

/// Raw revm (London, [`CHAIN_ID`]): `blocks` in order on a fresh copy of `genesis`, no roots,
/// no store, senders given. Returns the time of the execution loop alone and the gas used.
pub(crate) fn raw_revm(
    genesis: &CacheDB<EmptyDB>,
    blocks: &[(BlockEnv, Vec<TxEnv>)],
) -> (Duration, u64) {
    let mut evm = Context::mainnet()
        .with_db(genesis.clone())
        .with_cfg(CfgEnv::new_with_spec(SpecId::LONDON).with_chain_id(CHAIN_ID))
        .build_mainnet();
    let inputs: Vec<(BlockEnv, Vec<TxEnv>)> = blocks.to_vec();
    let mut gas = 0u64;
    let t = Instant::now();
    for (block, txs) in inputs {
        evm.set_block(block);
        for tx in txs {
            let result = evm.transact_commit(tx).expect("valid transaction");
            gas += result.tx_gas_used();
        }
    }
    (t.elapsed(), gas)
}
