//! `eth_subscribe` / `eth_unsubscribe` (WebSocket only; geth's subscriptions): `newHeads` (each
//! new canonical header, as geth's header JSON), `logs` (the logs of each new canonical block
//! matching an address/topics filter, and on a reorg those of the blocks taken off the chain with
//! `removed: true`), `newPendingTransactions` (hashes, or full transactions with `true`).
//!
//! Each subscription is one task that sends with `try_send` into its connection's bounded queue
//! ([`super::access::Limits::ws_queue`]): a subscriber that stops reading is dropped, never
//! waited for. Chain reads run on the blocking pool, as the polling filters' do.

use std::sync::Arc;

use alloy_primitives::B256;
use jsonrpsee::core::server::{PendingSubscriptionSink, SubscriptionSink, TrySendError};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{Extensions, RpcModule};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::RpcContext;
use super::access::METHOD_NOT_FOUND;
use super::json::{SERVER_ERROR, args, block_json, err, invalid, tx_json};
use super::state::{CanonicalChanges, LogQuery, Range, log_query};
use crate::chain::{Chain, HeadInfo};
use crate::error::{Error, Result};

/// Headers a `newHeads` subscriber is sent for one head change at most: after a long segment
/// (sync) the newest ones, so that catching up does not overflow its queue.
pub const MAX_HEADS_PER_CHANGE: usize = 256;

enum Kind {
    NewHeads,
    Logs(LogQuery),
    Pending { full: bool },
}

fn parse(ctx: &RpcContext, params: &Params<'_>) -> std::result::Result<Kind, ErrorObjectOwned> {
    let a = args(params)?;
    let name = a
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("missing value for required argument 0 (subscription name)"))?;
    match name {
        "newHeads" => Ok(Kind::NewHeads),
        "logs" => {
            let q = log_query(ctx, a.get(1))?;
            if matches!(q.range, Range::Hash(_)) {
                return Err(invalid(
                    "the logs subscription takes address and topics; blockHash is for eth_getLogs",
                ));
            }
            Ok(Kind::Logs(q))
        }
        "newPendingTransactions" => {
            let full = match a.get(1) {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(invalid("parameter 1 must be a boolean (full transactions)"));
                }
            };
            if ctx.eth.pending.is_none() {
                return Err(err(SERVER_ERROR, "this node has no transaction pool"));
            }
            Ok(Kind::Pending { full })
        }
        // geth's subscriptionNotFoundError.
        other => Err(err(
            METHOD_NOT_FOUND,
            format!("no {other:?} subscription in eth namespace"),
        )),
    }
}

/// Registers `eth_subscribe`/`eth_unsubscribe` (notifications are `eth_subscription`).
///
/// # Errors
/// [`Error::RpcMethod`] on a duplicate name (a bug).
pub(super) fn register(m: &mut RpcModule<RpcContext>) -> Result<()> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params: Params<'static>,
         pending: PendingSubscriptionSink,
         ctx: Arc<RpcContext>,
         _: Extensions| async move {
            let kind = match parse(&ctx, &params) {
                Ok(kind) => kind,
                Err(e) => {
                    pending.reject(e).await;
                    return;
                }
            };
            // The sources are taken before the subscription is confirmed: nothing after the
            // client's id is missed.
            match kind {
                Kind::Pending { full } => {
                    let Some(pool) = ctx.eth.pending.clone() else {
                        return;
                    };
                    let rx = pool.subscribe_new();
                    if let Ok(sink) = pending.accept().await {
                        pending_txs(&ctx, sink, rx, full).await;
                    }
                }
                Kind::NewHeads | Kind::Logs(_) => {
                    let mut heads = ctx.chain.subscribe();
                    let seen = heads.borrow_and_update().hash;
                    let query = match kind {
                        Kind::Logs(q) => Some(q),
                        _ => None,
                    };
                    if let Ok(sink) = pending.accept().await {
                        follow_chain(ctx, sink, heads, seen, query).await;
                    }
                }
            }
        },
    )
    .map(|_| ())
    .map_err(|e| Error::RpcMethod {
        name: "eth_subscribe",
        source: Box::new(e),
    })
}

/// Sends `item`; false when the subscription is over (closed, or dropped for being slow).
fn send(sink: &mut SubscriptionSink, item: &Value) -> bool {
    let Ok(msg) = serde_json::value::to_raw_value(item) else {
        return true;
    };
    match sink.try_send(msg) {
        Ok(()) => true,
        Err(TrySendError::Closed(_)) => false,
        Err(TrySendError::Full(_)) => {
            tracing::info!(target: "cachet::rpc", connection = ?sink.connection_id(), "dropped a subscription whose client does not read its notifications");
            false
        }
    }
}

/// geth's `newHeads` object: the block's header fields.
fn header_json(chain: &Chain, hash: &B256) -> std::result::Result<Value, ErrorObjectOwned> {
    let mut v = block_json(chain, hash)?;
    if let Some(map) = v.as_object_mut() {
        for key in ["totalDifficulty", "size", "transactions", "uncles"] {
            map.remove(key);
        }
    }
    Ok(v)
}

/// `newHeads` (`query` = `None`) or `logs`: what each head change added (and removed).
async fn follow_chain(
    ctx: Arc<RpcContext>,
    mut sink: SubscriptionSink,
    mut heads: watch::Receiver<HeadInfo>,
    mut seen: B256,
    query: Option<LogQuery>,
) {
    loop {
        tokio::select! {
            () = sink.closed() => return,
            changed = heads.changed() => if changed.is_err() { return },
        }
        heads.borrow_and_update();
        let c = ctx.clone();
        let q = query.clone();
        let read = tokio::task::spawn_blocking(move || {
            let changes = CanonicalChanges::since(&c.chain, seen)?;
            let items = match &q {
                None => {
                    let skip = changes.added.len().saturating_sub(MAX_HEADS_PER_CHANGE);
                    changes.added[skip..]
                        .iter()
                        .map(|h| header_json(&c.chain, h))
                        .collect::<std::result::Result<Vec<_>, _>>()?
                }
                Some(q) => changes.logs(&c.chain, q)?,
            };
            Ok::<_, ErrorObjectOwned>((items, changes.seen))
        })
        .await;
        let (items, new_seen) = match read {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                tracing::warn!(target: "cachet::rpc", error = %e.message(), "a subscription could not read the new blocks");
                continue;
            }
            Err(_) => return,
        };
        if let Some(s) = new_seen {
            seen = s;
        }
        for item in &items {
            if !send(&mut sink, item) {
                return;
            }
        }
    }
}

/// `newPendingTransactions`: hashes from the pool, or the transactions themselves.
async fn pending_txs(
    ctx: &RpcContext,
    mut sink: SubscriptionSink,
    mut rx: broadcast::Receiver<B256>,
    full: bool,
) {
    loop {
        let hash = tokio::select! {
            () = sink.closed() => return,
            r = rx.recv() => match r {
                Ok(h) => h,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(target: "cachet::rpc", missed = n, "a pending-transaction subscription fell behind the pool");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let item = if full {
            // A transaction already gone from the pool (included, replaced) is skipped.
            let Some(tx) = ctx.eth.pending.as_ref().and_then(|p| p.get(&hash)) else {
                continue;
            };
            let txs = [tx];
            let Some(from) = cachet_execution::recover_senders(&txs)
                .ok()
                .and_then(|s| s.first().copied())
            else {
                continue;
            };
            tx_json(&txs[0], from, None)
        } else {
            serde_json::json!(hash)
        };
        if !send(&mut sink, &item) {
            return;
        }
    }
}
