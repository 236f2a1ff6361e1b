//! Shared helpers: node keys and services on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use cachet_discovery::{Discv4, Discv4Config, Discv4Event, Discv4Handle};
use cachet_primitives::testing::TestNodeKey;
use tokio::sync::mpsc;

pub(crate) fn node_key(seed: u8) -> TestNodeKey {
    TestNodeKey::from_secret([seed; 32])
}

pub(crate) fn config(listen: &str) -> Discv4Config {
    let listen: SocketAddr = listen.parse().unwrap();
    let mut config = Discv4Config::new(listen, 30303);
    config.refresh_interval = Duration::ZERO;
    config
}

pub(crate) async fn spawn(
    seed: u8,
    config: Discv4Config,
) -> (Discv4Handle, mpsc::Receiver<Discv4Event>) {
    Discv4::spawn(node_key(seed), config).await.unwrap()
}

pub(crate) async fn spawn_local(seed: u8) -> (Discv4Handle, mpsc::Receiver<Discv4Event>) {
    spawn(seed, config("127.0.0.1:0")).await
}
