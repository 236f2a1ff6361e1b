//! Integration tests: the service on loopback, against itself and against real peers.

mod fuzz_corpus;
mod genesis_forkid;
mod network;
mod peers;
