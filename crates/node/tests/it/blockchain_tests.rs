//! ethereum/tests `BlockchainTests` through Cachet's own import path.
//!
//! Every vendored case (`testdata/ethereum-tests`, see its README for the commit, licence and
//! selection) becomes a geth-format genesis (`chainId` 1, `ethash`, the fork blocks of the
//! case's `network`, the genesis header's fields, `pre` as `alloc`) parsed by
//! [`Genesis::from_json`]; its hash must be the test's `genesisBlockHeader.hash`. Then every
//! `blocks[].rlp` goes through [`block::split_block`] and [`Chain::import`] on a chain opened
//! with the proof-of-work seal skipped (everything else real: state root, receipts, bloom,
//! gas); a block that expects an exception must be refused, every other block accepted; at the
//! end the head is `lastblockhash` and every `postState` account (balance, nonce, code,
//! storage) reads back at the head. The oracle is the test file (filled by geth/testeth), never
//! Cachet's own computation.
//!
//! `CACHET_BLOCKCHAIN_TESTS=<substring>` runs only the cases whose `<file>:<case>` contains it
//! (e.g. `bcStateTests`, `_London`, `ForkStressTest.json:`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_node::block;
use cachet_node::chain::Chain;
use cachet_node::store::ChainStore;
use serde_json::{Map, Value, json};

/// The vendored cases, relative to this crate.
const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/ethereum-tests");

/// Environment variable selecting cases by a substring of `<file>:<case>`.
const FILTER_VAR: &str = "CACHET_BLOCKCHAIN_TESTS";

/// The genesis of every vendored case hashes to the test's genesis hash: the converter and
/// `cachet-genesis` agree with the filler's genesis block (header fields, fork-dependent
/// optional fields, the `pre` state root).
#[test]
fn accepts_the_genesis_of_every_vendored_case() {
    let cases = load_cases();
    let mut failures = Vec::new();
    for case in &cases {
        if let Err(why) = genesis_of(case) {
            failures.push(format!("{}: {why}", case.id));
        }
    }
    assert!(!cases.is_empty(), "no case selected under {TESTDATA}");
    println!("{} genesis blocks checked", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} genesis blocks differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every vendored case imports to its `lastblockhash` and `postState` (the table of
/// passed/failed/skipped per fork is printed; run with `--nocapture` to see it).
#[test]
fn imports_every_vendored_case_to_its_last_block_and_post_state() {
    let cases = load_cases();
    assert!(!cases.is_empty(), "no case selected under {TESTDATA}");
    let mut table: BTreeMap<usize, (String, Tally)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut skips = Vec::new();
    for case in &cases {
        let outcome = match skip_reason(case) {
            Some(reason) => Outcome::Skipped(reason),
            None => match run_case(case) {
                Ok(()) => Outcome::Passed,
                Err(why) => Outcome::Failed(why),
            },
        };
        let order = fork_order(&case.network);
        let (_, tally) = table
            .entry(order)
            .or_insert_with(|| (case.network.clone(), Tally::default()));
        match outcome {
            Outcome::Passed => tally.passed += 1,
            Outcome::Failed(why) => {
                tally.failed += 1;
                failures.push(format!("{}: {why}", case.id));
            }
            Outcome::Skipped(reason) => {
                tally.skipped += 1;
                skips.push(format!("{}: {reason}", case.id));
            }
        }
    }
    let report = render_table(&table);
    println!("{report}");
    for skip in &skips {
        println!("skipped {skip}");
    }
    let passed: usize = table.values().map(|(_, t)| t.passed).sum();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}\n{report}",
        failures.len(),
        failures.join("\n")
    );
    assert!(passed > 0, "every selected case was skipped\n{report}");
}

/// One test case of a `BlockchainTests` file.
struct Case {
    /// `<path relative to testdata/ethereum-tests>:<case name>`.
    id: String,
    network: String,
    json: Value,
}

#[derive(Debug, Default)]
struct Tally {
    passed: usize,
    failed: usize,
    skipped: usize,
}

enum Outcome {
    Passed,
    Failed(String),
    Skipped(&'static str),
}

/// The pre-Byzantium transition cases vendored by the execution crate (ethereum/tests
/// `TransitionTests`; its README has their source): blocks whose receipts carry intermediate
/// state roots.
const TRANSITIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../execution/testdata/transition-tests"
);

/// Reads every vendored file (sorted by path) and returns the cases the filter selects.
fn load_cases() -> Vec<Case> {
    let filter = std::env::var(FILTER_VAR).ok().filter(|f| !f.is_empty());
    let mut files = Vec::new();
    for root in [TESTDATA, TRANSITIONS] {
        let mut found = Vec::new();
        collect_json(Path::new(root), &mut found);
        found.sort();
        files.extend(found.into_iter().map(|f| (root, f)));
    }
    let mut cases = Vec::new();
    for (root, file) in files {
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read(&file).unwrap();
        let Value::Object(entries) = serde_json::from_slice::<Value>(&text).unwrap() else {
            panic!("{rel}: not a JSON object of test cases");
        };
        for (name, json) in entries {
            let id = format!("{rel}:{name}");
            if filter.as_deref().is_some_and(|f| !id.contains(f)) {
                continue;
            }
            let network = json["network"].as_str().unwrap().to_owned();
            cases.push(Case { id, network, json });
        }
    }
    cases
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_json(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// Why a case is not run, or `None`. Every skip has its reason here (and in
/// `docs/conformance.md`); the vendoring already left out what Cachet does not claim (see the
/// testdata README).
fn skip_reason(case: &Case) -> Option<&'static str> {
    if fork_config(&case.network).is_none() {
        return Some("network not mapped to a fork schedule (not vendored on purpose)");
    }
    None
}

/// The `config` fork keys of a test network: every fork up to it at block 0, for a transition
/// network (`<A>To<B>At5`) B's keys at block 5 (geth's `tests.Forks`). `None` for a network
/// the runner does not map.
fn fork_config(network: &str) -> Option<Map<String, Value>> {
    const BLOCKS: [&str; 12] = [
        "homesteadBlock",
        "eip150Block",
        "eip155Block",
        "eip158Block",
        "byzantiumBlock",
        "constantinopleBlock",
        "petersburgBlock",
        "istanbulBlock",
        "muirGlacierBlock",
        "berlinBlock",
        "londonBlock",
        "arrowGlacierBlock",
    ];
    // (keys at block 0, keys up to this index at block 5, Shanghai)
    let (at_genesis, at_five, shanghai) = match network {
        "FrontierToHomesteadAt5" => (0, 1, false),
        "HomesteadToEIP150At5" => (1, 2, false),
        "EIP158ToByzantiumAt5" => (4, 5, false),
        "Byzantium" => (5, 5, false),
        "ByzantiumToConstantinopleFixAt5" => (5, 7, false),
        "ConstantinopleFix" => (7, 7, false),
        "Istanbul" => (8, 8, false),
        "Berlin" => (10, 10, false),
        "BerlinToLondonAt5" => (10, 11, false),
        "London" => (11, 11, false),
        "Shanghai" => (12, 12, true),
        _ => return None,
    };
    let mut config = Map::new();
    config.insert("chainId".into(), json!(1));
    for (i, key) in BLOCKS.iter().take(at_five).enumerate() {
        let at = if i < at_genesis { 0 } else { 5 };
        config.insert((*key).into(), json!(at));
    }
    if shanghai {
        // Shanghai runs on a post-Merge chain in ethereum/tests (difficulty 0 from genesis).
        config.insert("grayGlacierBlock".into(), json!(0));
        config.insert("mergeNetsplitBlock".into(), json!(0));
        config.insert("terminalTotalDifficulty".into(), json!(0));
        config.insert("terminalTotalDifficultyPassed".into(), json!(true));
        config.insert("shanghaiTime".into(), json!(0));
    }
    config.insert("ethash".into(), json!({}));
    Some(config)
}

/// Order of the forks in the table.
fn fork_order(network: &str) -> usize {
    [
        "FrontierToHomesteadAt5",
        "HomesteadToEIP150At5",
        "EIP158ToByzantiumAt5",
        "Byzantium",
        "ByzantiumToConstantinopleFixAt5",
        "ConstantinopleFix",
        "Istanbul",
        "Berlin",
        "BerlinToLondonAt5",
        "London",
        "Shanghai",
    ]
    .iter()
    .position(|n| *n == network)
    .unwrap_or(usize::MAX)
}

/// The geth-format genesis JSON of a case (also what `hive/run-local` gives the client).
fn genesis_json(case: &Case) -> Result<Value, String> {
    let config =
        fork_config(&case.network).ok_or_else(|| format!("unmapped network {}", case.network))?;
    let header = &case.json["genesisBlockHeader"];
    let mut genesis = Map::new();
    genesis.insert("config".into(), Value::Object(config));
    for (ours, theirs) in [
        ("coinbase", "coinbase"),
        ("difficulty", "difficulty"),
        ("extraData", "extraData"),
        ("gasLimit", "gasLimit"),
        ("gasUsed", "gasUsed"),
        ("mixHash", "mixHash"),
        ("nonce", "nonce"),
        ("number", "number"),
        ("parentHash", "parentHash"),
        ("timestamp", "timestamp"),
        ("baseFeePerGas", "baseFeePerGas"),
    ] {
        if let Some(v) = header.get(theirs) {
            genesis.insert(ours.into(), v.clone());
        }
    }
    genesis.insert("alloc".into(), case.json["pre"].clone());
    Ok(Value::Object(genesis))
}

/// The case's genesis, checked against `genesisBlockHeader.hash`.
fn genesis_of(case: &Case) -> Result<Genesis, String> {
    let text = serde_json::to_vec(&genesis_json(case)?).map_err(|e| e.to_string())?;
    let genesis = Genesis::from_json(&text, RaftMarker::FromGenesis)
        .map_err(|e| format!("genesis refused: {e}"))?;
    let want = b256_field(&case.json["genesisBlockHeader"], "hash")?;
    let ours = genesis.hash();
    if ours != want {
        return Err(format!("genesis hash {ours}, test says {want}"));
    }
    Ok(genesis)
}

/// Imports the case's blocks and compares the head and the post-state.
fn run_case(case: &Case) -> Result<(), String> {
    let genesis = genesis_of(case)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = ChainStore::open(&dir.path().join("chain.redb")).map_err(|e| e.to_string())?;
    let chain = node_api::open_chain(store, genesis).map_err(|e| format!("open: {e}"))?;
    let blocks = case.json["blocks"].as_array().ok_or("no blocks array")?;
    for (i, b) in blocks.iter().enumerate() {
        let expected = expected_exception(b, &case.network);
        // The filler records `blockHeader` exactly for the blocks it imported.
        if expected.is_some() == b.get("blockHeader").is_some() {
            return Err(format!(
                "block {i}: test data has both or neither of an exception and a header"
            ));
        }
        let result = import_block(&chain, b);
        match (result, expected) {
            (Err(_), Some(_)) => {}
            (Ok(()), None) => {
                let hash = b256_field(&b["blockHeader"], "hash")?;
                if chain
                    .header_rlp_by_hash(&hash)
                    .map_err(|e| e.to_string())?
                    .is_none()
                {
                    return Err(format!(
                        "block {i} accepted but not stored under the test's hash {hash}"
                    ));
                }
            }
            (Ok(()), Some(exception)) => {
                return Err(format!("block {i} accepted, test expects {exception}"));
            }
            (Err(e), None) => return Err(format!("block {i} refused: {e}")),
        }
    }
    let want_head = b256_field(&case.json, "lastblockhash")?;
    let head = chain.head();
    if head.hash != want_head {
        return Err(format!(
            "head {} (number {}), test's last block {want_head}",
            head.hash, head.header.number
        ));
    }
    if let Some(hash) = case.json.get("postStateHash") {
        let want = parse_b256(hash)?;
        if head.header.state_root != want {
            return Err(format!(
                "head state root {}, test's postStateHash {want}",
                head.header.state_root
            ));
        }
    }
    if let Some(Value::Object(post)) = case.json.get("postState") {
        check_post_state(&chain, head.hash, post, &case.json["pre"])?;
    }
    Ok(())
}

/// The exception a block expects, if any: `expectException` (current format),
/// `expectExceptionALL` or `expectException<network>` (testeth's legacy format).
fn expected_exception<'a>(block: &'a Value, network: &str) -> Option<&'a str> {
    let own = format!("expectException{network}");
    ["expectException", "expectExceptionALL", own.as_str()]
        .iter()
        .find_map(|k| block.get(*k).and_then(Value::as_str))
}

/// Splits the block RLP and imports it; any refusal (undecodable RLP included) is an `Err`.
fn import_block(chain: &Chain, b: &Value) -> Result<(), String> {
    let rlp = b["rlp"].as_str().ok_or("block without rlp")?;
    let bytes = hex::decode(rlp.trim_start_matches("0x")).map_err(|e| format!("rlp hex: {e}"))?;
    let (header, body) = block::split_block(&bytes).map_err(|e| e.to_string())?;
    chain
        .import(&header, &body)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Every `postState` account reads back at `head`; every `pre` account absent from
/// `postState` is gone, every `pre` slot absent from the post storage is zero.
fn check_post_state(
    chain: &Chain,
    head: B256,
    post: &Map<String, Value>,
    pre: &Value,
) -> Result<(), String> {
    let mut wrong = Vec::new();
    for (addr, want) in post {
        let address: Address = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        let Some(info) = node_api::account(chain, head, &address)? else {
            wrong.push(format!("{addr}: absent, test has it"));
            continue;
        };
        let balance = u256_field(want, "balance")?;
        if info.balance != balance {
            wrong.push(format!("{addr}: balance {}, test {balance}", info.balance));
        }
        let nonce = u256_field(want, "nonce")?;
        if U256::from(info.nonce) != nonce {
            wrong.push(format!("{addr}: nonce {}, test {nonce}", info.nonce));
        }
        let code = bytes_field(want, "code")?;
        // keccak256 of the empty string for an account without code, as the MPT defines it.
        let code_hash = keccak256(&code);
        if info.code_hash != code_hash {
            wrong.push(format!(
                "{addr}: code hash {}, test {code_hash}",
                info.code_hash
            ));
        }
        let stored = node_api::code(chain, head, &address)?;
        if stored != code {
            wrong.push(format!("{addr}: code {stored}, test {code}"));
        }
        let slots = want.get("storage").and_then(Value::as_object);
        for (slot, value) in slots.into_iter().flatten() {
            let key = parse_u256(&Value::String(slot.clone()))?;
            let value = parse_u256(value)?;
            let ours = node_api::storage(chain, head, &address, key)?;
            if ours != value {
                wrong.push(format!(
                    "{addr}: slot {key:#x} = {ours:#x}, test {value:#x}"
                ));
            }
        }
        let pre_slots = pre
            .get(addr.as_str())
            .and_then(|a| a.get("storage"))
            .and_then(Value::as_object);
        for slot in pre_slots.into_iter().flatten().map(|(s, _)| s) {
            if slots.is_some_and(|s| s.contains_key(slot)) {
                continue;
            }
            let key = parse_u256(&Value::String(slot.clone()))?;
            let ours = node_api::storage(chain, head, &address, key)?;
            if !ours.is_zero() {
                wrong.push(format!(
                    "{addr}: slot {key:#x} = {ours:#x}, test has it cleared"
                ));
            }
        }
    }
    for addr in pre.as_object().into_iter().flatten().map(|(a, _)| a) {
        if post.contains_key(addr) {
            continue;
        }
        let address: Address = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
        if node_api::account(chain, head, &address)?.is_some() {
            wrong.push(format!("{addr}: present, test has it deleted"));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!("post-state differs: {}", wrong.join("; ")))
    }
}

fn render_table(table: &BTreeMap<usize, (String, Tally)>) -> String {
    let mut out = String::from("| fork | passed | failed | skipped |\n|---|---:|---:|---:|\n");
    let mut total = Tally::default();
    for (network, t) in table.values() {
        let _ = writeln!(
            out,
            "| {network} | {} | {} | {} |",
            t.passed, t.failed, t.skipped
        );
        total.passed += t.passed;
        total.failed += t.failed;
        total.skipped += t.skipped;
    }
    let _ = writeln!(
        out,
        "| total | {} | {} | {} |",
        total.passed, total.failed, total.skipped
    );
    out
}

fn b256_field(v: &Value, key: &str) -> Result<B256, String> {
    parse_b256(v.get(key).ok_or_else(|| format!("missing {key}"))?)
}

fn parse_b256(v: &Value) -> Result<B256, String> {
    v.as_str()
        .ok_or("expected a hex string")?
        .parse()
        .map_err(|e| format!("{v}: {e}"))
}

fn u256_field(v: &Value, key: &str) -> Result<U256, String> {
    parse_u256(v.get(key).ok_or_else(|| format!("missing {key}"))?)
}

fn parse_u256(v: &Value) -> Result<U256, String> {
    let s = v.as_str().ok_or("expected a hex quantity")?;
    let digits = s.strip_prefix("0x").ok_or_else(|| format!("{s}: no 0x"))?;
    if digits.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(digits, 16).map_err(|e| format!("{s}: {e}"))
}

fn bytes_field(v: &Value, key: &str) -> Result<Bytes, String> {
    let s = v
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {key}"))?;
    hex::decode(s.trim_start_matches("0x"))
        .map(Bytes::from)
        .map_err(|e| format!("{key}: {e}"))
}

/// The node API the runner uses (issue 12): a chain opened with the proof-of-work seal
/// skipped, state reads at a stored block.
mod node_api {
    use alloy_primitives::{Address, B256, Bytes, U256};
    use cachet_genesis::Genesis;
    use cachet_node::chain::{Chain, Options};
    use cachet_node::store::ChainStore;
    use cachet_state::AccountInfo;

    pub(super) fn open_chain(store: ChainStore, genesis: Genesis) -> cachet_node::Result<Chain> {
        let options = Options {
            skip_pow: true,
            ..Options::default()
        };
        Chain::open_opts(store, genesis, options)
    }

    pub(super) fn account(
        chain: &Chain,
        at: B256,
        address: &Address,
    ) -> Result<Option<AccountInfo>, String> {
        chain.account(at, address).map_err(|e| e.to_string())
    }

    pub(super) fn storage(
        chain: &Chain,
        at: B256,
        address: &Address,
        slot: U256,
    ) -> Result<U256, String> {
        chain.storage(at, address, slot).map_err(|e| e.to_string())
    }

    pub(super) fn code(chain: &Chain, at: B256, address: &Address) -> Result<Bytes, String> {
        chain.code(at, address).map_err(|e| e.to_string())
    }
}

/// A side chain that overtakes the canonical one leaves exactly the state of the new head.
/// Every vendored case whose accepted blocks leave the path to `lastblockhash` (the fork-choice
/// cases: `bcForkStressTest`, `bcMultiChainTest`, `bcTotalDifficultyTest`, uncle cases) is imported
/// whole into one node, and only the blocks on that path into another node that never sees a
/// side chain. Both must reach the same head, each node's flat state must hash (recomputed from
/// scratch) to its head's state root, and every account and slot the case names must read the
/// same on both.
#[test]
fn reorged_state_equals_a_node_that_only_saw_the_new_chain() {
    let cases = load_cases();
    let mut reorg_cases = 0;
    let mut failures = Vec::new();
    for case in cases.iter().filter(|c| skip_reason(c).is_none()) {
        match compare_with_canonical_only(case) {
            Ok(true) => reorg_cases += 1,
            Ok(false) => {}
            Err(why) => failures.push(format!("{}: {why}", case.id)),
        }
    }
    println!("{reorg_cases} cases with side chains compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if std::env::var(FILTER_VAR).is_err() {
        assert!(
            reorg_cases >= 10,
            "only {reorg_cases} vendored cases have side chains"
        );
    }
}

/// `Ok(false)` for a case without side blocks.
fn compare_with_canonical_only(case: &Case) -> Result<bool, String> {
    let blocks = case.json["blocks"].as_array().ok_or("no blocks array")?;
    let accepted: Vec<&Value> = blocks
        .iter()
        .filter(|b| expected_exception(b, &case.network).is_none())
        .collect();
    let mut parent_of = std::collections::HashMap::new();
    for b in &accepted {
        let header = &b["blockHeader"];
        parent_of.insert(
            b256_field(header, "hash")?,
            b256_field(header, "parentHash")?,
        );
    }
    let mut canonical = std::collections::HashSet::new();
    let mut at = b256_field(&case.json, "lastblockhash")?;
    while let Some(parent) = parent_of.get(&at) {
        canonical.insert(at);
        at = *parent;
    }
    let on_path =
        |b: &Value| b256_field(&b["blockHeader"], "hash").is_ok_and(|h| canonical.contains(&h));
    if accepted.iter().all(|b| on_path(b)) {
        return Ok(false);
    }
    let open = |dir: &Path| -> Result<Chain, String> {
        let store = ChainStore::open(&dir.join("chain.redb")).map_err(|e| e.to_string())?;
        node_api::open_chain(store, genesis_of(case)?).map_err(|e| format!("open: {e}"))
    };
    let (dir_all, dir_new) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (all, new) = (open(dir_all.path())?, open(dir_new.path())?);
    for b in blocks {
        // Refusals are run_case's business; here only the resulting states matter.
        let _ = import_block(&all, b);
    }
    for b in accepted.iter().filter(|b| on_path(b)) {
        import_block(&new, b).map_err(|e| format!("canonical-only import: {e}"))?;
    }
    let (head, head_new) = (all.head(), new.head());
    if head.hash != head_new.hash {
        return Err(format!("heads differ: {} vs {}", head.hash, head_new.hash));
    }
    for (name, chain) in [("with side chains", &all), ("canonical only", &new)] {
        let read = chain.store().begin_read().map_err(|e| e.to_string())?;
        let root = cachet_state::WorldState::root_from_flat(&read).map_err(|e| e.to_string())?;
        if root != head.header.state_root {
            return Err(format!(
                "{name}: flat state hashes to {root}, head's state root is {}",
                head.header.state_root
            ));
        }
    }
    let mut named: BTreeMap<Address, Vec<U256>> = BTreeMap::new();
    for part in ["pre", "postState"] {
        for (addr, account) in case.json[part].as_object().into_iter().flatten() {
            let address: Address = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
            let slots = named.entry(address).or_default();
            for slot in account
                .get("storage")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                slots.push(parse_u256(&Value::String(slot.0.clone()))?);
            }
        }
    }
    for (address, slots) in &named {
        let read = |chain: &Chain| {
            let account = node_api::account(chain, head.hash, address)?
                .map(|a| (a.nonce, a.balance, a.code_hash));
            let values = slots
                .iter()
                .map(|s| node_api::storage(chain, head.hash, address, *s))
                .collect::<Result<Vec<_>, _>>()?;
            Ok::<_, String>((account, values))
        };
        if read(&all)? != read(&new)? {
            return Err(format!("{address} differs between the two nodes"));
        }
    }
    Ok(true)
}
