//! Prometheus metrics (`--metrics`): the `metrics` facade, served as Prometheus text at
//! `http://<metrics.addr>:<metrics.port>/metrics` by `metrics-exporter-prometheus`. Without
//! `--metrics` no recorder is installed and every recording below is a no-op.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `cachet_head_number` | gauge | the head block's number |
//! | `cachet_peers` | gauge | connected eth peers |
//! | `cachet_txpool_pending`, `cachet_txpool_queued` | gauge | pool sizes |
//! | `cachet_import_seconds` | histogram | verify + execute + store of one block (`source`: `sealed` or `network`) |
//! | `cachet_seal_seconds` | histogram | sealing one block through the seal journal (signature and journal write) |
//! | `cachet_blocks_imported_total`, `cachet_transactions_imported_total` | counter | blocks and transactions imported |
//! | `cachet_kms_lease_state` | gauge | 0 healthy, 1 degraded, 2 revoked (absent without a lease) |
//! | `cachet_kms_last_check_timestamp_seconds` | gauge | Unix time of the lease's last check |
//! | `cachet_rpc_requests_total` | counter | JSON-RPC calls by `method` and `outcome` (`ok`, `error`) |
//! | `cachet_rpc_request_seconds` | histogram | JSON-RPC call latency by `method` |
//! | `cachet_istanbul_frames_received_total` | counter | `istanbul/100` frames received, by `code` (IBFT/QBFT chains) |
//! | `cachet_istanbul_frames_dropped_total` | counter | received frames dropped: `reason` `no_driver` or `queue_full` |
//! | `cachet_istanbul_frames_sent_total` | counter | `istanbul/100` frames queued to peers |

use std::net::SocketAddr;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// Latency buckets (seconds): a loopback RPC call to a slow block import.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the global recorder and starts serving `/metrics` on `addr`; the returned task is
/// the HTTP listener (abort it to stop serving).
///
/// # Errors
/// [`Error::Config`] when the address cannot be bound or a recorder is already installed.
pub fn serve(addr: SocketAddr) -> Result<JoinHandle<()>> {
    let (recorder, exporter) = PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
        .map_err(|e| Error::Config(format!("metrics: {e}")))?
        .build()
        .map_err(|e| Error::Config(format!("metrics on {addr}: {e}")))?;
    metrics::set_global_recorder(recorder).map_err(|e| Error::Config(format!("metrics: {e}")))?;
    describe();
    Ok(tokio::spawn(async move {
        if let Err(e) = exporter.await {
            tracing::warn!(target: "cachet::metrics", error = ?e, "metrics listener stopped");
        }
    }))
}

fn describe() {
    metrics::describe_gauge!("cachet_head_number", "the head block's number");
    metrics::describe_gauge!("cachet_peers", "connected eth peers");
    metrics::describe_gauge!(
        "cachet_txpool_pending",
        "executable transactions in the pool"
    );
    metrics::describe_gauge!(
        "cachet_txpool_queued",
        "transactions waiting for a nonce gap"
    );
    metrics::describe_histogram!(
        "cachet_import_seconds",
        metrics::Unit::Seconds,
        "verify, execute and store one block"
    );
    metrics::describe_histogram!(
        "cachet_seal_seconds",
        metrics::Unit::Seconds,
        "seal one block through the seal journal"
    );
    metrics::describe_gauge!("cachet_kms_lease_state", "0 healthy, 1 degraded, 2 revoked");
    metrics::describe_gauge!(
        "cachet_kms_last_check_timestamp_seconds",
        metrics::Unit::Seconds,
        "Unix time of the lease's last master-key check"
    );
    metrics::describe_counter!("cachet_rpc_requests_total", "JSON-RPC calls");
    metrics::describe_counter!(
        "cachet_istanbul_frames_received_total",
        "istanbul/100 frames received"
    );
    metrics::describe_counter!(
        "cachet_istanbul_frames_dropped_total",
        "istanbul/100 frames dropped before a driver"
    );
    metrics::describe_counter!(
        "cachet_istanbul_frames_sent_total",
        "istanbul/100 frames queued to peers"
    );
    metrics::describe_histogram!(
        "cachet_rpc_request_seconds",
        metrics::Unit::Seconds,
        "JSON-RPC call latency"
    );
}

/// Samples the gauges once a second (head, peers, pool) until aborted.
pub async fn sample(
    chain: std::sync::Arc<crate::chain::Chain>,
    net: std::sync::Arc<cachet_devp2p::net::Network>,
    pool: std::sync::Arc<crate::pool::TxPool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        head(chain.head().header.number);
        peers(net.peers().len());
        let (pending, queued) = pool.pool().status();
        self::pool(pending, queued);
    }
}

/// The head moved.
pub fn head(number: u64) {
    metrics::gauge!("cachet_head_number").set(number as f64);
}

/// The peer count changed.
pub fn peers(count: usize) {
    metrics::gauge!("cachet_peers").set(count as f64);
}

/// The pool's sizes.
pub fn pool(pending: usize, queued: usize) {
    metrics::gauge!("cachet_txpool_pending").set(pending as f64);
    metrics::gauge!("cachet_txpool_queued").set(queued as f64);
}

/// `blocks` blocks imported from `source` (`sealed`, `network`) in `elapsed` with `txs`
/// transactions (the histogram records the time per block).
pub fn imported(source: &'static str, elapsed: Duration, blocks: u64, txs: u64) {
    if blocks == 0 {
        return;
    }
    let per_block = elapsed.as_secs_f64() / blocks as f64;
    metrics::histogram!("cachet_import_seconds", "source" => source).record(per_block);
    metrics::counter!("cachet_blocks_imported_total").increment(blocks);
    metrics::counter!("cachet_transactions_imported_total").increment(txs);
}

/// One block sealed (signed and journalled) in `elapsed`.
pub fn sealed(elapsed: Duration) {
    metrics::histogram!("cachet_seal_seconds").record(elapsed.as_secs_f64());
}

/// The lease checked the master key: `state` is 0 healthy, 1 degraded, 2 revoked.
pub fn lease_checked(state: u8) {
    metrics::gauge!("cachet_kms_lease_state").set(f64::from(state));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!("cachet_kms_last_check_timestamp_seconds").set(now);
}

/// One JSON-RPC call.
pub fn rpc_call(method: &str, ok: bool, elapsed: Duration) {
    let outcome = if ok { "ok" } else { "error" };
    metrics::counter!("cachet_rpc_requests_total", "method" => method.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("cachet_rpc_request_seconds", "method" => method.to_owned())
        .record(elapsed.as_secs_f64());
}
