//! [`Discv4Config`]: what the discv4 service listens on and announces.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::enr::ForkId;
use crate::node::NodeRecord;
use crate::v4::rate_limit::RateLimit;

/// Settings of the discv4 service.
#[derive(Clone, Debug)]
pub struct Discv4Config {
    /// UDP address to bind (e.g. `0.0.0.0:30303`).
    pub listen: SocketAddr,
    /// The IP announced in Ping and the ENR; defaults to the listen IP.
    pub external_ip: Option<IpAddr>,
    /// Our `RLPx` (TCP) port, announced in Ping and the ENR (0: none).
    pub tcp_port: u16,
    /// Nodes to bond with at start and to seed lookups.
    pub bootnodes: Vec<NodeRecord>,
    /// The `eth` fork id for our ENR (from the genesis crate).
    pub fork_id: Option<ForkId>,
    /// Our ENR sequence number.
    pub enr_seq: u64,
    /// Per-source-IP packet limit.
    pub rate_limit: RateLimit,
    /// How long to wait for a reply.
    pub request_timeout: Duration,
    /// How long an endpoint proof (bond) stays valid.
    pub bond_expiration: Duration,
    /// How often a random-target lookup refreshes the table (zero: never).
    pub refresh_interval: Duration,
    /// How often the least recently seen node is pinged again.
    pub revalidate_interval: Duration,
}

impl Discv4Config {
    /// Defaults for a node listening on `listen` with `RLPx` on `tcp_port`.
    pub fn new(listen: SocketAddr, tcp_port: u16) -> Self {
        Self {
            listen,
            external_ip: None,
            tcp_port,
            bootnodes: Vec::new(),
            fork_id: None,
            enr_seq: 1,
            rate_limit: RateLimit::default(),
            // geth's respTimeout.
            request_timeout: Duration::from_millis(500),
            // geth's bondExpiration.
            bond_expiration: Duration::from_secs(24 * 60 * 60),
            refresh_interval: Duration::from_secs(30),
            revalidate_interval: Duration::from_secs(10),
        }
    }
}
