//! EIP-2124 fork ids against the EIP's vectors (`testdata/vectors/forkid.json`).

use alloy_primitives::{B256, hex};
use alloy_rlp::{Decodable, Encodable};
use cachet_genesis::{Error, ForkHash, ForkId, ForkSchedule, RaftMarker};
use serde_json::Value;

use crate::load;

fn vectors() -> Value {
    let path = cachet_testkit::workspace_root().join("testdata/vectors/forkid.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn fork_hash(v: &Value) -> ForkHash {
    let n = u32::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    ForkHash(n.to_be_bytes())
}

fn schedule(chain: &Value) -> ForkSchedule {
    let hash: B256 = chain["genesis_hash"].as_str().unwrap().parse().unwrap();
    let blocks = chain["fork_blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    ForkSchedule::new(hash, blocks, Vec::new())
}

#[test]
fn accepts_eip2124_fork_id_vectors() {
    let v = vectors();
    let mut checked = 0;
    for (name, chain) in v["chains"].as_object().unwrap() {
        let schedule = schedule(chain);
        for case in chain["cases"].as_array().unwrap() {
            let head = case["head"].as_u64().unwrap();
            let want = ForkId {
                hash: fork_hash(&case["hash"]),
                next: case["next"].as_u64().unwrap(),
            };
            assert_eq!(schedule.fork_id(head, 0), want, "{name} at {head}");
            checked += 1;
        }
    }
    assert_eq!(checked, 43);
}

#[test]
fn accepts_and_rejects_eip2124_validation_vectors() {
    let v = vectors();
    let schedule = schedule(&v["chains"]["mainnet"]);
    for case in v["validation"].as_array().unwrap() {
        let head = case["head"].as_u64().unwrap();
        let remote = ForkId {
            hash: fork_hash(&case["hash"]),
            next: case["next"].as_u64().unwrap(),
        };
        let got = schedule.validate(remote, head, 0);
        match case["error"].as_str() {
            None => assert!(got.is_ok(), "{remote} at {head}: {got:?}"),
            Some("ErrRemoteStale") => {
                assert!(
                    matches!(got, Err(Error::RemoteStale { .. })),
                    "{remote} at {head}: {got:?}"
                )
            }
            Some("ErrLocalIncompatibleOrStale") => assert!(
                matches!(got, Err(Error::LocalIncompatibleOrStale { .. })),
                "{remote} at {head}: {got:?}"
            ),
            Some(other) => panic!("unknown error {other}"),
        }
    }
}

#[test]
fn round_trips_eip2124_rlp_vectors() {
    for case in vectors()["rlp"].as_array().unwrap() {
        let id = ForkId {
            hash: fork_hash(&case["hash"]),
            next: case["next"].as_u64().unwrap(),
        };
        let mut out = Vec::new();
        id.encode(&mut out);
        assert_eq!(hex::encode_prefixed(&out), case["rlp"].as_str().unwrap());
        assert_eq!(out.len(), id.length());
        assert_eq!(ForkId::decode(&mut out.as_slice()).unwrap(), id);
    }
}

#[test]
fn rejects_truncated_and_malformed_fork_id_rlp() {
    let good = hex::decode("ca84deadbeef84baddcafe").unwrap();
    for n in 0..good.len() {
        assert!(ForkId::decode(&mut &good[..n]).is_err(), "prefix {n}");
    }
    for bad in [
        "c58400000000",
        "c7850000000000",
        "c88400000000800000",
        "84deadbeef",
    ] {
        let bytes = hex::decode(bad).unwrap();
        assert!(ForkId::decode(&mut bytes.as_slice()).is_err(), "{bad}");
    }
}

/// Our own genesis hash and fork list from the Rinkeby and Goerli files reproduce the EIP's
/// fork hashes (the files schedule later forks too, so `next` differs after the EIP's cap).
#[test]
fn accepts_fork_ids_from_parsed_genesis_files() {
    let v = vectors();
    for (file, chain) in [("rinkeby.json", "rinkeby"), ("goerli.json", "goerli")] {
        let genesis = load(file, RaftMarker::FromGenesis);
        let schedule = genesis.fork_schedule();
        let cap = v["chains"][chain]["fork_blocks"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_u64()
            .unwrap();
        for case in v["chains"][chain]["cases"].as_array().unwrap() {
            let head = case["head"].as_u64().unwrap();
            let id = genesis.fork_id(head, genesis.timestamp);
            assert_eq!(id, schedule.fork_id(head, genesis.timestamp));
            assert_eq!(id.hash, fork_hash(&case["hash"]), "{file} at {head}");
            if head < cap {
                assert_eq!(id.next, case["next"].as_u64().unwrap(), "{file} at {head}");
            }
        }
    }
}

/// Time-based forks follow the block forks; forks at or before genesis time are left out.
#[test]
fn accepts_time_forks_after_block_forks() {
    let genesis_time = 1_000;
    let schedule = ForkSchedule::new(
        B256::ZERO,
        vec![0, 5, 5, 10],
        vec![1_700_000_000, 1_800_000_000],
    );
    assert_eq!(schedule.fork_blocks(), &[5, 10]);
    assert_eq!(schedule.fork_id(0, genesis_time).next, 5);
    assert_eq!(schedule.fork_id(10, genesis_time).next, 1_700_000_000);
    // A time fork is not counted before the block forks have all passed.
    assert_eq!(schedule.fork_id(9, 1_750_000_000).next, 10);
    let after_first = schedule.fork_id(10, 1_700_000_000);
    assert_eq!(after_first.next, 1_800_000_000);
    assert_eq!(schedule.fork_id(11, 1_900_000_000).next, 0);
    // A remote that already announced the time fork we passed unknowingly is rejected (1a)...
    let remote = ForkId {
        hash: schedule.fork_id(10, genesis_time).hash,
        next: 1_650_000_000,
    };
    assert!(matches!(
        schedule.validate(remote, 10, 1_690_000_000),
        Err(Error::LocalIncompatibleOrStale { .. })
    ));
    // ...and one still before it is accepted.
    assert!(schedule.validate(remote, 10, 1_600_000_000).is_ok());
    assert!(schedule.validate(after_first, 10, 1_700_000_001).is_ok());
}

/// The config's fork list: Quorum's `qip714Block` is not a fork-id fork, block 0 is the
/// genesis ruleset, and a time fork at genesis time is not a fork.
#[test]
fn accepts_fork_list_rules_from_config() {
    let genesis = load("7nodes-clique-genesis.json", RaftMarker::FromGenesis);
    assert_eq!(genesis.config.fork_id_blocks(), Vec::<u64>::new());
    let cancun = load("clique-cancun.json", RaftMarker::FromGenesis);
    assert_eq!(
        cancun.config.fork_id_times(cancun.timestamp),
        Vec::<u64>::new()
    );
    assert_eq!(cancun.fork_id(0, cancun.timestamp).next, 0);
}
