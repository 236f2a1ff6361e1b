//! Integration tests: the service on loopback, against itself and against real peers.

mod fuzz_corpus;
mod network;
mod peers;
