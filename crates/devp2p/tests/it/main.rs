//! Integration tests: the service on loopback, against itself and against real peers.

mod network;
mod peers;
