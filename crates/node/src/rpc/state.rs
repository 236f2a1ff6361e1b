//! The read side of the `eth` namespace: accounts at a block, transactions and receipts,
//! blocks with their transactions, logs and filters, `eth_call`/`eth_estimateGas` with state
//! overrides, and fee suggestions; geth's parameter forms, result shapes and error messages.
//!
//! Block parameters are a number, a tag (`latest`, `earliest`, `pending`, `safe`,
//! `finalized`) or EIP-1898's `{blockHash, blockNumber, requireCanonical}`. `pending` reads the
//! head until a pool answers through [`PendingTransactions`]; `safe` and `finalized` are the head
//! (docs/running-a-node.md says why per engine).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alloy_consensus::{ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256, Bloom, BloomInput, Bytes, U256};
use cachet_execution::{
    AccountOverride, BlockHashes, CallBlock, CallError, CallLimits, CallRequest, CallStatus,
    StateOverride,
};
use cachet_seal::Header;
use cachet_state::StateError;
use jsonrpsee::RpcModule;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::json::{
    ReceiptFields, SERVER_ERROR, TxPlace, block_json, data, effective_gas_price, err, invalid,
    log_json, parse_quantity, qty, qty256, receipt_json, tx_json,
};
use super::{R, RpcContext, internal, reg, reg_blocking};
use crate::chain::{Chain, decode_header};
use crate::error::Result;

/// geth's default `--rpc.gascap`.
pub const DEFAULT_GAS_CAP: u64 = 50_000_000;
/// geth's default `--rpc.evmtimeout`.
pub const DEFAULT_EVM_TIMEOUT: Duration = Duration::from_secs(5);
/// The widest `eth_getLogs` block range served (a bound on one request's work).
pub const MAX_LOG_RANGE: u64 = 10_000;
/// geth's `filterTimeout`: a filter not polled for this long is removed.
pub const FILTER_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Installed filters at most (a bound on what clients can make the node keep; geth has none).
pub const MAX_FILTERS: usize = 10_000;
/// geth's `maxQueryLimit`: reward percentiles per `eth_feeHistory` call.
const MAX_PERCENTILES: usize = 100;
/// geth's `maxBlockCount` for `eth_feeHistory`.
const MAX_FEE_HISTORY: u64 = 1024;
/// Blocks the gas price suggestion looks back (geth's oracle default).
const PRICE_BLOCKS: u64 = 20;
/// The percentile of recent tips suggested (geth's oracle default).
const PRICE_PERCENTILE: usize = 60;
/// Tips below this are ignored by the suggestion (geth's `IgnorePrice`).
const IGNORE_PRICE: u128 = 2;
/// Tips taken from each block (geth's `sampleNumber`).
const PRICE_SAMPLES: usize = 3;
/// The highest suggestion (geth's `MaxPrice`, 500 gwei).
const MAX_PRICE: u128 = 500_000_000_000;
/// geth's JSON-RPC code for a revert.
const REVERT_CODE: i32 = 3;

/// The pool hook: what the read methods ask about transactions not yet in a block (the method
/// names and signatures are the pool's own: `cachet_txpool::Pool` implements it by forwarding).
/// Until a pool is attached ([`EthState::pending`] is `None`), `pending` reads the head and
/// pending filters stay empty.
pub trait PendingTransactions: Send + Sync {
    /// The next nonce of `address` after its pending transactions, `None` when it has none.
    fn pending_nonce(&self, address: &Address) -> Option<u64>;
    /// A pending transaction by hash.
    fn get(&self, hash: &B256) -> Option<TxEnvelope>;
    /// New pending transaction hashes (`eth_newPendingTransactionFilter`).
    fn subscribe_new(&self) -> broadcast::Receiver<B256>;
}

/// The state the read methods keep: installed filters, the call gas cap, the pool hook.
#[allow(missing_debug_implementations)] // holds the pool hook
pub struct EthState {
    /// geth's `--rpc.gascap` (0: no cap).
    pub gas_cap: u64,
    /// geth's `--rpc.evmtimeout` (zero: none).
    pub evm_timeout: Duration,
    /// The pool, once there is one.
    pub pending: Option<Arc<dyn PendingTransactions>>,
    filters: Mutex<Filters>,
    /// Each recent block's gas price samples, by block hash.
    tip_samples: Mutex<HashMap<B256, Vec<u128>>>,
}

impl Default for EthState {
    fn default() -> Self {
        Self {
            gas_cap: DEFAULT_GAS_CAP,
            evm_timeout: DEFAULT_EVM_TIMEOUT,
            pending: None,
            filters: Mutex::default(),
            tip_samples: Mutex::default(),
        }
    }
}

impl EthState {
    fn limits(&self) -> CallLimits {
        CallLimits {
            gas_cap: self.gas_cap,
            timeout: self.evm_timeout,
        }
    }

    fn filters(&self) -> MutexGuard<'_, Filters> {
        self.filters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn tip_samples(&self) -> MutexGuard<'_, HashMap<B256, Vec<u128>>> {
        self.tip_samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Default)]
struct Filters {
    next_id: u128,
    installed: HashMap<String, Installed>,
}

struct Installed {
    polled: Instant,
    kind: FilterKind,
}

enum FilterKind {
    /// New canonical block hashes after `seen` (the last block reported).
    Blocks { seen: B256 },
    /// Logs matching `query` in canonical blocks after `seen`, and as `removed` those of the
    /// blocks a reorg took off the chain since.
    Logs { query: LogQuery, seen: B256 },
    /// New pending transaction hashes (from the pool hook, when there is one).
    Pending {
        rx: Option<broadcast::Receiver<B256>>,
    },
}

/// Registers the methods.
///
/// # Errors
/// [`crate::Error::RpcMethod`] on a duplicate name (a bug).
pub(super) fn register(m: &mut RpcModule<RpcContext>) -> Result<()> {
    // These two now answer with the block's transactions (hashes or full objects).
    m.remove_method("eth_getBlockByNumber");
    m.remove_method("eth_getBlockByHash");
    reg(m, "eth_getBalance", |c, a| {
        let who = address_arg(a, 0)?;
        let at = block_arg(c, a, 1)?;
        let acc = c.chain.account(at.hash, &who).map_err(|e| internal(&e))?;
        Ok(qty256(acc.map(|a| a.balance).unwrap_or_default()))
    })?;
    reg(m, "eth_getTransactionCount", |c, a| {
        let who = address_arg(a, 0)?;
        let at = block_arg(c, a, 1)?;
        let acc = c.chain.account(at.hash, &who).map_err(|e| internal(&e))?;
        let nonce = acc.map(|a| a.nonce).unwrap_or_default();
        if at.pending
            && let Some(n) = c.eth.pending.as_ref().and_then(|p| p.pending_nonce(&who))
        {
            return Ok(qty(n.max(nonce)));
        }
        Ok(qty(nonce))
    })?;
    reg(m, "eth_getCode", |c, a| {
        let who = address_arg(a, 0)?;
        let at = block_arg(c, a, 1)?;
        Ok(data(
            &c.chain.code(at.hash, &who).map_err(|e| internal(&e))?,
        ))
    })?;
    reg(m, "eth_getStorageAt", |c, a| {
        let who = address_arg(a, 0)?;
        let slot = slot_arg(a, 1)?;
        let at = block_arg(c, a, 2)?;
        let v = c
            .chain
            .storage(at.hash, &who, slot)
            .map_err(|e| internal(&e))?;
        Ok(json!(B256::from(v.to_be_bytes::<32>())))
    })?;
    reg(m, "eth_getBlockByNumber", |c, a| {
        let full = full_arg(a)?;
        match block_tag_hash(c, a, 0)? {
            Some(h) => block_with_txs(&c.chain, &h, full),
            None => Ok(Value::Null),
        }
    })?;
    reg(m, "eth_getBlockByHash", |c, a| {
        let hash = hash_arg(a, 0)?;
        let full = full_arg(a)?;
        block_with_txs(&c.chain, &hash, full)
    })?;
    reg(m, "eth_getBlockTransactionCountByHash", |c, a| {
        let hash = hash_arg(a, 0)?;
        match load_block(&c.chain, &hash)? {
            Some(b) => Ok(qty(b.txs.len() as u64)),
            None => Ok(Value::Null),
        }
    })?;
    reg(
        m,
        "eth_getBlockTransactionCountByNumber",
        |c, a| match block_tag_hash(c, a, 0)? {
            Some(h) => match load_block(&c.chain, &h)? {
                Some(b) => Ok(qty(b.txs.len() as u64)),
                None => Ok(Value::Null),
            },
            None => Ok(Value::Null),
        },
    )?;
    reg(m, "eth_getTransactionByHash", |c, a| {
        let hash = hash_arg(a, 0)?;
        if let Some((block, index)) = locate(&c.chain, &hash)? {
            return block.tx_json(index);
        }
        let Some(tx) = c.eth.pending.as_ref().and_then(|p| p.get(&hash)) else {
            return Ok(Value::Null);
        };
        let txs = [tx];
        match cachet_execution::recover_senders(&txs)
            .ok()
            .and_then(|s| s.first().copied())
        {
            Some(from) => Ok(tx_json(&txs[0], from, None)),
            None => Ok(Value::Null),
        }
    })?;
    reg(m, "eth_getTransactionByBlockHashAndIndex", |c, a| {
        let hash = hash_arg(a, 0)?;
        let index = index_arg(a, 1)?;
        load_block(&c.chain, &hash)?.map_or(Ok(Value::Null), |b| b.tx_json(index))
    })?;
    reg(m, "eth_getTransactionByBlockNumberAndIndex", |c, a| {
        let index = index_arg(a, 1)?;
        match block_tag_hash(c, a, 0)? {
            Some(h) => load_block(&c.chain, &h)?.map_or(Ok(Value::Null), |b| b.tx_json(index)),
            None => Ok(Value::Null),
        }
    })?;
    reg(m, "eth_getTransactionReceipt", |c, a| {
        let hash = hash_arg(a, 0)?;
        match locate(&c.chain, &hash)? {
            Some((block, index)) => {
                let receipts = block.receipts_json(&c.chain)?;
                Ok(usize::try_from(index)
                    .ok()
                    .and_then(|i| receipts.into_iter().nth(i))
                    .unwrap_or(Value::Null))
            }
            None => Ok(Value::Null),
        }
    })?;
    reg_blocking(m, "eth_getBlockReceipts", |c, a| {
        let at = match block_arg(c, a, 0) {
            Ok(at) => at,
            // geth answers null for a block it does not have.
            Err(e) if e.code() == SERVER_ERROR => return Ok(Value::Null),
            Err(e) => return Err(e),
        };
        match load_block(&c.chain, &at.hash)? {
            Some(b) => Ok(Value::Array(b.receipts_json(&c.chain)?)),
            None => Ok(Value::Null),
        }
    })?;
    reg_blocking(m, "eth_getLogs", |c, a| {
        let q = log_query(c, a.first())?;
        let (from, to) = resolve_range(c, &q)?;
        Ok(Value::Array(logs_in(&c.chain, &q, from, to)?))
    })?;
    reg(m, "eth_newFilter", |c, a| {
        let q = log_query(c, a.first())?;
        // As geth: changes are the logs of blocks added after the filter (fromBlock only
        // narrows them); the history is what eth_getFilterLogs returns.
        let seen = c.chain.head().hash;
        install(c, FilterKind::Logs { query: q, seen })
    })?;
    reg(m, "eth_newBlockFilter", |c, _| {
        let seen = c.chain.head().hash;
        install(c, FilterKind::Blocks { seen })
    })?;
    reg(m, "eth_newPendingTransactionFilter", |c, _| {
        let rx = c.eth.pending.as_ref().map(|p| p.subscribe_new());
        install(c, FilterKind::Pending { rx })
    })?;
    reg(m, "eth_uninstallFilter", |c, a| {
        let id = filter_id(a)?;
        let mut f = c.eth.filters();
        sweep(&mut f);
        Ok(json!(f.installed.remove(&id).is_some()))
    })?;
    reg_blocking(m, "eth_getFilterChanges", filter_changes)?;
    reg_blocking(m, "eth_getFilterLogs", |c, a| {
        let id = filter_id(a)?;
        let query = {
            let mut f = c.eth.filters();
            sweep(&mut f);
            match f.installed.get_mut(&id) {
                Some(Installed {
                    polled,
                    kind: FilterKind::Logs { query, .. },
                }) => {
                    *polled = Instant::now();
                    query.clone()
                }
                _ => return Err(err(SERVER_ERROR, "filter not found")),
            }
        };
        let (from, to) = resolve_range(c, &query)?;
        Ok(Value::Array(logs_in(&c.chain, &query, from, to)?))
    })?;
    reg_blocking(m, "eth_call", |c, a| {
        let request = call_request(a.first())?;
        let at = block_arg(c, a, 1)?;
        let overrides = overrides_arg(a.get(2))?;
        let outcome = with_call_state(c, &at, |exec, block, view, hashes| {
            exec.call(block, view, hashes, &request, &overrides, c.eth.limits())
        })?;
        match outcome.status {
            CallStatus::Success => Ok(data(&outcome.output)),
            CallStatus::Reverted => Err(revert_error(&outcome.output)),
            CallStatus::Halted { reason, .. } => Err(err(SERVER_ERROR, reason)),
        }
    })?;
    reg_blocking(m, "eth_estimateGas", |c, a| {
        let request = call_request(a.first())?;
        let at = block_arg(c, a, 1)?;
        let overrides = overrides_arg(a.get(2))?;
        let gas = with_call_state(c, &at, |exec, block, view, hashes| {
            exec.estimate_gas(block, view, hashes, &request, &overrides, c.eth.limits())
        })?;
        Ok(qty(gas))
    })?;
    reg_blocking(m, "eth_maxPriorityFeePerGas", |c, _| {
        Ok(qty256(U256::from(suggest_tip(c)?)))
    })?;
    reg_blocking(m, "eth_gasPrice", |c, _| {
        let tip = suggest_tip(c)?;
        let head = c.chain.head().header;
        let base = c
            .chain
            .base_fee_after(&head, head.timestamp)
            .unwrap_or_default();
        Ok(qty256(base.saturating_add(U256::from(tip))))
    })?;
    reg_blocking(m, "eth_feeHistory", fee_history)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parameters

fn param_err(i: usize, what: impl std::fmt::Display) -> ErrorObjectOwned {
    invalid(format!("invalid argument {i}: {what}"))
}

fn str_arg<'a>(
    a: &'a [Value],
    i: usize,
    what: &str,
) -> std::result::Result<&'a str, ErrorObjectOwned> {
    match a.get(i) {
        None | Some(Value::Null) => Err(param_err(
            i,
            format!("missing value for required argument ({what})"),
        )),
        Some(v) => v
            .as_str()
            .ok_or_else(|| param_err(i, format!("{what} must be a hex string"))),
    }
}

fn address_arg(a: &[Value], i: usize) -> std::result::Result<Address, ErrorObjectOwned> {
    parse_address(str_arg(a, i, "address")?).map_err(|e| param_err(i, e))
}

fn hash_arg(a: &[Value], i: usize) -> std::result::Result<B256, ErrorObjectOwned> {
    parse_hash(str_arg(a, i, "hash")?).map_err(|e| param_err(i, e))
}

fn index_arg(a: &[Value], i: usize) -> std::result::Result<u64, ErrorObjectOwned> {
    let s = str_arg(a, i, "index")?;
    parse_quantity(s).ok_or_else(|| param_err(i, format!("bad hex quantity {s:?}")))
}

fn full_arg(a: &[Value]) -> std::result::Result<bool, ErrorObjectOwned> {
    match a.get(1) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(param_err(1, "must be a boolean (full transactions)")),
    }
}

/// A storage slot: hex up to 32 bytes (geth's `decodeHash`).
fn slot_arg(a: &[Value], i: usize) -> std::result::Result<U256, ErrorObjectOwned> {
    let s = str_arg(a, i, "storage slot")?;
    let h = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if h.len() > 64 {
        return Err(param_err(i, "hex string too long, want at most 32 bytes"));
    }
    if h.is_empty() {
        return Ok(U256::ZERO);
    }
    U256::from_str_radix(h, 16).map_err(|_| param_err(i, "invalid hex string"))
}

fn parse_address(s: &str) -> std::result::Result<Address, String> {
    if !s.starts_with("0x") || s.len() != 42 {
        return Err(format!(
            "hex string {s:?} is not a 20-byte 0x-prefixed address"
        ));
    }
    s.parse().map_err(|_| format!("invalid hex address {s:?}"))
}

fn parse_hash(s: &str) -> std::result::Result<B256, String> {
    if !s.starts_with("0x") || s.len() != 66 {
        return Err(format!(
            "hex string {s:?} is not a 32-byte 0x-prefixed hash"
        ));
    }
    s.parse().map_err(|_| format!("invalid hex hash {s:?}"))
}

fn parse_u256(s: &str) -> Option<U256> {
    let h = s.strip_prefix("0x")?;
    if h.is_empty() || h.len() > 64 {
        return None;
    }
    U256::from_str_radix(h, 16).ok()
}

fn parse_bytes(s: &str) -> Option<Bytes> {
    let h = s.strip_prefix("0x")?;
    hex::decode(h).ok().map(Bytes::from)
}

/// A resolved block parameter.
struct At {
    hash: B256,
    /// The `pending` tag was asked for (the pool hook adjusts nonces).
    pending: bool,
}

/// A block number or tag as a canonical number; `None` for a number above the head.
fn tag_number(c: &RpcContext, s: &str) -> std::result::Result<(u64, bool), String> {
    let head = c.chain.head().header.number;
    match s {
        // BFT and raft blocks are final once committed; clique and pending: see the module doc.
        "latest" | "safe" | "finalized" => Ok((head, false)),
        "pending" => Ok((head, true)),
        "earliest" => Ok((0, false)),
        _ => parse_quantity(s)
            .map(|n| (n, false))
            .ok_or_else(|| format!("hex string {s:?} is not a block number or tag")),
    }
}

/// Parameter `i` as a block (number, tag, hash or EIP-1898 object); absent means `latest`.
fn block_arg(c: &RpcContext, a: &[Value], i: usize) -> std::result::Result<At, ErrorObjectOwned> {
    let not_found = || err(SERVER_ERROR, "header not found");
    let canonical = |n: u64| {
        c.chain
            .store()
            .canonical_hash(n)
            .map_err(|e| internal(&e))?
            .ok_or_else(not_found)
    };
    let by_hash = |hash: B256, require_canonical: bool| {
        let info = c
            .chain
            .store()
            .block_info(&hash)
            .map_err(|e| internal(&e))?
            .ok_or_else(|| err(SERVER_ERROR, "header for hash not found"))?;
        if require_canonical && canonical(info.number)? != hash {
            return Err(err(
                SERVER_ERROR,
                format!("hash {hash} is not currently canonical"),
            ));
        }
        Ok(At {
            hash,
            pending: false,
        })
    };
    match a.get(i) {
        None | Some(Value::Null) => Ok(At {
            hash: c.chain.head().hash,
            pending: false,
        }),
        Some(Value::String(s)) if s.len() == 66 => {
            by_hash(parse_hash(s).map_err(|e| param_err(i, e))?, false)
        }
        Some(Value::String(s)) => {
            let (n, pending) = tag_number(c, s).map_err(|e| param_err(i, e))?;
            Ok(At {
                hash: canonical(n)?,
                pending,
            })
        }
        Some(Value::Object(o)) => {
            let hash = o.get("blockHash").and_then(Value::as_str);
            let number = o.get("blockNumber").and_then(Value::as_str);
            let require = match o.get("requireCanonical") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(param_err(i, "requireCanonical must be a boolean")),
            };
            match (hash, number) {
                (Some(_), Some(_)) => Err(param_err(
                    i,
                    "cannot specify both BlockHash and BlockNumber, choose one or the other",
                )),
                (Some(h), None) => by_hash(parse_hash(h).map_err(|e| param_err(i, e))?, require),
                (None, Some(n)) => {
                    let (n, pending) = tag_number(c, n).map_err(|e| param_err(i, e))?;
                    Ok(At {
                        hash: canonical(n)?,
                        pending,
                    })
                }
                (None, None) => Err(param_err(i, "neither blockHash nor blockNumber given")),
            }
        }
        Some(_) => Err(param_err(i, "must be a block number, tag, hash or object")),
    }
}

/// Parameter `i` (a number or tag) as a canonical block hash; `None` above the head.
fn block_tag_hash(
    c: &RpcContext,
    a: &[Value],
    i: usize,
) -> std::result::Result<Option<B256>, ErrorObjectOwned> {
    let s = str_arg(a, i, "block number")?;
    let (n, _) = tag_number(c, s).map_err(|e| param_err(i, e))?;
    c.chain.store().canonical_hash(n).map_err(|e| internal(&e))
}

// ---------------------------------------------------------------------------------------------
// Blocks, transactions, receipts

/// A stored block, decoded.
struct Loaded {
    hash: B256,
    header: Header,
    txs: Vec<TxEnvelope>,
}

impl Loaded {
    fn place(&self, index: u64) -> TxPlace {
        TxPlace {
            block_hash: self.hash,
            block_number: self.header.number,
            base_fee: self
                .header
                .base_fee_per_gas
                .map(|f| f.saturating_to::<u64>()),
            index,
        }
    }

    /// Every transaction's sender (recovered in parallel; only when all are needed).
    fn senders(&self) -> std::result::Result<Vec<Address>, ErrorObjectOwned> {
        cachet_execution::recover_senders(&self.txs)
            .map_err(|e| err(SERVER_ERROR, format!("stored body of {}: {e}", self.hash)))
    }

    /// Transaction `index` as geth's object (its sender alone recovered), or null.
    fn tx_json(&self, index: u64) -> R {
        let i = usize::try_from(index).unwrap_or(usize::MAX);
        let Some(tx) = self.txs.get(i) else {
            return Ok(Value::Null);
        };
        let from = cachet_execution::recover_senders(std::slice::from_ref(tx))
            .map_err(|e| err(SERVER_ERROR, format!("stored body of {}: {e}", self.hash)))?;
        Ok(from.first().map_or(Value::Null, |from| {
            tx_json(tx, *from, Some(self.place(index)))
        }))
    }

    fn receipts(
        &self,
        chain: &Chain,
    ) -> std::result::Result<Vec<ReceiptEnvelope>, ErrorObjectOwned> {
        let receipts = chain
            .receipts(self.hash)
            .map_err(|e| internal(&e))?
            .unwrap_or_default();
        if receipts.len() != self.txs.len() {
            return Err(err(
                SERVER_ERROR,
                format!(
                    "block {} has {} transactions but {} stored receipts",
                    self.hash,
                    self.txs.len(),
                    receipts.len()
                ),
            ));
        }
        Ok(receipts)
    }

    fn receipts_json(&self, chain: &Chain) -> std::result::Result<Vec<Value>, ErrorObjectOwned> {
        let receipts = self.receipts(chain)?;
        let senders = self.senders()?;
        let mut out = Vec::with_capacity(receipts.len());
        let (mut previous, mut log_index) = (0u64, 0u64);
        for (i, ((tx, from), receipt)) in self.txs.iter().zip(&senders).zip(&receipts).enumerate() {
            let cumulative = receipt.cumulative_gas_used();
            out.push(receipt_json(&ReceiptFields {
                tx,
                from: *from,
                receipt,
                place: self.place(i as u64),
                gas_used: cumulative.saturating_sub(previous),
                first_log_index: log_index,
            }));
            previous = cumulative;
            log_index += receipt.logs().len() as u64;
        }
        Ok(out)
    }
}

fn load_block(chain: &Chain, hash: &B256) -> std::result::Result<Option<Loaded>, ErrorObjectOwned> {
    let Some(rlp) = chain.header_rlp_by_hash(hash).map_err(|e| internal(&e))? else {
        return Ok(None);
    };
    let header = decode_header(&rlp).map_err(|e| internal(&e))?;
    let body = chain
        .store()
        .body_by_hash(hash)
        .map_err(|e| internal(&e))?
        .unwrap_or_default();
    let txs = if body.is_empty() {
        Vec::new()
    } else {
        cachet_execution::decode_body(&body)
            .map_err(|e| err(SERVER_ERROR, format!("stored body of {hash}: {e}")))?
            .transactions
    };
    Ok(Some(Loaded {
        hash: *hash,
        header,
        txs,
    }))
}

/// The canonical block holding transaction `hash`, and its index; `None` when no canonical
/// block holds it (a reorged-out block's transactions are not found, as geth).
fn locate(
    chain: &Chain,
    hash: &B256,
) -> std::result::Result<Option<(Loaded, u64)>, ErrorObjectOwned> {
    let Some((block, index)) = chain.store().tx_lookup(hash).map_err(|e| internal(&e))? else {
        return Ok(None);
    };
    let Some(info) = chain.store().block_info(&block).map_err(|e| internal(&e))? else {
        return Ok(None);
    };
    if chain
        .store()
        .canonical_hash(info.number)
        .map_err(|e| internal(&e))?
        != Some(block)
    {
        return Ok(None);
    }
    let Some(loaded) = load_block(chain, &block)? else {
        return Ok(None);
    };
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    if loaded.txs.get(i).map(|t| *t.tx_hash()) != Some(*hash) {
        return Ok(None);
    }
    Ok(Some((loaded, index)))
}

/// geth's block object with transaction hashes, or full transactions when `full`.
fn block_with_txs(chain: &Chain, hash: &B256, full: bool) -> R {
    let mut obj = block_json(chain, hash)?;
    if obj.is_null() {
        return Ok(obj);
    }
    let Some(block) = load_block(chain, hash)? else {
        return Ok(Value::Null);
    };
    let txs: Vec<Value> = if full {
        let senders = block.senders()?;
        block
            .txs
            .iter()
            .zip(senders)
            .enumerate()
            .map(|(i, (tx, from))| tx_json(tx, from, Some(block.place(i as u64))))
            .collect()
    } else {
        block.txs.iter().map(|t| json!(t.tx_hash())).collect()
    };
    if let Some(map) = obj.as_object_mut() {
        map.insert("transactions".into(), Value::Array(txs));
        // The RLP size of [header, transactions, ommers(, withdrawals)]: header + body payloads.
        if let (Ok(Some(h)), Ok(Some(b))) = (
            chain.header_rlp_by_hash(hash),
            chain.store().body_by_hash(hash),
        ) {
            let payload = h.len() + rlp_payload_len(&b);
            map.insert(
                "size".into(),
                qty((payload + rlp_list_header_len(payload)) as u64),
            );
        }
    }
    Ok(obj)
}

/// The payload length of an RLP list (its bytes minus its header).
fn rlp_payload_len(list: &[u8]) -> usize {
    let mut buf = list;
    alloy_rlp::Header::decode(&mut buf).map_or(list.len(), |h| h.payload_length)
}

fn rlp_list_header_len(payload: usize) -> usize {
    alloy_rlp::Header {
        list: true,
        payload_length: payload,
    }
    .length()
}

// ---------------------------------------------------------------------------------------------
// Logs and filters

#[derive(Clone)]
pub(super) enum Range {
    /// `fromBlock`/`toBlock`: `None` is `latest` (resolved when the query runs).
    Numbers { from: Option<u64>, to: Option<u64> },
    /// `blockHash`.
    Hash(B256),
}

#[derive(Clone)]
pub(super) struct LogQuery {
    pub(super) range: Range,
    addresses: Vec<Address>,
    /// Per position: the accepted topics (empty: any).
    topics: Vec<Vec<B256>>,
}

impl LogQuery {
    fn bloom_may_match(&self, bloom: &Bloom) -> bool {
        let addr_ok = self.addresses.is_empty()
            || self
                .addresses
                .iter()
                .any(|a| bloom.contains_input(BloomInput::Raw(a.as_slice())));
        addr_ok
            && self.topics.iter().all(|alts| {
                alts.is_empty()
                    || alts
                        .iter()
                        .any(|t| bloom.contains_input(BloomInput::Raw(t.as_slice())))
            })
    }

    fn matches(&self, log: &alloy_primitives::Log) -> bool {
        if !self.addresses.is_empty() && !self.addresses.contains(&log.address) {
            return false;
        }
        let topics = log.topics();
        if self.topics.len() > topics.len() {
            return false;
        }
        self.topics
            .iter()
            .zip(topics)
            .all(|(alts, t)| alts.is_empty() || alts.contains(t))
    }
}

fn block_number_field(
    c: &RpcContext,
    v: Option<&Value>,
    what: &str,
) -> std::result::Result<Option<u64>, ErrorObjectOwned> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s))
            if s == "latest" || s == "pending" || s == "safe" || s == "finalized" =>
        {
            Ok(None)
        }
        Some(Value::String(s)) => tag_number(c, s)
            .map(|(n, _)| Some(n))
            .map_err(|e| param_err(0, format!("{what}: {e}"))),
        Some(_) => Err(param_err(
            0,
            format!("{what} must be a block number or tag"),
        )),
    }
}

/// geth's `FilterCriteria`.
pub(super) fn log_query(
    c: &RpcContext,
    v: Option<&Value>,
) -> std::result::Result<LogQuery, ErrorObjectOwned> {
    let empty = Map::new();
    let o = match v {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(param_err(0, "filter criteria must be an object")),
    };
    let range = match o.get("blockHash") {
        None | Some(Value::Null) => Range::Numbers {
            from: block_number_field(c, o.get("fromBlock"), "fromBlock")?,
            to: block_number_field(c, o.get("toBlock"), "toBlock")?,
        },
        Some(h) => {
            if o.get("fromBlock").is_some_and(|v| !v.is_null())
                || o.get("toBlock").is_some_and(|v| !v.is_null())
            {
                return Err(param_err(
                    0,
                    "cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other",
                ));
            }
            let s = h
                .as_str()
                .ok_or_else(|| param_err(0, "blockHash must be a hex string"))?;
            Range::Hash(parse_hash(s).map_err(|e| param_err(0, e))?)
        }
    };
    let addresses = match o.get("address") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![parse_address(s).map_err(|e| param_err(0, e))?],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| "address must be a hex string".to_owned())
                    .and_then(parse_address)
                    .map_err(|e| param_err(0, e))
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err(param_err(0, "invalid addresses in query")),
    };
    let topic = |v: &Value| -> std::result::Result<B256, ErrorObjectOwned> {
        v.as_str()
            .ok_or_else(|| param_err(0, "invalid topic(s)"))
            .and_then(|s| parse_hash(s).map_err(|e| param_err(0, e)))
    };
    let topics = match o.get("topics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            if list.len() > 4 {
                return Err(param_err(0, "exceed max topics"));
            }
            list.iter()
                .map(|pos| match pos {
                    Value::Null => Ok(Vec::new()),
                    Value::String(_) => Ok(vec![topic(pos)?]),
                    // An OR list; a null inside it matches anything at that position.
                    Value::Array(alts) if alts.iter().any(Value::is_null) => Ok(Vec::new()),
                    Value::Array(alts) => alts.iter().map(topic).collect(),
                    _ => Err(param_err(0, "invalid topic(s)")),
                })
                .collect::<std::result::Result<_, _>>()?
        }
        Some(_) => return Err(param_err(0, "invalid topic(s)")),
    };
    Ok(LogQuery {
        range,
        addresses,
        topics,
    })
}

/// The block numbers a query covers now; a hash range is that block alone.
fn resolve_range(
    c: &RpcContext,
    q: &LogQuery,
) -> std::result::Result<(u64, u64), ErrorObjectOwned> {
    let head = c.chain.head().header.number;
    match &q.range {
        Range::Hash(h) => {
            let info = c
                .chain
                .store()
                .block_info(h)
                .map_err(|e| internal(&e))?
                .ok_or_else(|| err(SERVER_ERROR, "unknown block"))?;
            Ok((info.number, info.number))
        }
        Range::Numbers { from, to } => {
            let (from, to) = (from.unwrap_or(head), to.unwrap_or(head));
            if from > to {
                return Err(err(SERVER_ERROR, "invalid block range params"));
            }
            let to = to.min(head);
            if to >= from && to - from >= MAX_LOG_RANGE {
                return Err(err(
                    SERVER_ERROR,
                    format!("block range greater than {MAX_LOG_RANGE} max"),
                ));
            }
            Ok((from, to))
        }
    }
}

/// The logs matching `q` in canonical blocks `from..=to` (or the hash's block).
fn logs_in(
    chain: &Chain,
    q: &LogQuery,
    from: u64,
    to: u64,
) -> std::result::Result<Vec<Value>, ErrorObjectOwned> {
    let mut out = Vec::new();
    let hashes: Vec<B256> = match &q.range {
        Range::Hash(h) => vec![*h],
        Range::Numbers { .. } => {
            let mut v = Vec::new();
            for n in from..=to {
                match chain.store().canonical_hash(n).map_err(|e| internal(&e))? {
                    Some(h) => v.push(h),
                    None => break,
                }
            }
            v
        }
    };
    for hash in hashes {
        block_logs(chain, q, &hash, false, &mut out)?;
    }
    Ok(out)
}

/// Appends the logs of block `hash` matching `q` to `out` (`removed` marks those of a block a
/// reorg took off the canonical chain).
fn block_logs(
    chain: &Chain,
    q: &LogQuery,
    hash: &B256,
    removed: bool,
    out: &mut Vec<Value>,
) -> std::result::Result<(), ErrorObjectOwned> {
    let Some(rlp) = chain.header_rlp_by_hash(hash).map_err(|e| internal(&e))? else {
        return Ok(());
    };
    let header = decode_header(&rlp).map_err(|e| internal(&e))?;
    if !q.bloom_may_match(&header.logs_bloom) {
        return Ok(());
    }
    if let Range::Numbers { from, to } = q.range
        && (from.is_some_and(|f| header.number < f) || to.is_some_and(|t| header.number > t))
    {
        return Ok(());
    }
    let Some(block) = load_block(chain, hash)? else {
        return Ok(());
    };
    let receipts = block.receipts(chain)?;
    let mut log_index = 0u64;
    for (i, (tx, receipt)) in block.txs.iter().zip(&receipts).enumerate() {
        for log in receipt.logs() {
            if q.matches(log) {
                let mut v = log_json(log, block.place(i as u64), *tx.tx_hash(), log_index);
                if removed && let Some(m) = v.as_object_mut() {
                    m.insert("removed".into(), Value::Bool(true));
                }
                out.push(v);
            }
            log_index += 1;
        }
    }
    Ok(())
}

/// What changed on the canonical chain since block `seen`: the blocks a reorg removed (newest
/// first) and the canonical blocks added after the common ancestor (oldest first, at most
/// [`MAX_LOG_RANGE`]; the rest come with the next poll).
fn changes_since(
    chain: &Chain,
    seen: B256,
) -> std::result::Result<(Vec<B256>, Vec<B256>), ErrorObjectOwned> {
    let store = chain.store();
    let head = chain.head();
    let mut removed = Vec::new();
    let mut hash = seen;
    let ancestor = loop {
        let Some(info) = store.block_info(&hash).map_err(|e| internal(&e))? else {
            // Not stored (cannot happen for a hash the node reported): start from the head.
            return Ok((Vec::new(), Vec::new()));
        };
        if store
            .canonical_hash(info.number)
            .map_err(|e| internal(&e))?
            == Some(hash)
        {
            break info.number;
        }
        if removed.len() as u64 >= MAX_LOG_RANGE {
            return Ok((removed, Vec::new()));
        }
        removed.push(hash);
        hash = info.parent_hash;
    };
    let mut added = Vec::new();
    let last = head
        .header
        .number
        .min(ancestor.saturating_add(MAX_LOG_RANGE));
    for n in ancestor.saturating_add(1)..=last {
        match store.canonical_hash(n).map_err(|e| internal(&e))? {
            Some(h) => added.push(h),
            None => break,
        }
    }
    Ok((removed, added))
}

/// The canonical chain's changes since a block a client was told of (filters, subscriptions).
pub(super) struct CanonicalChanges {
    /// Blocks a reorg took off the canonical chain, newest first.
    pub removed: Vec<B256>,
    /// Canonical blocks added, oldest first.
    pub added: Vec<B256>,
    /// The block to count from next time (`None`: nothing changed).
    pub seen: Option<B256>,
}

impl CanonicalChanges {
    pub(super) fn since(chain: &Chain, seen: B256) -> std::result::Result<Self, ErrorObjectOwned> {
        let (removed, added) = changes_since(chain, seen)?;
        let seen = match (added.last(), removed.last()) {
            (Some(h), _) => Some(*h),
            // A reorg to a shorter chain: the common ancestor is the new reference.
            (None, Some(oldest)) => chain
                .store()
                .block_info(oldest)
                .map_err(|e| internal(&e))?
                .map(|i| i.parent_hash),
            (None, None) => None,
        };
        Ok(Self {
            removed,
            added,
            seen,
        })
    }

    /// The logs matching `q`: those of the removed blocks (`removed: true`, as geth), then
    /// those of the added ones.
    pub(super) fn logs(
        &self,
        chain: &Chain,
        q: &LogQuery,
    ) -> std::result::Result<Vec<Value>, ErrorObjectOwned> {
        let mut out = Vec::new();
        for h in &self.removed {
            block_logs(chain, q, h, true, &mut out)?;
        }
        for h in &self.added {
            block_logs(chain, q, h, false, &mut out)?;
        }
        Ok(out)
    }
}

/// Drops filters not polled within [`FILTER_TIMEOUT`].
fn sweep(f: &mut Filters) {
    f.installed
        .retain(|_, i| i.polled.elapsed() < FILTER_TIMEOUT);
}

fn install(c: &RpcContext, kind: FilterKind) -> R {
    let mut f = c.eth.filters();
    sweep(&mut f);
    if f.installed.len() >= MAX_FILTERS {
        return Err(err(
            SERVER_ERROR,
            format!(
                "too many installed filters ({MAX_FILTERS}): uninstall some or let them expire (5 minutes unpolled)"
            ),
        ));
    }
    // Unguessable ids, as geth's (a filter is a capability of whoever created it).
    let id = format!("{:#x}", rand::random::<u128>() ^ f.next_id);
    f.next_id = f.next_id.wrapping_add(1);
    f.installed.insert(
        id.clone(),
        Installed {
            polled: Instant::now(),
            kind,
        },
    );
    Ok(json!(id))
}

fn filter_id(a: &[Value]) -> std::result::Result<String, ErrorObjectOwned> {
    let s = str_arg(a, 0, "filter id")?;
    let h = s
        .strip_prefix("0x")
        .ok_or_else(|| param_err(0, "filter id must be a 0x-prefixed hex string"))?;
    let n = u128::from_str_radix(h, 16).map_err(|_| param_err(0, "invalid filter id"))?;
    Ok(format!("{n:#x}"))
}

fn filter_changes(c: &RpcContext, a: &[Value]) -> R {
    let id = filter_id(a)?;
    // Take what the filter needs under the lock, read the chain outside it.
    let (seen, query) = {
        let mut f = c.eth.filters();
        sweep(&mut f);
        let Some(installed) = f.installed.get_mut(&id) else {
            return Err(err(SERVER_ERROR, "filter not found"));
        };
        installed.polled = Instant::now();
        match &mut installed.kind {
            FilterKind::Blocks { seen } => (*seen, None),
            FilterKind::Logs { query, seen } => (*seen, Some(query.clone())),
            FilterKind::Pending { rx } => {
                let mut hashes = Vec::new();
                if let Some(rx) = rx {
                    loop {
                        match rx.try_recv() {
                            Ok(h) => hashes.push(json!(h)),
                            Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                            Err(_) => break,
                        }
                    }
                }
                return Ok(Value::Array(hashes));
            }
        }
    };
    let changes = CanonicalChanges::since(&c.chain, seen)?;
    let out = match &query {
        None => changes.added.iter().map(|h| json!(h)).collect(),
        Some(q) => changes.logs(&c.chain, q)?,
    };
    if let Some(new_seen) = changes.seen {
        let mut f = c.eth.filters();
        if let Some(installed) = f.installed.get_mut(&id) {
            match &mut installed.kind {
                FilterKind::Blocks { seen } | FilterKind::Logs { seen, .. } => *seen = new_seen,
                FilterKind::Pending { .. } => {}
            }
        }
    }
    Ok(Value::Array(out))
}

// ---------------------------------------------------------------------------------------------
// eth_call, eth_estimateGas

fn call_request(v: Option<&Value>) -> std::result::Result<CallRequest, ErrorObjectOwned> {
    let o = match v {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => {
            return Err(param_err(
                0,
                "missing value for required argument (transaction)",
            ));
        }
        Some(_) => return Err(param_err(0, "transaction must be an object")),
    };
    let s = |k: &str| -> std::result::Result<Option<&str>, ErrorObjectOwned> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(param_err(0, format!("{k} must be a hex string"))),
        }
    };
    let bad = |k: &str, v: &str| param_err(0, format!("invalid {k} {v:?}"));
    let u64_of = |k: &str| -> std::result::Result<Option<u64>, ErrorObjectOwned> {
        s(k)?
            .map(|v| parse_quantity(v).ok_or_else(|| bad(k, v)))
            .transpose()
    };
    let u128_of = |k: &str| -> std::result::Result<Option<u128>, ErrorObjectOwned> {
        s(k)?
            .map(|v| {
                parse_u256(v)
                    .and_then(|n| u128::try_from(n).ok())
                    .ok_or_else(|| bad(k, v))
            })
            .transpose()
    };
    let bytes_of = |k: &str| -> std::result::Result<Option<Bytes>, ErrorObjectOwned> {
        s(k)?
            .map(|v| parse_bytes(v).ok_or_else(|| bad(k, v)))
            .transpose()
    };
    let (input, data_field) = (bytes_of("input")?, bytes_of("data")?);
    if let (Some(i), Some(d)) = (&input, &data_field)
        && i != d
    {
        return Err(param_err(
            0,
            "both \"data\" and \"input\" are set and not equal. Please use \"input\" to pass transaction call data",
        ));
    }
    let access_list = match o.get("accessList") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                let address = item
                    .get("address")
                    .and_then(Value::as_str)
                    .ok_or_else(|| param_err(0, "accessList entry without address"))
                    .and_then(|a| parse_address(a).map_err(|e| param_err(0, e)))?;
                let keys = match item.get("storageKeys") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(keys)) => keys
                        .iter()
                        .map(|k| {
                            k.as_str()
                                .ok_or_else(|| "storage key must be a hex string".to_owned())
                                .and_then(parse_hash)
                                .map_err(|e| param_err(0, e))
                        })
                        .collect::<std::result::Result<_, _>>()?,
                    Some(_) => return Err(param_err(0, "storageKeys must be an array")),
                };
                list.push(alloy_eips::eip2930::AccessListItem {
                    address,
                    storage_keys: keys,
                });
            }
            Some(alloy_eips::eip2930::AccessList(list))
        }
        Some(_) => return Err(param_err(0, "accessList must be an array")),
    };
    Ok(CallRequest {
        from: s("from")?
            .map(|v| parse_address(v).map_err(|e| param_err(0, e)))
            .transpose()?,
        to: s("to")?
            .map(|v| parse_address(v).map_err(|e| param_err(0, e)))
            .transpose()?,
        gas: u64_of("gas")?,
        gas_price: u128_of("gasPrice")?,
        max_fee_per_gas: u128_of("maxFeePerGas")?,
        max_priority_fee_per_gas: u128_of("maxPriorityFeePerGas")?,
        value: s("value")?
            .map(|v| parse_u256(v).ok_or_else(|| bad("value", v)))
            .transpose()?,
        input: input.or(data_field).unwrap_or_default(),
        nonce: u64_of("nonce")?,
        access_list,
    })
}

/// geth's `StateOverride` (third parameter of `eth_call` / `eth_estimateGas`).
fn overrides_arg(v: Option<&Value>) -> std::result::Result<StateOverride, ErrorObjectOwned> {
    let bad = |what: String| param_err(2, what);
    let o = match v {
        None | Some(Value::Null) => return Ok(StateOverride::new()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(bad("state override must be an object".into())),
    };
    let mut out = StateOverride::new();
    for (addr, fields) in o {
        let address = parse_address(addr).map_err(bad)?;
        let f = fields
            .as_object()
            .ok_or_else(|| bad(format!("override of {addr} must be an object")))?;
        let text = |k: &str| -> std::result::Result<Option<&str>, ErrorObjectOwned> {
            match f.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(format!("{addr}.{k} must be a hex string"))),
            }
        };
        let slots = |k: &str| -> std::result::Result<
            Option<std::collections::BTreeMap<B256, B256>>,
            ErrorObjectOwned,
        > {
            match f.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(slot, value)| {
                        let value = value
                            .as_str()
                            .ok_or_else(|| bad(format!("{addr}.{k} values must be hex strings")))?;
                        Ok((
                            parse_hash(slot).map_err(bad)?,
                            parse_hash(value).map_err(bad)?,
                        ))
                    })
                    .collect::<std::result::Result<_, _>>()
                    .map(Some),
                Some(_) => Err(bad(format!("{addr}.{k} must be an object"))),
            }
        };
        out.insert(
            address,
            AccountOverride {
                balance: text("balance")?
                    .map(|v| parse_u256(v).ok_or_else(|| bad(format!("{addr}.balance {v:?}"))))
                    .transpose()?,
                nonce: text("nonce")?
                    .map(|v| parse_quantity(v).ok_or_else(|| bad(format!("{addr}.nonce {v:?}"))))
                    .transpose()?,
                code: text("code")?
                    .map(|v| parse_bytes(v).ok_or_else(|| bad(format!("{addr}.code {v:?}"))))
                    .transpose()?,
                state: slots("state")?,
                state_diff: slots("stateDiff")?,
            },
        );
    }
    Ok(out)
}

/// BLOCKHASH for a call on block `number`: the canonical chain below it.
struct CanonicalBelow<'a> {
    chain: &'a Chain,
    number: u64,
}

impl BlockHashes for CanonicalBelow<'_> {
    fn block_hash(&self, number: u64) -> std::result::Result<Option<B256>, StateError> {
        if number > self.number {
            return Ok(None);
        }
        self.chain
            .store()
            .canonical_hash(number)
            .map_err(|e| StateError::Corrupt {
                what: format!("reading ancestor {number}: {e}"),
            })
    }
}

/// `eth_estimateGas` of the request object `request` on the head (the wallet's
/// `eth_sendTransaction` fills in its gas with it).
pub(super) fn estimate_on_head(
    c: &RpcContext,
    request: &Value,
) -> std::result::Result<u64, ErrorObjectOwned> {
    let request = call_request(Some(request))?;
    let at = At {
        hash: c.chain.head().hash,
        pending: true,
    };
    with_call_state(c, &at, |exec, block, view, hashes| {
        exec.estimate_gas(
            block,
            view,
            hashes,
            &request,
            &StateOverride::default(),
            c.eth.limits(),
        )
    })
}

/// Runs `f` with the executor, the block `at` as the call's block and its post-state.
fn with_call_state<T>(
    c: &RpcContext,
    at: &At,
    f: impl FnOnce(
        &cachet_execution::Executor,
        CallBlock<'_>,
        &dyn cachet_state::StateView,
        &dyn BlockHashes,
    ) -> std::result::Result<T, CallError>,
) -> std::result::Result<T, ErrorObjectOwned> {
    let rlp = c
        .chain
        .header_rlp_by_hash(&at.hash)
        .map_err(|e| internal(&e))?
        .ok_or_else(|| err(SERVER_ERROR, "header not found"))?;
    let header = decode_header(&rlp).map_err(|e| internal(&e))?;
    let author = author(&c.chain, at.hash, &header);
    let hashes = CanonicalBelow {
        chain: &c.chain,
        number: header.number,
    };
    let block = CallBlock {
        header: &header,
        author,
    };
    let result = c
        .chain
        .with_state_at(at.hash, |view| {
            Ok(f(c.chain.executor(), block, view, &hashes))
        })
        .map_err(|e| internal(&e))?;
    result.map_err(|e| call_error(&e))
}

/// COINBASE of a call on block `hash`: the block's author as execution saw it (clique: the
/// signer; GoQuorum IBFT: the proposer, from the seals; IBFT 2.0, QBFT, raft: the coinbase).
fn author(chain: &Chain, hash: B256, header: &Header) -> Address {
    match chain.engine() {
        cachet_genesis::Engine::Clique => {
            cachet_seal::clique::recover_signer(header).unwrap_or(header.beneficiary)
        }
        cachet_genesis::Engine::Ibft => {
            let parent = chain
                .header_rlp_by_hash(&header.parent_hash)
                .ok()
                .flatten()
                .and_then(|rlp| decode_header(&rlp).ok());
            parent
                .and_then(|p| chain.rules().verify(hash, header, &p).ok())
                .unwrap_or(header.beneficiary)
        }
        _ => header.beneficiary,
    }
}

fn call_error(e: &CallError) -> ErrorObjectOwned {
    match e {
        CallError::Reverted { output } => revert_error(output),
        CallError::Request(m) => invalid(m.clone()),
        CallError::State(_) | CallError::Internal(_) => {
            err(SERVER_ERROR, cachet_primitives::error::Chain(e).to_string())
        }
        other => err(SERVER_ERROR, other.to_string()),
    }
}

/// geth's revert error: code 3, "execution reverted" (": reason" for an `Error(string)`),
/// the revert data as hex in `data`.
fn revert_error(output: &[u8]) -> ErrorObjectOwned {
    let message = match decode_revert_reason(output) {
        Some(reason) => format!("execution reverted: {reason}"),
        None => "execution reverted".to_owned(),
    };
    ErrorObjectOwned::owned(REVERT_CODE, message, Some(data(output)))
}

/// The reason of an ABI-encoded `Error(string)` (selector 0x08c379a0, offset, length, bytes).
fn decode_revert_reason(output: &[u8]) -> Option<String> {
    let rest = output.strip_prefix(&[0x08, 0xc3, 0x79, 0xa0][..])?;
    let word = |i: usize| -> Option<usize> {
        let w = rest.get(i..i.checked_add(32)?)?;
        let (high, low) = w.split_at(24);
        if high.iter().any(|b| *b != 0) {
            return None;
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(low);
        usize::try_from(u64::from_be_bytes(b)).ok()
    };
    let offset = word(0)?;
    let len = word(offset)?;
    let start = offset.checked_add(32)?;
    let bytes = rest.get(start..start.checked_add(len)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

// ---------------------------------------------------------------------------------------------
// Fees

/// The effective tips (wei per gas) of a block's transactions, with the gas each used, sorted
/// by tip.
fn block_tips(
    chain: &Chain,
    block: &Loaded,
) -> std::result::Result<Vec<(u128, u64)>, ErrorObjectOwned> {
    let base = block
        .header
        .base_fee_per_gas
        .map(|f| f.saturating_to::<u128>());
    let receipts = block.receipts(chain)?;
    let mut previous = 0u64;
    let mut tips: Vec<(u128, u64)> = block
        .txs
        .iter()
        .zip(&receipts)
        .map(|(tx, r)| {
            let used = r.cumulative_gas_used().saturating_sub(previous);
            previous = r.cumulative_gas_used();
            let price = effective_gas_price(tx, base.map(|b| b.saturating_to_u64()));
            (price.saturating_sub(base.unwrap_or_default()), used)
        })
        .collect();
    tips.sort_unstable_by_key(|t| t.0);
    Ok(tips)
}

trait SaturatingU64 {
    fn saturating_to_u64(self) -> u64;
}

impl SaturatingU64 for u128 {
    fn saturating_to_u64(self) -> u64 {
        u64::try_from(self).unwrap_or(u64::MAX)
    }
}

/// The suggested tip, as geth's gas price oracle with its defaults: from each of the last 20
/// blocks the 3 lowest tips of at least 2 wei paid by senders other than the block's coinbase;
/// the 60th percentile of those, at most 500 gwei; 0 when there are none (where geth repeats
/// its last suggestion: a permissioned network's minimum gas price defaults to 0).
pub(super) fn suggest_tip(c: &RpcContext) -> std::result::Result<u128, ErrorObjectOwned> {
    let chain = &c.chain;
    let head = chain.head().header.number;
    let mut tips = Vec::new();
    for n in head.saturating_sub(PRICE_BLOCKS - 1)..=head {
        let Some(hash) = chain.store().canonical_hash(n).map_err(|e| internal(&e))? else {
            continue;
        };
        let cached = c.eth.tip_samples().get(&hash).cloned();
        let samples = match cached {
            Some(samples) => samples,
            None => {
                let samples = block_samples(chain, &hash)?;
                let mut cache = c.eth.tip_samples();
                // Bounded: a new head needs one new block's samples, the rest are cached.
                if cache.len() >= 4 * PRICE_BLOCKS as usize {
                    cache.clear();
                }
                cache.insert(hash, samples.clone());
                samples
            }
        };
        tips.extend(samples);
    }
    if tips.is_empty() {
        return Ok(0);
    }
    tips.sort_unstable();
    let i = (tips.len() - 1) * PRICE_PERCENTILE / 100;
    Ok(tips.get(i).copied().unwrap_or_default().min(MAX_PRICE))
}

/// One block's contribution to the suggestion: its 3 lowest tips of at least 2 wei paid by
/// senders other than its coinbase.
fn block_samples(chain: &Chain, hash: &B256) -> std::result::Result<Vec<u128>, ErrorObjectOwned> {
    let Some(block) = load_block(chain, hash)? else {
        return Ok(Vec::new());
    };
    let base = block
        .header
        .base_fee_per_gas
        .map(|f| f.saturating_to::<u128>());
    // Senders matter only when the coinbase could have sent one (not the zero address).
    let senders = if block.header.beneficiary.is_zero() {
        Vec::new()
    } else {
        block.senders()?
    };
    let mut own: Vec<u128> = block
        .txs
        .iter()
        .enumerate()
        .filter(|(i, _)| senders.get(*i) != Some(&block.header.beneficiary))
        .map(|(_, tx)| {
            effective_gas_price(tx, base.map(SaturatingU64::saturating_to_u64))
                .saturating_sub(base.unwrap_or_default())
        })
        .filter(|tip| *tip >= IGNORE_PRICE)
        .collect();
    own.sort_unstable();
    own.truncate(PRICE_SAMPLES);
    Ok(own)
}

fn fee_history(c: &RpcContext, a: &[Value]) -> R {
    let count = match a.first() {
        Some(Value::String(s)) => parse_quantity(s)
            .or_else(|| s.parse().ok())
            .ok_or_else(|| param_err(0, format!("bad block count {s:?}")))?,
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| param_err(0, "bad block count"))?,
        _ => {
            return Err(param_err(
                0,
                "missing value for required argument (blockCount)",
            ));
        }
    };
    let newest_hash =
        block_tag_hash(c, a, 1)?.ok_or_else(|| err(SERVER_ERROR, "header not found"))?;
    let percentiles: Option<Vec<f64>> = match a.get(2) {
        None | Some(Value::Null) => None,
        Some(Value::Array(ps)) => Some(
            ps.iter()
                .map(|p| {
                    p.as_f64()
                        .ok_or_else(|| param_err(2, "reward percentiles must be numbers"))
                })
                .collect::<std::result::Result<_, _>>()?,
        ),
        Some(_) => return Err(param_err(2, "reward percentiles must be an array")),
    };
    if let Some(ps) = &percentiles {
        if ps.len() > MAX_PERCENTILES {
            return Err(invalid(format!(
                "invalid reward percentile: over the query limit {MAX_PERCENTILES}"
            )));
        }
        for (i, p) in ps.iter().enumerate() {
            if !(0.0..=100.0).contains(p) {
                return Err(invalid(format!("invalid reward percentile: {p}")));
            }
            if i > 0 && ps.get(i - 1).is_some_and(|prev| p < prev) {
                return Err(invalid(format!(
                    "invalid reward percentile: #{}:{} > #{}:{}",
                    i - 1,
                    ps.get(i - 1).copied().unwrap_or_default(),
                    i,
                    p
                )));
            }
        }
    }
    if count == 0 {
        return Ok(json!({"oldestBlock": qty(0)}));
    }
    let count = count.min(MAX_FEE_HISTORY);
    let newest = c
        .chain
        .store()
        .block_info(&newest_hash)
        .map_err(|e| internal(&e))?
        .ok_or_else(|| err(SERVER_ERROR, "header not found"))?
        .number;
    let oldest = newest.saturating_sub(count - 1);
    let (mut base_fees, mut ratios, mut rewards) = (Vec::new(), Vec::new(), Vec::new());
    let mut last: Option<Header> = None;
    for n in oldest..=newest {
        let hash = c
            .chain
            .store()
            .canonical_hash(n)
            .map_err(|e| internal(&e))?
            .ok_or_else(|| err(SERVER_ERROR, "header not found"))?;
        let block =
            load_block(&c.chain, &hash)?.ok_or_else(|| err(SERVER_ERROR, "header not found"))?;
        let h = &block.header;
        base_fees.push(qty256(h.base_fee_per_gas.unwrap_or_default()));
        #[allow(clippy::cast_precision_loss, reason = "a ratio for display")]
        let ratio = if h.gas_limit == 0 {
            0.0
        } else {
            h.gas_used as f64 / h.gas_limit as f64
        };
        ratios.push(json!(ratio));
        if let Some(ps) = &percentiles {
            let tips = block_tips(&c.chain, &block)?;
            let row: Vec<Value> = ps
                .iter()
                .map(|p| {
                    if tips.is_empty() {
                        return qty(0);
                    }
                    // The tip of the transaction at which the cumulative gas passes p% of the
                    // block's gas used (geth's algorithm).
                    #[allow(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        clippy::cast_precision_loss,
                        reason = "p is within 0..=100"
                    )]
                    let threshold = (h.gas_used as f64 * p / 100.0) as u64;
                    let mut sum = 0u64;
                    let mut chosen = tips.last().map(|t| t.0).unwrap_or_default();
                    for (tip, used) in &tips {
                        sum = sum.saturating_add(*used);
                        if sum >= threshold {
                            chosen = *tip;
                            break;
                        }
                    }
                    qty256(U256::from(chosen))
                })
                .collect();
            rewards.push(Value::Array(row));
        }
        last = Some(block.header);
    }
    if let Some(h) = last {
        let next = c.chain.base_fee_after(&h, h.timestamp).unwrap_or_default();
        base_fees.push(qty256(next));
    }
    let mut out = json!({
        "oldestBlock": qty(oldest),
        "baseFeePerGas": base_fees,
        "gasUsedRatio": ratios,
    });
    if percentiles.is_some()
        && let Some(m) = out.as_object_mut()
    {
        m.insert("reward".into(), Value::Array(rewards));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_error_string_revert_reasons() {
        // Error("nope"): selector, offset 0x20, length 4, "nope" padded.
        let mut out = vec![0x08, 0xc3, 0x79, 0xa0];
        let mut word = [0u8; 32];
        word[31] = 0x20;
        out.extend_from_slice(&word);
        word[31] = 4;
        out.extend_from_slice(&word);
        let mut text = [0u8; 32];
        text[..4].copy_from_slice(b"nope");
        out.extend_from_slice(&text);
        assert_eq!(decode_revert_reason(&out).as_deref(), Some("nope"));
        // Truncated or foreign data has no reason.
        assert_eq!(decode_revert_reason(&out[..40]), None);
        assert_eq!(decode_revert_reason(&[0xde, 0xad]), None);
        let mut huge = out.clone();
        huge[4 + 31] = 0xff;
        assert_eq!(decode_revert_reason(&huge), None);
    }
}
