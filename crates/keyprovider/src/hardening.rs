//! Process hardening before keys are decrypted: no core dumps, no ptrace-style dumping.
//!
//! [`harden_process`] applies it once per process (later calls return the first report), so
//! every path to a master-key call may call it and the first one wins; the node reports what
//! was obtained ([`HardeningReport::to_json`]) in its startup line and `admin_nodeInfo`.

use std::sync::OnceLock;

use rustix::process::{
    DumpableBehavior, Resource, Rlimit, dumpable_behavior, getrlimit, set_dumpable_behavior,
    setrlimit,
};

/// What [`harden_process`] asked for and what the OS then reports.
#[derive(Debug)]
pub struct HardeningReport {
    /// `prctl(PR_SET_DUMPABLE, 0)`; `Err` is the OS's answer.
    pub not_dumpable: Result<(), String>,
    /// `setrlimit(RLIMIT_CORE, 0)`; `Err` is the OS's answer.
    pub no_core_dumps: Result<(), String>,
    /// `prctl(PR_GET_DUMPABLE)` read back afterwards: `Some(false)` = not dumpable; `None`
    /// when the OS does not say.
    pub dumpable: Option<bool>,
    /// The soft `RLIMIT_CORE` read back afterwards (`None` = unlimited).
    pub core_limit: Option<u64>,
}

impl HardeningReport {
    /// True when every measure took effect (read back from the OS).
    pub fn complete(&self) -> bool {
        self.dumpable == Some(false) && self.core_limit == Some(0)
    }

    /// The report as JSON for startup lines and `admin_nodeInfo`: `core_limit` (bytes, `null`
    /// = unlimited), `dumpable`, and the OS's refusal for each measure that failed.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({
            "core_limit": self.core_limit,
            "dumpable": self.dumpable,
        });
        if let Some(map) = out.as_object_mut() {
            if let Err(e) = &self.not_dumpable {
                map.insert("dumpable_error".into(), e.clone().into());
            }
            if let Err(e) = &self.no_core_dumps {
                map.insert("core_limit_error".into(), e.clone().into());
            }
        }
        out
    }
}

/// Disables core dumps for this process and marks it non-dumpable, so a crash or a debugger
/// attach by another user cannot copy key memory to disk. Applied once per process, before
/// the first master-key call ([`crate::init`], [`crate::unlock`] and [`crate::rotate`] call
/// it; a binary calls it first thing for every command that decrypts keys); later calls return
/// the first report.
///
/// Failures are reported, not fatal: they are logged once (a warning) and the caller goes on.
pub fn harden_process() -> &'static HardeningReport {
    static REPORT: OnceLock<HardeningReport> = OnceLock::new();
    REPORT.get_or_init(apply)
}

fn apply() -> HardeningReport {
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
        dumpable: dumpable_behavior()
            .ok()
            .map(|b| b != DumpableBehavior::NotDumpable),
        core_limit: getrlimit(Resource::Core).current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardens_once_and_reads_the_result_back() {
        let first = harden_process();
        assert_eq!(first.core_limit, Some(0), "{first:?}");
        assert_eq!(first.dumpable, Some(false), "{first:?}");
        assert!(first.complete());
        // The OS agrees, independently of the report.
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
        assert!(std::ptr::eq(first, harden_process()), "applied once");
        assert_eq!(first.to_json()["core_limit"], 0);
        assert_eq!(first.to_json()["dumpable"], false);
    }
}
