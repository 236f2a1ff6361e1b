//! Integration tests: the RLPx/eth service on loopback, against itself and real peers.

mod fuzz_corpus;
mod network;
mod peers;
