//! The cost of `--rpc.evmtimeout` on a call that does not reach it, in one run: the same
//! `eth_call` (a `JUMPDEST PUSH1 0 JUMP` loop burning the whole gas cap: the cheapest
//! instructions, so the per-instruction hook weighs most) without a timeout (revm's plain
//! interpreter loop) and with one (the inspector loop and the `Deadline` step hook). Prints
//! the median of each and their ratio.
//!
//! Sizes (env): `CACHET_BENCH_CALL_GAS` gas per call (default 30,000,000),
//! `CACHET_BENCH_CALL_RUNS` runs of each (default 15).
//! Run: `cargo bench -p cachet-execution --bench call_timeout`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, Bytes, U256};
use cachet_execution::{CallBlock, CallLimits, CallRequest, CallStatus, Executor, StateOverride};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;
use support::{Hashes, MemState};

const CONTRACT: Address = Address::repeat_byte(0xcc);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let gas = env("CACHET_BENCH_CALL_GAS", 30_000_000);
    let runs = env("CACHET_BENCH_CALL_RUNS", 15);
    let genesis = Genesis::from_json(
        br#"{"config": {"chainId": 7, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
            "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": {"period": 1}}}"#,
        RaftMarker::FromGenesis,
    )
    .unwrap();
    let executor = Executor::new(&genesis).unwrap();
    let header = Header {
        number: 1,
        gas_limit: 30_000_000,
        base_fee_per_gas: Some(U256::from(7)),
        ..Header::default()
    };
    let mut state = MemState::default();
    state.insert(
        CONTRACT,
        1,
        U256::ZERO,
        Bytes::from_static(&[0x5b, 0x60, 0x00, 0x56]),
        [],
    );
    let hashes = Hashes(BTreeMap::new());
    let request = CallRequest {
        to: Some(CONTRACT),
        ..CallRequest::default()
    };
    let one = |timeout: Duration| {
        let start = Instant::now();
        let out = executor
            .call(
                CallBlock {
                    header: &header,
                    author: Address::ZERO,
                },
                &state,
                &hashes,
                &request,
                &StateOverride::new(),
                CallLimits {
                    gas_cap: gas,
                    timeout,
                },
            )
            .unwrap();
        assert!(matches!(
            out.status,
            CallStatus::Halted {
                out_of_gas: true,
                ..
            }
        ));
        start.elapsed()
    };
    // Warm up, then alternate so drift hits both sides alike.
    one(Duration::ZERO);
    one(Duration::from_secs(3600));
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        off.push(one(Duration::ZERO));
        on.push(one(Duration::from_secs(3600)));
    }
    let (off, on) = (median(off), median(on));
    // Each loop turn is 3 instructions for 12 gas.
    let instructions = gas / 4;
    println!("eth_call of a {gas}-gas loop ({instructions} instructions), median of {runs}:");
    for (name, d) in [("no timeout", off), ("timeout set", on)] {
        println!(
            "  {name:<12} {:>9.2} ms  {:>6.2} ns/instruction",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e9 / instructions as f64
        );
    }
    println!(
        "  ratio with/without timeout: {:.2}",
        on.as_secs_f64() / off.as_secs_f64()
    );
}
