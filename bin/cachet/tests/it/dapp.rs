//! A dapp developer's day against `cachet devnet`, with tools no one here wrote: `ethers` 6 and
//! the `solc` npm package (`tests/peers/dapp.mjs`) compile, deploy and use an ERC-20
//! (`tests/peers/contracts/Token.sol`), read its events (`eth_getLogs`, and a `logs` subscription
//! when the devnet serves WebSocket), get a revert reason, estimate gas, send 200 transactions
//! from 4 accounts at once and one through the node's wallet; then the real `@ethereumjs/client`
//! syncs that chain, re-executing every block, and agrees on the hashes and the state.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use rand::Rng as _;
use secp256k1::{PublicKey, SECP256K1, SecretKey};
use serde_json::{Value, json};

use super::ethereumjs::{start_follower, tail};
use super::node::{base_port, interrupt, number, rpc, wait_until};

/// Transactions each of the four accounts sends at once.
const PER_KEY: usize = 50;
/// Token.sol's supply as dapp.mjs deploys it: 1,000,000 tokens of 18 decimals.
const SUPPLY: u128 = 1_000_000 * 10u128.pow(18);

/// Four fresh accounts: their keys (hex, for ethers) and addresses (for `--prefund`).
fn accounts() -> Vec<(String, Address)> {
    let mut rng = rand::thread_rng();
    (0..4)
        .map(|_| {
            let secret = SecretKey::from_byte_array(&rng.r#gen()).expect("a valid key");
            let public = PublicKey::from_secret_key(SECP256K1, &secret).serialize_uncompressed();
            let address = Address::from_raw_public_key(&public[1..]);
            (format!("0x{}", hex::encode(secret.secret_bytes())), address)
        })
        .collect()
}

/// A running one-node clique devnet, as its node line describes it; stopped (by its process id)
/// when dropped, a failed assertion included.
struct Devnet {
    child: Child,
    http: u16,
    wallet: String,
    /// The node's `ws://` URL, when the devnet prints one.
    ws: Option<String>,
}

impl Drop for Devnet {
    fn drop(&mut self) {
        interrupt(&mut self.child);
    }
}

/// A child process killed (by its id) when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tests/peers`, with the npm packages dapp.mjs imports.
fn peers() -> PathBuf {
    let peers = cachet_testkit::node_peers_dir();
    assert!(
        peers.join("node_modules/solc").exists() && peers.join("node_modules/ethers").exists(),
        "solc or ethers is missing from {}: run scripts/install-test-peers",
        peers.display()
    );
    peers
}

fn devnet(root: &Path, salt: u16, prefund: &[Address]) -> Devnet {
    let exe = env!("CARGO_BIN_EXE_cachet");
    let (p2p, http, ws) = (base_port(salt), base_port(salt) + 10, base_port(salt) + 20);
    let help = Command::new(exe)
        .args(["devnet", "--help"])
        .output()
        .unwrap();
    let mut command = Command::new(exe);
    command
        .args(["devnet", "--period", "1", "--nodes", "1"])
        .arg("--dir")
        .arg(root)
        .args(["--port", &p2p.to_string(), "--http.port", &http.to_string()]);
    // WebSocket where this build has it: the logs subscription is then checked too.
    if String::from_utf8_lossy(&help.stdout).contains("--ws.port") {
        command.args(["--ws.port", &ws.to_string()]);
    }
    for a in prefund {
        command.arg("--prefund").arg(a.to_string());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn cachet devnet");
    let mut node_line = None;
    let mut running = false;
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let line = line.expect("line");
        if line.starts_with("node0:") {
            node_line = Some(line);
        } else if line.starts_with("running") {
            running = true;
            break;
        }
    }
    if !running {
        interrupt(&mut child);
        panic!("the devnet did not start: {node_line:?}");
    }
    let line = node_line.expect("a node0 line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let wallet = words
        .iter()
        .position(|w| *w == "wallet")
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| panic!("no wallet on {line:?}"))
        .to_string();
    let ws = words
        .iter()
        .find(|w| w.starts_with("ws://"))
        .map(|w| (*w).to_owned());
    Devnet {
        child,
        http,
        wallet,
        ws,
    }
}

/// Runs `node tests/peers/dapp.mjs` against the devnet (killed after three minutes: a
/// transaction that is never mined would leave ethers waiting for good) and parses its JSON.
fn run_dapp(dir: &Path, net: &Devnet, keys: &[(String, Address)]) -> Result<Value, String> {
    let peers = peers();
    let keys = keys.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>();
    let (out, err) = (dir.join("dapp.out"), dir.join("dapp.err"));
    let mut child = Command::new("node")
        .arg(peers.join("dapp.mjs"))
        .arg(format!("http://127.0.0.1:{}", net.http))
        .arg(net.ws.as_deref().unwrap_or("-"))
        .arg(&net.wallet)
        .arg(keys.join(","))
        .arg(PER_KEY.to_string())
        .current_dir(&peers)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("run node");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    match status {
        Some(s) if s.success() => {
            let stdout = std::fs::read_to_string(&out).unwrap();
            serde_json::from_str(&stdout).map_err(|e| format!("{e}: {stdout}"))
        }
        Some(s) => Err(format!("dapp.mjs failed ({s}): {stderr}")),
        None => Err(format!("dapp.mjs did not finish in 3 minutes: {stderr}")),
    }
}

fn lower(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_lowercase()
}

fn log(from: Address, to: Address, value: u128, tx: &Value) -> Value {
    json!({"from": from.to_string().to_lowercase(), "to": to.to_string().to_lowercase(),
        "value": value.to_string(), "txHash": lower(tx)})
}

/// ABI `Error(string)`: selector, offset, length, the bytes padded to a word.
fn error_string(reason: &str) -> String {
    let mut padded = reason.as_bytes().to_vec();
    padded.resize(reason.len().div_ceil(32) * 32, 0);
    format!(
        "0x08c379a0{:064x}{:064x}{}",
        0x20,
        reason.len(),
        hex::encode(padded)
    )
}

#[test]
#[ignore = "needs ethers and solc: run scripts/test"]
fn accepts_ethers_and_solc_deploying_and_using_an_erc20_on_a_devnet() {
    peers();
    let dir = tempfile::tempdir().unwrap();
    let keys = accounts();
    let addresses: Vec<Address> = keys.iter().map(|(_, a)| *a).collect();
    let net = devnet(&dir.path().join("net"), 61, &addresses);
    let result = run_dapp(dir.path(), &net, &keys);
    let counts: Vec<Option<Value>> = addresses
        .iter()
        .map(|a| rpc(net.http, "eth_getTransactionCount", json!([a, "latest"])))
        .collect();
    let (wallet, ws) = (net.wallet.clone(), net.ws.is_some());
    drop(net);
    let v = result.unwrap_or_else(|e| {
        panic!(
            "{e}\n--- node0/node.log (tail)\n{}",
            tail(&dir.path().join("net/node0/node.log"))
        )
    });
    let [a0, a1] = [addresses[0], addresses[1]];

    // Deployed: the code at the address is what solc compiled.
    assert_eq!(v["deployReceiptStatus"], 1, "{v}");
    assert!(v["codeLength"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["codeIsCompiled"], true, "{v}");
    // The transfer and the balances after it.
    assert_eq!(v["transferStatus"], 1, "{v}");
    assert_eq!(v["transferLogs"], 1, "{v}");
    assert_eq!(v["balanceTo"], "1234");
    assert_eq!(v["balanceFrom"], (SUPPLY - 1234).to_string());
    assert_eq!(v["balanceSupply"], SUPPLY.to_string());
    // eth_getLogs: the mint in the constructor, then the transfer, with their transactions.
    let logs: Vec<Value> = v["getLogs"]
        .as_array()
        .expect("getLogs")
        .iter()
        .map(|l| json!({"from": lower(&l["from"]), "to": lower(&l["to"]), "value": l["value"], "txHash": lower(&l["txHash"])}))
        .collect();
    assert_eq!(
        logs,
        vec![
            log(Address::ZERO, a0, SUPPLY, &v["deployTx"]),
            log(a0, a1, 1234, &v["transferTx"]),
        ]
    );
    // The logs subscription saw the transfer, in its block.
    if ws {
        let s = &v["subscribed"];
        assert_eq!(lower(&s["from"]), a0.to_string().to_lowercase(), "{v}");
        assert_eq!(lower(&s["to"]), a1.to_string().to_lowercase(), "{v}");
        assert_eq!(s["value"], "1234", "{v}");
        assert_eq!(lower(&s["txHash"]), lower(&v["transferTx"]), "{v}");
        assert_eq!(s["blockNumber"], v["transferBlock"], "{v}");
    }
    // The revert reason, from eth_call (with the revert data) and from eth_estimateGas.
    assert_eq!(v["revert"], "balance too low", "{v}");
    assert_eq!(lower(&v["revertData"]), error_string("balance too low"));
    assert_eq!(v["estimateRevert"], "balance too low", "{v}");
    // The estimate is enough for the transaction it was made for.
    let gas: u64 = v["estimate"]["gas"].as_str().unwrap().parse().unwrap();
    let used: u64 = v["estimate"]["gasUsed"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["estimate"]["status"], 1, "{v}");
    assert!(21_000 < used && used <= gas, "{v}");
    assert_eq!(v["balanceToAfter"], "1235");
    // 200 transactions from four accounts at once: all mined, each sender's in nonce order;
    // the first account had sent the deployment, the transfer and the estimated transfer.
    let bulk = &v["bulk"];
    assert_eq!(bulk["sent"], 200, "{v}");
    assert_eq!(bulk["mined"], 200, "{v}");
    assert_eq!(bulk["distinct"], 200, "{v}");
    assert_eq!(bulk["noncesBefore"], json!([3, 0, 0, 0]), "{v}");
    assert_eq!(bulk["nonces"], json!([53, 50, 50, 50]), "{v}");
    assert_eq!(bulk["ordered"], json!([true, true, true, true]), "{v}");
    assert_eq!(
        counts,
        ["0x35", "0x32", "0x32", "0x32"].map(|c| Some(json!(c)))
    );
    // The node's wallet signed one (eth_sendTransaction) and it arrived.
    assert_eq!(v["walletTx"]["status"], 1, "{v}");
    assert_eq!(lower(&v["walletTx"]["from"]), wallet.to_lowercase());
    assert_eq!(v["walletTx"]["received"], "5", "{v}");
    eprintln!(
        "dapp: 200 transactions mined in {} s over {} block(s); ws subscription {}",
        bulk["seconds"],
        bulk["blocks"],
        if ws {
            "checked"
        } else {
            "not served by this build"
        }
    );
}

/// `eth_getBlockByNumber(n)`'s hash and transaction count.
fn block(port: u16, n: u64) -> Option<(Value, usize)> {
    let b = rpc(
        port,
        "eth_getBlockByNumber",
        json!([format!("{n:#x}"), false]),
    )?;
    Some((b["hash"].clone(), b["transactions"].as_array()?.len()))
}

#[test]
#[ignore = "needs ethers, solc and ethereumjs: run scripts/test"]
fn accepts_ethereumjs_re_executing_a_devnet_chain_with_the_erc20_and_200_transactions() {
    let ejs = cachet_testkit::node_peers_dir().join("ethereumjs-client/clique-cli.mjs");
    assert!(
        ejs.with_file_name("node_modules/@ethereumjs/client")
            .exists(),
        "@ethereumjs/client is missing: run scripts/install-test-peers"
    );
    peers();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let keys = accounts();
    let addresses: Vec<Address> = keys.iter().map(|(_, a)| *a).collect();
    let net = devnet(&root, 62, &addresses);
    let http = net.http;
    let dapp = run_dapp(dir.path(), &net, &keys);
    // The chain EthereumJS must sync: everything dapp.mjs sent, sealed before it starts (0.10.5
    // fetches only what its peer had at the handshake: see ethereumjs.rs).
    let head = number(http);
    let v = match dapp {
        Ok(v) => v,
        Err(e) => {
            drop(net);
            panic!(
                "{e}\n--- node0/node.log (tail)\n{}",
                tail(&root.join("node0/node.log"))
            );
        }
    };
    let ours: Vec<(Value, usize)> = (1..=head)
        .map(|n| block(http, n).expect("our block"))
        .collect();
    let txs: usize = ours.iter().map(|(_, n)| n).sum();
    let at = format!("{head:#x}");
    let token = v["token"].clone();
    let code = rpc(http, "eth_getCode", json!([token, at]));
    let mut watched: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    watched.push(net.wallet.clone());
    let balances: Vec<Option<Value>> = watched
        .iter()
        .map(|a| rpc(http, "eth_getBalance", json!([a, at])))
        .collect();
    // Token.balanceOf(second account): 1234 + 1 (dapp.mjs's two transfers).
    let balance_of =
        json!({"to": token, "data": format!("0x70a08231{:0>64}", hex::encode(addresses[1]))});

    let enode = rpc(http, "admin_nodeInfo", json!([])).unwrap()["enode"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ejs_p2p, ejs_http) = (base_port(62) + 30, base_port(62) + 31);
    let log = std::fs::File::create(dir.path().join("ethereumjs.log")).unwrap();
    let client = start_follower(
        Command::new("node").arg(&ejs),
        &root.join("genesis.json"),
        &dir.path().join("ejs"),
        (ejs_p2p, ejs_http),
        &enode,
        log,
    );
    let client = KillOnDrop(client);
    // Synced and executed: the state at our head is in EthereumJS's trie only if its own
    // execution of every block reached our state root (a mismatch stops its execution there).
    let executed = wait_until(Duration::from_secs(150), || {
        number(ejs_http) >= head
            && rpc(ejs_http, "eth_getBalance", json!([watched[0], at]))
                .is_some_and(|b| b.is_string())
    });
    let theirs: Vec<Option<(Value, usize)>> = (1..=head).map(|n| block(ejs_http, n)).collect();
    let their_code = rpc(ejs_http, "eth_getCode", json!([token, at]));
    let their_balances: Vec<Option<Value>> = watched
        .iter()
        .map(|a| rpc(ejs_http, "eth_getBalance", json!([a, at])))
        .collect();
    let their_call = rpc(ejs_http, "eth_call", json!([balance_of, at]));
    let ejs_head = number(ejs_http);
    drop(client);
    drop(net);

    assert_eq!(v["bulk"]["mined"], 200, "{v}");
    assert!(txs >= 200 + 3, "{txs} transactions in blocks 1..={head}");
    assert!(
        executed,
        "ethereumjs reached {ejs_head} (cachet {head}) without executing to it\n--- ethereumjs.log (tail)\n{}",
        tail(&dir.path().join("ethereumjs.log"))
    );
    let mismatches: Vec<_> = ours
        .iter()
        .zip(&theirs)
        .enumerate()
        .filter(|(_, (a, b))| Some(*a) != b.as_ref())
        .map(|(i, (a, b))| (i + 1, a.clone(), b.clone()))
        .collect();
    assert!(mismatches.is_empty(), "blocks differ: {mismatches:?}");
    assert!(
        code.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|c| c.len() > 2),
        "{code:?}"
    );
    assert_eq!(their_code, code);
    assert_eq!(their_balances, balances);
    assert_eq!(their_call, Some(json!(format!("{:#066x}", 1235))));
    eprintln!(
        "ethereumjs re-executed {head} blocks carrying {txs} transactions to our hashes and state"
    );
}
