//! `cachet devnet`: a local network of N nodes (child processes) until Ctrl-C.

use std::path::PathBuf;

use alloy_primitives::{Address, U256};

use cachet_node::devnet::{self, DevnetConfig};
use cachet_seal::Engine;
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::cmd::emit;
use crate::cmd::signals::StopSignals;
use crate::exit::Failure;

/// `--engine`'s values: every sealing [`Engine`], with its role in a devnet.
const ENGINES: [(Engine, &str); 5] = [
    (
        Engine::Clique,
        "Clique proof of authority (every node signs)",
    ),
    (
        Engine::Ibft,
        "GoQuorum IBFT (`istanbul`): every node is a validator",
    ),
    (
        Engine::Ibft2,
        "Besu IBFT 2.0: node 0 is the single validator",
    ),
    (Engine::Qbft, "QBFT: every node is a validator"),
    (
        Engine::Raft,
        "Quorum Raft: one node mints alone; with --nodes N a raft cluster whose leader mints while transactions are pending",
    ),
];

/// Parses `--engine` into the one [`Engine`] type, listing [`ENGINES`] in `--help`.
fn engine_parser() -> impl TypedValueParser<Value = Engine> {
    PossibleValuesParser::new(
        ENGINES.map(|(engine, role)| PossibleValue::new(engine.name()).help(role)),
    )
    .try_map(|name| name.parse::<Engine>())
}

/// `cachet devnet`.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Consensus engine.
    #[arg(long, default_value = "clique", value_parser = engine_parser())]
    engine: Engine,
    /// Directory for keys, genesis and chains (default: a fresh directory under the temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Seconds between blocks (raft: the minting interval).
    #[arg(long, default_value_t = 2)]
    period: u64,
    /// Number of nodes (clique: all signers; qbft, ibft: all validators; ibft2: node 0
    /// validates, the others follow; raft: one minter, or a cluster of N members).
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
    /// First JSON-RPC WebSocket port (node i listens on ws.port + i; 0: free ports). Default:
    /// http.port + nodes (8546 for one node), so the two ranges never overlap.
    #[arg(long = "ws.port")]
    ws_port: Option<u16>,
    /// Fund this account in the genesis: `ADDR` (1,000,000 ETH) or `ADDR=WEI`; repeatable.
    /// Every node's wallet account is funded anyway.
    #[arg(long, value_name = "ADDR[=WEI]", value_parser = parse_prefund)]
    prefund: Vec<(Address, U256)>,
    /// A genesis without London (no `londonBlock`): headers carry no base fee and transactions
    /// are legacy or EIP-2930, as on GoQuorum's chains (a chain GoQuorum can join). Raft
    /// devnets never have London.
    #[arg(long)]
    no_london: bool,
}

/// `--prefund ADDR[=WEI]`.
fn parse_prefund(s: &str) -> Result<(Address, U256), String> {
    let (addr, wei) = s.split_once('=').map_or((s, None), |(a, w)| (a, Some(w)));
    let addr: Address = addr
        .parse()
        .map_err(|e| format!("{addr:?} is not an address: {e}"))?;
    let wei = match wei {
        None => devnet::DEVNET_FUNDS,
        Some(w) => w
            .parse::<U256>()
            .map_err(|e| format!("{w:?} is not an amount of wei: {e}"))?,
    };
    Ok((addr, wei))
}

pub(crate) async fn run(args: DevnetArgs, log: Option<String>) -> Result<(), Failure> {
    if args.nodes == 0 || args.nodes > 32 {
        return Err(Failure::usage("--nodes must be 1..=32"));
    }
    // Before any child exists: a SIGTERM from here on stops the children instead of
    // orphaning them.
    let mut signals = StopSignals::install();
    let dir = args.dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cachet-devnet-{}", std::process::id()))
    });
    let config = DevnetConfig {
        engine: args.engine,
        dir: dir.clone(),
        period: args.period,
        nodes: args.nodes,
        chain_id: args.chain_id,
        p2p_port: args.port,
        http_port: args.http_port,
        ws_port: args.ws_port.unwrap_or_else(|| {
            u16::try_from(args.nodes).map_or(0, |n| args.http_port.saturating_add(n))
        }),
        prefund: args.prefund,
        london: !args.no_london,
    };
    let nodes = devnet::prepare(&config).await?;
    let exe = std::env::current_exe().map_err(|e| Failure::internal(e.to_string()))?;
    let log = log.unwrap_or_else(|| super::NODE_DEFAULT_FILTER.into());
    emit(&format!(
        "devnet in {} (genesis {}/genesis.json)",
        dir.display(),
        dir.display()
    ));
    let mut children = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut child = devnet::spawn(&exe, &config, &nodes, i, &log)?;
        let started = tokio::select! {
            line = devnet::started_line(&mut child) => Some(line),
            name = signals.recv() => {
                eprintln!("{name}: stopping the devnet");
                None
            }
        };
        children.push(child);
        let ws = match started {
            // The node's started line names its WebSocket URL (the bound port when --ws.port 0).
            Some(Ok(line)) => serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v["ws"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("ws://127.0.0.1:{}", n.ws_port)),
            Some(Err(e)) => {
                devnet::stop(&mut children).await;
                return Err(e.into());
            }
            None => {
                devnet::stop(&mut children).await;
                return Ok(());
            }
        };
        let role = if n.seals { "signer" } else { "follower" };
        emit(&format!(
            "node{i}: enode {} rpc http://127.0.0.1:{} {role} {} wallet {} log {} ws {ws}",
            n.enode,
            n.http_port,
            n.signer,
            n.wallet,
            n.datadir.join("node.log").display()
        ));
    }
    for (addr, wei) in &config.prefund {
        emit(&format!("prefunded {addr} with {wei} wei"));
    }
    if let Some(n) = nodes.first() {
        emit(&format!(
            "try: curl -s -H 'Content-Type: application/json' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{{\"from\":\"{}\",\"to\":\"0x000000000000000000000000000000000000dEaD\",\"value\":\"0xde0b6b3a7640000\"}}]}}' http://127.0.0.1:{}",
            n.wallet, n.http_port
        ));
    }
    emit("running; Ctrl-C (or SIGTERM) stops all nodes");
    let mut waits: Vec<_> = children.iter_mut().map(|c| Box::pin(c.wait())).collect();
    tokio::select! {
        name = signals.recv() => eprintln!("{name}: stopping the devnet"),
        (r, i, _) = futures_select_all(&mut waits) => {
            eprintln!("node{i} exited ({r:?}); stopping the devnet");
        }
    }
    drop(waits);
    devnet::stop(&mut children).await;
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
