//! Typed parse errors that name the field.

use cachet_genesis::{Error, Genesis, RaftMarker};
use serde_json::json;

fn parse(v: serde_json::Value) -> Result<Genesis, Error> {
    Genesis::from_json(v.to_string().as_bytes(), RaftMarker::FromGenesis)
}

fn base() -> serde_json::Value {
    json!({"config": {"chainId": 1, "clique": {"period": 1, "epoch": 10}}, "alloc": {}})
}

fn field_of(err: Error) -> String {
    match err {
        Error::MissingField { field } | Error::InvalidField { field, .. } => field,
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn accepts_minimal_genesis_with_defaults() {
    let g = parse(base()).unwrap();
    assert_eq!(g.gas_limit, 4_712_388);
    assert_eq!(g.config.chain_id, 1);
    assert!(g.alloc.is_empty());
}

#[test]
fn accepts_absent_difficulty_as_geth_or_goquorum_does() {
    assert_eq!(
        parse(base()).unwrap().difficulty,
        alloy_primitives::U256::ZERO
    );
    let mut quorum = base();
    quorum["config"]["isQuorum"] = json!(true);
    assert_eq!(
        parse(quorum).unwrap().difficulty,
        alloy_primitives::U256::from(131_072)
    );
}

#[test]
fn rejects_missing_config_and_chain_id() {
    assert_eq!(field_of(parse(json!({"alloc": {}})).unwrap_err()), "config");
    let mut v = base();
    v["config"].as_object_mut().unwrap().remove("chainId");
    assert_eq!(field_of(parse(v).unwrap_err()), "config.chainId");
}

#[test]
fn rejects_bad_alloc_entries_naming_them() {
    let addr = "0x1000000000000000000000000000000000000001";
    let cases = [
        (
            json!({addr: {"nonce": "0x1"}}),
            format!("alloc.{addr}.balance"),
        ),
        (
            json!({addr: {"balance": "0xzz"}}),
            format!("alloc.{addr}.balance"),
        ),
        (json!({"0x12": {"balance": "1"}}), "alloc.0x12".to_owned()),
        (
            json!({addr: {"balance": "1", "code": "0x123"}}),
            format!("alloc.{addr}.code"),
        ),
        (
            json!({addr: {"balance": "1", "storage": {"0x01": 5}}}),
            format!("alloc.{addr}.storage.0x01"),
        ),
        (
            json!({addr: {"balance": "1", "nonce": "0x10000000000000000"}}),
            format!("alloc.{addr}.nonce"),
        ),
    ];
    for (alloc, want) in cases {
        let mut v = base();
        v["alloc"] = alloc;
        assert_eq!(field_of(parse(v).unwrap_err()), want);
    }
}

#[test]
fn rejects_bad_header_fields_naming_them() {
    for (key, value) in [
        ("timestamp", json!("yesterday")),
        ("extraData", json!("0xabc")),
        ("mixHash", json!("0x00")),
        ("coinbase", json!("0x00")),
        ("difficulty", json!(-1)),
        ("baseFeePerGas", json!(true)),
    ] {
        let mut v = base();
        v[key] = value;
        assert_eq!(field_of(parse(v).unwrap_err()), key);
    }
    let mut v = base();
    v["config"]["londonBlock"] = json!("0xq");
    assert_eq!(field_of(parse(v).unwrap_err()), "config.londonBlock");
}

#[test]
fn rejects_invalid_json_with_position() {
    let err = Genesis::from_json(b"{\"config\": ", RaftMarker::FromGenesis).unwrap_err();
    assert!(matches!(err, Error::Json { line: 1, .. }), "{err}");
}

#[test]
fn rejects_missing_file_naming_it() {
    let err = Genesis::from_file(
        std::path::Path::new("/nonexistent/genesis.json"),
        RaftMarker::FromGenesis,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/genesis.json"),
        "{err}"
    );
}

#[test]
fn error_messages_say_what_to_check() {
    use cachet_genesis::{ForkHash, ForkId};
    let id = ForkId {
        hash: ForkHash([0xde, 0xad, 0xbe, 0xef]),
        next: 5,
    };
    let cases: Vec<(Error, &str)> = vec![
        (
            Error::MissingField {
                field: "config.chainId".into(),
            },
            "genesis field config.chainId is missing: add it",
        ),
        (
            Error::InvalidField {
                field: "gasLimit".into(),
                reason: "expected a number or a hex/decimal string",
            },
            "genesis field gasLimit is invalid: expected a number or a hex/decimal string",
        ),
        (
            Error::NoEngine,
            "genesis config names no consensus engine: add config.clique, config.istanbul, config.qbft, config.ibft2 or \"raft\": true to config (or pass --raft)",
        ),
        (
            Error::ConflictingEngines {
                first: "clique",
                second: "qbft",
            },
            "genesis config names two consensus engines, config.clique and config.qbft: keep one",
        ),
        (
            Error::RemoteStale {
                remote: id,
                local_next: 7,
            },
            "peer fork id 0xdeadbeef (next 5) is stale: it has not scheduled the fork at 7 that this chain passed; the peer needs a software or genesis update",
        ),
        (
            Error::LocalIncompatibleOrStale {
                remote: id,
                local: ForkId::default(),
            },
            "peer fork id 0xdeadbeef (next 5) is incompatible with this chain (local 0x00000000 (next 0)): check the peer's genesis and fork schedule",
        ),
        (
            Error::Io {
                path: "/g.json".into(),
                source: std::io::Error::other("x"),
            },
            "cannot read genesis file /g.json: check the path and its permissions",
        ),
    ];
    for (err, want) in cases {
        assert_eq!(err.to_string(), want);
    }
    let json_err = Genesis::from_json(b"[", RaftMarker::FromGenesis).unwrap_err();
    assert_eq!(
        json_err.to_string(),
        "genesis is not valid JSON (line 1, column 1): check the file is a geth-format genesis.json"
    );
}
