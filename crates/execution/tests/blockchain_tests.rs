//! ethereum/tests `BlockchainTests` through cachet-execution.
//!
//! Every vendored case (`testdata/ethereum-tests/**.json` at the repository root and this
//! crate's `testdata/transition-tests/`, or the directory in `CACHET_ETHEREUM_TESTS`) is
//! imported block by block the way the node does
//! it: body decoding and commitments, sender recovery, [`Executor::execute`], the outcome
//! checked against the header, the change set applied to an in-memory state whose root
//! (alloy-trie, from scratch) must equal the header's. The proof-of-work seal is not checked;
//! the few header rules below stand in for the node's chain rules (parent known, number,
//! gas used within the limit, timestamp increasing). The head follows total difficulty (and
//! every proof-of-stake block); at the end the head must be the case's `lastblockhash` and
//! the state its `postState` (or `postStateHash`).
//!
//! Prints passed/failed/skipped per fork and every skip's reason; fails if any case fails.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use alloy_primitives::{Address, B256, Bytes, U256};
use cachet_execution::{Executor, decode_body, recover_senders};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_primitives::Header;
use cachet_primitives::block::split_block;
use serde_json::{Value, json};
use support::{Hashes, MemState, RootsOver};

/// The block forks in order with their genesis keys, and the networks' names for them.
const BLOCK_FORKS: [(&str, &str); 15] = [
    ("Frontier", ""),
    ("Homestead", "homesteadBlock"),
    ("EIP150", "eip150Block"),
    ("EIP158", "eip155Block,eip158Block"),
    ("Byzantium", "byzantiumBlock"),
    ("ConstantinopleFix", "constantinopleBlock,petersburgBlock"),
    ("Istanbul", "istanbulBlock"),
    ("MuirGlacier", "muirGlacierBlock"),
    ("Berlin", "berlinBlock"),
    ("London", "londonBlock"),
    ("ArrowGlacier", "arrowGlacierBlock"),
    ("GrayGlacier", "grayGlacierBlock"),
    ("Paris", "mergeNetsplitBlock"),
    ("Shanghai", "shanghaiTime"),
    ("Cancun", "cancunTime"),
];

/// What happened to one case.
enum Verdict {
    /// Passed; the header-rule exceptions of blocks execution accepted and the harness dropped.
    Pass(Vec<String>),
    Fail(String),
    Skip(String),
}

fn main() {
    let dirs: Vec<PathBuf> = match std::env::var_os("CACHET_ETHEREUM_TESTS") {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
            vec![
                crate_dir.join("../../testdata/ethereum-tests"),
                crate_dir.join("testdata/transition-tests"),
            ]
        }
    };
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut files = Vec::new();
    for dir in &dirs {
        collect_json(dir, &mut files);
    }
    files.sort();
    assert!(!files.is_empty(), "no BlockchainTests under {dirs:?}");
    // fork → (passed, failed, skipped)
    let mut table: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut skips: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut header_rules: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read(file).unwrap();
        let cases: BTreeMap<String, Value> = serde_json::from_slice(&text).unwrap();
        for (name, case) in cases {
            if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
                continue;
            }
            let network = case["network"].as_str().unwrap_or("?").to_owned();
            let verdict = std::panic::catch_unwind(|| run_case(&case))
                .unwrap_or_else(|_| Verdict::Fail("panicked".into()));
            let row = table.entry(network.clone()).or_default();
            let rel = dirs
                .iter()
                .find_map(|d| file.strip_prefix(d).ok())
                .unwrap_or(file)
                .display()
                .to_string();
            match verdict {
                Verdict::Pass(header_only) => {
                    row.0 += 1;
                    for exception in header_only {
                        *header_rules.entry(exception).or_default() += 1;
                    }
                }
                Verdict::Fail(why) => {
                    row.1 += 1;
                    failures.push(format!("{rel} {name} [{network}]: {why}"));
                }
                Verdict::Skip(why) => {
                    row.2 += 1;
                    skips.entry(why).or_default().push(format!("{rel} {name}"));
                }
            }
        }
    }
    println!(
        "{:<40} {:>7} {:>7} {:>7}",
        "network", "passed", "failed", "skipped"
    );
    let mut total = (0, 0, 0);
    for (network, (p, f, s)) in &table {
        println!("{network:<40} {p:>7} {f:>7} {s:>7}");
        total = (total.0 + p, total.1 + f, total.2 + s);
    }
    println!(
        "{:<40} {:>7} {:>7} {:>7}",
        "total", total.0, total.1, total.2
    );
    for (why, cases) in &skips {
        println!("skipped {} case(s): {why}", cases.len());
        for case in cases.iter().take(3) {
            println!("    e.g. {case}");
        }
    }
    for (exception, n) in &header_rules {
        println!(
            "header rule left to the node's chain rules ({n} invalid block(s) execution accepted, dropped): {exception}"
        );
    }
    for failure in &failures {
        println!("FAILED {failure}");
    }
    assert!(failures.is_empty(), "{} case(s) failed", failures.len());
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_json(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// The genesis `config` for a network name: `Fork`, or `XToYAtN` / `XToYAtTime15k` /
/// `XToParisAtDiffC0000` transitions.
fn network_config(network: &str) -> Result<Value, String> {
    let mut config = json!({"chainId": 1, "ethash": {}});
    let (first, second, at) = match network.split_once("To") {
        None => (network, None, 0),
        Some((a, rest)) => {
            let (b, at) = if let Some((b, n)) = rest.split_once("AtTime") {
                let n = n.strip_suffix("k").map_or_else(
                    || n.parse::<u64>().ok(),
                    |k| k.parse::<u64>().ok().map(|k| k * 1000),
                );
                (
                    b,
                    n.ok_or(format!("network {network}: unknown transition"))?,
                )
            } else if let Some((b, _)) = rest.split_once("AtDiff") {
                // The merge happens at a total difficulty; blocks after it have difficulty 0
                // and execution infers proof-of-stake from that.
                (b, 0)
            } else if let Some((b, n)) = rest.split_once("At") {
                (
                    b,
                    n.parse()
                        .map_err(|_| format!("network {network}: unknown transition"))?,
                )
            } else {
                return Err(format!("network {network}: unknown transition"));
            };
            (a, Some(b), at)
        }
    };
    fn alias(name: &str) -> &str {
        match name {
            "Petersburg" => "ConstantinopleFix",
            "Merge" => "Paris",
            "EIP155" => "EIP158",
            other => other,
        }
    }
    let index = |name: &str| BLOCK_FORKS.iter().position(|(n, _)| *n == alias(name));
    let first_index = index(first).ok_or(format!("network {network}: unknown fork {first}"))?;
    let second_index = match second {
        Some("Dao") | None => None,
        Some(s) => Some(index(s).ok_or(format!("network {network}: unknown fork {s}"))?),
    };
    let last = second_index.unwrap_or(first_index);
    for (i, (_, keys)) in BLOCK_FORKS.iter().enumerate().take(last + 1) {
        let value = if i <= first_index { 0 } else { at };
        for key in keys.split(',').filter(|k| !k.is_empty()) {
            config[key] = json!(value);
        }
    }
    if second == Some("Dao") {
        config["daoForkBlock"] = json!(at);
        config["daoForkSupport"] = json!(true);
    }
    Ok(config)
}

struct Block {
    header: Header,
    state: MemState,
    total_difficulty: U256,
}

fn run_case(case: &Value) -> Verdict {
    let network = case["network"].as_str().unwrap_or_default();
    if network == "Constantinople" {
        return Verdict::Skip(
            "Constantinople with EIP-1283 (before Petersburg removed it) has no revm spec; cachet refuses such a genesis".into(),
        );
    }
    let config = match network_config(network) {
        Ok(c) => c,
        Err(why) => return Verdict::Fail(why),
    };
    let genesis_json = json!({"config": config, "gasLimit": "0x1", "difficulty": "0x1"});
    let genesis =
        Genesis::from_json(genesis_json.to_string().as_bytes(), RaftMarker::FromGenesis).unwrap();
    let executor = match Executor::new(&genesis) {
        Ok(e) => e,
        Err(refused) => return Verdict::Skip(format!("refused by Executor::new: {refused}")),
    };

    let mut pre = MemState::default();
    for (address, account) in case["pre"].as_object().unwrap() {
        let storage = account["storage"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (u256(k), u256(v.as_str().unwrap())));
        pre.insert(
            Address::from_str(address).unwrap(),
            u64_of(&account["nonce"]),
            u256(account["balance"].as_str().unwrap()),
            bytes(account["code"].as_str().unwrap()),
            storage,
        );
    }
    let genesis_header = &case["genesisBlockHeader"];
    let genesis_root = b256(genesis_header["stateRoot"].as_str().unwrap());
    if pre.root() != genesis_root {
        return Verdict::Fail(format!(
            "pre-state root {} is not the genesis state root {genesis_root}",
            pre.root()
        ));
    }
    let genesis_rlp = bytes(case["genesisRLP"].as_str().unwrap());
    let (genesis_header_rlp, _) = split_block(&genesis_rlp).unwrap();
    let genesis_block = Header::decode(&genesis_header_rlp).unwrap();
    let genesis_hash = genesis_block.hash_slow();
    let mut blocks: HashMap<B256, Block> = HashMap::new();
    blocks.insert(
        genesis_hash,
        Block {
            total_difficulty: genesis_block.difficulty,
            header: genesis_block,
            state: pre,
        },
    );
    let mut head = genesis_hash;
    let mut header_only = Vec::new();

    for (i, block) in case["blocks"].as_array().unwrap().iter().enumerate() {
        let expect_invalid = block
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("expectException"));
        let result = import(
            &executor,
            &mut blocks,
            block["rlp"].as_str().unwrap_or_default(),
        );
        match (result, expect_invalid) {
            (Ok(hash), false) => {
                let new = &blocks[&hash];
                let current = &blocks[&head];
                if new.header.difficulty.is_zero()
                    || new.total_difficulty > current.total_difficulty
                {
                    head = hash;
                }
            }
            (Ok(hash), true) => {
                let exception = block
                    .as_object()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| k.starts_with("expectException"))
                    .map(|(_, v)| v.to_string())
                    .unwrap_or_default();
                if !is_header_rule(&exception) {
                    return Verdict::Fail(format!(
                        "block {i} was accepted but expects {exception}"
                    ));
                }
                // A header rule the node's chain rules check, not execution: the block is
                // dropped as the node would drop it, and counted.
                blocks.remove(&hash);
                header_only.push(exception);
            }
            (Err(why), false) => return Verdict::Fail(format!("block {i} refused: {why}")),
            (Err(_), true) => {}
        }
    }

    let last = b256(case["lastblockhash"].as_str().unwrap());
    if head != last {
        return Verdict::Fail(format!("head is {head}, the test expects {last}"));
    }
    let state = &blocks[&head].state;
    if let Some(post) = case["postState"].as_object() {
        let mut expected = MemState::default();
        for (address, account) in post {
            let storage = account["storage"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (u256(k), u256(v.as_str().unwrap())));
            expected.insert(
                Address::from_str(address).unwrap(),
                u64_of(&account["nonce"]),
                u256(account["balance"].as_str().unwrap()),
                bytes(account["code"].as_str().unwrap()),
                storage,
            );
        }
        if expected.accounts != state.accounts || expected.storage != state.storage {
            return Verdict::Fail(describe_difference(&expected, state));
        }
    } else if let Some(hash) = case["postStateHash"].as_str()
        && state.root() != b256(hash)
    {
        return Verdict::Fail(format!("post state root {} is not {hash}", state.root()));
    }
    Verdict::Pass(header_only)
}

/// Whether an expected exception is a header rule (the node's chain rules: gas limit bounds,
/// difficulty, proof of work, timestamps, extraData, ommer headers, the base fee formula,
/// known parent) rather than something execution decides (transactions, roots, bloom, gas).
fn is_header_rule(exception: &str) -> bool {
    const EXECUTION: [&str; 12] = [
        "TransactionException",
        "STATE_ROOT",
        "RECEIPTS_ROOT",
        "LOG_BLOOM",
        "GAS_USED",
        "TRANSACTIONS_ROOT",
        "UNCLES_HASH",
        "WITHDRAWALS_ROOT",
        "RLP",
        "StateRoot",
        "ReceiptTrie",
        "GasUsed",
    ];
    !EXECUTION.iter().any(|marker| exception.contains(marker))
}

/// Imports one block on its parent; returns its hash or why it is refused.
fn import(
    executor: &Executor,
    blocks: &mut HashMap<B256, Block>,
    rlp_hex: &str,
) -> Result<B256, String> {
    let raw = hex::decode(rlp_hex.trim_start_matches("0x")).map_err(|e| e.to_string())?;
    let (header_rlp, body_rlp) = split_block(&raw).map_err(|e| e.to_string())?;
    let header = Header::decode(&header_rlp).map_err(|e| e.to_string())?;
    let hash = header.hash_slow();
    let parent = blocks.get(&header.parent_hash).ok_or("unknown parent")?;
    // Stand-ins for the node's header rules.
    if header.number != parent.header.number + 1 {
        return Err("number is not parent + 1".into());
    }
    if header.gas_used > header.gas_limit {
        return Err("gas used above the gas limit".into());
    }
    if header.timestamp <= parent.header.timestamp {
        return Err("timestamp not after the parent's".into());
    }
    let body = decode_body(&body_rlp).map_err(|e| e.to_string())?;
    body.check_against(&header).map_err(|e| e.to_string())?;
    let senders = recover_senders(&body.transactions).map_err(|e| e.to_string())?;
    let mut hashes = Hashes::default();
    let mut cursor = Some(&parent.header);
    while let Some(h) = cursor {
        hashes.0.insert(h.number, h.hash_slow());
        if h.number + 256 <= header.number {
            break;
        }
        cursor = blocks.get(&h.parent_hash).map(|b| &b.header);
    }
    // Intermediate roots are asked for only before Byzantium.
    let roots = RootsOver(&parent.state);
    let outcome = executor
        .execute_with_roots(
            &header,
            header.beneficiary,
            &body,
            &senders,
            &parent.state,
            &hashes,
            &roots,
        )
        .map_err(|e| error_chain(&e))?;
    outcome.check_against(&header).map_err(|e| e.to_string())?;
    let mut state = parent.state.clone();
    state.apply(&outcome.changes)?;
    if state.root() != header.state_root {
        return Err(format!(
            "state root {} is not the header's {}",
            state.root(),
            header.state_root
        ));
    }
    let total_difficulty = parent.total_difficulty + header.difficulty;
    blocks.insert(
        hash,
        Block {
            header,
            state,
            total_difficulty,
        },
    );
    Ok(hash)
}

fn describe_difference(expected: &MemState, actual: &MemState) -> String {
    for (address, info) in &expected.accounts {
        match actual.accounts.get(address) {
            None => return format!("post state lacks {address}"),
            Some(a) if a != info => return format!("{address}: expected {info:?}, got {a:?}"),
            _ => {}
        }
        let e = expected.storage.get(address);
        let a = actual.storage.get(address);
        if e != a {
            return format!("{address} storage: expected {e:?}, got {a:?}");
        }
    }
    for address in actual.accounts.keys() {
        if !expected.accounts.contains_key(address) {
            return format!(
                "post state has an extra account {address}: {:?}",
                actual.accounts[address]
            );
        }
    }
    "post state differs".into()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

fn u256(s: &str) -> U256 {
    U256::from_str(s).unwrap()
}

fn b256(s: &str) -> B256 {
    B256::from_str(s).unwrap()
}

fn bytes(s: &str) -> Bytes {
    Bytes::from(hex::decode(s.trim_start_matches("0x")).unwrap())
}

fn u64_of(v: &Value) -> u64 {
    u64::try_from(u256(v.as_str().unwrap())).unwrap()
}
