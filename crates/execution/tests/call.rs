//! `Executor::call` / `Executor::estimate_gas` on an in-memory state: what the EVM returns for
//! hand-assembled code whose results are known facts (opcode semantics, gas schedule), and
//! geth's call rules (no nonce check, zero-price calls see BASEFEE 0, overrides).

mod support;

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use cachet_execution::{
    AccountOverride, CallBlock, CallError, CallLimits, CallRequest, CallStatus, Executor,
    StateOverride,
};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;
use support::{Hashes, MemState};

const AUTHOR: Address = Address::repeat_byte(0xc0);
const FUNDED: Address = Address::repeat_byte(0x11);
const CONTRACT: Address = Address::repeat_byte(0xcc);

fn executor() -> Executor {
    let genesis = Genesis::from_json(
        br#"{"config": {"chainId": 7, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
            "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": {"period": 1}}}"#,
        RaftMarker::FromGenesis,
    )
    .unwrap();
    Executor::new(&genesis).unwrap()
}

fn header() -> Header {
    Header {
        number: 9,
        timestamp: 1_700_000_000,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(U256::from(7)),
        ..Header::default()
    }
}

/// A state with a funded account and `code` at [`CONTRACT`].
fn state(code: &str) -> MemState {
    let mut s = MemState::default();
    s.insert(FUNDED, 3, U256::from(10u64.pow(18)), Bytes::new(), []);
    s.insert(
        CONTRACT,
        1,
        U256::ZERO,
        Bytes::from(hex::decode(code).unwrap()),
        [(U256::from(1), U256::from(5))],
    );
    s
}

fn to_contract() -> CallRequest {
    CallRequest {
        from: Some(FUNDED),
        to: Some(CONTRACT),
        ..CallRequest::default()
    }
}

fn word(n: u64) -> Bytes {
    Bytes::from(U256::from(n).to_be_bytes::<32>().to_vec())
}

fn call(code: &str, request: &CallRequest, overrides: &StateOverride) -> (CallStatus, Bytes) {
    let h = header();
    let out = executor()
        .call(
            CallBlock {
                header: &h,
                author: AUTHOR,
            },
            &state(code),
            &Hashes(BTreeMap::new()),
            request,
            overrides,
            CallLimits::gas_cap(50_000_000),
        )
        .unwrap();
    (out.status, out.output)
}

fn estimate(code: &str, request: &CallRequest) -> Result<u64, CallError> {
    let h = header();
    executor().estimate_gas(
        CallBlock {
            header: &h,
            author: AUTHOR,
        },
        &state(code),
        &Hashes(BTreeMap::new()),
        request,
        &StateOverride::new(),
        CallLimits::gas_cap(50_000_000),
    )
}

/// `OP; PUSH1 0 MSTORE; PUSH1 32 PUSH1 0 RETURN`: returns one opcode's value as a word.
fn returning(op: &str) -> String {
    format!("{op}60005260206000f3")
}

#[test]
fn the_block_context_is_the_headers_and_a_free_call_sees_basefee_zero() {
    let none = StateOverride::new();
    // NUMBER, TIMESTAMP, COINBASE (the author), GASLIMIT.
    assert_eq!(call(&returning("43"), &to_contract(), &none).1, word(9));
    assert_eq!(
        call(&returning("42"), &to_contract(), &none).1,
        word(1_700_000_000)
    );
    let coinbase = call(&returning("41"), &to_contract(), &none).1;
    assert_eq!(&coinbase[12..], AUTHOR.as_slice());
    assert_eq!(
        call(&returning("45"), &to_contract(), &none).1,
        word(30_000_000)
    );
    // BASEFEE: 0 for a call that pays nothing (geth's NoBaseFee), the header's when it pays.
    assert_eq!(call(&returning("48"), &to_contract(), &none).1, word(0));
    let paying = CallRequest {
        gas_price: Some(7),
        ..to_contract()
    };
    assert_eq!(call(&returning("48"), &paying, &none).1, word(7));
    // GASPRICE as paid.
    let eip1559 = CallRequest {
        max_fee_per_gas: Some(20),
        max_priority_fee_per_gas: Some(2),
        ..to_contract()
    };
    assert_eq!(call(&returning("3a"), &eip1559, &none).1, word(9));
}

#[test]
fn a_call_ignores_the_nonce_and_a_create_returns_the_runtime_code() {
    let none = StateOverride::new();
    let stale_nonce = CallRequest {
        nonce: Some(0),
        ..to_contract()
    };
    assert_eq!(
        call(&returning("43"), &stale_nonce, &none).0,
        CallStatus::Success
    );
    // Init code: return the 1-byte runtime 0xfe (PUSH1 0xfe PUSH1 0 MSTORE8, return(0, 1)).
    let create = CallRequest {
        from: Some(FUNDED),
        input: Bytes::from(hex::decode("60fe60005360016000f3").unwrap()),
        ..CallRequest::default()
    };
    let (status, out) = call("00", &create, &none);
    assert_eq!(status, CallStatus::Success);
    assert_eq!(out, Bytes::from(vec![0xfe]));
}

#[test]
fn overrides_replace_balance_code_and_storage() {
    // SLOAD(1) returned.
    let sload1 = returning("600154");
    let none = StateOverride::new();
    assert_eq!(call(&sload1, &to_contract(), &none).1, word(5));
    let slot = |n: u64| B256::from(U256::from(n).to_be_bytes::<32>());
    let mut diff = StateOverride::new();
    diff.insert(
        CONTRACT,
        AccountOverride {
            state_diff: Some([(slot(1), slot(8))].into()),
            ..AccountOverride::default()
        },
    );
    assert_eq!(call(&sload1, &to_contract(), &diff).1, word(8));
    let mut whole = StateOverride::new();
    whole.insert(
        CONTRACT,
        AccountOverride {
            state: Some([(slot(2), slot(8))].into()),
            ..AccountOverride::default()
        },
    );
    assert_eq!(call(&sload1, &to_contract(), &whole).1, word(0));
    // New code at the contract (NUMBER returned), and SELFBALANCE of an overridden balance.
    let mut code = StateOverride::new();
    code.insert(
        CONTRACT,
        AccountOverride {
            code: Some(Bytes::from(hex::decode(returning("47")).unwrap())),
            balance: Some(U256::from(1234)),
            ..AccountOverride::default()
        },
    );
    assert_eq!(call(&sload1, &to_contract(), &code).1, word(1234));
    let mut both = StateOverride::new();
    both.insert(
        CONTRACT,
        AccountOverride {
            state: Some(BTreeMap::new()),
            state_diff: Some(BTreeMap::new()),
            ..AccountOverride::default()
        },
    );
    let h = header();
    let err = executor()
        .call(
            CallBlock {
                header: &h,
                author: AUTHOR,
            },
            &state(&sload1),
            &Hashes(BTreeMap::new()),
            &to_contract(),
            &both,
            CallLimits::gas_cap(0),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("has both 'state' and 'stateDiff'"),
        "{err}"
    );
}

#[test]
fn failures_carry_geths_messages() {
    let none = StateOverride::new();
    // INVALID (0xfe).
    assert_eq!(
        call("fe", &to_contract(), &none).0,
        CallStatus::Halted {
            reason: "invalid opcode".into(),
            out_of_gas: false
        }
    );
    let h = header();
    let run = |request: &CallRequest| {
        executor()
            .call(
                CallBlock {
                    header: &h,
                    author: AUTHOR,
                },
                &state("00"),
                &Hashes(BTreeMap::new()),
                request,
                &StateOverride::new(),
                CallLimits::gas_cap(0),
            )
            .unwrap_err()
            .to_string()
    };
    let low = CallRequest {
        gas: Some(20_000),
        ..to_contract()
    };
    assert_eq!(run(&low), "intrinsic gas too low: have 20000, want 21000");
    let rich = CallRequest {
        value: Some(U256::from(10u64.pow(18) + 1)),
        ..to_contract()
    };
    assert!(
        run(&rich).starts_with("insufficient funds for gas * price + value"),
        "{}",
        run(&rich)
    );
    let under = CallRequest {
        gas_price: Some(6),
        ..to_contract()
    };
    assert!(
        run(&under).starts_with("max fee per gas less than block base fee"),
        "{}",
        run(&under)
    );
    let both = CallRequest {
        gas_price: Some(7),
        max_fee_per_gas: Some(7),
        ..to_contract()
    };
    assert_eq!(
        run(&both),
        "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified"
    );
}

#[test]
fn estimates_the_exact_minimum_and_names_what_fails() {
    // A transfer to an account without code: 21000.
    let transfer = CallRequest {
        from: Some(FUNDED),
        to: Some(Address::repeat_byte(0x99)),
        value: Some(U256::from(1)),
        ..CallRequest::default()
    };
    assert_eq!(estimate("00", &transfer).unwrap(), 21_000);
    // Cold zero-to-nonzero SSTORE after two PUSH1s: 21000 + 3 + 3 + 2100 + 20000.
    assert_eq!(estimate("602a60005500", &to_contract()).unwrap(), 43_106);
    // INVALID fails at any gas: its own error, not the allowance's.
    assert!(matches!(
        estimate("fe", &to_contract()),
        Err(CallError::Halted(m)) if m == "invalid opcode"
    ));
    // A loop that never ends needs more than any allowance.
    let allowance = CallRequest {
        gas: Some(100_000),
        ..to_contract()
    };
    assert!(matches!(
        estimate("5b600056", &allowance),
        Err(CallError::GasRequiredExceedsAllowance(100_000))
    ));
    // With a price, the allowance is what the balance pays: 10^18 / 10^13 = 100,000 gas.
    let priced = CallRequest {
        gas_price: Some(10u128.pow(13)),
        ..to_contract()
    };
    assert!(matches!(
        estimate("5b600056", &priced),
        Err(CallError::GasRequiredExceedsAllowance(100_000))
    ));
    // REVERT with data.
    assert!(matches!(
        estimate("61dead6000526002601efd", &to_contract()),
        Err(CallError::Reverted { output }) if output.as_ref() == [0xde, 0xad]
    ));
}

/// `JUMPDEST PUSH1 0 JUMP`: loops until the gas runs out.
const LOOPS: &str = "5b600056";

fn limited(request: &CallRequest, limits: CallLimits, estimate: bool) -> Result<u64, CallError> {
    let h = header();
    let block = CallBlock {
        header: &h,
        author: AUTHOR,
    };
    let (state, hashes, none) = (state(LOOPS), Hashes(BTreeMap::new()), StateOverride::new());
    if estimate {
        executor().estimate_gas(block, &state, &hashes, request, &none, limits)
    } else {
        match executor()
            .call(block, &state, &hashes, request, &none, limits)?
            .status
        {
            CallStatus::Halted { reason, .. } => Err(CallError::Halted(reason)),
            other => panic!("the loop ended with {other:?}"),
        }
    }
}

#[test]
fn the_timeout_stops_a_loop_the_gas_cap_would_not() {
    // No gas cap and (estimate) a request gas of 2^60: the loop would run for days.
    let limits = CallLimits {
        gas_cap: 0,
        timeout: std::time::Duration::from_millis(200),
    };
    let huge = CallRequest {
        gas: Some(1 << 60),
        ..to_contract()
    };
    for (request, estimate) in [(&to_contract(), false), (&huge, false), (&huge, true)] {
        let err = limited(request, limits, estimate).unwrap_err();
        assert!(matches!(err, CallError::Timeout(_)), "{err:?}");
        assert_eq!(err.to_string(), "execution aborted (timeout = 200ms)");
    }
    // A caller looping over CALLs to the loop: the timeout stops the callee, then the caller.
    let caller = Address::repeat_byte(0xca);
    let code = format!(
        "5b600060006000600060007f{:0>64}5af1506000 56",
        hex::encode(CONTRACT)
    )
    .replace(' ', "");
    let mut over = StateOverride::new();
    over.insert(
        caller,
        AccountOverride {
            code: Some(Bytes::from(hex::decode(code).unwrap())),
            ..AccountOverride::default()
        },
    );
    let h = header();
    let err = executor()
        .call(
            CallBlock {
                header: &h,
                author: AUTHOR,
            },
            &state(LOOPS),
            &Hashes(BTreeMap::new()),
            &CallRequest {
                to: Some(caller),
                ..to_contract()
            },
            &over,
            limits,
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "execution aborted (timeout = 200ms)");
    // Without a timeout a small gas cap still ends it, as before.
    let capped = CallLimits::gas_cap(1_000_000);
    assert_eq!(
        limited(&to_contract(), capped, false)
            .unwrap_err()
            .to_string(),
        "out of gas"
    );
    assert_eq!(
        limited(&to_contract(), capped, true)
            .unwrap_err()
            .to_string(),
        "gas required exceeds allowance (1000000)"
    );
    // A timeout the call does not reach changes nothing.
    let both = CallLimits {
        gas_cap: 1_000_000,
        timeout: std::time::Duration::from_secs(600),
    };
    assert_eq!(
        limited(&to_contract(), both, false)
            .unwrap_err()
            .to_string(),
        "out of gas"
    );
}
