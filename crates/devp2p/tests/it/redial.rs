//! The per-peer redial backoff, counted on a paused tokio clock: a bootnode that refuses us is
//! dialled no more often than the schedule allows, however fast it refuses.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy_primitives::B256;
use cachet_devp2p::net::{Enode, NetworkEvent, NodeId};
use cachet_devp2p::p2p::DisconnectReason;
use cachet_primitives::testing::TestNodeKey;
use tokio::net::TcpListener;

use crate::network::start;

/// The window the dials are counted over (virtual time).
const WINDOW: Duration = Duration::from_secs(600);

/// The most dials the default schedule allows in [`WINDOW`]: the waits after each failure are
/// at least 1, 2, 4, 8, 16, 32, 64, then 120 s (the cap), so dial k starts no earlier than
/// 0, 1, 3, 7, 15, 31, 63, 127, 247, 367, 487, 607 s: 11 dials start within 600 s.
const MOST_DIALS: usize = 11;

/// Sanity floor: a refusing bootnode is still redialled (even with every wait a quarter
/// longer, dial 6 starts before 40 s).
const FEWEST_DIALS: usize = 6;

/// A bootnode that completes Hello and Status and then disconnects us at once was redialled
/// 0.5 s after every drop (a tight loop); now each redial waits twice as long as the last.
#[tokio::test(start_paused = true)]
async fn backs_off_a_bootnode_that_drops_every_session() {
    let g = B256::repeat_byte(0x31);
    let (refuser, mut rrx, _kr) = start(g, |_| {}).await;
    let sessions = Arc::new(AtomicUsize::new(0));
    let counted = sessions.clone();
    let handle = refuser.clone();
    let driver = tokio::spawn(async move {
        while let Some(event) = rrx.recv().await {
            if let NetworkEvent::PeerConnected(p) = event {
                counted.fetch_add(1, Ordering::SeqCst);
                handle.disconnect(&p.id, DisconnectReason::UselessPeer);
            }
        }
    });
    let bootnode = refuser.local_enode();
    let (dialler, mut drx, _kd) = start(g, |c| c.bootnodes = vec![bootnode]).await;
    let drain = tokio::spawn(async move { while drx.recv().await.is_some() {} });
    tokio::time::sleep(WINDOW).await;
    let n = sessions.load(Ordering::SeqCst);
    dialler.shutdown();
    refuser.shutdown();
    driver.abort();
    drain.abort();
    assert!(
        (FEWEST_DIALS..=MOST_DIALS).contains(&n),
        "{n} sessions in {WINDOW:?}; the schedule allows {FEWEST_DIALS} to {MOST_DIALS}"
    );
}

/// A bootnode that accepts TCP and closes it at once (no RLPx) is redialled on the same
/// schedule, not at every 10 s tick.
#[tokio::test(start_paused = true)]
async fn backs_off_a_bootnode_that_closes_every_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let closer = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let bootnode = Enode {
        id: NodeId(TestNodeKey::generate().enode_id()),
        addr,
        discport: None,
        raftport: None,
    };
    let (dialler, mut drx, _kd) =
        start(B256::repeat_byte(0x32), |c| c.bootnodes = vec![bootnode]).await;
    let drain = tokio::spawn(async move { while drx.recv().await.is_some() {} });
    tokio::time::sleep(WINDOW).await;
    let n = accepted.load(Ordering::SeqCst);
    dialler.shutdown();
    closer.abort();
    drain.abort();
    assert!(
        (FEWEST_DIALS..=MOST_DIALS).contains(&n),
        "{n} connections in {WINDOW:?}; the schedule allows {FEWEST_DIALS} to {MOST_DIALS}"
    );
}
