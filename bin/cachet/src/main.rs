//! `cachet`: parses the command line, runs the command, maps the outcome to an exit code.
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod exit;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    if let cli::Command::ExecChild(args) = &cli.command {
        // The trampoline of `cachet exec`: nothing else runs before it becomes the client.
        return cmd::exec::become_client(args);
    }
    cmd::init_tracing(
        cli.log.as_deref(),
        cli.log_format,
        cli.command.runs_a_node(),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            return exit::report(&exit::Failure::internal(format!(
                "starting the runtime: {e}"
            )));
        }
    };
    match runtime.block_on(cmd::run(cli.command, cli.log)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(failure) => exit::report(&failure),
    }
}
