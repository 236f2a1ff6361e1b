//! Integration tests for `cachet-genesis`.

mod ethereumjs;
mod forkid;
mod hashes;
mod parse;
mod pyevm;

use std::path::PathBuf;

use cachet_genesis::{Genesis, RaftMarker};

/// `testdata/genesis/<name>`.
pub(crate) fn genesis_path(name: &str) -> PathBuf {
    cachet_testkit::workspace_root()
        .join("testdata/genesis")
        .join(name)
}

/// Parses `testdata/genesis/<name>`.
pub(crate) fn load(name: &str, raft: RaftMarker) -> Genesis {
    Genesis::from_file(&genesis_path(name), raft).unwrap_or_else(|e| panic!("{name}: {e}"))
}
