//! Integration tests for `cachet-node`.

mod access;
mod bft_net;
mod blockchain_tests;
mod build;
mod clique;
mod crash;
mod doppelganger;
mod engines;
mod ibft;
mod import;
mod istanbul;
mod produce;
mod qbft;
mod revocation;
mod rpc;
mod rpc_state;
mod run;
mod sign_tx;
mod store;
mod syncing;
mod ws;
