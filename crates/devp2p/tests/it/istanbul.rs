//! `istanbul/100` between two Cachet services on loopback: negotiated only when both offer it,
//! frames both ways after Status, unused codes ignored without a disconnect.

use alloy_primitives::{B256, Bytes};
use cachet_devp2p::istanbul;
use cachet_devp2p::net::NetworkEvent;

use crate::network::{Side, connected_pair, next};

async fn pair(a_offers: bool, b_offers: bool) -> (Side, Side) {
    connected_pair(
        B256::repeat_byte(0x11),
        |c| c.istanbul = a_offers,
        |c| c.istanbul = b_offers,
    )
    .await
}

#[tokio::test]
async fn negotiates_istanbul100_and_carries_frames_both_ways() {
    let ((a, mut arx, pa, _), (b, mut brx, pb, _)) = pair(true, true).await;
    assert!(pa.istanbul && pb.istanbul);
    let caps: Vec<String> = pa
        .hello
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["eth/66", "eth/67", "eth/68", "istanbul/100"]);
    assert_eq!(a.consensus_peers(), [pa.id]);

    // An unused code first: the receiver ignores it and keeps the peer; the frame after it is
    // the first event.
    assert!(a.send_consensus(&pa.id, 0x07, Bytes::from_static(&[0xc0])));
    let prepare = Bytes::from_static(&[0xc4, 0xc3, 0x01, 0x80, 0x80]);
    assert!(a.send_consensus(&pa.id, istanbul::PREPARE, prepare.clone()));
    assert_eq!(
        next(&mut brx).await,
        NetworkEvent::Consensus {
            peer: pb.id,
            code: istanbul::PREPARE,
            payload: prepare,
        }
    );
    // GoQuorum IBFT's 0x11 (an RLP string around the message) goes through untouched too.
    let wrapped = Bytes::from_static(&[0x83, 0xc2, 0x01, 0x02]);
    assert_eq!(b.broadcast_consensus(istanbul::ISTANBUL_MSG, &wrapped), 1);
    assert_eq!(
        next(&mut arx).await,
        NetworkEvent::Consensus {
            peer: pa.id,
            code: istanbul::ISTANBUL_MSG,
            payload: wrapped,
        }
    );
    assert_eq!(a.peers().len(), 1);
    assert_eq!(b.peers().len(), 1);
    // Frames the receiver could not accept are not sent at all.
    assert!(!a.send_consensus(&pa.id, istanbul::MESSAGES, Bytes::new()));
    let huge = Bytes::from(vec![0u8; istanbul::MAX_PAYLOAD + 1]);
    assert!(!a.send_consensus(&pa.id, istanbul::PREPARE, huge.clone()));
    assert_eq!(a.broadcast_consensus(istanbul::PREPARE, &huge), 0);
}

#[tokio::test]
async fn shares_only_eth_with_a_peer_that_does_not_offer_istanbul() {
    let ((a, _arx, pa, _), (b, _brx, pb, _)) = pair(true, false).await;
    assert!(!pa.istanbul && !pb.istanbul);
    let caps: Vec<String> = pb
        .hello
        .capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["eth/66", "eth/67", "eth/68", "istanbul/100"]);
    assert!(a.consensus_peers().is_empty());
    assert!(!a.send_consensus(&pa.id, istanbul::PREPARE, Bytes::from_static(&[0xc0])));
    assert_eq!(
        a.broadcast_consensus(istanbul::PREPARE, &Bytes::from_static(&[0xc0])),
        0
    );
    assert_eq!(
        b.broadcast_consensus(istanbul::PREPARE, &Bytes::from_static(&[0xc0])),
        0
    );
}
