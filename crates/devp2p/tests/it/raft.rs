//! `raft/1` between two Cachet services on loopback: negotiated only when both offer it, one
//! raft message per frame both ways after Status, tagged with the RLPx-proven sender.

use alloy_primitives::{B256, Bytes};
use cachet_devp2p::net::{Network, NetworkEvent, PeerId, PeerInfo};
use cachet_devp2p::raft;
use tokio::sync::mpsc::Receiver;

use crate::network::{next, start};

type Side = (Network, Receiver<NetworkEvent>, PeerInfo, PeerId);

async fn pair(a_offers: bool, b_offers: bool) -> (Side, Side) {
    let g = B256::repeat_byte(0x22);
    let (a, mut arx, akey) = start(g, |c| c.raft = a_offers).await;
    let (b, mut brx, bkey) = start(g, |c| c.raft = b_offers).await;
    a.dial(b.local_enode());
    let (NetworkEvent::PeerConnected(pa), NetworkEvent::PeerConnected(pb)) =
        (next(&mut arx).await, next(&mut brx).await)
    else {
        panic!("expected connections");
    };
    let (ida, idb) = (PeerId(akey.enode_id()), PeerId(bkey.enode_id()));
    ((a, arx, pa, ida), (b, brx, pb, idb))
}

#[tokio::test]
async fn negotiates_raft1_and_carries_messages_from_the_proven_sender() {
    let ((a, mut arx, pa, ida), (b, mut brx, pb, idb)) = pair(true, true).await;
    assert!(pa.raft && pb.raft);
    assert!(!pa.istanbul);
    let caps: Vec<String> = pa
        .hello
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["eth/66", "eth/67", "eth/68", "raft/1"]);
    assert_eq!(a.raft_peers(), [idb]);
    // A raft heartbeat in cachet_raft::wire's encoding (msg_type 8, to 2, from 1, term 3).
    let heartbeat = Bytes::from_static(&[0x08, 0x08, 0x18, 0x02, 0x20, 0x01, 0x28, 0x03]);
    assert!(a.send_raft(&idb, heartbeat.clone()));
    assert_eq!(
        next(&mut brx).await,
        NetworkEvent::Raft {
            peer: ida,
            payload: heartbeat.clone(),
        }
    );
    assert!(b.send_raft(&ida, heartbeat.clone()));
    assert_eq!(
        next(&mut arx).await,
        NetworkEvent::Raft {
            peer: idb,
            payload: heartbeat,
        }
    );
    // A payload the receiver would refuse is never sent.
    assert!(!a.send_raft(&idb, Bytes::from(vec![0u8; raft::MAX_PAYLOAD + 1])));
    assert_eq!(a.peers().len(), 1);
    assert_eq!(b.peers().len(), 1);
}

#[tokio::test]
async fn shares_only_eth_with_a_peer_that_does_not_offer_raft() {
    let ((a, _arx, pa, _), (b, _brx, pb, ida)) = pair(true, false).await;
    assert!(!pa.raft && !pb.raft);
    assert!(a.raft_peers().is_empty());
    assert!(!a.send_raft(&pa.id, Bytes::from_static(&[0x08, 0x08])));
    assert!(!b.send_raft(&ida, Bytes::from_static(&[0x08, 0x08])));
}
