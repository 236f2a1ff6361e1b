//! The one block-production loop, for every engine: ask the engine's [`BlockProducer`] for
//! its next [`crate::consensus::Slot`] on the head, wait for it (a new head or a stop re-plans), have the header
//! sealed through the seal journal and import it (which announces it).
//!
//! Crash safety is shared too: every producer records the unsealed header in
//! `<datadir>/sealing.rlp` before the journal records its seal hash, and
//! seals the recorded header again after a crash between the journal write and the chain
//! commit, instead of stalling on the journal's refusal of a second block at that height.

use std::sync::Arc;

use cachet_seal::Header;
use tokio::sync::watch;

use crate::block::EMPTY_BODY_RLP;
use crate::chain::Chain;
use crate::consensus::BlockProducer;
use crate::error::Result;

/// Runs `producer` on `chain` until `allowed` turns false or is dropped.
pub async fn run(
    mut producer: Box<dyn BlockProducer>,
    chain: Arc<Chain>,
    mut allowed: watch::Receiver<bool>,
) {
    let mut heads = chain.subscribe();
    let engine = chain.engine();
    producer.announce();
    loop {
        if !*allowed.borrow() {
            break;
        }
        let head = heads.borrow_and_update().clone();
        let Some(slot) = producer.next_slot(&head) else {
            tokio::select! {
                r = heads.changed() => if r.is_err() { break },
                r = allowed.changed() => if r.is_err() { break },
            }
            continue;
        };
        tokio::select! {
            () = tokio::time::sleep(slot.delay) => {}
            r = heads.changed() => { if r.is_err() { break } continue; }
            r = allowed.changed() => { if r.is_err() { break } continue; }
        }
        if !*allowed.borrow() {
            break;
        }
        if let Err(e) = produce(producer.as_mut(), &chain, &slot.header) {
            tracing::warn!(target: "cachet::sealer", %engine, number = slot.header.number, error = &e as &dyn std::error::Error, "sealing failed; retrying");
            tokio::select! {
                () = tokio::time::sleep(producer.retry_after()) => {}
                r = heads.changed() => if r.is_err() { break },
            }
        }
    }
    tracing::info!(target: "cachet::sealer", %engine, "block producer stopped");
}

/// Seals `header` with `producer` and imports it into `chain`; returns the sealed header.
///
/// # Errors
/// As [`BlockProducer::seal`] and [`Chain::import`].
pub(crate) fn produce<P: BlockProducer + ?Sized>(
    producer: &mut P,
    chain: &Chain,
    header: &Header,
) -> Result<Header> {
    let sealed = producer.seal(header)?;
    let imported = chain.import(&sealed.encode(), &EMPTY_BODY_RLP)?;
    tracing::info!(
        target: "cachet::sealer",
        engine = %chain.engine(),
        number = sealed.number,
        hash = %chain.rules().hash(&sealed).unwrap_or_default(),
        difficulty = %sealed.difficulty,
        ?imported,
        "sealed block"
    );
    Ok(sealed)
}
