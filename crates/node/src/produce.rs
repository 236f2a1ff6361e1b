//! The one block-production loop, for every engine: ask the engine's [`BlockProducer`] for
//! its next [`crate::consensus::Slot`] on the head, wait for it (a new head or a stop
//! re-plans), build the block from the [`TxSource`]'s candidates ([`Chain::build_child`]:
//! executed on the head's state, the roots filled in), have it sealed through the seal journal
//! and import it (which re-executes it, checks every root and announces it).
//!
//! The gas limit moves toward `--miner.gaslimit` by at most parent/1024 − 1 per block (geth's
//! `core.CalcGasLimit`); without a target each block keeps its parent's. An engine that
//! produces blocks only with transactions (Quorum Raft, [`BlockProducer::needs_transactions`])
//! waits for [`TxSource::subscribe_ready`] and drops a slot whose block would be empty.
//!
//! Crash safety is shared too: every producer records the unsealed block in
//! `<datadir>/sealing.rlp` before the journal records its seal hash, and
//! seals the recorded block again after a crash between the journal write and the chain
//! commit, instead of stalling on the journal's refusal of a second block at that height.

use std::sync::Arc;

use cachet_seal::Header;
use tokio::sync::watch;

use crate::block;
use crate::chain::Chain;
use crate::consensus::{BlockProducer, TxSource};
use crate::doppelganger::{Guard, SuspectBlock, next_suspect};
use crate::error::Result;

/// What the producers put in their blocks.
#[derive(Debug, Clone, Default)]
pub struct BuildConfig {
    /// Where transactions come from (the pool); `None`: empty blocks, and no raft blocks.
    pub source: Option<Arc<dyn TxSource>>,
    /// `--miner.gaslimit`: the gas limit blocks move toward (geth's `core.CalcGasLimit`);
    /// `None` keeps the parent's.
    pub gas_limit: Option<u64>,
}

/// A block built and ready to seal.
struct Unsealed {
    header: Header,
    body: Vec<u8>,
    transactions: usize,
}

/// Runs `producer` on `chain` until `allowed` turns false or is dropped, filling blocks as
/// `build` says. With a doppelganger `guard` it seals nothing during the guard's window, and
/// stops for good when a peer sends a block signed by our key that the producer's journal did
/// not record (the guard tells the node).
pub async fn run(
    mut producer: Box<dyn BlockProducer>,
    chain: Arc<Chain>,
    mut allowed: watch::Receiver<bool>,
    build: BuildConfig,
    mut guard: Option<Guard>,
) {
    let mut heads = chain.subscribe();
    let mut ready = build.source.as_ref().map(|s| s.subscribe_ready());
    let engine = chain.engine();
    producer.announce();
    if !listen(producer.as_mut(), &mut guard, &mut allowed).await {
        tracing::info!(target: "cachet::sealer", %engine, "block producer stopped");
        return;
    }
    'produce: loop {
        if !*allowed.borrow() {
            break;
        }
        // Seen: a transaction arriving from here on wakes a wait below.
        if let Some(r) = ready.as_mut() {
            r.borrow_and_update();
        }
        let head = heads.borrow_and_update().clone();
        let waiting = producer.needs_transactions()
            && !build.source.as_ref().is_some_and(|s| s.has_pending());
        let slot = if waiting {
            None
        } else {
            producer.next_slot(&head)
        };
        let Some(slot) = slot else {
            tokio::select! {
                r = heads.changed() => if r.is_err() { break },
                r = allowed.changed() => if r.is_err() { break },
                () = ready_changed(&mut ready) => {}
                s = next_suspect(&mut guard) => if judged(producer.as_ref(), guard.as_ref(), &s) { break },
            }
            continue;
        };
        // Our own blocks echoed back by peers keep the wait (the slot is not re-planned).
        let due = tokio::time::sleep(slot.delay);
        tokio::pin!(due);
        let replan = loop {
            tokio::select! {
                () = &mut due => break false,
                r = heads.changed() => { if r.is_err() { break 'produce } break true; }
                r = allowed.changed() => { if r.is_err() { break 'produce } break true; }
                s = next_suspect(&mut guard) => if judged(producer.as_ref(), guard.as_ref(), &s) { break 'produce },
            }
        };
        if replan {
            continue;
        }
        if !*allowed.borrow() {
            break;
        }
        let result =
            build_block(producer.as_ref(), &chain, &slot.header, &build).and_then(|built| {
                if built.transactions == 0 && producer.needs_transactions() {
                    // Nothing pending could be included (nonce gaps, underpriced): wait
                    // for another transaction or head rather than minting an empty block.
                    return Ok(false);
                }
                seal_and_import(producer.as_mut(), &chain, &built).map(|_| true)
            });
        match result {
            Ok(true) => {}
            Ok(false) => {
                tokio::select! {
                    r = heads.changed() => if r.is_err() { break },
                    r = allowed.changed() => if r.is_err() { break },
                    () = ready_changed(&mut ready) => {}
                    s = next_suspect(&mut guard) => if judged(producer.as_ref(), guard.as_ref(), &s) { break },
                }
            }
            Err(e) => {
                tracing::warn!(target: "cachet::sealer", %engine, number = slot.header.number, error = &e as &dyn std::error::Error, "sealing failed; retrying");
                let retry = tokio::time::sleep(producer.retry_after());
                tokio::pin!(retry);
                loop {
                    tokio::select! {
                        () = &mut retry => break,
                        r = heads.changed() => { if r.is_err() { break 'produce } break; }
                        s = next_suspect(&mut guard) => if judged(producer.as_ref(), guard.as_ref(), &s) { break 'produce },
                    }
                }
            }
        }
    }
    tracing::info!(target: "cachet::sealer", %engine, "block producer stopped");
}

/// The doppelganger window: seals nothing for the guard's window while judging every block
/// signed by our key that peers send. False when the producer must not start (a doppelganger
/// was found, or sealing was stopped meanwhile).
async fn listen(
    producer: &mut dyn BlockProducer,
    guard: &mut Option<Guard>,
    allowed: &mut watch::Receiver<bool>,
) -> bool {
    let Some(window) = guard.as_ref().map(|g| g.window(producer)) else {
        return true;
    };
    tracing::info!(target: "cachet::doppelganger", address = %producer.address(), seconds = window.as_secs_f64(),
        "doppelganger check: listening for blocks signed by our key before sealing");
    let deadline = tokio::time::sleep(window);
    tokio::pin!(deadline);
    loop {
        if !*allowed.borrow() {
            return false;
        }
        tokio::select! {
            () = &mut deadline => break,
            r = allowed.changed() => if r.is_err() { return false },
            s = next_suspect(guard) => if judged(&*producer, guard.as_ref(), &s) { return false },
        }
    }
    tracing::info!(target: "cachet::doppelganger", address = %producer.address(),
        "doppelganger check: no other node sealed with our key; sealing (the watch goes on)");
    true
}

/// True when `suspect` is a doppelganger's block (the guard has told the node).
fn judged(producer: &dyn BlockProducer, guard: Option<&Guard>, suspect: &SuspectBlock) -> bool {
    guard.is_some_and(|g| g.judge(producer, suspect))
}

/// Waits until a transaction becomes ready; forever without a source (or once it is gone).
pub(crate) async fn ready_changed(ready: &mut Option<watch::Receiver<u64>>) {
    let closed = match ready.as_mut() {
        Some(r) => r.changed().await.is_err(),
        None => true,
    };
    if closed {
        *ready = None;
        std::future::pending::<()>().await;
    }
}

/// Produces the producer's next block on the head now, without waiting for its slot: built
/// from `build`'s source, sealed and imported. `None` when the producer has no slot on the
/// head (not its turn, not the only validator) or, for an engine that needs transactions,
/// when none could be included.
///
/// # Errors
/// As [`Chain::build_child`], [`BlockProducer::seal`] and [`Chain::import`].
pub fn produce_now(
    producer: &mut dyn BlockProducer,
    chain: &Chain,
    build: &BuildConfig,
) -> Result<Option<Header>> {
    let Some(slot) = producer.next_slot(&chain.head()) else {
        return Ok(None);
    };
    let built = build_block(producer, chain, &slot.header, build)?;
    if built.transactions == 0 && producer.needs_transactions() {
        return Ok(None);
    }
    seal_and_import(producer, chain, &built).map(Some)
}

/// Builds, seals and imports the block of the unsealed `header` with `build`'s transactions;
/// returns the sealed header.
///
/// # Errors
/// As [`Chain::build_child`], [`BlockProducer::seal`] and [`Chain::import`].
pub(crate) fn produce<P: BlockProducer + ?Sized>(
    producer: &mut P,
    chain: &Chain,
    header: &Header,
    build: &BuildConfig,
) -> Result<Header> {
    let built = build_block(producer, chain, header, build)?;
    seal_and_import(producer, chain, &built)
}

/// The block of the unsealed `header`: its gas limit moved toward the target, the source's
/// candidates executed on the parent's state, the roots filled in.
fn build_block<P: BlockProducer + ?Sized>(
    producer: &P,
    chain: &Chain,
    header: &Header,
    build: &BuildConfig,
) -> Result<Unsealed> {
    let (header, body, transactions) = build_for(chain, header, producer.author(), build)?;
    Ok(Unsealed {
        header,
        body,
        transactions,
    })
}

/// The block of the unsealed `header` authored by `author` (the fee recipient), as the
/// producers build it (also the QBFT driver's proposals): returns the completed header, the
/// body RLP and how many transactions it holds.
///
/// # Errors
/// As [`Chain::build_child`].
pub(crate) fn build_for(
    chain: &Chain,
    header: &Header,
    author: alloy_primitives::Address,
    build: &BuildConfig,
) -> Result<(Header, Vec<u8>, usize)> {
    let mut header = header.clone();
    if let Some(target) = build.gas_limit {
        header.gas_limit = block::calc_gas_limit(header.gas_limit, target);
    }
    let candidates = match &build.source {
        Some(source) => {
            let base_fee = header
                .base_fee_per_gas
                .map(|fee| u64::try_from(fee).unwrap_or(u64::MAX));
            source.best(base_fee)
        }
        None => Vec::new(),
    };
    let (header, body) = chain.build_child(header, author, &candidates)?;
    let transactions = if candidates.is_empty() || block::body_is_empty(&body) {
        0
    } else {
        cachet_execution::decode_body(&body).map_or(0, |b| b.transactions.len())
    };
    Ok((header, body, transactions))
}

/// Seals `block` with `producer` and imports it into `chain`; returns the sealed header.
fn seal_and_import<P: BlockProducer + ?Sized>(
    producer: &mut P,
    chain: &Chain,
    block: &Unsealed,
) -> Result<Header> {
    let started = std::time::Instant::now();
    let (sealed, body) = producer.seal(&block.header, &block.body)?;
    crate::metrics::sealed(started.elapsed());
    let started = std::time::Instant::now();
    let imported = chain.import(&sealed.encode(), &body)?;
    crate::metrics::imported("sealed", started.elapsed(), 1, block.transactions as u64);
    tracing::info!(
        target: "cachet::sealer",
        engine = %chain.engine(),
        number = sealed.number,
        hash = %chain.rules().hash(&sealed).unwrap_or_default(),
        txs = block.transactions,
        gas_used = sealed.gas_used,
        difficulty = %sealed.difficulty,
        ?imported,
        "sealed block"
    );
    Ok(sealed)
}
