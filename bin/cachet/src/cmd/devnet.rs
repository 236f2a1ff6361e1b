//! `cachet devnet`: a local clique network of N nodes (child processes) until Ctrl-C.

use std::path::PathBuf;

use cachet_node::devnet::{self, DevnetConfig};
use clap::{Args, ValueEnum};

use crate::cmd::emit;
use crate::exit::Failure;

/// `--engine`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum EngineArg {
    /// Clique proof of authority.
    Clique,
    /// IBFT (not yet).
    Ibft,
    /// QBFT (not yet).
    Qbft,
    /// Quorum Raft (not yet).
    Raft,
}

/// `cachet devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Consensus engine.
    #[arg(long, value_enum, default_value = "clique")]
    engine: EngineArg,
    /// Directory for keys, genesis and chains (default: a fresh directory under the temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds between blocks.
    #[arg(long, default_value_t = 2)]
    period: u64,
    /// Number of nodes (all signers).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Chain id.
    #[arg(long, default_value_t = 1337)]
    chain_id: u64,
    /// First RLPx port (node i listens on port + i).
    #[arg(long, default_value_t = 30303)]
    port: u16,
    /// First JSON-RPC port (node i listens on http.port + i).
    #[arg(long = "http.port", default_value_t = 8545)]
    http_port: u16,
}

pub(crate) async fn run(args: DevnetArgs, log: Option<String>) -> Result<(), Failure> {
    if !matches!(args.engine, EngineArg::Clique) {
        return Err(Failure::usage(
            "only --engine clique runs in this version (IBFT/QBFT/Raft sealing is not built yet)",
        ));
    }
    if args.nodes == 0 || args.nodes > 32 {
        return Err(Failure::usage("--nodes must be 1..=32"));
    }
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cachet-devnet-{}", std::process::id()))
    });
    let config = DevnetConfig {
        dir: dir.clone(),
        period: args.period,
        nodes: args.nodes,
        chain_id: args.chain_id,
        p2p_port: args.port,
        http_port: args.http_port,
    };
    let nodes = devnet::prepare(&config).await?;
    let exe = std::env::current_exe().map_err(|e| Failure::internal(e.to_string()))?;
    let log = log.unwrap_or_else(|| "info".into());
    emit(&format!(
        "devnet in {} (genesis {}/genesis.json)",
        dir.display(),
        dir.display()
    ));
    let mut children = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut child = devnet::spawn(&exe, &dir, &nodes, i, &log)?;
        devnet::started_line(&mut child).await?;
        emit(&format!(
            "node{i}: enode {} rpc http://127.0.0.1:{} signer {} log {}",
            n.enode,
            n.http_port,
            n.signer,
            n.datadir.join("node.log").display()
        ));
        children.push(child);
    }
    emit("running; Ctrl-C stops all nodes");
    let mut waits: Vec<_> = children.iter_mut().map(|c| Box::pin(c.wait())).collect();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        (r, i, _) = futures_select_all(&mut waits) => {
            eprintln!("node{i} exited ({r:?}); stopping the devnet");
        }
    }
    drop(waits);
    for c in &mut children {
        if let Some(pid) = c.id() {
            // SIGTERM: the node stops gracefully.
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }
    for c in &mut children {
        let _ = c.wait().await;
    }
    Ok(())
}

/// Waits for the first child to exit.
async fn futures_select_all<F, T>(futs: &mut [std::pin::Pin<Box<F>>]) -> (T, usize, ())
where
    F: Future<Output = T>,
{
    std::future::poll_fn(|cx| {
        for (i, f) in futs.iter_mut().enumerate() {
            if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                return std::task::Poll::Ready((v, i, ()));
            }
        }
        std::task::Poll::Pending
    })
    .await
}
