//! The state JSON-RPC methods against values no Cachet code computed: a transaction chain built
//! by EthereumJS's VM (`tests/peers/build-tx-chain.mjs`, whose expected.json holds EthereumJS's
//! balances, nonces, storage, code, receipts and logs), and contracts given in a genesis alloc
//! whose behaviour is a known fact (an `Error("nope")` revert, the gas of one SSTORE).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use alloy_primitives::U256;
use cachet_devp2p::eth::ForkSchedule;
use cachet_devp2p::net::{ChainConfig, ChainHead, Network, NetworkConfig};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::chain::Chain;
use cachet_node::clique::Proposals;
use cachet_node::import::{ImportReport, import_file};
use cachet_node::rpc::{self, RpcContext};
use cachet_node::store::ChainStore;
use serde_json::{Value, json};

use super::rpc::call;

/// Serves `chain` over HTTP on a loopback port.
async fn serve(chain: Arc<Chain>) -> SocketAddr {
    serve_with(chain, rpc::EthState::default()).await
}

/// Serves `chain` with the call limits of `eth`.
async fn serve_with(chain: Arc<Chain>, eth: rpc::EthState) -> SocketAddr {
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let ctx = context(chain, &keys, Proposals::default(), eth).await;
    let (handle, addr) = rpc::start("127.0.0.1:0".parse().unwrap(), ctx)
        .await
        .unwrap();
    std::mem::forget(handle);
    addr
}

/// The RPC context of a node serving `chain` with `keys`' wallet, pending votes `proposals`
/// and the call limits of `eth`, over a devp2p service started on a loopback port.
pub(crate) async fn context(
    chain: Arc<Chain>,
    keys: &UnlockedKeys,
    proposals: Proposals,
    eth: rpc::EthState,
) -> RpcContext {
    let gh = chain.genesis_hash();
    let cfg = NetworkConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        ChainConfig {
            network_id: 1337,
            genesis: gh,
            forks: ForkSchedule::new(gh, vec![], vec![]),
        },
        ChainHead {
            number: 0,
            hash: gh,
            total_difficulty: Default::default(),
            timestamp: 0,
        },
    );
    let (net, _events) = Network::start(keys.node_key(), cfg).await.unwrap();
    RpcContext {
        chain,
        net: Arc::new(net),
        proposals,
        wallet: keys.wallet_key(),
        network_id: 1337,
        client_version: "cachet/test".into(),
        sync: Default::default(),
        discovery_port: None,
        hardening: Default::default(),
        eth,
        pool: None,
        raft: None,
    }
}

async fn result(addr: SocketAddr, method: &str, params: Value) -> Value {
    let v = call(addr, method, params.clone()).await;
    assert!(v.get("error").is_none(), "{method} {params}: {v}");
    v["result"].clone()
}

fn hex_of_decimal(s: &str) -> String {
    format!("{:#x}", s.parse::<U256>().unwrap())
}

fn open(dir: &Path, genesis: &[u8]) -> Arc<Chain> {
    let g = Genesis::from_json(genesis, RaftMarker::FromGenesis).unwrap();
    let store = ChainStore::open(&dir.join("chain.redb")).unwrap();
    Arc::new(Chain::open(store, g).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs ethereumjs: run scripts/test"]
async fn serves_an_ethereumjs_chain_as_ethereumjs_computed_it() {
    for london_block in [0u64, 3] {
        check_ethereumjs_chain(london_block).await;
    }
}

async fn check_ethereumjs_chain(london_block: u64) {
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let out = cachet_testkit::run_node_script(
        "build-tx-chain.mjs",
        &[chain_dir.to_str().unwrap(), &london_block.to_string()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(chain_dir.join("expected.json")).unwrap())
            .unwrap();
    let genesis = std::fs::read(chain_dir.join("genesis.json")).unwrap();
    let chain = open(dir.path(), &genesis);
    import_file(
        &chain,
        &chain_dir.join("chain.rlp"),
        &mut ImportReport::default(),
    )
    .unwrap();
    let chain = if london_block == 3 {
        // A store written before the transaction index existed: the index is built on open.
        drop(chain);
        forget_tx_index(&dir.path().join("chain.redb"));
        open(dir.path(), &genesis)
    } else {
        chain
    };
    let addr = serve(chain).await;
    let at = |s: &str| format!("london at {london_block}: {s}");
    let rlps = split_blocks(&std::fs::read(chain_dir.join("chain.rlp")).unwrap());

    // Accounts, storage and code at the head, as EthereumJS left them.
    for (address, account) in expected["accounts"].as_object().unwrap() {
        let balance = result(addr, "eth_getBalance", json!([address, "latest"])).await;
        let nonce = result(addr, "eth_getTransactionCount", json!([address, "latest"])).await;
        assert_eq!(
            (balance, nonce),
            (
                json!(hex_of_decimal(account["balance"].as_str().unwrap())),
                json!(hex_of_decimal(account["nonce"].as_str().unwrap()))
            ),
            "{}",
            at(address)
        );
    }
    for (address, slots) in expected["storage"].as_object().unwrap() {
        for (slot, value) in slots.as_object().unwrap() {
            let ours = result(
                addr,
                "eth_getStorageAt",
                json!([
                    address,
                    format!("{:#x}", slot.parse::<u64>().unwrap()),
                    "latest"
                ]),
            )
            .await;
            let hex = value.as_str().unwrap().trim_start_matches("0x");
            let theirs = format!("0x{:0>64}", hex);
            assert_eq!(
                ours,
                json!(theirs),
                "{}",
                at(&format!("{address} slot {slot}"))
            );
        }
    }
    for (address, code) in expected["code"].as_object().unwrap() {
        assert_eq!(
            result(addr, "eth_getCode", json!([address, "latest"])).await,
            *code,
            "{}",
            at(address)
        );
    }
    // The genesis state at `earliest` and through EIP-1898: 100 ether for key 0xa1…'s address.
    let a = "0x5d5c99edf529335160ff180fa141dd4967fc00d2";
    let hundred = format!("{:#x}", U256::from(100u128 * 10u128.pow(18)));
    assert_eq!(
        result(addr, "eth_getBalance", json!([a, "earliest"])).await,
        json!(hundred)
    );
    assert_eq!(
        result(addr, "eth_getBalance", json!([a, {"blockNumber": "0x0"}])).await,
        json!(hundred)
    );
    assert_eq!(
        result(
            addr,
            "eth_getBalance",
            json!([a, {"blockHash": expected["genesisHash"], "requireCanonical": true}])
        )
        .await,
        json!(hundred)
    );

    // Transactions and receipts, block by block.
    let mut all_logs = Vec::new();
    for block in expected["blocks"].as_array().unwrap() {
        let number = format!("{:#x}", block["number"].as_u64().unwrap());
        let receipts = block["receipts"].as_array().unwrap();
        let mut log_index = 0u64;
        let mut ours_all = Vec::new();
        let full = result(addr, "eth_getBlockByNumber", json!([number, true])).await;
        let hashes = result(addr, "eth_getBlockByHash", json!([block["hash"], false])).await;
        assert_eq!(full["hash"], block["hash"], "{}", at(&number));
        // geth's size: the block's RLP length (EthereumJS's encoding in chain.rlp).
        let rlp_len = rlps[block["number"].as_u64().unwrap() as usize - 1].len();
        assert_eq!(
            full["size"],
            json!(format!("{rlp_len:#x}")),
            "{}",
            at(&number)
        );
        let count = result(
            addr,
            "eth_getBlockTransactionCountByNumber",
            json!([number]),
        )
        .await;
        assert_eq!(
            count,
            json!(format!("{:#x}", receipts.len())),
            "{}",
            at(&number)
        );
        for (i, r) in receipts.iter().enumerate() {
            let index = format!("{i:#x}");
            let tx = result(addr, "eth_getTransactionByHash", json!([r["txHash"]])).await;
            let what = at(&format!("block {number} tx {i}"));
            assert_eq!(tx["hash"], r["txHash"], "{what}");
            assert_eq!(tx["from"], r["from"], "{what}");
            assert_eq!(tx["to"], r["to"], "{what}");
            assert_eq!(
                tx["nonce"],
                json!(hex_of_decimal(r["nonce"].as_str().unwrap())),
                "{what}"
            );
            assert_eq!(tx["blockHash"], block["hash"], "{what}");
            assert_eq!(tx["blockNumber"], json!(number), "{what}");
            assert_eq!(tx["transactionIndex"], json!(index), "{what}");
            assert_eq!(
                tx["type"],
                json!(format!("{:#x}", block["txTypes"][i].as_u64().unwrap())),
                "{what}"
            );
            // Every signed field as EthereumJS's own JSON of the transaction has it.
            let ejs = &r["tx"];
            for (ours, theirs) in [
                ("type", "type"),
                ("gas", "gasLimit"),
                ("value", "value"),
                ("input", "data"),
                ("v", "v"),
                ("r", "r"),
                ("s", "s"),
                ("yParity", "yParity"),
                ("accessList", "accessList"),
                ("maxFeePerGas", "maxFeePerGas"),
                ("maxPriorityFeePerGas", "maxPriorityFeePerGas"),
            ] {
                let theirs = ejs.get(theirs).cloned().unwrap_or(Value::Null);
                let ours = tx.get(ours).cloned().unwrap_or(Value::Null);
                assert_eq!(ours, theirs, "{what}: {ejs}");
            }
            // geth gives a chain id to typed and EIP-155 legacy transactions only.
            let protected =
                ejs["type"] != "0x0" || !["0x1b", "0x1c"].contains(&ejs["v"].as_str().unwrap());
            assert_eq!(
                tx["chainId"],
                if protected {
                    ejs["chainId"].clone()
                } else {
                    Value::Null
                },
                "{what}"
            );
            // The price paid per gas: EthereumJS's wei spent on gas over the gas used.
            let paid = r["amountSpent"].as_str().unwrap().parse::<U256>().unwrap()
                / r["gasUsed"].as_str().unwrap().parse::<U256>().unwrap();
            let price = json!(format!("{paid:#x}"));
            assert_eq!(tx["gasPrice"], price, "{what}");
            assert_eq!(full["transactions"][i], tx, "{what}");
            assert_eq!(hashes["transactions"][i], r["txHash"], "{what}");
            assert_eq!(
                result(
                    addr,
                    "eth_getTransactionByBlockNumberAndIndex",
                    json!([number, index])
                )
                .await,
                tx,
                "{what}"
            );
            assert_eq!(
                result(
                    addr,
                    "eth_getTransactionByBlockHashAndIndex",
                    json!([block["hash"], index])
                )
                .await,
                tx,
                "{what}"
            );

            let receipt = result(addr, "eth_getTransactionReceipt", json!([r["txHash"]])).await;
            let hex = |k: &str| json!(hex_of_decimal(r[k].as_str().unwrap()));
            assert_eq!(
                receipt["status"],
                json!(format!("{:#x}", r["status"].as_u64().unwrap())),
                "{what}"
            );
            assert_eq!(
                receipt["cumulativeGasUsed"],
                hex("cumulativeGasUsed"),
                "{what}"
            );
            assert_eq!(receipt["gasUsed"], hex("gasUsed"), "{what}");
            assert_eq!(receipt["from"], r["from"], "{what}");
            assert_eq!(receipt["to"], r["to"], "{what}");
            assert_eq!(receipt["contractAddress"], r["contractAddress"], "{what}");
            assert_eq!(receipt["logsBloom"], r["logsBloom"], "{what}");
            assert_eq!(receipt["effectiveGasPrice"], price, "{what}");
            assert_eq!(receipt["transactionHash"], r["txHash"], "{what}");
            assert_eq!(receipt["transactionIndex"], json!(index), "{what}");
            assert_eq!(receipt["blockHash"], block["hash"], "{what}");
            assert_eq!(receipt["blockNumber"], json!(number), "{what}");
            assert_eq!(receipt["type"], tx["type"], "{what}");
            let entries = r["logEntries"].as_array().unwrap();
            let logs = receipt["logs"].as_array().unwrap();
            assert_eq!(logs.len(), entries.len(), "{what}");
            for (ours, theirs) in logs.iter().zip(entries) {
                assert_eq!(ours["address"], theirs["address"], "{what}");
                assert_eq!(ours["topics"], theirs["topics"], "{what}");
                assert_eq!(ours["data"], theirs["data"], "{what}");
                assert_eq!(ours["logIndex"], json!(format!("{log_index:#x}")), "{what}");
                assert_eq!(ours["transactionHash"], r["txHash"], "{what}");
                log_index += 1;
                all_logs.push(ours.clone());
            }
            ours_all.push(receipt);
        }
        assert_eq!(
            result(addr, "eth_getBlockReceipts", json!([number])).await,
            json!(ours_all),
            "{}",
            at(&number)
        );
    }
    assert!(all_logs.len() >= 4, "the chain has logs");

    // eth_getLogs over the whole chain finds every log, in order; filtered by address and by
    // topic (an OR list at position 0), it finds EthereumJS's logs that match.
    let every = result(
        addr,
        "eth_getLogs",
        json!([{"fromBlock": "earliest", "toBlock": "latest"}]),
    )
    .await;
    assert_eq!(every, json!(all_logs), "{}", at("getLogs"));
    let contract = &expected["contract"];
    let by_address = result(
        addr,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "address": [contract]}]),
    )
    .await;
    let theirs: Vec<&Value> = all_logs
        .iter()
        .filter(|l| l["address"] == *contract)
        .collect();
    assert_eq!(by_address, json!(theirs), "{}", at("getLogs by address"));
    let t77 = format!("0x{:0>64}", "77");
    let t99 = format!("0x{:0>64}", "99");
    let by_topic = result(
        addr,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "topics": [[t77, t99], null]}]),
    )
    .await;
    let theirs: Vec<&Value> = all_logs
        .iter()
        .filter(|l| l["topics"][0] == json!(t77) || l["topics"][0] == json!(t99))
        .collect();
    assert_eq!(theirs.len(), 2);
    assert_eq!(by_topic, json!(theirs), "{}", at("getLogs by topic"));
    let by_hash = result(
        addr,
        "eth_getLogs",
        json!([{"blockHash": expected["blocks"][2]["hash"]}]),
    )
    .await;
    let theirs: Vec<&Value> = all_logs
        .iter()
        .filter(|l| l["blockHash"] == expected["blocks"][2]["hash"])
        .collect();
    assert_eq!(by_hash, json!(theirs), "{}", at("getLogs by blockHash"));

    // Fees from EthereumJS's numbers: a transaction's tip is the wei it spent per gas minus the
    // base fee.
    let blocks = expected["blocks"].as_array().unwrap();
    let base_of = |b: &Value| {
        b["baseFeePerGas"]
            .as_str()
            .map_or(0u128, |s| s.parse().unwrap())
    };
    let tips_of = |b: &Value| -> Vec<(u128, u64)> {
        b["receipts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let used: u64 = r["gasUsed"].as_str().unwrap().parse().unwrap();
                let spent: u128 = r["amountSpent"].as_str().unwrap().parse().unwrap();
                (spent / u128::from(used) - base_of(b), used)
            })
            .collect()
    };
    let percentiles = [0.0, 25.0, 50.0, 75.0, 100.0];
    let mut rewards = Vec::new();
    for b in blocks {
        let mut tips = tips_of(b);
        tips.sort_by_key(|t| t.0);
        let gas_used = b["gasUsed"].as_u64().unwrap();
        // geth's feeHistory: the tip of the transaction at which the gas used, summed in tip
        // order, reaches the percentile of the block's gas used; zeros for an empty block.
        let row: Vec<Value> = percentiles
            .iter()
            .map(|p| {
                if tips.is_empty() {
                    return json!("0x0");
                }
                let threshold = (gas_used as f64 * p / 100.0) as u64;
                let (mut i, mut sum) = (0, tips[0].1);
                while sum < threshold && i < tips.len() - 1 {
                    i += 1;
                    sum += tips[i].1;
                }
                json!(format!("{:#x}", tips[i].0))
            })
            .collect();
        rewards.push(json!(row));
    }
    let last = blocks.last().unwrap();
    // EIP-1559: the next base fee after the head.
    let (base, used, target) = (
        base_of(last),
        u128::from(last["gasUsed"].as_u64().unwrap()),
        u128::from(last["gasLimit"].as_u64().unwrap() / 2),
    );
    let next = if used >= target {
        base + (base * (used - target) / target / 8).max(1)
    } else {
        base - base * (target - used) / target / 8
    };
    let mut base_fees: Vec<Value> = blocks
        .iter()
        .map(|b| json!(format!("{:#x}", base_of(b))))
        .collect();
    base_fees.push(json!(format!("{next:#x}")));
    let ratios: Vec<Value> = blocks
        .iter()
        .map(|b| {
            json!(b["gasUsed"].as_u64().unwrap() as f64 / b["gasLimit"].as_u64().unwrap() as f64)
        })
        .collect();
    let fh = result(
        addr,
        "eth_feeHistory",
        json!([format!("{:#x}", blocks.len()), "latest", percentiles]),
    )
    .await;
    assert_eq!(
        fh,
        json!({"oldestBlock": "0x1", "baseFeePerGas": base_fees, "gasUsedRatio": ratios, "reward": rewards}),
        "{}",
        at("feeHistory")
    );
    // geth's oracle: the 3 lowest tips of at least 2 wei per block, then the 60th percentile.
    let mut samples: Vec<u128> = Vec::new();
    for b in blocks {
        let mut tips: Vec<u128> = tips_of(b)
            .into_iter()
            .map(|t| t.0)
            .filter(|t| *t >= 2)
            .collect();
        tips.sort_unstable();
        samples.extend(tips.into_iter().take(3));
    }
    samples.sort_unstable();
    let tip = samples[(samples.len() - 1) * 60 / 100];
    assert_eq!(
        result(addr, "eth_maxPriorityFeePerGas", json!([])).await,
        json!(format!("{tip:#x}")),
        "{}",
        at("tip")
    );
    assert_eq!(
        result(addr, "eth_gasPrice", json!([])).await,
        json!(format!("{:#x}", tip + next)),
        "{}",
        at("gas price")
    );

    // Calls on the state EthereumJS built: the contract reverts with 0xdead without calldata
    // (build-tx-chain.mjs's runtime), a transfer from a funded account costs 21000.
    for method in ["eth_call", "eth_estimateGas"] {
        let v = call(addr, method, json!([{"from": a, "to": contract}, "latest"])).await;
        assert_eq!(v["error"]["code"], 3, "{method}: {v}");
        assert_eq!(v["error"]["message"], "execution reverted", "{method}: {v}");
        assert_eq!(v["error"]["data"], "0xdead", "{method}: {v}");
    }
    assert_eq!(
        result(
            addr,
            "eth_estimateGas",
            json!([{"from": a, "to": "0xfefefefefefefefefefefefefefefefefefefefe", "value": "0x1"}])
        )
        .await,
        "0x5208"
    );

    // A log filter from genesis: its logs through eth_getFilterLogs; its changes are only those
    // of blocks added later (geth), none here.
    let id = result(addr, "eth_newFilter", json!([{"fromBlock": "0x0"}])).await;
    assert_eq!(
        result(addr, "eth_getFilterLogs", json!([id])).await,
        json!(all_logs)
    );
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([id])).await,
        json!([])
    );
    assert_eq!(
        result(addr, "eth_uninstallFilter", json!([id])).await,
        json!(true)
    );
    assert_eq!(
        result(addr, "eth_uninstallFilter", json!([id])).await,
        json!(false)
    );
    let gone = call(addr, "eth_getFilterChanges", json!([id])).await;
    assert_eq!(gone["error"]["message"], "filter not found", "{gone}");
}

/// Removes the transaction index and its marker, as in a store from before the index.
fn forget_tx_index(path: &Path) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    assert!(
        txn.delete_table(redb::TableDefinition::<&[u8; 32], &[u8; 40]>::new(
            "tx-lookup"
        ))
        .unwrap()
    );
    let mut pointers = txn
        .open_table(redb::TableDefinition::<&str, &[u8; 32]>::new("pointers"))
        .unwrap();
    assert!(pointers.remove("tx-lookup-built").unwrap().is_some());
    drop(pointers);
    txn.commit().unwrap();
}

/// Runtime code that reverts with `Error("nope")`: the ABI encoding (selector 0x08c379a0,
/// offset 0x20, length 4, "nope") written to memory and returned by REVERT.
const REVERTS_NOPE: &str = concat!(
    "7f08c379a000000000000000000000000000000000000000000000000000000000", // PUSH32 selector‖0
    "600052",                                                             // PUSH1 0 MSTORE
    "6020600452",                                                         // mstore(4, 0x20)
    "6004602452",                                                         // mstore(0x24, 4)
    "7f6e6f706500000000000000000000000000000000000000000000000000000000", // PUSH32 "nope"‖0
    "604452",                                                             // mstore(0x44, …)
    "60646000fd",                                                         // revert(0, 100)
);
/// The revert data above, as the ABI defines `Error("nope")`.
const NOPE_DATA: &str = concat!(
    "0x08c379a0",
    "0000000000000000000000000000000000000000000000000000000000000020",
    "0000000000000000000000000000000000000000000000000000000000000004",
    "6e6f706500000000000000000000000000000000000000000000000000000000",
);
/// slot0 = 42 (PUSH1 42 PUSH1 0 SSTORE STOP).
const STORES: &str = "602a60005500";
/// Returns slot 1 (PUSH1 1 SLOAD, mstore(0), return(0, 32)).
const RETURNS_SLOT1: &str = "60015460005260206000f3";
/// Loops until the gas runs out (JUMPDEST PUSH1 0 JUMP).
const LOOPS: &str = "5b600056";

fn call_genesis(funded: &str) -> Vec<u8> {
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    genesis_with_alloc(funded, keys.sealing_key().address())
}

fn genesis_with_alloc(funded: &str, signer: alloy_primitives::Address) -> Vec<u8> {
    let text = String::from_utf8(super::clique::genesis_json(&[signer], 1)).unwrap();
    let alloc = json!({
        funded: {"balance": "0xde0b6b3a7640000"},
        "0x00000000000000000000000000000000000000aa": {"balance": "0x0", "code": format!("0x{REVERTS_NOPE}")},
        "0x00000000000000000000000000000000000000bb": {"balance": "0x0", "code": format!("0x{STORES}")},
        "0x00000000000000000000000000000000000000cc": {
            "balance": "0x0",
            "code": format!("0x{RETURNS_SLOT1}"),
            "storage": {"0x0000000000000000000000000000000000000000000000000000000000000001": "0x05"},
        },
        "0x00000000000000000000000000000000000000dd": {"balance": "0x0", "code": format!("0x{LOOPS}")},
    });
    text.replace(r#""alloc":{}"#, &format!(r#""alloc":{alloc}"#))
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_estimates_and_reports_reverts_as_geth() {
    let dir = tempfile::tempdir().unwrap();
    let funded = "0x1000000000000000000000000000000000000001";
    let chain = open(dir.path(), &call_genesis(funded));
    let addr = serve(chain).await;

    // Revert: code 3, the reason in the message, the data in error.data.
    for method in ["eth_call", "eth_estimateGas"] {
        let v = call(
            addr,
            method,
            json!([{"from": funded, "to": "0x00000000000000000000000000000000000000aa"}, "latest"]),
        )
        .await;
        assert_eq!(v["error"]["code"], 3, "{method}: {v}");
        assert_eq!(
            v["error"]["message"], "execution reverted: nope",
            "{method}: {v}"
        );
        assert_eq!(v["error"]["data"], NOPE_DATA, "{method}: {v}");
    }
    // A plain transfer costs 21000; one cold zero-to-nonzero SSTORE after two PUSH1s costs
    // 21000 + 3 + 3 + 22100 (EIP-2929 cold slot + EIP-2200 set) = 43106.
    let transfer = json!([{"from": funded, "to": "0x2000000000000000000000000000000000000002", "value": "0x1"}]);
    assert_eq!(result(addr, "eth_estimateGas", transfer).await, "0x5208");
    let store = json!([{"from": funded, "to": "0x00000000000000000000000000000000000000bb"}]);
    assert_eq!(
        result(addr, "eth_estimateGas", store).await,
        json!(format!("{:#x}", 43_106))
    );
    // A value the sender cannot pay.
    let broke = call(
        addr,
        "eth_estimateGas",
        json!([{"from": "0x3000000000000000000000000000000000000003", "to": funded, "value": "0x1", "gasPrice": "0x1"}]),
    )
    .await;
    assert_eq!(
        broke["error"]["message"], "insufficient funds for transfer",
        "{broke}"
    );
    // A gas limit below what the call needs, with the allowance as the limit.
    let low = call(
        addr,
        "eth_estimateGas",
        json!([{"from": funded, "to": "0x00000000000000000000000000000000000000bb", "gas": "0x5208"}]),
    )
    .await;
    assert_eq!(
        low["error"]["message"], "gas required exceeds allowance (21000)",
        "{low}"
    );

    // Storage read as stored, then through stateDiff and state overrides; code and balance
    // overrides.
    let slot1 = json!({"to": "0x00000000000000000000000000000000000000cc"});
    let word = |n: u64| json!(format!("0x{n:064x}"));
    assert_eq!(
        result(addr, "eth_call", json!([slot1, "latest"])).await,
        word(5)
    );
    let key1 = format!("0x{:064x}", 1);
    assert_eq!(
        result(addr, "eth_call", json!([slot1, "latest", {"0x00000000000000000000000000000000000000cc": {"stateDiff": {key1.clone(): format!("0x{:064x}", 7)}}}])).await,
        word(7)
    );
    let key2 = format!("0x{:064x}", 2);
    assert_eq!(
        result(addr, "eth_call", json!([slot1, "latest", {"0x00000000000000000000000000000000000000cc": {"state": {key2: format!("0x{:064x}", 9)}}}])).await,
        word(0)
    );
    let both = call(addr, "eth_call", json!([slot1, "latest", {"0x00000000000000000000000000000000000000cc": {"state": {}, "stateDiff": {}}}])).await;
    assert_eq!(both["error"]["code"], -32602, "{both}");
    // Code override: BALANCE of the funded account (PUSH20 it, BALANCE, return the word), with
    // its balance overridden too.
    let code = format!("0x73{}3160005260206000f3", funded.trim_start_matches("0x"));
    let over = json!({
        "0x4000000000000000000000000000000000000004": {"code": code},
        funded: {"balance": "0x1234"},
    });
    assert_eq!(
        result(
            addr,
            "eth_call",
            json!([{"to": "0x4000000000000000000000000000000000000004"}, "latest", over])
        )
        .await,
        word(0x1234)
    );
    // The state itself is untouched.
    assert_eq!(
        result(addr, "eth_getBalance", json!([funded, "latest"])).await,
        "0xde0b6b3a7640000"
    );
    assert_eq!(
        result(
            addr,
            "eth_getStorageAt",
            json!([
                "0x00000000000000000000000000000000000000cc",
                "0x1",
                "pending"
            ])
        )
        .await,
        word(5)
    );
    assert_eq!(
        result(
            addr,
            "eth_getCode",
            json!(["0x00000000000000000000000000000000000000bb", "safe"])
        )
        .await,
        json!(format!("0x{STORES}"))
    );
    // Fees on a chain without transactions: base fee + a zero tip.
    assert_eq!(
        result(addr, "eth_maxPriorityFeePerGas", json!([])).await,
        "0x0"
    );
    let fh = result(addr, "eth_feeHistory", json!(["0x1", "latest", [50]])).await;
    assert_eq!(fh["oldestBlock"], "0x0", "{fh}");
    // London at genesis: initial base fee 1 gwei (EIP-1559), and the next block's after an
    // empty block falls by 1/8.
    assert_eq!(
        fh["baseFeePerGas"],
        json!(["0x3b9aca00", "0x342770c0"]),
        "{fh}"
    );
    assert_eq!(fh["reward"], json!([["0x0"]]), "{fh}");
    assert_eq!(result(addr, "eth_gasPrice", json!([])).await, "0x342770c0");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_evm_timeout_stops_a_loop_with_geths_error() {
    let dir = tempfile::tempdir().unwrap();
    let funded = "0x1000000000000000000000000000000000000001";
    let chain = open(dir.path(), &call_genesis(funded));
    let loops = "0x00000000000000000000000000000000000000dd";
    // No gas cap, so only the timeout ends the loop (2^60 gas would take days).
    let mut eth = rpc::EthState::default();
    eth.gas_cap = 0;
    eth.evm_timeout = std::time::Duration::from_millis(200);
    let addr = serve_with(chain.clone(), eth).await;
    let call_it = json!([{"from": funded, "to": loops}, "latest"]);
    let huge = json!([{"from": funded, "to": loops, "gas": "0x1000000000000000"}, "latest"]);
    for (method, params) in [
        ("eth_call", &call_it),
        ("eth_call", &huge),
        ("eth_estimateGas", &huge),
    ] {
        let v = call(addr, method, params.clone()).await;
        assert_eq!(v["error"]["code"], -32000, "{method}: {v}");
        assert_eq!(
            v["error"]["message"], "execution aborted (timeout = 200ms)",
            "{method}: {v}"
        );
    }
    // Timeout off and a small gas cap: out of gas, as before.
    let mut eth = rpc::EthState::default();
    eth.gas_cap = 1_000_000;
    eth.evm_timeout = std::time::Duration::ZERO;
    let addr = serve_with(chain, eth).await;
    let v = call(addr, "eth_call", call_it.clone()).await;
    assert_eq!(v["error"]["code"], -32000, "{v}");
    assert_eq!(v["error"]["message"], "out of gas", "{v}");
    let v = call(addr, "eth_estimateGas", call_it).await;
    assert_eq!(
        v["error"]["message"], "gas required exceeds allowance (1000000)",
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_malformed_state_params_with_invalid_params() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(
        dir.path(),
        &call_genesis("0x1000000000000000000000000000000000000001"),
    );
    let addr = serve(chain).await;
    let a = "0x1000000000000000000000000000000000000001";
    let h = format!("0x{}", "11".repeat(32));
    let cases = [
        ("eth_getBalance", json!(["0x12"])),
        ("eth_getBalance", json!([a, "soon"])),
        (
            "eth_getBalance",
            json!([a, {"blockHash": h, "blockNumber": "0x0"}]),
        ),
        ("eth_getBalance", json!([a, 7])),
        (
            "eth_getStorageAt",
            json!([a, format!("0x{}", "1".repeat(65)), "latest"]),
        ),
        ("eth_getStorageAt", json!([a, "0xzz", "latest"])),
        ("eth_getCode", json!([])),
        ("eth_getTransactionByHash", json!(["0x1234"])),
        (
            "eth_getTransactionByBlockNumberAndIndex",
            json!(["latest", "x"]),
        ),
        ("eth_getBlockByNumber", json!(["latest", "yes"])),
        ("eth_call", json!(["not an object"])),
        ("eth_call", json!([{"to": a, "gas": "0xnope"}])),
        (
            "eth_call",
            json!([{"to": a, "data": "0x01", "input": "0x02"}]),
        ),
        (
            "eth_call",
            json!([{"to": a, "gasPrice": "0x1", "maxFeePerGas": "0x1"}]),
        ),
        ("eth_call", json!([{"to": a}, "latest", {"0x12": {}}])),
        ("eth_estimateGas", json!([{"to": a, "value": "-1"}])),
        (
            "eth_getLogs",
            json!([{"topics": [null, null, null, null, null]}]),
        ),
        ("eth_getLogs", json!([{"address": 5}])),
        ("eth_getLogs", json!([{"blockHash": h, "fromBlock": "0x0"}])),
        ("eth_newFilter", json!([{"topics": ["0x12"]}])),
        ("eth_getFilterChanges", json!(["nope"])),
        ("eth_feeHistory", json!(["0x1", "latest", [60, 50]])),
        ("eth_feeHistory", json!(["0x1", "latest", [101]])),
        ("eth_feeHistory", json!([])),
        ("eth_feeHistory", json!(["0x1", "latest", vec![50; 101]])),
    ];
    for (method, params) in cases {
        let v = call(addr, method, params.clone()).await;
        assert_eq!(v["error"]["code"], -32602, "{method} {params}: {v}");
        assert!(
            !v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{method} {params}: {v}"
        );
    }
    // Unknown things are null, or geth's not-found errors.
    assert_eq!(
        result(addr, "eth_getTransactionByHash", json!([h])).await,
        Value::Null
    );
    assert_eq!(
        result(addr, "eth_getTransactionReceipt", json!([h])).await,
        Value::Null
    );
    assert_eq!(
        result(addr, "eth_getBlockReceipts", json!(["0x99"])).await,
        Value::Null
    );
    let missing = call(addr, "eth_getBalance", json!([a, "0x99"])).await;
    assert_eq!(missing["error"]["message"], "header not found", "{missing}");
    let unknown = call(addr, "eth_getBalance", json!([a, {"blockHash": h}])).await;
    assert_eq!(
        unknown["error"]["message"], "header for hash not found",
        "{unknown}"
    );
    let range = call(
        addr,
        "eth_getLogs",
        json!([{"fromBlock": "0x2", "toBlock": "0x1"}]),
    )
    .await;
    assert_eq!(
        range["error"]["message"], "invalid block range params",
        "{range}"
    );
    // Block and pending-transaction filters on a chain that does not move: nothing new.
    let blocks = result(addr, "eth_newBlockFilter", json!([])).await;
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([blocks])).await,
        json!([])
    );
    let pending = result(addr, "eth_newPendingTransactionFilter", json!([])).await;
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([pending])).await,
        json!([])
    );
}

/// The blocks of a `chain.rlp` (concatenated block RLP lists), each whole.
fn split_blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let mut buf = rest;
        let h = alloy_rlp::Header::decode(&mut buf).unwrap();
        let len = rest.len() - buf.len() + h.payload_length;
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    out
}

/// A stored canonical block as (header RLP, body RLP).
fn stored(chain: &Chain, number: u64) -> (Vec<u8>, Vec<u8>) {
    let hash = chain.store().canonical_hash(number).unwrap().unwrap();
    (
        chain.header_rlp_by_hash(&hash).unwrap().unwrap(),
        chain.store().body_by_hash(&hash).unwrap().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs ethereumjs: run scripts/test"]
async fn finds_transactions_of_canonical_blocks_only_across_reorgs() {
    use cachet_node::clique::CliqueSealer;
    let dir = tempfile::tempdir().unwrap();
    let chain_dir = dir.path().join("chain");
    let out =
        cachet_testkit::run_node_script("build-tx-chain.mjs", &[chain_dir.to_str().unwrap(), "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(chain_dir.join("expected.json")).unwrap())
            .unwrap();
    let genesis = std::fs::read(chain_dir.join("genesis.json")).unwrap();
    let blocks = split_blocks(&std::fs::read(chain_dir.join("chain.rlp")).unwrap());
    let first_two = chain_dir.join("first-two.rlp");
    std::fs::write(&first_two, [blocks[0].clone(), blocks[1].clone()].concat()).unwrap();
    // The chain's signer (build-tx-chain.mjs's fixed test key 0x51…51) seals the other branches.
    let signer = || {
        UnlockedKeys::from_secrets_for_tests([1; 32], Some([0x51; 32]), [2; 32], [3; 32])
            .unwrap()
            .sealing_key()
    };
    let import = |chain: &Chain, path: &Path| {
        import_file(chain, path, &mut ImportReport::default()).unwrap();
    };
    let ts = |block: usize| expected["blocks"][block]["timestamp"].as_u64().unwrap();

    // Branch B: blocks 1-2, then four empty blocks (3'-6') sealed by the signer.
    let dir_b = dir.path().join("b");
    std::fs::create_dir_all(&dir_b).unwrap();
    let b = open(&dir_b, &genesis);
    import(&b, &first_two);
    let mut sealer_b =
        CliqueSealer::new(b.clone(), &dir_b, signer(), Proposals::default()).unwrap();
    for k in 0..4 {
        sealer_b.seal_now(ts(1) + 6 + 5 * k).unwrap().unwrap();
    }
    // Branch C: EthereumJS's blocks 1-5, then two empty blocks (6, 7): longer than B.
    let dir_c = dir.path().join("c");
    std::fs::create_dir_all(&dir_c).unwrap();
    let c = open(&dir_c, &genesis);
    import(&c, &chain_dir.join("chain.rlp"));
    let mut sealer = CliqueSealer::new(c.clone(), &dir_c, signer(), Proposals::default()).unwrap();
    for k in 0..2 {
        sealer.seal_now(ts(4) + 5 + 5 * k).unwrap().unwrap();
    }

    // Node A: blocks 1-2, then B's branch (head 6'), then C's blocks 3-5 (a side chain).
    let dir_a = dir.path().join("a");
    std::fs::create_dir_all(&dir_a).unwrap();
    let a = open(&dir_a, &genesis);
    import(&a, &first_two);
    for n in 3..=6 {
        let (h, body) = stored(&b, n);
        a.import(&h, &body).unwrap();
    }
    for n in 3..=5 {
        let (h, body) = stored(&c, n);
        a.import(&h, &body).unwrap();
    }
    let addr = serve(a.clone()).await;
    let block_filter = result(addr, "eth_newBlockFilter", json!([])).await;
    let log_filter = result(addr, "eth_newFilter", json!([{"fromBlock": "0x0"}])).await;
    let tx_of = |block: usize, i: usize| expected["blocks"][block]["receipts"][i]["txHash"].clone();
    let head = result(addr, "eth_blockNumber", json!([])).await;
    assert_eq!(head, "0x6");
    // Transactions of blocks 1-2 (on both branches) are found; those of C's 3 and 5, stored
    // only on the side chain, are not (geth: canonical only).
    let early = result(addr, "eth_getTransactionByHash", json!([tx_of(0, 0)])).await;
    assert_eq!(early["blockHash"], expected["blocks"][0]["hash"]);
    for (block, i) in [(2, 0), (2, 4), (4, 1)] {
        assert_eq!(
            result(addr, "eth_getTransactionByHash", json!([tx_of(block, i)])).await,
            Value::Null,
            "block {} tx {i}",
            block + 1
        );
        assert_eq!(
            result(addr, "eth_getTransactionReceipt", json!([tx_of(block, i)])).await,
            Value::Null
        );
    }
    let logs = result(addr, "eth_getLogs", json!([{"fromBlock": "0x0"}])).await;
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .all(|l| l["blockNumber"] == "0x2"),
        "{logs}"
    );

    // C's blocks 6 and 7 make C canonical: the reorg brings its transactions in.
    for n in 6..=7 {
        let (h, body) = stored(&c, n);
        a.import(&h, &body).unwrap();
    }
    assert_eq!(result(addr, "eth_blockNumber", json!([])).await, "0x7");
    for (block, i) in [(2, 0), (2, 4), (4, 1)] {
        let tx = result(addr, "eth_getTransactionByHash", json!([tx_of(block, i)])).await;
        assert_eq!(
            tx["blockHash"],
            expected["blocks"][block]["hash"],
            "block {} tx {i}",
            block + 1
        );
        let receipt = result(addr, "eth_getTransactionReceipt", json!([tx_of(block, i)])).await;
        assert_eq!(
            receipt["status"],
            json!(format!(
                "{:#x}",
                expected["blocks"][block]["receipts"][i]["status"]
                    .as_u64()
                    .unwrap()
            ))
        );
    }
    // The filters installed at 6' report C's blocks 3-7 and the logs of C's 3 and 5 (the
    // removed blocks 3'-6' had none).
    let c_hash = |n: u64| json!(c.store().canonical_hash(n).unwrap().unwrap());
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([block_filter])).await,
        json!((3..=7).map(c_hash).collect::<Vec<_>>())
    );
    let c_logs = result(addr, "eth_getLogs", json!([{"fromBlock": "0x3"}])).await;
    let theirs: usize = [2usize, 4]
        .iter()
        .map(|b| {
            expected["blocks"][*b]["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["logs"].as_u64().unwrap() as usize)
                .sum::<usize>()
        })
        .sum();
    assert_eq!(c_logs.as_array().unwrap().len(), theirs);
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([log_filter])).await,
        c_logs
    );
    // B grows past C again (7'-9'): C's logs come back as removed.
    for k in 0..3 {
        sealer_b.seal_now(ts(1) + 26 + 5 * k).unwrap().unwrap();
    }
    for n in 7..=9 {
        let (h, body) = stored(&b, n);
        a.import(&h, &body).unwrap();
    }
    let mut removed = c_logs.as_array().unwrap().clone();
    removed.sort_by_key(|l| std::cmp::Reverse(l["blockNumber"].as_str().unwrap().to_owned()));
    for l in &mut removed {
        l["removed"] = json!(true);
    }
    let changes = result(addr, "eth_getFilterChanges", json!([log_filter])).await;
    assert_eq!(changes, json!(removed));
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([block_filter])).await,
        json!(
            (3..=9)
                .map(|n| json!(b.store().canonical_hash(n).unwrap().unwrap()))
                .collect::<Vec<_>>()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn block_filters_report_each_new_block_once() {
    use cachet_node::clique::CliqueSealer;
    let dir = tempfile::tempdir().unwrap();
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let genesis = genesis_with_alloc(
        "0x1000000000000000000000000000000000000001",
        keys.sealing_key().address(),
    );
    let chain = open(dir.path(), &genesis);
    let addr = serve(chain.clone()).await;
    let blocks = result(addr, "eth_newBlockFilter", json!([])).await;
    let logs = result(addr, "eth_newFilter", json!([{}])).await;
    let mut sealer = CliqueSealer::new(
        chain.clone(),
        dir.path(),
        keys.sealing_key(),
        Proposals::default(),
    )
    .unwrap();
    let mut sealed = Vec::new();
    for n in 1..=3 {
        sealer.seal_now(1_700_000_000 + n).unwrap().unwrap();
        sealed.push(json!(chain.head().hash));
    }
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([blocks])).await,
        json!(sealed)
    );
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([blocks])).await,
        json!([])
    );
    sealer.seal_now(1_700_000_010).unwrap().unwrap();
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([blocks])).await,
        json!([chain.head().hash])
    );
    // Empty blocks have no logs; getFilterLogs is for log filters only.
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([logs])).await,
        json!([])
    );
    let not_logs = call(addr, "eth_getFilterLogs", json!([blocks])).await;
    assert_eq!(
        not_logs["error"]["message"], "filter not found",
        "{not_logs}"
    );
    // Tags: safe and finalized are the head; blocks carry their transaction list (empty here).
    let head = result(addr, "eth_getBlockByNumber", json!(["latest", true])).await;
    assert_eq!(head["hash"], json!(chain.head().hash));
    assert_eq!(head["transactions"], json!([]));
    for tag in ["safe", "finalized", "pending"] {
        assert_eq!(
            result(addr, "eth_getBlockByNumber", json!([tag, false])).await["hash"],
            head["hash"],
            "{tag}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_every_state_method_on_odd_params_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(
        dir.path(),
        &call_genesis("0x1000000000000000000000000000000000000001"),
    );
    let addr = serve(chain).await;
    let methods = [
        "eth_getBalance",
        "eth_getCode",
        "eth_getStorageAt",
        "eth_getTransactionCount",
        "eth_getBlockByNumber",
        "eth_getBlockByHash",
        "eth_getBlockTransactionCountByHash",
        "eth_getBlockTransactionCountByNumber",
        "eth_getTransactionByHash",
        "eth_getTransactionByBlockHashAndIndex",
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionReceipt",
        "eth_getBlockReceipts",
        "eth_getLogs",
        "eth_newFilter",
        "eth_getFilterChanges",
        "eth_getFilterLogs",
        "eth_uninstallFilter",
        "eth_call",
        "eth_estimateGas",
        "eth_feeHistory",
    ];
    let odd = [
        json!(null),
        json!(0),
        json!(-1),
        json!(1e300),
        json!(""),
        json!("0x"),
        json!("0x-1"),
        json!(format!("0x{}", "f".repeat(200))),
        json!("latest"),
        json!("0xffffffffffffffff"),
        json!({}),
        json!({"blockHash": 1}),
        json!({"blockNumber": "0x10000000000000000"}),
        json!({"to": [], "gas": "0xffffffffffffffff", "value": "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}),
        json!({"from": "0x1000000000000000000000000000000000000001", "to": "0x00000000000000000000000000000000000000aa", "gasPrice": "0xffffffffffffffffffffffffffffffff", "gas": "0xffffffffffffffff"}),
        json!({"fromBlock": "0xffffffffffffffff", "toBlock": "earliest", "topics": [[null, 1]]}),
        json!([[[[]]]]),
        json!(true),
    ];
    for method in methods {
        for a in &odd {
            for params in [
                json!([a]),
                json!([a, a]),
                json!([a, a, a]),
                json!(["0x1000000000000000000000000000000000000001", a, a]),
            ] {
                let v = call(addr, method, params.clone()).await;
                assert!(
                    v.get("result").is_some() || v["error"]["code"].is_i64(),
                    "{method} {params}: {v}"
                );
            }
        }
    }
}

/// A pool stand-in: one pending transaction, a pending nonce, new hashes on a channel.
struct FakePool {
    tx: alloy_consensus::TxEnvelope,
    sender: alloy_primitives::Address,
    new: tokio::sync::broadcast::Sender<alloy_primitives::B256>,
}

impl rpc::PendingTransactions for FakePool {
    fn pending_nonce(&self, address: &alloy_primitives::Address) -> Option<u64> {
        (*address == self.sender).then_some(7)
    }
    fn get(&self, hash: &alloy_primitives::B256) -> Option<alloy_consensus::TxEnvelope> {
        (hash == self.tx.tx_hash()).then(|| self.tx.clone())
    }
    fn subscribe_new(&self) -> tokio::sync::broadcast::Receiver<alloy_primitives::B256> {
        self.new.subscribe()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_reads_go_through_the_pool_hook() {
    use alloy_consensus::{SignableTransaction as _, TxLegacy};
    use alloy_signer::SignerSync as _;
    let dir = tempfile::tempdir().unwrap();
    let chain = open(
        dir.path(),
        &call_genesis("0x1000000000000000000000000000000000000001"),
    );
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let wallet = keys.wallet_key();
    let tx = TxLegacy {
        chain_id: Some(1337),
        nonce: 6,
        gas_price: 1,
        gas_limit: 21_000,
        to: alloy_primitives::TxKind::Call(alloy_primitives::Address::repeat_byte(9)),
        ..TxLegacy::default()
    };
    let sig = wallet.sign_hash_sync(&tx.signature_hash()).unwrap();
    let tx: alloy_consensus::TxEnvelope = tx.into_signed(sig).into();
    let hash = *tx.tx_hash();
    let (new, _) = tokio::sync::broadcast::channel(16);
    let pool = Arc::new(FakePool {
        tx,
        sender: wallet.address(),
        new: new.clone(),
    });
    // The server as `serve` builds it, with the hook attached.
    let net_keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let gh = chain.genesis_hash();
    let cfg = NetworkConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        ChainConfig {
            network_id: 1337,
            genesis: gh,
            forks: ForkSchedule::new(gh, vec![], vec![]),
        },
        ChainHead {
            number: 0,
            hash: gh,
            total_difficulty: Default::default(),
            timestamp: 0,
        },
    );
    let (net, _events) = Network::start(net_keys.node_key(), cfg).await.unwrap();
    let mut eth = rpc::EthState::default();
    eth.pending = Some(pool);
    let ctx = RpcContext {
        chain,
        net: Arc::new(net),
        proposals: Proposals::default(),
        wallet: net_keys.wallet_key(),
        network_id: 1337,
        client_version: "cachet/test".into(),
        sync: Default::default(),
        discovery_port: None,
        hardening: Default::default(),
        eth,
        pool: None,
        raft: None,
    };
    let (handle, addr) = rpc::start("127.0.0.1:0".parse().unwrap(), ctx)
        .await
        .unwrap();
    std::mem::forget(handle);

    let who = json!(wallet.address());
    assert_eq!(
        result(addr, "eth_getTransactionCount", json!([who, "pending"])).await,
        "0x7"
    );
    assert_eq!(
        result(addr, "eth_getTransactionCount", json!([who, "latest"])).await,
        "0x0"
    );
    let pending = result(addr, "eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(pending["hash"], json!(hash));
    assert_eq!(pending["from"], who);
    assert_eq!(pending["nonce"], "0x6");
    assert_eq!(pending["blockHash"], Value::Null);
    assert_eq!(pending["blockNumber"], Value::Null);
    let filter = result(addr, "eth_newPendingTransactionFilter", json!([])).await;
    new.send(hash).unwrap();
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([filter])).await,
        json!([hash])
    );
    assert_eq!(
        result(addr, "eth_getFilterChanges", json!([filter])).await,
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_filters_beyond_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(
        dir.path(),
        &call_genesis("0x1000000000000000000000000000000000000001"),
    );
    let addr = serve(chain).await;
    let mut first = Value::Null;
    for i in 0..rpc::MAX_FILTERS {
        let id = result(addr, "eth_newBlockFilter", json!([])).await;
        if i == 0 {
            first = id;
        }
    }
    let refused = call(addr, "eth_newBlockFilter", json!([])).await;
    assert_eq!(refused["error"]["code"], -32000, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("too many installed filters (10000)"),
        "{refused}"
    );
    assert_eq!(
        result(addr, "eth_uninstallFilter", json!([first])).await,
        json!(true)
    );
    result(addr, "eth_newPendingTransactionFilter", json!([])).await;
}
