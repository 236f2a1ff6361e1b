//! [`MemoryHub`]: an in-process consensus network for tests and benchmarks. Every frame an
//! endpoint broadcasts goes to every other joined endpoint's inbound channel (unless a filter
//! drops it), exactly as the devp2p `istanbul/100` adapter delivers frames to the driver.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cachet_devp2p::net::PeerId;
use tokio::sync::mpsc;

use crate::consensus_net::{ConsensusFrame, ConsensusNet, InboundFrame};

/// Frames queued per endpoint before further ones are dropped (a slow peer misses frames).
pub const HUB_QUEUE: usize = 4096;

/// Decides whether a frame from `from` to `to` is dropped (true = dropped).
pub type Filter = Box<dyn FnMut(&PeerId, &PeerId, &ConsensusFrame) -> bool + Send>;

#[derive(Default)]
struct Inner {
    peers: Vec<(PeerId, mpsc::Sender<InboundFrame>)>,
    log: Vec<(PeerId, ConsensusFrame)>,
    delivered: u64,
    filter: Option<Filter>,
}

/// An in-memory network of consensus endpoints, with a log of every frame broadcast.
#[derive(Default)]
pub struct MemoryHub {
    inner: Mutex<Inner>,
}

impl fmt::Debug for MemoryHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryHub")
            .field("endpoints", &inner.peers.len())
            .field("broadcasts", &inner.log.len())
            .finish_non_exhaustive()
    }
}

impl MemoryHub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Joins the hub as `id` (replacing an earlier endpoint of that id): the network to give
    /// a driver and its inbound frames.
    pub fn join(
        self: &Arc<Self>,
        id: PeerId,
    ) -> (Arc<dyn ConsensusNet>, mpsc::Receiver<InboundFrame>) {
        let (tx, rx) = mpsc::channel(HUB_QUEUE);
        let mut inner = self.lock();
        inner.peers.retain(|(p, _)| *p != id);
        inner.peers.push((id, tx));
        drop(inner);
        let endpoint = Endpoint {
            hub: self.clone(),
            id,
        };
        (Arc::new(endpoint), rx)
    }

    /// Drops frames for which `filter` returns true, from now on.
    pub fn set_filter(&self, filter: Filter) {
        self.lock().filter = Some(filter);
    }

    /// Every frame broadcast so far, with its sender, in order.
    pub fn log(&self) -> Vec<(PeerId, ConsensusFrame)> {
        self.lock().log.clone()
    }

    /// Frames broadcast so far.
    pub fn broadcasts(&self) -> usize {
        self.lock().log.len()
    }

    /// Frames delivered to an endpoint so far (each broadcast reaches every other endpoint).
    pub fn delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// Delivers `frame` to `to` as if `from` had sent it (bad peers in tests).
    pub fn inject(&self, from: PeerId, to: &PeerId, frame: ConsensusFrame) {
        let inner = self.lock();
        if let Some((_, tx)) = inner.peers.iter().find(|(p, _)| p == to) {
            let _ = tx.try_send(InboundFrame { peer: from, frame });
        }
    }

    fn deliver(&self, from: PeerId, frame: ConsensusFrame) {
        let mut inner = self.lock();
        inner.log.push((from, frame.clone()));
        let Inner {
            peers,
            filter,
            delivered,
            ..
        } = &mut *inner;
        peers.retain(|(_, tx)| !tx.is_closed());
        for (to, tx) in peers.iter() {
            if *to == from || filter.as_mut().is_some_and(|f| f(&from, to, &frame)) {
                continue;
            }
            if tx
                .try_send(InboundFrame {
                    peer: from,
                    frame: frame.clone(),
                })
                .is_ok()
            {
                *delivered += 1;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One endpoint of a [`MemoryHub`].
struct Endpoint {
    hub: Arc<MemoryHub>,
    id: PeerId,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

impl ConsensusNet for Endpoint {
    fn broadcast(&self, frame: ConsensusFrame) {
        self.hub.deliver(self.id, frame);
    }
}
