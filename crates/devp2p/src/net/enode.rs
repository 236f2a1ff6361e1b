//! Enode URLs and node ids are `cachet_primitives`' ([`Enode`], [`NodeId`]: one type and one
//! parser for `--bootnodes`, `admin_addPeer`, raft members and discovery); this module adds
//! what the listener advertises.

use std::net::{IpAddr, SocketAddr};

pub use cachet_primitives::{Enode, NodeId};

/// The address to advertise for a listener bound to `addr` (unspecified → loopback).
pub(crate) fn advertised(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip: IpAddr = if addr.is_ipv4() {
            [127, 0, 0, 1].into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}
