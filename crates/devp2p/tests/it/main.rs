//! Integration tests of `cachet-devp2p` discovery: in-process services and real peers.

mod discv4_service;
mod discv5_peers;
mod ethereumjs;
mod geth;
mod support;
