//! The node's side of GoQuorum's consensus sub-protocol `istanbul/100` (`docs/dev/bft-wire.md`
//! §1): [`IstanbulNet`], the [`ConsensusNet`] a BFT driver sends through, and [`route`], which
//! takes the devp2p events apart: consensus frames to the driver's [`InboundFrame`] channel,
//! everything else on to sync.
//!
//! Offered on IBFT and QBFT chains only ([`offers_istanbul`]); Besu IBFT 2.0 speaks its own
//! `IBF/1`, which Cachet does not.
//!
//! Attaching a driver: make `(tx, rx) = mpsc::channel(INBOUND_QUEUE)`, pass `Some(tx)` to
//! [`route`] and give the driver `rx` and an [`IstanbulNet`] on the same [`Network`]. Without a
//! driver (`None`), frames are counted in `cachet_istanbul_frames_dropped_total` and dropped.
//!
//! Metrics: `cachet_istanbul_frames_received_total` (`code`), `_dropped_total` (`reason`:
//! `no_driver`, `queue_full`), `_sent_total` (frames queued to peers).

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};

use alloy_primitives::Address;
use cachet_devp2p::net::{Network, NetworkEvent, PeerId};
use cachet_genesis::Engine;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::consensus_net::{ConsensusFrame, ConsensusNet, InboundFrame};

/// Capacity of the channel to sync behind [`route`] (the devp2p event queue's size).
pub const EVENT_QUEUE: usize = 1024;
/// A suitable capacity for the driver's inbound channel: a few heights of a 100-validator
/// network's messages; beyond it frames are dropped (round changes recover).
pub const INBOUND_QUEUE: usize = 1024;

/// Whether a chain's engine runs `istanbul/100` beside eth: GoQuorum IBFT (with its QBFT
/// transition) and QBFT.
pub fn offers_istanbul(engine: Engine) -> bool {
    matches!(engine, Engine::Ibft | Engine::Qbft)
}

/// The address of a peer's node key (keccak of the 64-byte id, last 20 bytes): what GoQuorum
/// compares with the validator set when it picks whom to send consensus messages to.
pub fn peer_address(peer: &PeerId) -> Address {
    Address::from_slice(peer.kad_id().get(12..).unwrap_or_default())
}

/// [`ConsensusNet`] over the devp2p service: frames go to the peers that negotiated
/// `istanbul/100`, optionally only to validators ([`IstanbulNet::set_validators`]). Never waits:
/// a peer whose queue is full misses the frame.
#[derive(Debug)]
pub struct IstanbulNet {
    net: Arc<Network>,
    validators: RwLock<Option<HashSet<Address>>>,
}

impl IstanbulNet {
    /// Sends to every peer that negotiated `istanbul/100` until [`Self::set_validators`].
    pub fn new(net: Arc<Network>) -> Self {
        Self {
            net,
            validators: RwLock::new(None),
        }
    }

    /// Restricts [`ConsensusNet::broadcast`] to peers whose node-key address is in
    /// `validators` (`None`: every peer). GoQuorum sends consensus messages to validators
    /// only, and a GoQuorum node that does not run its engine drops the connection of a peer
    /// that sends it one while it is not syncing (bft-wire §1, Q `eth/handler.go`
    /// `handleConsensusLoop`): a driver should set the current validator set.
    pub fn set_validators(&self, validators: Option<&[Address]>) {
        let set = validators.map(|v| v.iter().copied().collect());
        *self
            .validators
            .write()
            .unwrap_or_else(PoisonError::into_inner) = set;
    }

    /// Queues a frame for one peer; false when it is not connected, did not negotiate
    /// `istanbul/100`, its queue is full or the frame is invalid (code ≥ 22, payload > 10 MiB).
    pub fn send(&self, peer: &PeerId, frame: ConsensusFrame) -> bool {
        let sent = self.net.send_consensus(peer, frame.code, frame.payload);
        if sent {
            metrics::counter!("cachet_istanbul_frames_sent_total").increment(1);
        }
        sent
    }
}

impl ConsensusNet for IstanbulNet {
    fn target_validators(&self, validators: &[Address]) {
        Self::set_validators(self, Some(validators));
    }

    fn broadcast(&self, frame: ConsensusFrame) {
        let validators = self
            .validators
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let sent = match validators.as_ref() {
            None => self.net.broadcast_consensus(frame.code, &frame.payload),
            Some(set) => self
                .net
                .consensus_peers()
                .iter()
                .filter(|p| set.contains(&peer_address(p)))
                .filter(|p| {
                    self.net
                        .send_consensus(p, frame.code, frame.payload.clone())
                })
                .count(),
        };
        tracing::trace!(target: "cachet::istanbul", code = frame.code, peers = sent, "frame broadcast");
        metrics::counter!("cachet_istanbul_frames_sent_total").increment(sent as u64);
    }
}

/// Takes the devp2p `events` apart: [`NetworkEvent::Consensus`] frames go to `driver` without
/// waiting (dropped and counted when the driver's queue is full or there is no driver), every
/// other event to the returned receiver, in order. The task ends when `events` closes or the
/// returned receiver is dropped.
pub fn route(
    mut events: mpsc::Receiver<NetworkEvent>,
    driver: Option<mpsc::Sender<InboundFrame>>,
) -> (mpsc::Receiver<NetworkEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let task = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                NetworkEvent::Consensus {
                    peer,
                    code,
                    payload,
                } => {
                    metrics::counter!("cachet_istanbul_frames_received_total", "code" => format!("{code:#04x}")).increment(1);
                    tracing::debug!(target: "cachet::istanbul", %peer, code, bytes = payload.len(), "frame received");
                    let frame = InboundFrame {
                        peer,
                        frame: ConsensusFrame { code, payload },
                    };
                    let dropped = match &driver {
                        None => Some("no_driver"),
                        Some(d) => match d.try_send(frame) {
                            Ok(()) => None,
                            Err(mpsc::error::TrySendError::Full(_)) => Some("queue_full"),
                            Err(mpsc::error::TrySendError::Closed(_)) => Some("no_driver"),
                        },
                    };
                    if let Some(reason) = dropped {
                        metrics::counter!("cachet_istanbul_frames_dropped_total", "reason" => reason).increment(1);
                    }
                }
                other => {
                    if tx.send(other).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    (rx, task)
}

/// [`route`] when the chain runs `istanbul/100` (`istanbul`); otherwise `events` unchanged and
/// no task.
pub fn route_if(
    istanbul: bool,
    events: mpsc::Receiver<NetworkEvent>,
    driver: Option<mpsc::Sender<InboundFrame>>,
) -> (mpsc::Receiver<NetworkEvent>, Option<JoinHandle<()>>) {
    if istanbul {
        let (rx, task) = route(events, driver);
        (rx, Some(task))
    } else {
        (events, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_address_is_the_node_key_address() {
        // GoQuorum's 4-validator devnet key 1 (testdata/bft/qbft-goquorum-devnet.json): node key
        // 1be3b50b…45fb0 signs as 0xd8Dba507e85F116b1f7e231cA8525fC9008A6966.
        let secret = secp256k1::SecretKey::from_byte_array(&alloy_primitives::hex!(
            "1be3b50b31734be48452c29d714941ba165ef0cbf3ccea8ca16c45e3d8d45fb0"
        ))
        .unwrap();
        let id = PeerId::from_public_key(&secret.public_key(secp256k1::SECP256K1));
        assert_eq!(
            peer_address(&id),
            alloy_primitives::address!("d8Dba507e85F116b1f7e231cA8525fC9008A6966")
        );
    }

    fn disconnected(n: u8) -> NetworkEvent {
        NetworkEvent::PeerDisconnected {
            peer: PeerId([n; 64]),
            reason: cachet_devp2p::p2p::DisconnectReason::Requested,
            cause: String::new(),
        }
    }

    fn consensus(n: u8) -> NetworkEvent {
        NetworkEvent::Consensus {
            peer: PeerId([n; 64]),
            code: 0x13,
            payload: vec![0xc1, n].into(),
        }
    }

    #[tokio::test]
    async fn routes_frames_to_the_driver_and_the_rest_to_sync_in_order() {
        let (events_tx, events) = mpsc::channel(8);
        let (driver_tx, mut driver) = mpsc::channel(1);
        let (mut sync, task) = route(events, Some(driver_tx));
        for ev in [disconnected(1), consensus(2), consensus(3), disconnected(4)] {
            events_tx.send(ev).await.unwrap();
        }
        drop(events_tx);
        assert_eq!(sync.recv().await, Some(disconnected(1)));
        assert_eq!(sync.recv().await, Some(disconnected(4)));
        assert_eq!(sync.recv().await, None);
        task.await.unwrap();
        // The driver's queue holds one frame: the second was dropped, not waited for.
        let got = driver.recv().await.unwrap();
        assert_eq!(got.peer, PeerId([2; 64]));
        assert_eq!(got.frame.code, 0x13);
        assert_eq!(&got.frame.payload[..], &[0xc1, 2]);
        assert!(driver.recv().await.is_none());
    }

    #[tokio::test]
    async fn without_a_driver_frames_are_dropped_and_sync_still_gets_its_events() {
        let (events_tx, events) = mpsc::channel(8);
        let (mut sync, task) = route(events, None);
        events_tx.send(consensus(1)).await.unwrap();
        events_tx.send(disconnected(2)).await.unwrap();
        drop(events_tx);
        assert_eq!(sync.recv().await, Some(disconnected(2)));
        assert_eq!(sync.recv().await, None);
        task.await.unwrap();
    }

    #[test]
    fn offers_istanbul_on_goquorum_ibft_and_qbft_only() {
        assert!(offers_istanbul(Engine::Ibft));
        assert!(offers_istanbul(Engine::Qbft));
        for e in [Engine::Clique, Engine::Ibft2, Engine::Raft, Engine::Ethash] {
            assert!(!offers_istanbul(e), "{e:?}");
        }
    }
}
