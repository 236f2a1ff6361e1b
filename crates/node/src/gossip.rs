//! Transaction gossip over eth/66–68 (devp2p `caps/eth.md`): transactions a peer sends
//! (`Transactions`, `PooledTransactions`) go into the pool; announced hashes
//! (`NewPooledTransactionHashes`, either form) the pool lacks are fetched
//! (`GetPooledTransactions`); the pool's new transactions go in full to the square root of the
//! peers and as announcements to the rest, as geth does, each announcement in the form of the
//! peer's eth version (types, sizes and hashes on eth/68, hashes alone on eth/66 and eth/67).
//! Each peer's set of known hashes is bounded and a transaction is never sent to a peer that
//! has it (sent it to us, was sent it, or announced it). Sends never wait: a peer whose queue
//! is full misses the message (`Network::try_send`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_consensus::TxEnvelope;
use alloy_eips::eip2718::Encodable2718 as _;
use alloy_primitives::{B256, Bytes};
use cachet_devp2p::eth::{EthMessage, EthVersion, MAX_ITEMS, transaction_items};
use cachet_devp2p::net::{Network, PeerId, PeerInfo};
use tokio::sync::{broadcast, watch};

use crate::pool::TxPool;

/// Hashes remembered per peer (geth's `maxKnownTxs`).
const MAX_KNOWN: usize = 32_768;
/// Hashes asked for in one `GetPooledTransactions` (geth's `maxTxRetrievals`).
const MAX_REQUEST: usize = 256;
/// Bytes of transactions in one response or broadcast (geth's soft response limit).
const SOFT_LIMIT: usize = 2 * 1024 * 1024;

/// A bounded set: the oldest hash leaves when a new one would exceed the cap.
#[derive(Default)]
struct Known {
    set: HashSet<B256>,
    order: VecDeque<B256>,
}

impl Known {
    fn insert(&mut self, hash: B256) -> bool {
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > MAX_KNOWN
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// The gossip state of one node.
pub struct Gossip {
    pool: Arc<TxPool>,
    net: Arc<Network>,
    known: Mutex<HashMap<PeerId, Known>>,
    next_request: Mutex<u64>,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip").finish_non_exhaustive()
    }
}

/// Decodes transactions in their network form (legacy: a list; typed: a string holding the
/// EIP-2718 bytes), at most [`MAX_ITEMS`]; `None` for malformed input.
fn decode_network_txs(items: impl IntoIterator<Item = Bytes>) -> Option<Vec<TxEnvelope>> {
    let mut out = Vec::new();
    for item in items.into_iter().take(MAX_ITEMS) {
        let mut buf = &item[..];
        let tx = <TxEnvelope as alloy_rlp::Decodable>::decode(&mut buf).ok()?;
        if !buf.is_empty() {
            return None;
        }
        out.push(tx);
    }
    Some(out)
}

/// One transaction in its network form.
fn network_form(tx: &TxEnvelope) -> Vec<u8> {
    alloy_rlp::encode(tx)
}

impl Gossip {
    /// Gossip for `pool` on `net`.
    pub fn new(pool: Arc<TxPool>, net: Arc<Network>) -> Self {
        Self {
            pool,
            net,
            known: Mutex::new(HashMap::new()),
            next_request: Mutex::new(0),
        }
    }

    fn known(&self) -> MutexGuard<'_, HashMap<PeerId, Known>> {
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets a peer that left.
    pub fn forget(&self, peer: &PeerId) {
        self.known().remove(peer);
    }

    /// Announces the pool's pending transactions to a peer that just connected, as geth does
    /// on a new peer: a transaction broadcast before the session existed (or over a session
    /// that was replaced, decision 450) would otherwise never reach it.
    pub fn welcome(&self, peer: &PeerInfo) {
        let pending = self.pool.pool().content().pending;
        let mut known = self.known();
        let k = known.entry(peer.id).or_default();
        let fresh: Vec<TxEnvelope> = pending
            .into_values()
            .flat_map(BTreeMap::into_values)
            .filter(|t| k.insert(*t.tx_hash()))
            .collect();
        drop(known);
        for chunk in fresh.chunks(MAX_ITEMS) {
            let refs: Vec<&TxEnvelope> = chunk.iter().collect();
            self.net.try_send(&peer.id, announcement(peer.eth, &refs));
        }
    }

    /// Handles a transaction message from `peer`; other messages are left alone (false).
    pub fn on_message(&self, peer: PeerId, message: &EthMessage) -> bool {
        match message {
            EthMessage::Transactions(list) => {
                let Ok(items) = transaction_items(list) else {
                    self.malformed(&peer, "transactions");
                    return true;
                };
                self.receive(peer, items);
            }
            EthMessage::PooledTransactions { transactions, .. } => {
                self.receive(peer, transactions.clone());
            }
            EthMessage::NewPooledTransactionHashes { hashes, .. }
            | EthMessage::NewPooledTransactionHashes66 { hashes } => {
                let wanted: Vec<B256> = {
                    let mut known = self.known();
                    let k = known.entry(peer).or_default();
                    hashes
                        .iter()
                        .filter(|h| {
                            k.insert(**h);
                            !self.pool.pool().contains(h)
                        })
                        .take(MAX_REQUEST)
                        .copied()
                        .collect()
                };
                if !wanted.is_empty() {
                    let request_id = {
                        let mut n = self
                            .next_request
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        *n += 1;
                        *n
                    };
                    self.net.try_send(
                        &peer,
                        EthMessage::GetPooledTransactions {
                            request_id,
                            hashes: wanted,
                        },
                    );
                }
            }
            EthMessage::GetPooledTransactions { request_id, hashes } => {
                let mut size = 0;
                let mut transactions = Vec::new();
                for hash in hashes {
                    if size >= SOFT_LIMIT {
                        break;
                    }
                    if let Some(tx) = self.pool.pool().get(hash) {
                        let item = network_form(&tx);
                        size += item.len();
                        transactions.push(Bytes::from(item));
                    }
                }
                self.net.try_send(
                    &peer,
                    EthMessage::PooledTransactions {
                        request_id: *request_id,
                        transactions,
                    },
                );
            }
            _ => return false,
        }
        true
    }

    fn malformed(&self, peer: &PeerId, what: &str) {
        tracing::debug!(target: "cachet::txpool", %peer, what, "malformed transactions from peer; ignored");
    }

    fn receive(&self, peer: PeerId, items: Vec<Bytes>) {
        let Some(txs) = decode_network_txs(items) else {
            self.malformed(&peer, "transaction");
            return;
        };
        {
            let mut known = self.known();
            let k = known.entry(peer).or_default();
            for tx in &txs {
                k.insert(*tx.tx_hash());
            }
        }
        for tx in txs {
            // A transaction the pool refuses (known, underpriced, nonce too low) is common in
            // gossip and says nothing bad about the peer.
            if let Err(e) = self.pool.add(tx) {
                tracing::trace!(target: "cachet::txpool", %peer, error = %e, "gossiped transaction not added");
            }
        }
    }

    /// Broadcasts the pool's new transactions until `stop` fires or the pool closes.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut new = self.pool.pool().subscribe_new();
        loop {
            let first = tokio::select! {
                r = new.recv() => r,
                r = stop.changed() => { if r.is_err() || *stop.borrow() { break } continue; }
            };
            let mut batch = match first {
                Ok(h) => vec![h],
                Err(broadcast::error::RecvError::Lagged(_)) => Vec::new(),
                Err(broadcast::error::RecvError::Closed) => break,
            };
            while batch.len() < MAX_ITEMS {
                match new.try_recv() {
                    Ok(h) => batch.push(h),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            self.broadcast(&batch);
        }
    }

    /// Sends `hashes`' transactions in full to √n peers and announces them to the others,
    /// skipping every peer that knows them.
    fn broadcast(&self, hashes: &[B256]) {
        let txs: Vec<TxEnvelope> = hashes
            .iter()
            .filter_map(|h| self.pool.pool().get(h))
            .collect();
        if txs.is_empty() {
            return;
        }
        let peers = self.net.peers();
        let full = (peers.len() as f64).sqrt().ceil() as usize;
        let mut known = self.known();
        for (i, peer) in peers.iter().enumerate() {
            let k = known.entry(peer.id).or_default();
            let fresh: Vec<&TxEnvelope> = txs.iter().filter(|t| k.insert(*t.tx_hash())).collect();
            if fresh.is_empty() {
                continue;
            }
            let message = if i < full {
                let mut size = 0;
                let items: Vec<Vec<u8>> = fresh
                    .iter()
                    .map(|t| network_form(t))
                    .take_while(|item| {
                        size += item.len();
                        size <= SOFT_LIMIT
                    })
                    .collect();
                EthMessage::transactions(&items)
            } else {
                announcement(peer.eth, &fresh)
            };
            self.net.try_send(&peer.id, message);
        }
    }
}

/// The announcement of `txs` in the form `version` needs.
fn announcement(version: EthVersion, txs: &[&TxEnvelope]) -> EthMessage {
    EthMessage::announcement(
        version,
        txs.iter().map(|t| t.tx_type() as u8).collect(),
        txs.iter()
            .map(|t| u32::try_from(t.encode_2718_len()).unwrap_or(u32::MAX))
            .collect(),
        txs.iter().map(|t| *t.tx_hash()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_set_is_bounded_and_forgets_the_oldest() {
        let mut k = Known::default();
        for i in 0..(MAX_KNOWN as u64 + 10) {
            assert!(k.insert(B256::from(alloy_primitives::U256::from(i))));
        }
        assert_eq!(k.set.len(), MAX_KNOWN);
        assert!(
            !k.set
                .contains(&B256::from(alloy_primitives::U256::from(0u64)))
        );
        assert!(!k.insert(B256::from(alloy_primitives::U256::from(MAX_KNOWN as u64))));
    }

    /// eth/66 and eth/67 peers get the hashes alone, eth/68 peers types, sizes and hashes.
    #[test]
    fn announces_in_the_form_of_the_peers_version() {
        use alloy_consensus::{SignableTransaction as _, TxEip1559, TxLegacy};
        use alloy_primitives::{Address, Signature, TxKind, U256};
        let sig = Signature::new(U256::from(1u64), U256::from(2u64), false);
        let legacy = TxEnvelope::Legacy(
            TxLegacy {
                chain_id: Some(1337),
                nonce: 1,
                gas_price: 1,
                gas_limit: 21_000,
                to: TxKind::Call(Address::ZERO),
                ..Default::default()
            }
            .into_signed(sig),
        );
        let typed = TxEnvelope::Eip1559(
            TxEip1559 {
                chain_id: 1337,
                gas_limit: 21_000,
                to: TxKind::Call(Address::ZERO),
                input: Bytes::from_static(&[1, 2, 3]),
                ..Default::default()
            }
            .into_signed(sig),
        );
        let txs = [&legacy, &typed];
        let hashes = vec![*legacy.tx_hash(), *typed.tx_hash()];
        for v in [EthVersion::Eth66, EthVersion::Eth67] {
            assert_eq!(
                announcement(v, &txs),
                EthMessage::NewPooledTransactionHashes66 {
                    hashes: hashes.clone()
                }
            );
        }
        let sizes = vec![
            u32::try_from(legacy.encoded_2718().len()).unwrap(),
            u32::try_from(typed.encoded_2718().len()).unwrap(),
        ];
        assert_eq!(
            announcement(EthVersion::Eth68, &txs),
            EthMessage::NewPooledTransactionHashes {
                types: Bytes::from_static(&[0, 2]),
                sizes,
                hashes,
            }
        );
    }

    #[test]
    fn malformed_transaction_lists_are_refused_without_panic() {
        assert!(transaction_items(&[0x80]).is_err());
        assert!(transaction_items(&[0xc2, 0x01]).is_err());
        assert!(transaction_items(&[0xc1, 0xb9]).is_err());
        assert_eq!(transaction_items(&[0xc0]).unwrap().len(), 0);
        assert!(decode_network_txs([Bytes::from_static(&[0xc0])]).is_none());
    }
}
