//! `cachet import`: RLP block files into a stopped node's chain (hive's `/chain.rlp`,
//! `/blocks/*.rlp`, geth `export` output). No keys are needed: nothing is sealed.

use std::path::PathBuf;

use cachet_genesis::{Genesis, RaftMarker};
use cachet_node::chain::{Chain, Options};
use cachet_node::import::{ImportReport, import_file, open_store};
use clap::Args;

use crate::cmd::emit;
use crate::exit::Failure;

/// `cachet import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The node's data directory (the chain is `chain.redb` there; the node must be stopped).
    #[arg(long)]
    datadir: PathBuf,
    /// geth-format `genesis.json` the chain starts from.
    #[arg(long, value_name = "FILE")]
    genesis: PathBuf,
    /// The genesis is a Quorum Raft network without `"raft": true` (GoQuorum's `--raft`).
    #[arg(long)]
    raft: bool,
    /// Accept ethash blocks without checking their proof of work (test chains only: hive's
    /// `HIVE_SKIP_POW`, ethereum/tests); refused for any other engine.
    #[arg(long)]
    skip_pow: bool,
    /// Files of concatenated block RLPs, imported in the order given.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// Imports every block, verifying each as if a peer had sent it; stops at the first failure
/// (earlier blocks stay imported) and prints one JSON line with the counts and the head.
pub(crate) fn run(args: ImportArgs) -> Result<(), Failure> {
    let marker = RaftMarker::from_flag(args.raft);
    let genesis = Genesis::from_file(&args.genesis, marker)?;
    let store = open_store(&args.datadir)?;
    let options = Options {
        skip_pow: args.skip_pow,
        ..Options::default()
    };
    let chain = Chain::open_opts(store, genesis, options)?;
    let mut report = ImportReport::default();
    let mut outcome = Ok(());
    for file in &args.files {
        if let Err(e) = import_file(&chain, file, &mut report) {
            outcome = Err(Failure::from(e));
            break;
        }
    }
    let head = chain.head();
    emit(
        &serde_json::json!({
            "imported": report.imported,
            "known": report.known,
            "transactions": report.transactions,
            "gas": report.gas,
            "head": head.header.number,
            "hash": head.hash,
        })
        .to_string(),
    );
    outcome
}
