//! Integration tests for `cachet-seal`: every vector byte for byte, sealing round trips, the
//! journal under SIGKILL, the fuzz corpus and the independent peers.

mod corpus;
mod hsm;
mod journal_kill;
mod kms;
mod peers;
mod sealing;
mod vectors;

use alloy_primitives::{Address, B256};
use cachet_keyprovider::UnlockedKeys;
use serde_json::Value;

/// Loads a vector file from `testdata/vectors/`; every case must name its source.
pub(crate) fn load(name: &str) -> Vec<Value> {
    let path = cachet_testkit::workspace_root()
        .join("testdata/vectors")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    for c in &cases {
        assert!(
            c["source"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: case without source: {}",
            c["name"]
        );
    }
    cases
}

pub(crate) fn case<'a>(cases: &'a [Value], name: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

pub(crate) fn hx(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    hex::decode(s.strip_prefix("0x").unwrap_or(s)).unwrap()
}

pub(crate) fn b256(v: &Value) -> B256 {
    B256::from_slice(&hx(v))
}

pub(crate) fn addr(v: &Value) -> Address {
    Address::from_slice(&hx(v))
}

pub(crate) fn addrs(v: &Value) -> Vec<Address> {
    v.as_array().unwrap().iter().map(addr).collect()
}

pub(crate) fn seal65(v: &Value) -> [u8; 65] {
    hx(v).try_into().unwrap()
}

/// A key set whose node key and sealing key are both `secret`.
pub(crate) fn keys(secret: &Value) -> UnlockedKeys {
    let s: [u8; 32] = hx(secret).try_into().unwrap();
    UnlockedKeys::from_secrets_for_tests(s, Some(s), [7; 32], [9; 32]).unwrap()
}
