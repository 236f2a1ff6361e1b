//! Block execution throughput: a clique chain whose blocks are full of ETH transfers and ERC-20
//! transfers, imported by `Chain::import` (sender recovery, execution, state/receipt roots,
//! durable store) next to raw `revm` executing the same transactions on its in-memory database
//! (`CacheDB<EmptyDB>`: no roots, no store) in the same run; the same blocks through
//! `Chain::import_segment` (one durable flush per segment, as `cachet import` and sync do); and,
//! when `CACHET_BENCH_EJS` is set, EthereumJS's VM importing the same blocks
//! (`tests/peers/ejs-import-bench.mjs`). Peak RSS (`VmHWM`) of each import is read in a
//! child process that does nothing else (the bench re-runs itself with `CACHET_BENCH_CHILD`).
//!
//! The chain is built here, not by Cachet: every transaction is executed with raw revm (London,
//! chain id 1337, fees to the clique signer as geth's clique `Author`), the state root is
//! computed from scratch over revm's whole state with alloy-trie's `HashBuilder`, the receipts
//! and transactions roots with alloy-consensus; then the header is sealed. EthereumJS checks
//! every root of it independently when it imports the chain.
//!
//! Sizes (env): `CACHET_BENCH_EXEC_BLOCKS` blocks (default 3), `CACHET_BENCH_BLOCK_GAS` gas per
//! block (default 30,000,000: the EIP-1559 target of the 60M gas limit, so the base fee stays
//! near 1 gwei), `CACHET_BENCH_SENDERS` funded sender keys (default 300); `CACHET_BENCH_OUT`
//! keeps `genesis.json` and `chain.rlp` (geth `export` format) in that directory.
//! Run: `CACHET_BENCH_EJS=1 cargo bench -p cachet-node --bench execute`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxEnvelope};
use alloy_primitives::{Address, B256, Bloom, Bytes, TxKind, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, KECCAK_EMPTY, TrieAccount, root};
use cachet_genesis::{Genesis, RaftMarker};
use cachet_keyprovider::{SealingKeyMode, UnlockedKeys};
use cachet_node::block::{block_rlp, next_base_fee, rlp_list, split_block};
use cachet_node::chain::{Chain, SegmentReport};
use cachet_node::import::SEGMENT;
use cachet_node::store::ChainStore;
use cachet_seal::Header;
use cachet_seal::clique;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use revm::context::{BlockEnv, CfgEnv, Context, TxEnv};
use revm::context_interface::ContextTr;
use revm::context_interface::result::ExecutionResult;
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::hardfork::SpecId;
use revm::{ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};
use secp256k1::{SECP256K1, SecretKey};
use token::{CHAIN_ID, ETHER, GWEI, TOKEN, TRANSFER_GAS};

#[path = "shared/token.rs"]
mod token;

/// Gas limit of every block (twice the default per-block gas, the EIP-1559 target).
const GAS_LIMIT: u64 = 60_000_000;
const GENESIS_TIME: u64 = 1_700_000_000;
/// Recipients are drawn from this many addresses, so later blocks write existing balances
/// and slots as well as new ones.
const RECIPIENTS: u64 = 20_000;
const CHILD_ENV: &str = "CACHET_BENCH_CHILD";

/// A funded key.
struct Sender {
    key: SecretKey,
    address: Address,
    nonce: u64,
}

/// One built block: its RLP and the transactions as revm runs them.
struct Built {
    header_rlp: Vec<u8>,
    body_rlp: Vec<u8>,
    header: Header,
    envelopes: Vec<TxEnvelope>,
    txs: Vec<TxEnv>,
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    token::check_constants();
    let blocks = env_u64("CACHET_BENCH_EXEC_BLOCKS", 3);
    let block_gas = env_u64("CACHET_BENCH_BLOCK_GAS", 30_000_000).min(GAS_LIMIT - 100_000);
    let senders = env_u64("CACHET_BENCH_SENDERS", 300);
    let keep = std::env::var_os("CACHET_BENCH_OUT").map(PathBuf::from);
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = keep.unwrap_or_else(|| tmp.path().join("chain"));
    std::fs::create_dir_all(&out).expect("out dir");

    let t = Instant::now();
    let keys = UnlockedKeys::generate_for_tests(SealingKeyMode::Separate);
    let sealer = keys.sealing_key();
    let mut senders: Vec<Sender> = (0..senders)
        .map(|i| {
            let key =
                SecretKey::from_slice(keccak256(format!("sender {i}")).as_slice()).expect("key");
            let address = cachet_keyprovider::address_of(&key.public_key(SECP256K1));
            Sender {
                key,
                address,
                nonce: 0,
            }
        })
        .collect();
    let genesis_json = genesis_json(sealer.address(), &senders);
    let genesis =
        Genesis::from_json(genesis_json.as_bytes(), RaftMarker::FromGenesis).expect("genesis");
    let holders: Vec<Address> = senders.iter().map(|s| s.address).collect();
    let db = token::genesis_db(&holders, U256::from(1_000_000 * ETHER));
    assert_eq!(
        state_root(&db),
        genesis.state_root(),
        "revm's genesis state and cachet-genesis disagree"
    );
    let chain = build_chain(
        &genesis,
        db.clone(),
        &sealer,
        &mut senders,
        blocks,
        block_gas,
    );
    let built_in = t.elapsed();
    let gas: u64 = chain.iter().map(|b| b.header.gas_used).sum();
    let txs: usize = chain.iter().map(|b| b.txs.len()).sum();
    std::fs::write(out.join("genesis.json"), &genesis_json).expect("write genesis");
    let file: Vec<u8> = chain
        .iter()
        .flat_map(|b| block_rlp(&b.header_rlp, &b.body_rlp).expect("block rlp"))
        .collect();
    std::fs::write(out.join("chain.rlp"), &file).expect("write chain");
    let headers: Vec<Header> = chain.iter().map(|b| b.header.clone()).collect();
    let envelopes: Vec<TxEnvelope> = chain.iter().flat_map(|b| b.envelopes.clone()).collect();
    let chain_txs: Vec<Vec<TxEnv>> = chain.into_iter().map(|b| b.txs).collect();
    eprintln!(
        "built {blocks} blocks, {txs} txs, {:.1} Mgas in {:.1}s",
        gas as f64 / 1e6,
        built_in.as_secs_f64()
    );

    // (a) raw revm on its in-memory database, before and after the imports (the machine is
    // shared: the faster run is the baseline).
    let raw1 = raw_revm(&db, &headers, &chain_txs, sealer.address(), gas);
    // (b) Chain::import, per block durable; (b') import_segment; each in its own process.
    let per_block = run_child("import", &out);
    let segment = run_child("segment", &out);
    let raw2 = raw_revm(&db, &headers, &chain_txs, sealer.address(), gas);
    let raw = raw1.min(raw2);
    let recovery = recover_all(&envelopes);
    let ejs = std::env::var_os("CACHET_BENCH_EJS").map(|_| ejs_import(&out));

    let mgas = |d: Duration| gas as f64 / 1e6 / d.as_secs_f64();
    println!(
        "{blocks} blocks, {txs} transactions (half ETH transfers, half ERC-20 transfers), {:.1} Mgas, {} senders",
        gas as f64 / 1e6,
        senders.len()
    );
    println!();
    println!("| what | seconds | Mgas/s | tx/s | vs raw revm | peak RSS MiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |what: &str, d: Duration, rss: Option<u64>| {
        println!(
            "| {what} | {:.3} | {:.1} | {:.0} | {:.2} | {} |",
            d.as_secs_f64(),
            mgas(d),
            txs as f64 / d.as_secs_f64(),
            raw.as_secs_f64() / d.as_secs_f64(),
            rss.map_or("—".into(), |kib| format!("{:.1}", kib as f64 / 1024.0))
        );
    };
    row(
        &format!(
            "raw revm, CacheDB, no roots/store (baseline; runs {:.3}s / {:.3}s)",
            raw1.as_secs_f64(),
            raw2.as_secs_f64()
        ),
        raw,
        None,
    );
    row(
        "`Chain::import` per block (recover, execute, roots, durable store)",
        per_block.time,
        Some(per_block.hwm_kib),
    );
    row(
        &format!("`Chain::import_segment` ({SEGMENT}-block segments, one flush each)"),
        segment.time,
        Some(segment.hwm_kib),
    );
    println!(
        "| sender recovery alone (secp256k1, one thread; the import recovers in parallel) | {:.3} | — | {:.0} | — | — |",
        recovery.as_secs_f64(),
        txs as f64 / recovery.as_secs_f64()
    );
    println!(
        "| child process before the import (baseline of the RSS column) | — | — | — | — | {:.1} |",
        per_block.base_kib as f64 / 1024.0
    );
    match ejs {
        Some(e) => {
            row(
                "EthereumJS VM 10 `runBlock` + blockchain `putBlock` (node)",
                e,
                None,
            );
            println!(
                "| Cachet `Chain::import` vs EthereumJS (wall clock) | — | — | — | {:.1}× faster | — |",
                e.as_secs_f64() / per_block.time.as_secs_f64()
            );
        }
        None => println!("| EthereumJS | not run (set CACHET_BENCH_EJS=1) | | | | |"),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A clique genesis (London at 0, one signer), the senders funded with ETH and tokens.
fn genesis_json(signer: Address, senders: &[Sender]) -> String {
    let mut alloc = serde_json::Map::new();
    for s in senders {
        alloc.insert(
            hex::encode(s.address),
            serde_json::json!({ "balance": format!("{:#x}", 1_000_000 * ETHER) }),
        );
    }
    let holders: Vec<Address> = senders.iter().map(|s| s.address).collect();
    alloc.insert(hex::encode(TOKEN), token::token_alloc(&holders));
    serde_json::json!({
        "config": {
            "chainId": CHAIN_ID, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0,
            "petersburgBlock": 0, "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0,
            "clique": { "period": 1, "epoch": 30000 },
        },
        "nonce": "0x0",
        "timestamp": format!("{GENESIS_TIME:#x}"),
        "extraData": format!("0x{}{}{}", "00".repeat(32), hex::encode(signer), "00".repeat(65)),
        "gasLimit": format!("{GAS_LIMIT:#x}"),
        "difficulty": "0x1",
        "mixHash": format!("0x{}", "00".repeat(32)),
        "coinbase": format!("0x{}", "00".repeat(20)),
        "alloc": alloc,
    })
    .to_string()
}

/// The state root of everything in `db`, from scratch (alloy-trie's `HashBuilder`); empty
/// accounts are left out (EIP-161: execution deletes the empty accounts it touches).
fn state_root(db: &CacheDB<EmptyDB>) -> B256 {
    let accounts = db.cache.accounts.iter().filter_map(|(address, acc)| {
        let info = &acc.info;
        let empty = info.nonce == 0 && info.balance.is_zero() && info.code_hash == KECCAK_EMPTY;
        if empty || matches!(acc.account_state, revm::database::AccountState::NotExisting) {
            return None;
        }
        let slots: Vec<(B256, U256)> = acc
            .storage
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .map(|(k, v)| (B256::from(*k), *v))
            .collect();
        let storage_root = if slots.is_empty() {
            EMPTY_ROOT_HASH
        } else {
            root::storage_root_unhashed(slots)
        };
        Some((
            *address,
            TrieAccount::new(info.nonce, info.balance, storage_root, info.code_hash),
        ))
    });
    root::state_root_unhashed(accounts)
}

/// Builds `blocks` blocks of about `block_gas` gas each, executing every transaction with
/// revm on `db` (the genesis state) to get the receipts and the post-state.
fn build_chain(
    genesis: &Genesis,
    db: CacheDB<EmptyDB>,
    sealer: &cachet_keyprovider::SigningKey,
    senders: &mut [Sender],
    blocks: u64,
    block_gas: u64,
) -> Vec<Built> {
    let signer = sealer.address();
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_cfg(CfgEnv::new_with_spec(SpecId::LONDON).with_chain_id(CHAIN_ID))
        .build_mainnet();
    let mut rng = StdRng::seed_from_u64(12);
    let mut parent = genesis.header();
    let mut parent_hash = parent.hash_slow();
    let mut out = Vec::new();
    let mut next_sender = 0usize;
    let mut tx_index = 0u64;
    for number in 1..=blocks {
        let base_fee = next_base_fee(&parent, true, true).expect("london");
        evm.set_block(block_env(number, signer, base_fee));
        let mut txs: Vec<TxEnvelope> = Vec::new();
        let mut envs: Vec<TxEnv> = Vec::new();
        let mut receipts: Vec<ReceiptEnvelope> = Vec::new();
        let mut cumulative = 0u64;
        // Stop when the next transaction might not fit under the target.
        while cumulative + 60_000 <= block_gas {
            let sender = &mut senders[next_sender % senders.len()];
            next_sender += 1;
            let to = token::recipient(rng.gen_range(0..RECIPIENTS));
            let erc20 = tx_index % 2 == 1;
            let eip1559 = (tx_index / 2).is_multiple_of(2);
            tx_index += 1;
            let (kind, value, input, gas_limit) = if erc20 {
                let amount = U256::from(rng.gen_range(1..1_000u64) * 1_000_000_000_000_000);
                (
                    TxKind::Call(TOKEN),
                    U256::ZERO,
                    token::transfer_calldata(to, amount),
                    TRANSFER_GAS,
                )
            } else {
                (
                    TxKind::Call(to),
                    U256::from(rng.gen_range(1..1_000_000u64) * 1_000_000_000),
                    Bytes::new(),
                    21_000,
                )
            };
            let (envelope, env) = sign(sender, eip1559, kind, value, input, gas_limit);
            sender.nonce += 1;
            let result = evm.transact_commit(env.clone()).expect("valid transaction");
            let ExecutionResult::Success { logs, .. } = &result else {
                panic!(
                    "transaction {} of block {number} failed: {result:?}",
                    txs.len()
                );
            };
            cumulative += result.tx_gas_used();
            let receipt = Receipt {
                status: Eip658Value::Eip658(true),
                cumulative_gas_used: cumulative,
                logs: logs.clone(),
            };
            let with_bloom = ReceiptWithBloom::from(receipt);
            receipts.push(if eip1559 {
                ReceiptEnvelope::Eip1559(with_bloom)
            } else {
                ReceiptEnvelope::Legacy(with_bloom)
            });
            txs.push(envelope);
            envs.push(env);
        }
        let mut bloom = Bloom::default();
        for r in &receipts {
            bloom.accrue_bloom(r.logs_bloom());
        }
        let header = Header {
            parent_hash,
            ommers_hash: cachet_seal::EMPTY_OMMERS_HASH,
            beneficiary: Address::ZERO,
            state_root: state_root(evm.ctx.db_ref()),
            transactions_root: alloy_consensus::proofs::calculate_transaction_root(&txs),
            receipts_root: alloy_consensus::proofs::calculate_receipt_root(&receipts),
            logs_bloom: bloom,
            difficulty: U256::from(2),
            number,
            gas_limit: GAS_LIMIT,
            gas_used: cumulative,
            timestamp: GENESIS_TIME + number,
            extra_data: Bytes::from(vec![0u8; 97]),
            base_fee_per_gas: Some(U256::from(base_fee)),
            ..Header::default()
        };
        let sealed = clique::sign_header(&header, sealer).expect("seal");
        let mut body = Vec::new();
        let mut tx_list = Vec::new();
        for tx in &txs {
            alloy_rlp::Encodable::encode(tx, &mut tx_list);
        }
        body.extend_from_slice(&rlp_list(&tx_list));
        body.extend_from_slice(&rlp_list(&[]));
        parent_hash = sealed.hash_slow();
        parent = sealed.clone();
        out.push(Built {
            header_rlp: sealed.encode(),
            body_rlp: rlp_list(&body),
            header: sealed,
            envelopes: txs,
            txs: envs,
        });
    }
    out
}

fn block_env(number: u64, signer: Address, base_fee: U256) -> BlockEnv {
    BlockEnv {
        number: U256::from(number),
        beneficiary: signer,
        timestamp: U256::from(GENESIS_TIME + number),
        gas_limit: GAS_LIMIT,
        basefee: base_fee.to::<u64>(),
        difficulty: U256::from(2),
        prevrandao: None,
        blob_excess_gas_and_price: None,
        ..BlockEnv::default()
    }
}

/// Signs a transfer (EIP-1559 or legacy EIP-155) and the same transaction as revm's input.
fn sign(
    sender: &Sender,
    eip1559: bool,
    kind: TxKind,
    value: U256,
    input: Bytes,
    gas_limit: u64,
) -> (TxEnvelope, TxEnv) {
    let fees = eip1559.then_some((100 * GWEI, GWEI));
    let envelope = token::sign(
        &sender.key,
        sender.nonce,
        fees,
        50 * GWEI,
        kind,
        value,
        input,
        gas_limit,
    );
    let env = token::tx_env(&envelope, sender.address);
    (envelope, env)
}

/// Raw revm: the same transactions, block by block, on a fresh copy of the genesis state.
/// Returns the time of the execution loop only.
fn raw_revm(
    genesis: &CacheDB<EmptyDB>,
    headers: &[Header],
    txs: &[Vec<TxEnv>],
    signer: Address,
    expected_gas: u64,
) -> Duration {
    let blocks: Vec<(BlockEnv, Vec<TxEnv>)> = headers
        .iter()
        .zip(txs)
        .map(|(header, block_txs)| {
            let base_fee = header.base_fee_per_gas.unwrap_or_default();
            (
                block_env(header.number, signer, base_fee),
                block_txs.clone(),
            )
        })
        .collect();
    let (elapsed, gas) = token::raw_revm(genesis, &blocks);
    assert_eq!(
        gas, expected_gas,
        "raw revm used different gas than the chain"
    );
    elapsed
}

/// Time to recover every sender on one thread (what `Chain::import` does first, in parallel).
fn recover_all(txs: &[TxEnvelope]) -> Duration {
    let inputs: Vec<(B256, [u8; 65])> = txs
        .iter()
        .map(|tx| {
            let sig = tx.signature();
            let mut rsv = [0u8; 65];
            rsv[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
            rsv[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
            rsv[64] = u8::from(sig.v());
            (tx.signature_hash(), rsv)
        })
        .collect();
    let t = Instant::now();
    for (digest, rsv) in &inputs {
        cachet_seal::recover_address(digest, rsv, "bench").expect("recover");
    }
    t.elapsed()
}

/// What a child import reports.
struct ChildResult {
    time: Duration,
    hwm_kib: u64,
    base_kib: u64,
}

/// Runs this bench binary again as a child doing one import of `dir`'s chain.
fn run_child(mode: &str, dir: &Path) -> ChildResult {
    let exe = std::env::current_exe().expect("current exe");
    let output = Command::new(exe)
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .output()
        .expect("run child");
    assert!(
        output.status.success(),
        "child {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CHILD "))
        .expect("child result line");
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().expect("number"))
        .collect();
    ChildResult {
        time: Duration::from_secs_f64(v[0]),
        hwm_kib: v[1] as u64,
        base_kib: v[2] as u64,
    }
}

/// The child: imports `dir/chain.rlp` into a fresh datadir, prints `CHILD secs hwm base`.
fn child(spec: &str) {
    let (mode, dir) = spec.split_once(':').expect("mode:dir");
    let dir = Path::new(dir);
    let base_kib = vm_hwm_kib();
    let genesis_json = std::fs::read(dir.join("genesis.json")).expect("genesis");
    let genesis = Genesis::from_json(&genesis_json, RaftMarker::FromGenesis).expect("genesis");
    let file = std::fs::read(dir.join("chain.rlp")).expect("chain");
    let blocks = split_chain(&file);
    let data = tempfile::tempdir().expect("datadir");
    let store = ChainStore::open(&data.path().join("chain.redb")).expect("store");
    let chain = Chain::open(store, genesis).expect("chain");
    let t = Instant::now();
    match mode {
        "import" => {
            for (header, body) in &blocks {
                chain.import(header, body).expect("import");
            }
        }
        "segment" => {
            for segment in blocks.chunks(SEGMENT) {
                let mut report = SegmentReport::default();
                chain
                    .import_segment(
                        segment.iter().map(|(h, b)| (h.as_slice(), b.as_slice())),
                        &mut report,
                    )
                    .expect("import segment");
                assert_eq!(report.imported, segment.len() as u64);
            }
        }
        other => panic!("unknown child mode {other}"),
    }
    let elapsed = t.elapsed();
    assert_eq!(chain.head().header.number, blocks.len() as u64);
    println!(
        "CHILD {} {} {base_kib}",
        elapsed.as_secs_f64(),
        vm_hwm_kib()
    );
}

/// Splits a geth `export` file into (header RLP, body RLP) pairs.
fn split_chain(mut file: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while !file.is_empty() {
        let header = alloy_rlp::Header::decode(&mut &file[..]).expect("block item");
        let len = alloy_rlp::length_of_length(header.payload_length) + header.payload_length;
        let (item, rest) = file.split_at(len);
        out.push(split_block(item).expect("block"));
        file = rest;
    }
    out
}

/// `VmHWM` (peak resident set) of this process in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// EthereumJS imports `dir`'s chain (`tests/peers/ejs-import-bench.mjs`); the import's wall
/// clock as the script measures it.
fn ejs_import(dir: &Path) -> Duration {
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers");
    let output = Command::new("node")
        .arg(peers.join("ejs-import-bench.mjs"))
        .arg(dir)
        .current_dir(&peers)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "EthereumJS import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    Duration::from_secs_f64(v["importSeconds"].as_f64().expect("importSeconds"))
}
