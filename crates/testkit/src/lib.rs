//! Test helpers shared by Cachet's crates (dev-dependency only).
//!
//! Tests that need an external peer (moto, py-evm, EthereumJS, geth's devp2p tool) are marked
//! `#[ignore = "needs …: run scripts/test"]` so that a bare `cargo test` stays green, and
//! `scripts/test` runs them with `--include-ignored` after installing every peer. Such a test
//! never skips itself: if the peer is missing it fails, naming the install step.
#![forbid(unsafe_code)]

mod kms_proxy;
mod moto;
mod softhsm;
mod tools;

pub use kms_proxy::KmsProxy;
pub use moto::{
    ADMIN_BOOTSTRAP_ACTIONS, AwsUser, MOTO_ACCOUNT, MOTO_REGION, MotoServer, RevocationSetup,
    moto_server,
};
pub use softhsm::{SO_PIN, SoftHsm, USER_PIN, softhsm_module};
pub use tools::{go_tool, node_peers_dir, python, run_node_script, run_python, workspace_root};
