//! One module per command group; each returns `Result<(), Failure>`.

pub(crate) mod master_key;
pub(crate) mod seal;

use tracing_subscriber::EnvFilter;

use crate::cli::Command;
use crate::exit::Failure;

/// Runs one command.
pub(crate) async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::MasterKey(c) => master_key::run(c).await,
        Command::Seal(c) => seal::run(c).await,
    }
}

/// Logs go to stderr so that stdout carries only command output (JSON, enodes).
pub(crate) fn init_tracing(filter: Option<&str>) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn,cachet=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
