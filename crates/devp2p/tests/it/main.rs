//! Integration tests: RLPx/eth service and discovery on loopback, against themselves and real peers.

mod discv4_service;
mod discv5_peers;
mod ethereumjs;
mod fuzz_corpus;
mod geth;
mod network;
mod peers;
mod support;
