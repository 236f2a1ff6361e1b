//! The transaction pool through a running `cachet devnet`'s JSON-RPC: transactions signed
//! here with random keys (funded by `--prefund`) and refused with geth's messages and codes,
//! without losing anything already pooled; gossip between nodes over eth/68; a flood from
//! 1,000 senders that leaves the pool within its limits (the node's RSS printed).
//! The signing and RPC helpers are shared with the per-engine tests (`engines.rs`).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use alloy_consensus::{SignableTransaction, Signed, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use cachet_seal::{Engine, Header, clique};
use rand::Rng as _;
use secp256k1::{Message, PublicKey, SECP256K1, SecretKey};
use serde_json::{Value, json};

use super::engines::devnet_with;
use super::node::{base_port, head_once_up, interrupt, number, wait_until};

/// The devnets' chain id (`cachet devnet --chain-id` default).
pub(crate) const CHAIN_ID: u64 = 1337;
/// 10^18.
pub(crate) const ETHER: u128 = 1_000_000_000_000_000_000;

/// A random secp256k1 key and its address (derived here from the public key).
#[derive(Clone, Copy)]
pub(crate) struct Key {
    secret: SecretKey,
    pub(crate) address: Address,
}

impl Key {
    pub(crate) fn random() -> Self {
        let secret = SecretKey::new(&mut rand::thread_rng());
        let public = PublicKey::from_secret_key(SECP256K1, &secret).serialize_uncompressed();
        Self {
            secret,
            address: Address::from_raw_public_key(&public[1..]),
        }
    }

    /// `--prefund ADDR=WEI`.
    pub(crate) fn prefund(&self, wei: u128) -> String {
        format!("--prefund={}={wei}", self.address)
    }
}

pub(crate) fn sign<T: SignableTransaction<Signature>>(tx: T, key: &Key) -> TxEnvelope
where
    TxEnvelope: From<Signed<T>>,
{
    let message = Message::from_digest(tx.signature_hash().0);
    let (recid, compact) = SECP256K1
        .sign_ecdsa_recoverable(&message, &key.secret)
        .serialize_compact();
    let signature = Signature::new(
        U256::from_be_slice(&compact[..32]),
        U256::from_be_slice(&compact[32..]),
        i32::from(recid) == 1,
    );
    TxEnvelope::from(tx.into_signed(signature))
}

/// An EIP-155 legacy transfer of `value` wei to `to`.
pub(crate) fn legacy(
    key: &Key,
    nonce: u64,
    gas_price: u128,
    to: Address,
    value: u128,
) -> TxEnvelope {
    sign(legacy_tx(nonce, gas_price, to, value), key)
}

fn legacy_tx(nonce: u64, gas_price: u128, to: Address, value: u128) -> TxLegacy {
    TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce,
        gas_price,
        gas_limit: 21_000,
        to: TxKind::Call(to),
        value: U256::from(value),
        input: Bytes::new(),
    }
}

/// An EIP-1559 transfer of `value` wei to `to`.
pub(crate) fn dynamic(
    key: &Key,
    nonce: u64,
    max_fee: u128,
    tip: u128,
    to: Address,
    value: u128,
) -> TxEnvelope {
    sign(
        TxEip1559 {
            chain_id: CHAIN_ID,
            nonce,
            gas_limit: 21_000,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
            to: TxKind::Call(to),
            value: U256::from(value),
            access_list: Default::default(),
            input: Bytes::new(),
        },
        key,
    )
}

pub(crate) fn raw(tx: &TxEnvelope) -> String {
    format!("0x{}", hex::encode(tx.encoded_2718()))
}

/// POSTs `body` to the node's JSON-RPC on loopback and returns the response body.
pub(crate) fn post(port: u16, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

/// One call's whole response object (`result` or `error`).
///
/// # Panics
/// When the node does not answer with JSON.
pub(crate) fn call(port: u16, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string();
    let text = post(port, &body).unwrap_or_else(|| panic!("{method}: no answer on {port}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method}: {e}: {text}"))
}

/// A call's `result`.
///
/// # Panics
/// When the node answers with an error.
pub(crate) fn result(port: u16, method: &str, params: Value) -> Value {
    let v = call(port, method, params);
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

/// A batch of calls; the responses in the order of the calls.
fn batch(port: u16, calls: &[(&str, Value)]) -> Vec<Value> {
    let body = Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| json!({"jsonrpc":"2.0","id":i,"method":m,"params":p}))
            .collect(),
    )
    .to_string();
    let text = post(port, &body).expect("batch answered");
    let mut out: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    out.sort_by_key(|v| v["id"].as_u64());
    assert_eq!(out.len(), calls.len(), "one response per call");
    out
}

pub(crate) fn send_raw(port: u16, tx: &TxEnvelope) -> B256 {
    let hash = result(port, "eth_sendRawTransaction", json!([raw(tx)]));
    let hash: B256 = serde_json::from_value(hash).unwrap();
    assert_eq!(
        hash,
        *tx.tx_hash(),
        "the node names the transaction by its hash"
    );
    hash
}

/// A quantity (`0x…`) as a number.
pub(crate) fn quantity(v: &Value) -> U256 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("quantity expected: {v}"));
    U256::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

pub(crate) fn balance(port: u16, who: Address) -> U256 {
    quantity(&result(port, "eth_getBalance", json!([who, "latest"])))
}

pub(crate) fn nonce(port: u16, who: Address, tag: &str) -> u64 {
    quantity(&result(port, "eth_getTransactionCount", json!([who, tag]))).to::<u64>()
}

/// The receipt of `hash` once the node has one (within `secs`).
pub(crate) fn receipt(port: u16, hash: B256, secs: u64) -> Option<Value> {
    let mut found = None;
    wait_until(Duration::from_secs(secs), || {
        let r = call(port, "eth_getTransactionReceipt", json!([hash]));
        if r["result"].is_object() {
            found = Some(r["result"].clone());
        }
        found.is_some()
    });
    found
}

/// `txpool_status` as (pending, queued).
pub(crate) fn status(port: u16) -> (u64, u64) {
    let s = result(port, "txpool_status", json!([]));
    (
        quantity(&s["pending"]).to::<u64>(),
        quantity(&s["queued"]).to::<u64>(),
    )
}

/// `txpool_content` as (section, sender, nonce) → hash, the sender lower-cased.
fn content(port: u16) -> std::collections::BTreeMap<(String, String, String), String> {
    let c = result(port, "txpool_content", json!([]));
    let mut out = std::collections::BTreeMap::new();
    for section in ["pending", "queued"] {
        for (sender, txs) in c[section].as_object().expect("section") {
            for (n, tx) in txs.as_object().expect("nonces") {
                out.insert(
                    (section.to_owned(), sender.to_lowercase(), n.clone()),
                    tx["hash"].as_str().expect("hash").to_owned(),
                );
            }
        }
    }
    out
}

/// The devnet node's process id: the one process whose parent is the `cachet devnet` process
/// (`/proc/<pid>/stat` field 4).
fn node_pid(devnet: &Child) -> u32 {
    let parent = devnet.id();
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // "pid (comm) state ppid …": comm may hold spaces, so split after its ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    assert_eq!(children.len(), 1, "one node: {children:?}");
    children[0]
}

/// `VmRSS` and `VmHWM` of `pid` in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A devnet stopped (SIGINT, by its id) when the test ends, passing or failing.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        interrupt(&mut self.0);
    }
}

fn alive(child: &mut Child) -> bool {
    matches!(child.try_wait(), Ok(None))
}

/// geth's code for every pool refusal (`rpc/errors.go` `errcodeDefault`: the pool's errors
/// carry no code of their own).
const POOL_CODE: i64 = -32000;
/// geth's code for arguments that do not parse (`rpc/errors.go` `invalidParamsError`).
const INVALID_PARAMS: i64 = -32602;

/// A high-s twin of a valid signature: (r, n − s) with the parity flipped recovers the same
/// key, but Homestead rules require s ≤ n/2.
fn high_s(tx: &TxEnvelope) -> TxEnvelope {
    const N: U256 = U256::from_be_bytes([
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ]);
    let TxEnvelope::Legacy(s) = tx else {
        panic!("legacy expected")
    };
    let sig = s.signature();
    let flipped = Signature::new(sig.r(), N - sig.s(), !sig.v());
    TxEnvelope::Legacy(Signed::new_unhashed(s.tx().clone(), flipped))
}

fn zero_r(tx: &TxEnvelope) -> TxEnvelope {
    let TxEnvelope::Legacy(s) = tx else {
        panic!("legacy expected")
    };
    let sig = s.signature();
    let bad = Signature::new(U256::ZERO, sig.s(), sig.v());
    TxEnvelope::Legacy(Signed::new_unhashed(s.tx().clone(), bad))
}

/// Every refusal of `eth_sendRawTransaction` a client meets, each with geth 1.14's message and
/// code, against a running clique devnet: nothing panics (the node answers every call and
/// keeps running) and the transactions already pooled stay (`txpool_content` before and after
/// each refusal). The expectations are geth's texts, cited per row.
#[test]
fn refuses_invalid_transactions_with_geth_errors_keeping_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (Key::random(), Key::random(), Key::random());
    let (p2p, http) = (base_port(71), base_port(71) + 10);
    let funds = 1_000 * ETHER;
    let mut net = Running(devnet_with(
        Engine::Clique,
        &dir.path().join("net"),
        p2p,
        http,
        &[
            "--period",
            "1",
            &a.prefund(funds),
            &b.prefund(funds),
            &c.prefund(funds),
        ],
    ));
    head_once_up(http);
    let price = quantity(&result(http, "eth_gasPrice", json!([]))).to::<u128>();
    let to = Address::repeat_byte(0xee);

    // a's nonce 0 is mined: a's account nonce is 1 from then on.
    let mined = send_raw(http, &legacy(&a, 0, price, to, 1));
    assert!(
        receipt(http, mined, 60).is_some(),
        "a's first transaction mined"
    );

    // Nonce gap: b's nonce 1 without 0 is accepted and queued (geth `legacypool.enqueueTx`).
    let gapped = legacy(&b, 1, price, to, 1);
    send_raw(http, &gapped);
    assert!(wait_until(Duration::from_secs(10), || status(http) == (0, 1)));
    let b_key = format!("{:#x}", b.address);
    let before = content(http);
    assert_eq!(
        before.get(&("queued".into(), b_key.clone(), "1".into())),
        Some(&format!("{:#x}", gapped.tx_hash())),
        "{before:?}"
    );

    let oversized = sign(
        TxLegacy {
            gas_limit: 3_000_000,
            input: vec![0x01; 128 * 1024].into(),
            ..legacy_tx(0, price, to, 1)
        },
        &c,
    );
    let mut other_chain = legacy_tx(0, price, to, 1);
    other_chain.chain_id = Some(CHAIN_ID + 1);
    let mut unknown_type = legacy(&c, 0, price, to, 1).encoded_2718();
    unknown_type.insert(0, 0x05);
    let cases: Vec<(&str, Value, i64, String)> = vec![
        // core/types `EIP155Signer.Sender` ("%w: have %d want %d") wrapped by
        // core/txpool/validation.go ("%w: %v", ErrInvalidSender).
        (
            "wrong chain id",
            json!([raw(&sign(other_chain, &c))]),
            POOL_CODE,
            format!(
                "invalid sender: invalid chain id for signer: have {} want {CHAIN_ID}",
                CHAIN_ID + 1
            ),
        ),
        // core/types `recoverPlain`: `ValidateSignatureValues(.., homestead)` → ErrInvalidSig.
        (
            "high s",
            json!([raw(&high_s(&legacy(&c, 0, price, to, 1)))]),
            POOL_CODE,
            "invalid sender: invalid transaction v, r, s values".into(),
        ),
        (
            "r = 0",
            json!([raw(&zero_r(&legacy(&c, 0, price, to, 1)))]),
            POOL_CODE,
            "invalid sender: invalid transaction v, r, s values".into(),
        ),
        // validation.go `ValidateTransactionWithState`: "%w: next nonce %v, tx nonce %v".
        (
            "nonce too low",
            json!([raw(&legacy(&a, 0, price, to, 2))]),
            POOL_CODE,
            "nonce too low: next nonce 1, tx nonce 0".into(),
        ),
        // legacypool `add`: txpool.ErrReplaceUnderpriced below the 10% bump.
        (
            "replacement +5%",
            json!([raw(&legacy(&b, 1, price * 105 / 100, to, 2))]),
            POOL_CODE,
            "replacement transaction underpriced".into(),
        ),
        // validation.go: "%w: transaction size %v, limit %v" with txMaxSize = 4 × 32 KiB.
        (
            "oversized",
            json!([raw(&oversized)]),
            POOL_CODE,
            format!(
                "oversized data: transaction size {}, limit 131072",
                oversized.encoded_2718().len()
            ),
        ),
        // core/types `decodeTyped`: ErrTxTypeNotSupported.
        (
            "type 0x05",
            json!([format!("0x{}", hex::encode(&unknown_type))]),
            POOL_CODE,
            "transaction type not supported".into(),
        ),
        // rpc/json.go `parsePositionalArguments` ("invalid argument %d: %v") of
        // common/hexutil `Bytes.UnmarshalJSON` (a json.UnmarshalTypeError of ErrSyntax, …).
        (
            "malformed hex",
            json!(["0xzz"]),
            INVALID_PARAMS,
            "invalid argument 0: json: cannot unmarshal invalid hex string into Go value of type hexutil.Bytes".into(),
        ),
        (
            "odd-length hex",
            json!(["0xabc"]),
            INVALID_PARAMS,
            "invalid argument 0: json: cannot unmarshal hex string of odd length into Go value of type hexutil.Bytes".into(),
        ),
        (
            "hex without 0x",
            json!(["abcd"]),
            INVALID_PARAMS,
            "invalid argument 0: json: cannot unmarshal hex string without 0x prefix into Go value of type hexutil.Bytes".into(),
        ),
        (
            "not a string",
            json!([7]),
            INVALID_PARAMS,
            "invalid argument 0: json: cannot unmarshal non-string into Go value of type hexutil.Bytes".into(),
        ),
        // rpc/json.go `parseArgumentArray`.
        (
            "two arguments",
            json!([raw(&legacy(&c, 0, price, to, 1)), "0x1"]),
            INVALID_PARAMS,
            "too many arguments, want at most 1".into(),
        ),
        // rpc/json.go: "missing value for required argument %d".
        (
            "empty params",
            json!([]),
            INVALID_PARAMS,
            "missing value for required argument 0".into(),
        ),
        // core/types `decodeTyped` on no bytes: errShortTypedTx.
        (
            "no bytes",
            json!(["0x"]),
            POOL_CODE,
            "typed transaction too short".into(),
        ),
    ];
    let mut failures = Vec::new();
    for (name, params, code, message) in &cases {
        let got = call(http, "eth_sendRawTransaction", params.clone());
        let want = json!({"code": code, "message": message});
        let err = json!({"code": got["error"]["code"], "message": got["error"]["message"]});
        if err != want {
            failures.push(format!("{name}: got {got}, want {want}"));
        }
        assert!(alive(&mut net.0), "{name}: the node is running");
        assert_eq!(content(http), before, "{name}: the pool lost nothing");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Random bytes and valid transactions with random bytes changed (any change moves the
    // recovered sender to an unfunded account or breaks the encoding): each is refused with a
    // pool error (-32000), never an internal one, and the pool keeps what it had.
    let mut rng = rand::thread_rng();
    let valid = legacy(&c, 0, price, to, 1).encoded_2718();
    let typed = dynamic(&c, 0, 2 * price, 1, to, 1).encoded_2718();
    let blobs: Vec<Vec<u8>> = (0..600)
        .map(|i| match i % 3 {
            0 => {
                let len = rng.gen_range(0..300);
                let mut b: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
                if let Some(first) = b.first_mut() {
                    *first = [0x01, 0x02, 0x03, 0x04, 0xc0, 0xf8, *first][rng.gen_range(0..7)];
                }
                b
            }
            _ => {
                let mut b = if i % 3 == 1 {
                    valid.clone()
                } else {
                    typed.clone()
                };
                for _ in 0..rng.gen_range(1..4) {
                    let at = rng.gen_range(0..b.len());
                    b[at] ^= rng.gen_range(1..=255u8);
                }
                b
            }
        })
        .collect();
    for chunk in blobs.chunks(200) {
        let calls: Vec<(&str, Value)> = chunk
            .iter()
            .map(|b| {
                (
                    "eth_sendRawTransaction",
                    json!([format!("0x{}", hex::encode(b))]),
                )
            })
            .collect();
        for (a, b) in batch(http, &calls).iter().zip(chunk) {
            assert_eq!(a["error"]["code"], POOL_CODE, "0x{}: {a}", hex::encode(b));
        }
    }
    assert!(alive(&mut net.0), "the node runs after random bytes");
    assert_eq!(
        content(http),
        before,
        "random bytes took nothing from the pool"
    );

    // An accepted replacement (≥ 10% on the price) takes the queued one's place.
    let replacement = legacy(&b, 1, price * 110 / 100, to, 2);
    send_raw(http, &replacement);
    let mut expected = before;
    expected.insert(
        ("queued".into(), b_key, "1".into()),
        format!("{:#x}", replacement.tx_hash()),
    );
    assert_eq!(
        content(http),
        expected,
        "the replacement and nothing else changed"
    );
    assert_eq!(status(http), (0, 1));

    // Filling the gap promotes the queued replacement: both are mined.
    let filler = send_raw(http, &legacy(&b, 0, price, to, 1));
    for hash in [filler, *replacement.tx_hash()] {
        let r = receipt(http, hash, 60).expect("mined once the gap is filled");
        assert_eq!(r["status"], "0x1");
    }
    assert_eq!(nonce(http, b.address, "latest"), 2);
    drop(net);
}

/// Clique signer of block `n` (from the raw header, recovered here).
fn clique_signer(port: u16, n: u64) -> Address {
    let raw = result(port, "debug_getRawHeader", json!([format!("{n:#x}")]));
    let bytes = hex::decode(raw.as_str().unwrap().trim_start_matches("0x")).unwrap();
    clique::recover_signer(&Header::decode(&bytes).unwrap()).unwrap()
}

fn signer_of(root: &Path, node: usize) -> Address {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cachet"))
        .args(["inspect", "--json", "--datadir"])
        .arg(root.join(format!("node{node}")))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["sealer_address"].as_str().unwrap().parse().unwrap()
}

/// A 2-signer clique devnet: transactions sent to node 1 reach node 0's pool over eth/68 —
/// node 0 seals blocks holding some of them (without gossip only node 1 could include them) —
/// and both nodes agree on every block holding one.
#[test]
fn gossips_transactions_between_clique_signers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let k = Key::random();
    let (p2p, http) = (base_port(72), base_port(72) + 10);
    let net = Running(devnet_with(
        Engine::Clique,
        &root,
        p2p,
        http,
        &["--period", "1", "--nodes", "2", &k.prefund(1_000 * ETHER)],
    ));
    let (node0, node1) = (http, http + 1);
    head_once_up(node0);
    head_once_up(node1);
    let signer0 = signer_of(&root, 0);
    let price = quantity(&result(node1, "eth_gasPrice", json!([]))).to::<u128>();
    let mut by_node0 = None;
    let mut tries = Vec::new();
    for n in 0..20 {
        let hash = send_raw(node1, &legacy(&k, n, price, Address::repeat_byte(0xee), 1));
        let r1 = receipt(node1, hash, 60).unwrap_or_else(|| panic!("tx {n} mined"));
        let r0 = receipt(node0, hash, 60).unwrap_or_else(|| panic!("tx {n} on node 0"));
        assert_eq!(r0["blockHash"], r1["blockHash"], "tx {n}: both nodes agree");
        assert_eq!(r0["status"], "0x1");
        let block = quantity(&r0["blockNumber"]).to::<u64>();
        let signer = clique_signer(node0, block);
        tries.push((block, signer));
        if signer == signer0 {
            by_node0 = Some(block);
            break;
        }
    }
    drop(net);
    assert!(
        by_node0.is_some(),
        "node 0 ({signer0}) never sealed a transaction sent to node 1: {tries:?}"
    );
}

/// A 3-signer clique devnet that seals once an hour: transactions sent to node 1 reach the
/// pending pools of both other nodes. Node 1 sends them in full to the square root of its two
/// peers and announces them (`NewPooledTransactionHashes`) to the other, which fetches them
/// (`GetPooledTransactions`): both paths are taken whichever peer is which.
#[test]
fn gossips_pending_transactions_to_every_peer_in_full_or_announced() {
    let dir = tempfile::tempdir().unwrap();
    let k = Key::random();
    let (p2p, http) = (base_port(75), base_port(75) + 10);
    let net = Running(devnet_with(
        Engine::Clique,
        &dir.path().join("net"),
        p2p,
        http,
        &[
            "--period",
            "3600",
            "--nodes",
            "3",
            &k.prefund(1_000 * ETHER),
        ],
    ));
    let ports = [http, http + 1, http + 2];
    for p in ports {
        head_once_up(p);
    }
    // Every node sees both others before anything is sent.
    let meshed = wait_until(Duration::from_secs(30), || {
        ports
            .iter()
            .all(|p| quantity(&result(*p, "net_peerCount", json!([]))) >= U256::from(2))
    });
    assert!(meshed, "the devnet's nodes connect to each other");
    let price = quantity(&result(http, "eth_gasPrice", json!([]))).to::<u128>();
    let hashes: Vec<String> = (0..5)
        .map(|n| {
            let tx = legacy(&k, n, price, Address::repeat_byte(0xee), 1);
            format!("{:#x}", send_raw(ports[1], &tx))
        })
        .collect();
    let pending_hashes = |port: u16| -> Vec<String> {
        let mut v: Vec<String> = content(port)
            .into_iter()
            .filter(|((section, _, _), _)| section == "pending")
            .map(|(_, h)| h)
            .collect();
        v.sort();
        v
    };
    let mut want = hashes;
    want.sort();
    let reached = wait_until(Duration::from_secs(30), || {
        pending_hashes(ports[0]) == want && pending_hashes(ports[2]) == want
    });
    let seen = (pending_hashes(ports[0]), pending_hashes(ports[2]));
    drop(net);
    assert!(reached, "node 0 and node 2 pools: {seen:?}, want {want:?}");
}

/// An IBFT 2.0 devnet of a validator (node 0) and a follower (node 1): a transaction sent to the
/// follower is mined, which only gossip can do. (IBFT 2.0: an `ibft` devnet makes every node a
/// validator since the IBFT driver runs multi-validator chains.)
#[test]
fn mines_a_transaction_sent_to_an_ibft2_follower() {
    let dir = tempfile::tempdir().unwrap();
    let k = Key::random();
    let (p2p, http) = (base_port(73), base_port(73) + 10);
    let net = Running(devnet_with(
        Engine::Ibft2,
        &dir.path().join("net"),
        p2p,
        http,
        &["--period", "1", "--nodes", "2", &k.prefund(1_000 * ETHER)],
    ));
    let follower = http + 1;
    head_once_up(http);
    head_once_up(follower);
    let price = quantity(&result(follower, "eth_gasPrice", json!([]))).to::<u128>();
    let to = Key::random().address;
    let hash = send_raw(follower, &legacy(&k, 0, price, to, 12_345));
    let on_follower = receipt(follower, hash, 60);
    let on_validator = receipt(http, hash, 10);
    drop(net);
    let r = on_follower.expect("the follower's transaction is mined");
    assert_eq!(r["status"], "0x1");
    assert_eq!(
        on_validator.map(|v| v["blockHash"].clone()),
        Some(r["blockHash"].clone())
    );
}

/// 1,000 senders send `CACHET_POOL_LOAD_TXS` transactions (default 20,000) through batched
/// `eth_sendRawTransaction` on loopback to a clique node that seals once an hour: every call is
/// accepted or refused for the pool's capacity (geth's "txpool is full", "transaction
/// underpriced", "account limit exceeded"), and the pool stays within its limits
/// (`PoolConfig::default`: 4096 + 1024 pending slots and 1024 queued). The node's RSS is printed.
#[test]
fn keeps_the_pool_within_its_limits_under_a_flood() {
    // `cachet_txpool::PoolConfig::default().capacity()`, stated here.
    const CAPACITY: u64 = 4096 + 1024 + 1024;
    const SENDERS: usize = 1_000;
    let total: usize = std::env::var("CACHET_POOL_LOAD_TXS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let per_sender = total.div_ceil(SENDERS) as u64;
    let keys: Vec<Key> = (0..SENDERS).map(|_| Key::random()).collect();
    let dir = tempfile::tempdir().unwrap();
    let (p2p, http) = (base_port(74), base_port(74) + 10);
    let mut args = vec!["--period".to_owned(), "3600".to_owned()];
    args.extend(keys.iter().map(|k| k.prefund(1_000 * ETHER)));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut net = Running(devnet_with(
        Engine::Clique,
        &dir.path().join("net"),
        p2p,
        http,
        &args,
    ));
    head_once_up(http);
    let pid = node_pid(&net.0);
    let rss_before = rss_kib(pid);
    let price = quantity(&result(http, "eth_gasPrice", json!([]))).to::<u128>();
    // Nonce-major order: each round gives every sender its next nonce.
    let mut rng = rand::thread_rng();
    let txs: Vec<String> = (0..per_sender)
        .flat_map(|n| keys.iter().map(move |k| (k, n)))
        .take(total)
        .map(|(k, n)| {
            raw(&legacy(
                k,
                n,
                price + rng.gen_range(0..1000),
                Address::repeat_byte(0xee),
                1,
            ))
        })
        .collect();
    // Four connections at a time, 500 calls a batch (geth's batch limit is 1000).
    let chunks: Vec<&[String]> = txs.chunks(500).collect();
    let mut accepted = 0usize;
    let mut refused = std::collections::BTreeMap::<String, usize>::new();
    let mut unexpected = Vec::new();
    for group in chunks.chunks(4) {
        let answers: Vec<Vec<Value>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|chunk| {
                    s.spawn(move || {
                        let calls: Vec<(&str, Value)> = chunk
                            .iter()
                            .map(|r| ("eth_sendRawTransaction", json!([r])))
                            .collect();
                        batch(http, &calls)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for a in answers.into_iter().flatten() {
            if a["result"].is_string() {
                accepted += 1;
                continue;
            }
            let msg = a["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let kind = msg.split(':').next().unwrap_or_default().to_owned();
            let capacity = [
                "txpool is full",
                "transaction underpriced",
                "account limit exceeded",
            ];
            if a["error"]["code"] != POOL_CODE || !capacity.contains(&kind.as_str()) {
                unexpected.push(a.clone());
            }
            *refused.entry(kind).or_default() += 1;
        }
        assert!(alive(&mut net.0), "the node runs");
    }
    let (pending, queued) = status(http);
    let listed = content(http).len() as u64;
    let rss_after = rss_kib(pid);
    let head = number(http);
    drop(net);
    println!(
        "pool flood: {total} txs from {SENDERS} senders: {accepted} accepted, refused {refused:?}; \
         pool pending {pending} queued {queued}; node RSS {} KiB before, {} KiB after (VmHWM {} KiB)",
        rss_before.0, rss_after.0, rss_after.1
    );
    assert!(
        unexpected.is_empty(),
        "{} refused for another reason, e.g. {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)]
    );
    assert_eq!(head, 0, "no block sealed during the flood (period 3600)");
    assert!(
        pending + queued <= CAPACITY,
        "{pending} + {queued} > {CAPACITY}"
    );
    assert_eq!(
        listed,
        pending + queued,
        "txpool_content agrees with txpool_status"
    );
    assert!(pending > 0, "the pool took transactions");
}

/// A transaction pooled while its node had no peer reaches a peer that connects later: the
/// node announces its pending transactions to every new peer, as geth does (a broadcast made
/// before the session existed is never repeated otherwise).
#[test]
fn announces_pending_transactions_to_a_peer_that_connects_later() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("net");
    let k = Key::random();
    let (p2p, http) = (base_port(76), base_port(76) + 10);
    // Bundles and genesis of a 2-signer clique devnet that seals once an hour.
    let mut net = devnet_with(
        Engine::Clique,
        &root,
        p2p,
        http,
        &[
            "--period",
            "3600",
            "--nodes",
            "2",
            &k.prefund(1_000 * ETHER),
        ],
    );
    head_once_up(http);
    interrupt(&mut net);
    // Node 1 alone: the transaction enters its pool with nobody to broadcast it to.
    let lone = Running(
        super::node::devnet_node(&root, 1, p2p + 1, http + 1, &["--http.api", "txpool,admin"])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn cachet node"),
    );
    head_once_up(http + 1);
    let price = quantity(&result(http + 1, "eth_gasPrice", json!([]))).to::<u128>();
    let hash = format!(
        "{:#x}",
        send_raw(
            http + 1,
            &legacy(&k, 0, price, Address::repeat_byte(0xee), 1)
        )
    );
    let enode = result(http + 1, "admin_nodeInfo", json!([]))["enode"]
        .as_str()
        .expect("enode")
        .to_owned();
    // Node 0 starts afterwards and dials node 1.
    let late = Running(
        super::node::devnet_node(
            &root,
            0,
            p2p,
            http,
            &["--bootnodes", &enode, "--http.api", "txpool"],
        )
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cachet node"),
    );
    head_once_up(http);
    let pending = |port: u16| -> Vec<String> {
        content(port)
            .into_iter()
            .filter(|((section, _, _), _)| section == "pending")
            .map(|(_, h)| h)
            .collect()
    };
    let reached = wait_until(Duration::from_secs(60), || {
        pending(http) == vec![hash.clone()]
    });
    let seen = pending(http);
    drop(late);
    drop(lone);
    assert!(reached, "node 0's pending pool: {seen:?}, want [{hash}]");
}
