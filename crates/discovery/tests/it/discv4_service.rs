//! Two Cachet discv4 services talking over loopback: bonding, findnode, ENR, lookups, limits.

use std::time::Duration;

use cachet_discovery::v4::{Message, Ping, decode_packet, encode_packet};
use cachet_discovery::{Discv4Event, Endpoint, NodeId};
use tokio::net::UdpSocket;

use crate::support::{node_key, spawn_local};

#[tokio::test]
async fn accepts_ping_and_bonds_both_ways() {
    let (a, mut a_events) = spawn_local(1).await;
    let (b, _) = spawn_local(2).await;
    let pong = a.ping(b.local_record()).await.unwrap();
    assert_eq!(pong.to.udp, a.local_record().endpoint.udp);
    assert_eq!(pong.enr_seq, Some(1));
    let added = tokio::time::timeout(Duration::from_secs(2), a_events.recv())
        .await
        .unwrap();
    assert_eq!(added, Some(Discv4Event::NodeAdded(b.local_record())));
    // B pinged A back (A held no bond with B), so A is in B's table too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_table = b.table().await.unwrap();
    assert_eq!(
        b_table.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![a.local_record().id]
    );
}

#[tokio::test]
async fn accepts_findnode_and_lookup_through_a_third_node() {
    let (a, _) = spawn_local(11).await;
    let (b, _) = spawn_local(12).await;
    let (c, _) = spawn_local(13).await;
    // B knows C; A knows only B.
    b.ping(c.local_record()).await.unwrap();
    let found = a
        .find_node(b.local_record(), c.local_record().id)
        .await
        .unwrap();
    assert!(found.contains(&c.local_record()), "{found:?}");
    let looked_up = a.lookup(c.local_record().id).await.unwrap();
    assert_eq!(looked_up.first(), Some(&c.local_record()));
}

#[tokio::test]
async fn accepts_enr_request_with_fork_id() {
    let mut config = crate::support::config("127.0.0.1:0");
    config.fork_id = Some(cachet_discovery::ForkId {
        hash: cachet_primitives::ForkHash([1, 2, 3, 4]),
        next: 5,
    });
    let (a, _) = crate::support::spawn(21, config).await;
    let (b, _) = spawn_local(22).await;
    let enr = b.request_enr(a.local_record()).await.unwrap();
    assert_eq!(enr.udp4(), Some(a.local_record().endpoint.udp));
    assert_eq!(enr.tcp4(), Some(30303));
    assert_eq!(
        hex::encode(enr.get_raw_rlp("eth").unwrap()),
        "c7c6840102030405"
    );
    assert_eq!(alloy_rlp::encode(&enr), a.local_enr().as_rlp());
}

/// A raw UDP peer that signs with its own key: checks what the service refuses.
struct RawPeer {
    socket: UdpSocket,
    key: cachet_primitives::testing::TestNodeKey,
}

impl RawPeer {
    async fn new(seed: u8) -> Self {
        Self {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            key: node_key(seed),
        }
    }

    async fn send(&self, message: &Message, to: std::net::SocketAddr) -> [u8; 32] {
        let (packet, hash) = encode_packet(&self.key, message).unwrap();
        self.socket.send_to(&packet, to).await.unwrap();
        hash
    }

    async fn recv(&self, wait: Duration) -> Option<Message> {
        let mut buf = [0u8; 1280];
        let (len, _) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(decode_packet(&buf[..len]).unwrap().message)
    }

    fn ping(&self, to: std::net::SocketAddr, expiration: u64) -> Message {
        let from = self.socket.local_addr().unwrap();
        Message::Ping(Ping {
            version: 4,
            from: Endpoint {
                ip: from.ip(),
                udp: from.port(),
                tcp: 0,
            },
            to: Endpoint {
                ip: to.ip(),
                udp: to.port(),
                tcp: 0,
            },
            expiration,
            enr_seq: None,
        })
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn rejects_expired_ping_and_unbonded_findnode() {
    let (a, _) = spawn_local(31).await;
    let to = a.local_record().endpoint.udp_addr();
    let peer = RawPeer::new(32).await;
    peer.send(&peer.ping(to, now() - 1), to).await;
    assert_eq!(
        peer.recv(Duration::from_millis(300)).await,
        None,
        "expired ping answered"
    );

    let find = Message::FindNode(cachet_discovery::v4::FindNode {
        target: [0; 64],
        expiration: now() + 20,
    });
    peer.send(&find, to).await;
    assert_eq!(
        peer.recv(Duration::from_millis(300)).await,
        None,
        "findnode without bond answered"
    );

    // A fresh ping is answered with a pong carrying its hash, then A pings back.
    let hash = peer.send(&peer.ping(to, now() + 20), to).await;
    match peer.recv(Duration::from_secs(1)).await {
        Some(Message::Pong(p)) => assert_eq!(p.ping_hash, hash),
        other => panic!("expected pong, got {other:?}"),
    }
    assert!(matches!(
        peer.recv(Duration::from_secs(1)).await,
        Some(Message::Ping(_))
    ));
    // Not answering A's ping leaves the peer unbonded: findnode still ignored.
    peer.send(&find, to).await;
    assert_eq!(peer.recv(Duration::from_millis(300)).await, None);
    let _ = NodeId([0; 64]);
}

#[tokio::test]
async fn rejects_packets_past_the_rate_limit() {
    let mut config = crate::support::config("127.0.0.1:0");
    config.rate_limit = cachet_discovery::v4::RateLimit {
        rate: 0.001,
        burst: 3.0,
    };
    let (a, _) = crate::support::spawn(41, config).await;
    let to = a.local_record().endpoint.udp_addr();
    let peer = RawPeer::new(42).await;
    let mut pongs = 0;
    for _ in 0..6 {
        peer.send(&peer.ping(to, now() + 20), to).await;
    }
    while let Some(m) = peer.recv(Duration::from_millis(400)).await {
        if matches!(m, Message::Pong(_)) {
            pongs += 1;
        }
    }
    assert_eq!(pongs, 3);
}

#[tokio::test]
async fn accepts_bootnodes_and_fills_the_table_by_lookup() {
    let (a, _) = spawn_local(81).await;
    let (b, _) = spawn_local(82).await;
    a.ping(b.local_record()).await.unwrap();
    let mut config = crate::support::config("127.0.0.1:0");
    config.bootnodes = vec![a.local_record()];
    let (c, _) = crate::support::spawn(83, config).await;
    let mut table = Vec::new();
    for _ in 0..40 {
        table = c.table().await.unwrap();
        if table.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(table.contains(&a.local_record()), "{table:?}");
    assert!(
        table.contains(&b.local_record()),
        "B not found through the bootnode: {table:?}"
    );
}
