//! CLI tests: run the built `cachet` and check exit codes and messages for each error class.

mod aws;
mod cli_docs;
mod dapp;
mod doppelganger;
mod engines;
mod ethereumjs;
mod genesis;
mod hive;
mod import_crash;
mod keys;
mod node;
mod p2p;
mod pool_rpc;
mod rpc_access;
mod startup;
mod txchain;
mod ws;
