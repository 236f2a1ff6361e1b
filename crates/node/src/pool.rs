//! The node's transaction pool: `cachet-txpool`'s [`Pool`] validated against the chain's head
//! (its fork rules, gas limit and state, as geth), kept in step with the head (included transactions leave,
//! those of blocks a reorg dropped come back), and the [`TxSource`] block producers take
//! transactions from.

use std::sync::Arc;

use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256, U256};
use cachet_execution::{Candidate, Executor};
use cachet_txpool::{AccountState, HeadContext, Pool, PoolConfig, PoolError};
use tokio::sync::watch;

use crate::chain::{Chain, HeadInfo};
use crate::consensus::TxSource;
use crate::error::{Error, Result};

/// The pool of one node's chain.
#[derive(Debug)]
pub struct TxPool {
    pool: Pool,
    chain: Arc<Chain>,
}

/// The head's state as the pool reads it.
struct HeadState<'a> {
    chain: &'a Chain,
    at: B256,
}

impl AccountState for HeadState<'_> {
    fn account(&self, address: &Address) -> std::result::Result<(u64, U256), String> {
        self.chain
            .account(self.at, address)
            .map(|a| a.map_or((0, U256::ZERO), |a| (a.nonce, a.balance)))
            .map_err(|e| cachet_primitives::error::Chain(&e).to_string())
    }
}

impl TxPool {
    /// A pool for `chain` with `config`.
    ///
    /// # Errors
    /// [`Error::Config`] when the chain's genesis cannot be executed (it could not have opened).
    pub fn new(chain: Arc<Chain>, config: PoolConfig) -> Result<Self> {
        let executor = Executor::new(chain.genesis())
            .map_err(|e| Error::Config(format!("transaction pool: {e}")))?;
        Ok(Self {
            pool: Pool::new(config, executor),
            chain,
        })
    }

    /// The pool itself (status, content, lookups, subscriptions).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// What a transaction is checked against: the head's fork rules and gas limit, as geth
    /// (decision 101), and the base fee of the head's child.
    fn context(&self, head: &HeadInfo) -> HeadContext {
        let next = crate::block::now_secs().max(head.header.timestamp.saturating_add(1));
        HeadContext {
            number: head.header.number,
            timestamp: head.header.timestamp,
            gas_limit: head.header.gas_limit,
            base_fee: self
                .chain
                .base_fee_after(&head.header, next)
                .map(|f| u64::try_from(f).unwrap_or(u64::MAX)),
        }
    }

    /// Adds one transaction in its EIP-2718 encoding (`eth_sendRawTransaction`); returns its
    /// hash.
    ///
    /// # Errors
    /// [`PoolError`] with geth's message for the rule it breaks.
    pub fn add_raw(&self, raw: &[u8]) -> std::result::Result<B256, PoolError> {
        let head = self.chain.head();
        let state = HeadState {
            chain: &self.chain,
            at: head.hash,
        };
        self.pool.add_raw(raw, &self.context(&head), &state)
    }

    /// Adds one decoded transaction (the wallet's `eth_sendTransaction`, gossip).
    ///
    /// # Errors
    /// As [`Self::add_raw`].
    pub fn add(&self, tx: TxEnvelope) -> std::result::Result<B256, PoolError> {
        let head = self.chain.head();
        let state = HeadState {
            chain: &self.chain,
            at: head.hash,
        };
        self.pool.add(tx, &self.context(&head), &state)
    }

    /// The nonce the next transaction of `sender` takes: after its pending transactions, else
    /// its state nonce at the head (`eth_getTransactionCount` with `pending`).
    ///
    /// # Errors
    /// State errors.
    pub fn next_nonce(&self, sender: &Address) -> Result<u64> {
        if let Some(n) = self.pool.pending_nonce(sender) {
            return Ok(n);
        }
        let head = self.chain.head();
        Ok(self
            .chain
            .account(head.hash, sender)?
            .map_or(0, |a| a.nonce))
    }

    /// Follows the head until the chain's head channel closes: each new head takes its
    /// transactions (and those of every block between it and the previous head) out of the
    /// pool and puts back those of the blocks a reorg took off the canonical chain.
    pub async fn follow(self: Arc<Self>) {
        let mut heads = self.chain.subscribe();
        let mut last = heads.borrow_and_update().hash;
        while heads.changed().await.is_ok() {
            let head = heads.borrow_and_update().clone();
            if let Err(e) = self.head_moved(last, &head) {
                tracing::warn!(target: "cachet::txpool", error = &e as &dyn std::error::Error, "could not follow the new head; the pool may hold included transactions until the next one");
            }
            last = head.hash;
        }
    }

    fn head_moved(&self, from: B256, to: &HeadInfo) -> Result<()> {
        let (back, forward) = self.chain.reorg_route(from, to.hash)?;
        let txs_of = |blocks: &[B256]| -> Result<Vec<TxEnvelope>> {
            let mut out = Vec::new();
            for hash in blocks {
                if let Some(body) = self.chain.store().body_by_hash(hash)? {
                    let body =
                        cachet_execution::decode_body(&body).map_err(|e| Error::Corrupt {
                            path: self.chain.store().path().to_owned(),
                            what: format!("stored body of {hash} does not decode: {e}"),
                        })?;
                    out.extend(body.transactions);
                }
            }
            Ok(out)
        };
        let included = txs_of(&forward)?;
        let mut reorged_out = txs_of(&back)?;
        let included_hashes: std::collections::HashSet<B256> =
            included.iter().map(|t| *t.tx_hash()).collect();
        reorged_out.retain(|t| !included_hashes.contains(t.tx_hash()));
        let state = HeadState {
            chain: &self.chain,
            at: to.hash,
        };
        self.pool
            .on_new_head(&self.context(to), &included, reorged_out, &state);
        Ok(())
    }
}

impl TxSource for TxPool {
    fn best(&self, base_fee: Option<u64>) -> Vec<Candidate> {
        self.pool.best(base_fee)
    }

    fn has_pending(&self) -> bool {
        self.pool.has_pending()
    }

    fn subscribe_ready(&self) -> watch::Receiver<u64> {
        self.pool.subscribe_ready()
    }
}
