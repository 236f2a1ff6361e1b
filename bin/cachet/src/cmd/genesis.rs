//! `cachet genesis`: what Cachet reads from a genesis file and the hashes it computes.

use std::path::PathBuf;

use cachet_genesis::{Engine, ForkCondition, Genesis, RaftMarker};
use clap::Args;
use serde_json::{Value, json};

use crate::exit::Failure;

/// `cachet genesis` arguments.
#[derive(Debug, Args)]
pub(crate) struct GenesisArgs {
    /// The geth-format genesis.json.
    #[arg(long, value_name = "FILE")]
    pub(crate) genesis: PathBuf,
    /// The network runs Quorum Raft (GoQuorum genesis files have no consensus section for it).
    #[arg(long)]
    pub(crate) raft: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Prints chain id, engine, state root, genesis hash, fork list and the fork id at genesis.
pub(crate) fn run(args: GenesisArgs) -> Result<(), Failure> {
    let marker = RaftMarker::from_flag(args.raft);
    let genesis = Genesis::from_file(&args.genesis, marker)?;
    let header = genesis.header();
    let schedule = genesis.fork_schedule();
    let fork_id = schedule.fork_id(genesis.number, genesis.timestamp);
    let forks: Vec<Value> = genesis
        .config
        .forks
        .iter()
        .map(|(fork, at)| match at {
            ForkCondition::Block(b) => json!({"fork": fork.json_key(), "block": b}),
            ForkCondition::Timestamp(t) => json!({"fork": fork.json_key(), "timestamp": t}),
        })
        .collect();
    let out = json!({
        "chain_id": genesis.config.chain_id,
        "engine": engine_json(&genesis),
        "state_root": header.state_root.to_string(),
        "genesis_hash": header.hash_slow().to_string(),
        "base_fee_per_gas": header.base_fee_per_gas.map(|f| f.to_string()),
        "accounts": genesis.alloc.len(),
        "forks": forks,
        "fork_id": {"hash": fork_id.hash.to_string(), "next": fork_id.next},
        "fork_id_blocks": schedule.fork_blocks(),
        "fork_id_times": schedule.fork_times(),
    });
    if args.json {
        super::emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(());
    }
    super::emit(&format!("chain id:      {}", genesis.config.chain_id));
    super::emit(&format!("engine:        {}", out["engine"]));
    super::emit(&format!("accounts:      {}", genesis.alloc.len()));
    super::emit(&format!("state root:    {}", header.state_root));
    super::emit(&format!("genesis hash:  {}", header.hash_slow()));
    super::emit(&format!("fork id:       {fork_id}"));
    Ok(())
}

/// The engine and its parameters (IBFT 2.0 is printed as `ibft` with flavour `besu-ibft2`, as
/// the genesis section's family).
fn engine_json(genesis: &Genesis) -> Value {
    let engine = genesis.engine();
    if let Some(c) = genesis.clique() {
        return json!({"name": "clique", "period": c.period, "epoch": c.epoch});
    }
    let Some(b) = genesis.bft() else {
        return json!({"name": engine.name()});
    };
    if engine == Engine::Qbft {
        return json!({
            "name": "qbft",
            "epoch": b.epoch,
            "policy": b.policy,
            "block_period": b.block_period,
            "request_timeout": b.request_timeout,
            "validator_contract": b.validator_contract.map(|a| a.to_string()),
        });
    }
    json!({
        "name": "ibft",
        "flavour": if engine == Engine::Ibft2 { "besu-ibft2" } else { "quorum-istanbul" },
        "epoch": b.epoch,
        "policy": b.policy,
        "block_period": b.block_period,
        "request_timeout": b.request_timeout,
        "ceil2nby3_block": b.ceil2nby3_block,
        "qbft_block": b.qbft_block,
    })
}
