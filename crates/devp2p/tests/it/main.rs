//! Integration tests: the RLPx/eth service on loopback, against itself and real peers.

mod fuzz_corpus;
mod istanbul;
mod network;
mod peers;
mod raft;
mod redial;
