//! The eth side of the node (eth/66–68: the requests here are the same in all three): serves
//! headers and bodies, downloads blocks from peers whose head is ahead (headers, then bodies,
//! verified block by block through [`Chain::import`]), imports announced blocks, drops peers
//! that send invalid blocks, and announces every new head (`NewBlock` and `NewBlockHashes`).
//! Transaction messages go to [`Gossip`].

use std::collections::HashMap;
use std::sync::Arc;

use alloy_primitives::{B256, Bytes};
use cachet_devp2p::eth::{BlockId, EthMessage};
use cachet_devp2p::net::{ChainHead, Network, NetworkEvent, PeerId};
use cachet_devp2p::p2p::DisconnectReason;
use tokio::sync::{mpsc, watch};

use crate::block;
use crate::chain::{Chain, HeadInfo, Imported, SegmentReport, decode_header};
use crate::doppelganger::Watch;
use crate::error::Error;
use crate::gossip::Gossip;
use crate::sync_status::SyncStatus;

/// Headers requested per round trip.
const BATCH: u64 = 128;
/// Most headers served per request (geth's `maxHeadersServe`).
const MAX_SERVE: u64 = 1024;

/// Per-peer download state.
#[derive(Default)]
struct Download {
    /// Headers waiting for their bodies.
    headers: Vec<Bytes>,
    /// The request id asking for the peer's head header (its number is the highest block).
    head_probe: Option<u64>,
}

/// Runs the network side until `events` closes or `stop` fires; `status` tracks downloads for
/// `eth_syncing`; every header a peer sends is shown to the doppelganger `check` when given.
pub async fn run(
    chain: Arc<Chain>,
    net: Arc<Network>,
    mut events: mpsc::Receiver<NetworkEvent>,
    mut stop: watch::Receiver<bool>,
    status: SyncStatus,
    gossip: Option<Arc<Gossip>>,
    check: Option<Watch>,
) {
    let mut heads = chain.subscribe();
    let mut downloads: HashMap<PeerId, Download> = HashMap::new();
    let mut next_id: u64 = 1;
    loop {
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { break };
                if let Some(g) = &gossip {
                    match &ev {
                        NetworkEvent::Message { peer, message } if g.on_message(*peer, message) => continue,
                        NetworkEvent::PeerDisconnected { peer, .. } => g.forget(peer),
                        NetworkEvent::PeerConnected(info) => g.welcome(info),
                        _ => {}
                    }
                }
                if let (Some(w), NetworkEvent::Message { peer, message }) = (&check, &ev) {
                    inspect(w, peer, message);
                }
                handle(&chain, &net, ev, &mut downloads, &mut next_id, &status).await;
                let head = chain.head().header.number;
                if downloads.is_empty() {
                    status.finish(head);
                } else {
                    status.begin(head);
                }
            }
            r = heads.changed() => {
                if r.is_err() { break }
                let head = heads.borrow_and_update().clone();
                announce(&chain, &net, &head);
            }
            r = stop.changed() => { if r.is_err() || *stop.borrow() { break } }
        }
    }
}

/// Shows the doppelganger check every header in `message` (downloaded headers, announced
/// blocks), before and whether or not they import: a block our key signed is evidence even
/// when the chain refuses it.
fn inspect(check: &Watch, peer: &PeerId, message: &EthMessage) {
    match message {
        EthMessage::BlockHeaders { headers, .. } => {
            for h in headers {
                check.inspect(peer, h);
            }
        }
        EthMessage::NewBlock { block, .. } => {
            if let Ok((header, _)) = block::split_block(block) {
                check.inspect(peer, &header);
            }
        }
        _ => {}
    }
}

/// geth's "Imported new chain segment" line for one downloaded batch.
fn log_segment(chain: &Chain, peer: &PeerId, done: &SegmentReport, elapsed: std::time::Duration) {
    let head = chain.head();
    let mgas = done.gas as f64 / 1e6;
    tracing::info!(
        target: "cachet::sync",
        %peer,
        blocks = done.imported,
        txs = done.transactions,
        mgas = format_args!("{mgas:.3}"),
        elapsed = format_args!("{:.3}s", elapsed.as_secs_f64()),
        mgasps = format_args!("{:.3}", mgas / elapsed.as_secs_f64().max(1e-9)),
        number = head.header.number,
        hash = %head.hash,
        "imported new chain segment"
    );
}

fn announce(chain: &Chain, net: &Network, head: &HeadInfo) {
    net.update_head(ChainHead {
        number: head.header.number,
        hash: head.hash,
        total_difficulty: head.total_difficulty,
        timestamp: head.header.timestamp,
    });
    let Ok(Some(header_rlp)) = chain.header_rlp_by_hash(&head.hash) else {
        return;
    };
    let body = chain
        .store()
        .body_by_hash(&head.hash)
        .ok()
        .flatten()
        .unwrap_or_else(|| block::EMPTY_BODY_RLP.to_vec());
    let Ok(block_rlp) = block::block_rlp(&header_rlp, &body) else {
        return;
    };
    let sent = net.broadcast(&EthMessage::NewBlock {
        block: Bytes::from(block_rlp),
        total_difficulty: head.total_difficulty,
    });
    net.broadcast(&EthMessage::NewBlockHashes(vec![(
        head.hash,
        head.header.number,
    )]));
    tracing::debug!(target: "cachet::sync", number = head.header.number, peers = sent, "announced block");
}

async fn request_headers(net: &Network, peer: &PeerId, from: u64, next_id: &mut u64) {
    *next_id += 1;
    let _ = net
        .send(
            peer,
            EthMessage::GetBlockHeaders {
                request_id: *next_id,
                start: BlockId::Number(from),
                limit: BATCH,
                skip: 0,
                reverse: false,
            },
        )
        .await;
}

fn drop_peer(net: &Network, peer: &PeerId, err: &Error) {
    tracing::warn!(target: "cachet::sync", %peer, error = err as &dyn std::error::Error, "dropping peer: it sent an invalid block");
    net.disconnect(peer, DisconnectReason::UselessPeer);
}

async fn handle(
    chain: &Chain,
    net: &Network,
    ev: NetworkEvent,
    downloads: &mut HashMap<PeerId, Download>,
    next_id: &mut u64,
    status: &SyncStatus,
) {
    match ev {
        NetworkEvent::PeerConnected(info) => {
            tracing::info!(target: "cachet::sync", peer = %info.id, client = %info.hello.client_id, td = %info.status.total_difficulty, eth = info.status.version, istanbul = info.istanbul, "peer connected");
            let head = chain.head();
            if info.status.total_difficulty > head.total_difficulty {
                // First the peer's head header (for eth_syncing's highestBlock), then the blocks.
                *next_id += 1;
                let probe = *next_id;
                let _ = net
                    .send(
                        &info.id,
                        EthMessage::GetBlockHeaders {
                            request_id: probe,
                            start: BlockId::Hash(info.status.head),
                            limit: 1,
                            skip: 0,
                            reverse: false,
                        },
                    )
                    .await;
                downloads.insert(
                    info.id,
                    Download {
                        head_probe: Some(probe),
                        ..Download::default()
                    },
                );
                request_headers(net, &info.id, sync_start(chain), next_id).await;
            }
        }
        NetworkEvent::PeerDisconnected {
            peer,
            reason,
            cause,
        } => {
            tracing::info!(target: "cachet::sync", %peer, %reason, %cause, "peer disconnected");
            downloads.remove(&peer);
        }
        NetworkEvent::Message { peer, message } => {
            on_message(chain, net, peer, message, downloads, next_id, status).await;
        }
        _ => {}
    }
}

/// Where a download starts: a little below the head so a peer on a sibling branch links up.
fn sync_start(chain: &Chain) -> u64 {
    chain.head().header.number.saturating_sub(8).max(1)
}

async fn on_message(
    chain: &Chain,
    net: &Network,
    peer: PeerId,
    message: EthMessage,
    downloads: &mut HashMap<PeerId, Download>,
    next_id: &mut u64,
    status: &SyncStatus,
) {
    match message {
        EthMessage::GetBlockHeaders {
            request_id,
            start,
            limit,
            skip,
            reverse,
        } => {
            let headers = serve_headers(chain, start, limit, skip, reverse);
            let _ = net
                .send(
                    &peer,
                    EthMessage::BlockHeaders {
                        request_id,
                        headers,
                    },
                )
                .await;
        }
        EthMessage::GetBlockBodies { request_id, hashes } => {
            let bodies = hashes
                .iter()
                .take(MAX_SERVE as usize)
                .map_while(|h| chain.store().body_by_hash(h).ok().flatten())
                .map(Bytes::from)
                .collect();
            let _ = net
                .send(&peer, EthMessage::BlockBodies { request_id, bodies })
                .await;
        }
        EthMessage::BlockHeaders {
            request_id,
            headers,
        } => {
            if let Some(dl) = downloads.get_mut(&peer)
                && dl.head_probe == Some(request_id)
            {
                dl.head_probe = None;
                if let Some(h) = headers.first().and_then(|h| decode_header(h).ok()) {
                    status.saw_block(h.number);
                }
                return;
            }
            if let Some(h) = headers.last().and_then(|h| decode_header(h).ok()) {
                status.saw_block(h.number);
            }
            if headers.is_empty() {
                downloads.remove(&peer);
                return;
            }
            let hashes: Vec<B256> = headers.iter().map(|h| chain.hash_rlp(h)).collect();
            downloads.entry(peer).or_default().headers = headers;
            *next_id += 1;
            let _ = net
                .send(
                    &peer,
                    EthMessage::GetBlockBodies {
                        request_id: *next_id,
                        hashes,
                    },
                )
                .await;
        }
        EthMessage::BlockBodies { bodies, .. } => {
            let Some(dl) = downloads.get_mut(&peer) else {
                return;
            };
            let headers = std::mem::take(&mut dl.headers);
            let full = headers.len() as u64 == BATCH;
            // One durable flush per round (a segment), not per block.
            let mut done = SegmentReport::default();
            let started = std::time::Instant::now();
            let blocks = headers.iter().zip(bodies.iter());
            let outcome = chain.import_segment(blocks.map(|(h, b)| (&h[..], &b[..])), &mut done);
            if done.imported > 0 {
                log_segment(chain, &peer, &done, started.elapsed());
                crate::metrics::imported(
                    "network",
                    started.elapsed(),
                    done.imported,
                    done.transactions,
                );
            }
            if let Err(e) = outcome {
                drop_peer(net, &peer, &e);
                downloads.remove(&peer);
                return;
            }
            if full && done.imported + done.known > 0 {
                let from = chain.head().header.number.saturating_add(1);
                request_headers(net, &peer, from, next_id).await;
            } else {
                downloads.remove(&peer);
                tracing::info!(target: "cachet::sync", %peer, head = chain.head().header.number, "sync round done");
            }
        }
        EthMessage::NewBlock { block, .. } => {
            let (header, body) = match block::split_block(&block) {
                Ok(parts) => parts,
                Err(e) => return drop_peer(net, &peer, &e),
            };
            match chain.import(&header, &body) {
                Ok(Imported::Head | Imported::Side | Imported::Known) => {}
                Err(Error::UnknownParent { number, .. }) => {
                    status.saw_block(number);
                    downloads.insert(peer, Download::default());
                    request_headers(net, &peer, sync_start(chain), next_id).await;
                }
                Err(e) => drop_peer(net, &peer, &e),
            }
        }
        EthMessage::NewBlockHashes(list) => {
            let head = chain.head().header.number;
            if let Some(n) = list.iter().map(|(_, n)| *n).max().filter(|n| *n > head) {
                status.saw_block(n);
            }
            if list.iter().any(|(_, n)| *n > head) && !downloads.contains_key(&peer) {
                downloads.insert(peer, Download::default());
                request_headers(net, &peer, sync_start(chain), next_id).await;
            }
        }
        _ => {}
    }
}

/// Headers for a `GetBlockHeaders` request, from the canonical chain.
fn serve_headers(
    chain: &Chain,
    start: BlockId,
    limit: u64,
    skip: u64,
    reverse: bool,
) -> Vec<Bytes> {
    let first = match start {
        BlockId::Number(n) => Some(n),
        BlockId::Hash(h) => chain
            .store()
            .block_info(&h)
            .ok()
            .flatten()
            .filter(|i| chain.store().canonical_hash(i.number).ok().flatten() == Some(h))
            .map(|i| i.number),
    };
    let Some(mut n) = first else {
        return Vec::new();
    };
    let step = skip.saturating_add(1);
    let mut out = Vec::new();
    for _ in 0..limit.min(MAX_SERVE) {
        match chain.header_rlp_by_number(n) {
            Ok(Some(h)) => out.push(Bytes::from(h)),
            _ => break,
        }
        n = if reverse {
            match n.checked_sub(step) {
                Some(v) => v,
                None => break,
            }
        } else {
            n.saturating_add(step)
        };
    }
    out
}
