//! One module per command group; each returns `Result<(), Failure>`.

pub(crate) mod devnet;
pub(crate) mod exec;
pub(crate) mod genesis;
pub(crate) mod import;
pub(crate) mod keys;
pub(crate) mod master_key;
pub(crate) mod node;
pub(crate) mod p2p;
pub(crate) mod seal;
pub(crate) mod signals;
pub(crate) mod signing_key;
pub(crate) mod watch;

use tracing_subscriber::EnvFilter;

use crate::cli::Command;
use crate::exit::Failure;

/// Runs one command; `Ok` is the exit code (0, or the client's for `exec`).
pub(crate) async fn run(command: Command, log: Option<String>) -> Result<u8, Failure> {
    if command.handles_keys() {
        // Once, before any master-key call: no core dumps, not dumpable (the node reports
        // the outcome in its startup line and `admin_nodeInfo`).
        cachet_keyprovider::harden_process();
    }
    let done = match command {
        Command::Exec(args) => return exec::run(args).await,
        Command::ExecChild(_) => {
            return Err(Failure::internal(
                "exec-child runs before the runtime (this is a bug in cachet)",
            ));
        }
        Command::MasterKey(c) => master_key::run(c).await,
        Command::SigningKey(c) => signing_key::run(c),
        Command::Init(args) => keys::init(args).await,
        Command::Inspect(args) => keys::inspect(args),
        Command::Unlock(args) => keys::unlock(args).await,
        Command::Rotate(args) => keys::rotate(args).await,
        Command::Destroy(args) => keys::destroy(args),
        Command::Audit(c) => keys::audit(c),
        Command::Genesis(args) => genesis::run(args),
        Command::Seal(c) => seal::run(c).await,
        Command::P2p(args) => p2p::run(args).await,
        Command::Node(args) => node::run(*args).await,
        Command::Import(args) => import::run(args),
        Command::Devnet(args) => devnet::run(args, log).await,
    };
    done.map(|()| 0)
}

/// Parses a comma-separated flag's items (`--bootnodes`), skipping empty ones; a bad item is a
/// usage error naming it.
pub(crate) fn parse_items<T>(items: &[String]) -> Result<Vec<T>, Failure>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    items
        .iter()
        .filter(|item| !item.is_empty())
        .map(|item| {
            item.parse()
                .map_err(|e: T::Err| Failure::usage(e.to_string()))
        })
        .collect()
}

/// Writes one line of command output to stdout. A closed stdout (`| head`) is not an error
/// worth a panic: the command's work is done either way.
pub(crate) fn emit(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The default filter of the commands that run a node: progress a person wants to see (peers,
/// imported segments, sealed blocks, lease checks), not the libraries' debug chatter.
pub(crate) const NODE_DEFAULT_FILTER: &str = "info,jsonrpsee=warn,hyper=warn,discv5=warn,aws=warn";

/// Logs go to stderr so that stdout carries only command output (JSON, enodes). `--log` (or
/// `RUST_LOG`) picks what is logged; otherwise a node logs at info and other commands only
/// warnings.
pub(crate) fn init_tracing(filter: Option<&str>, format: crate::cli::LogFormat, node: bool) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(if node { NODE_DEFAULT_FILTER } else { "warn" }));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().try_init(),
        crate::cli::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}
