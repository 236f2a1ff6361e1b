//! Process hardening before keys are decrypted: no core dumps, no ptrace-style dumping.

use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};

/// What [`harden_process`] achieved; each `Err` names what the OS refused.
#[derive(Debug)]
pub struct HardeningReport {
    /// `prctl(PR_SET_DUMPABLE, 0)`.
    pub not_dumpable: Result<(), String>,
    /// `setrlimit(RLIMIT_CORE, 0)`.
    pub no_core_dumps: Result<(), String>,
}

impl HardeningReport {
    /// True when every measure took effect.
    pub fn complete(&self) -> bool {
        self.not_dumpable.is_ok() && self.no_core_dumps.is_ok()
    }
}

/// Disables core dumps for this process and marks it non-dumpable, so a crash or a debugger
/// attach by another user cannot copy key memory to disk. Call before unlocking.
///
/// Failures are reported, not fatal: the caller logs them (a warning) and goes on.
pub fn harden_process() -> HardeningReport {
    let not_dumpable =
        set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(|e| e.to_string());
    let no_core_dumps = setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| e.to_string());
    if let Err(e) = &not_dumpable {
        tracing::warn!(target: "cachet::keyprovider", error = %e, "could not mark the process non-dumpable");
    }
    if let Err(e) = &no_core_dumps {
        tracing::warn!(target: "cachet::keyprovider", error = %e, "could not disable core dumps");
    }
    HardeningReport {
        not_dumpable,
        no_core_dumps,
    }
}
