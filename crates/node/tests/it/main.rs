//! Integration tests for `cachet-node`.

mod clique;
mod crash;
mod rpc;
mod run;
mod sign_tx;
mod store;
mod syncing;
