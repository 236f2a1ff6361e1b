//! `raft/1` between two Cachet services on loopback: negotiated only when both offer it, one
//! raft message per frame both ways after Status, tagged with the RLPx-proven sender.

use alloy_primitives::{B256, Bytes};
use cachet_devp2p::net::NetworkEvent;
use cachet_devp2p::raft;

use crate::network::{Side, connected_pair, next};

/// a and b, each offering `raft/1` or not; a dialled b.
async fn pair(a_offers: bool, b_offers: bool) -> (Side, Side) {
    connected_pair(
        B256::repeat_byte(0x22),
        |c| c.raft = a_offers,
        |c| c.raft = b_offers,
    )
    .await
}

#[tokio::test]
async fn negotiates_raft1_and_carries_messages_from_the_proven_sender() {
    let ((a, mut arx, pa, _), (b, mut brx, pb, _)) = pair(true, true).await;
    // Each side's peer info names the other: pa.id is b, pb.id is a.
    let (ida, idb) = (pb.id, pa.id);
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
    let ((a, _arx, pa, _), (b, _brx, pb, _)) = pair(true, false).await;
    // b's peer is a (the old binding here named b's own id, which b can never send to).
    let ida = pb.id;
    assert!(!pa.raft && !pb.raft);
    assert!(a.raft_peers().is_empty());
    assert!(!a.send_raft(&pa.id, Bytes::from_static(&[0x08, 0x08])));
    assert!(!b.send_raft(&ida, Bytes::from_static(&[0x08, 0x08])));
}
