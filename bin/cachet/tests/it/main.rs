//! CLI tests: run the built `cachet` and check exit codes and messages for each error class.

mod aws;
mod cli_docs;
mod dapp;
mod doppelganger;
mod engines;
mod eth_versions;
mod ethereumjs;
mod exec;
mod genesis;
mod hive;
mod import_crash;
mod keys;
mod node;
mod p2p;
mod pkcs11;
mod pool_rpc;
mod pre_london;
mod qbft_faults;
mod raft_faults;
mod rpc_access;
mod startup;
mod txchain;
mod ws;
