//! Integration tests: RLPx/eth service and discovery on loopback, against themselves and real peers.

mod fuzz_corpus;
mod network;
mod peers;
mod discv4_service;
mod discv5_peers;
mod ethereumjs;
mod geth;
mod support;
