//! Integration tests: discv4 and discv5 on loopback, against themselves and real peers.

mod discv4_service;
mod discv5_peers;
mod ethereumjs;
mod geth;
mod support;
