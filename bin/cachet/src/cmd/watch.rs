//! `cachet unlock --watch`: hold the keys and act on the master-key lease exactly as the node
//! will. Revoked (or degraded past `--kms-grace`) → zeroize, audit, exit 10.

use std::path::Path;
use std::time::Duration;

use cachet_keyprovider::{Lease, LeaseConfig, LeaseState, Revocation, RevocationCause, Unlocked};
use clap::Args;

use crate::cmd::signals::StopSignals;
use crate::exit::Failure;

/// Lease timing (`unlock --watch`; the node reads the same flags).
#[derive(Debug, Clone, Args)]
pub(crate) struct LeaseArgs {
    /// Seconds between re-proofs of master-key access (one Decrypt each, plaintext discarded).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) kms_recheck: u64,
    /// Seconds transient master-key failures are tolerated before the keys are wiped.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub(crate) kms_grace: u64,
}

impl LeaseArgs {
    pub(crate) fn config(&self) -> LeaseConfig {
        LeaseConfig {
            recheck: Duration::from_secs(self.kms_recheck),
            grace: Duration::from_secs(self.kms_grace),
        }
    }
}

/// Holds `unlocked` until the lease is revoked (exit 10) or the process is interrupted (exit 0).
pub(crate) async fn watch(
    unlocked: Unlocked,
    datadir: &Path,
    args: &LeaseArgs,
) -> Result<(), Failure> {
    let mut signals = StopSignals::install();
    let lease = Lease::start_audited(&unlocked, datadir, args.config());
    let revocation = Revocation::new(&unlocked, datadir);
    let mut states = lease.subscribe();
    eprintln!(
        "holding the keys of node {}; re-proving access to {} every {} s",
        unlocked.keys.identities().enode_id,
        unlocked.unlocked_by().master_key.key_id,
        args.kms_recheck
    );
    loop {
        tokio::select! {
            changed = states.changed() => {
                if changed.is_err() {
                    unlocked.keys.wipe();
                    return Err(Failure::internal("the master-key lease stopped (this is a bug in cachet)"));
                }
            }
            name = signals.recv() => {
                unlocked.keys.wipe();
                eprintln!("{name}: keys wiped");
                return Ok(());
            }
        }
        let state = states.borrow_and_update().clone();
        match state {
            LeaseState::Healthy => {
                tracing::debug!(target: "cachet::keyprovider", "master key lease healthy");
            }
            LeaseState::Degraded { since, error } => {
                eprintln!(
                    "warning: master key unreachable for {} s (tolerated for {} s): {error}",
                    since.elapsed().as_secs(),
                    args.kms_grace
                );
            }
            LeaseState::Revoked { error } => {
                revocation.carry_out(RevocationCause::MasterKey(&error), &[]);
                return Err(cachet_node::exit::revoked(&error));
            }
        }
    }
}
