//! Prints a [`Failure`] and exits with its code; the mapping itself lives in
//! `cachet_node::exit` (one place, as style.md asks).

use std::process::ExitCode;

pub(crate) use cachet_node::exit::Failure;

/// Prints the failure on stderr and returns its exit code.
pub(crate) fn report(failure: &Failure) -> ExitCode {
    eprintln!("error: {}", failure.message);
    ExitCode::from(failure.code as u8)
}
