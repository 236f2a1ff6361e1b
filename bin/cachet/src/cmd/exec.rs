//! `cachet exec`: unlock a bundle exactly as `cachet node` does, hand the chosen keys to an
//! unmodified client through inherited pipes (fd 3, 4, …), then supervise it: stop signals
//! forwarded, its exit code passed through, and on revocation it is stopped and cachet exits 10.
//!
//! The spawn goes through a trampoline, `cachet exec-child` (hidden): a fresh `cachet` that
//! sets its parent-death signal and then `exec`s the client in its own process. Both steps have
//! safe APIs (rustix's prctl, std's `CommandExt::exec`), which keeps the workspace's
//! `forbid(unsafe_code)`; moving the pipes to fixed fd numbers between fork and exec is
//! `command-fds`'s job (the one `pre_exec` hook, inside that crate).

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use cachet_keyprovider::{
    AuditEvent, AuditLog, HandoffKey, Lease, LeaseState, LoadedBundle, RemoteRole, Revocation,
    RevocationCause, UnlockedKeys,
};
use clap::Args;
use command_fds::{CommandFdExt as _, FdMapping};
use rustix::process::{Pid, Signal};
use tokio::process::{Child, Command};

use crate::cmd::keys::KmsArgs;
use crate::cmd::signals::StopSignals;
use crate::cmd::watch::LeaseArgs;
use crate::exit::Failure;

/// The fd the first handed-over key arrives on (0–2 are stdio).
const FIRST_FD: i32 = 3;

/// `cachet exec`.
#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The node's data directory (holds `keys.cachet`).
    #[arg(long)]
    datadir: PathBuf,
    /// Keys handed to the client, comma-separated, one pipe each in this order: the first on
    /// fd 3, the next on fd 4, …: node, sealing, wallet (64 hex characters, geth's `nodekey`
    /// form), ptm (Tessera's unlocked key file).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "KEY,…",
        default_value = "node"
    )]
    keys: Vec<HandoffKey>,
    /// Seconds the client has to exit after SIGTERM when the master key is revoked; then it is
    /// killed (SIGKILL).
    #[arg(long = "stop-timeout", value_name = "SECONDS", default_value_t = 10)]
    stop_timeout: u64,
    #[command(flatten)]
    kms: KmsArgs,
    #[command(flatten)]
    lease: LeaseArgs,
    /// The client and its arguments, after `--` (e.g. `-- geth --nodekey /dev/fd/3 …`).
    #[arg(last = true, required = true, value_name = "CLIENT")]
    command: Vec<OsString>,
}

/// `cachet exec-child`: the trampoline `cachet exec` starts; not for people.
#[derive(Debug, Args)]
pub(crate) struct ExecChildArgs {
    /// The `cachet exec` process this one must not outlive.
    #[arg(long, value_name = "PID")]
    parent: u32,
    /// The client and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// A key an HSM or KMS holds cannot be written to a pipe: refused (exit 2) from the bundle's
/// header, before any master-key call.
fn refuse_remote_keys(args: &ExecArgs) -> Result<(), Failure> {
    let bundle = LoadedBundle::load(&args.datadir)?;
    for key in &args.keys {
        let role = match key {
            HandoffKey::Sealing => RemoteRole::Sealing,
            HandoffKey::Wallet => RemoteRole::Wallet,
            HandoffKey::Node | HandoffKey::Ptm => continue,
        };
        if let Some(remote) = bundle.header().remote_keys.iter().find(|r| r.role == role) {
            return Err(cachet_keyprovider::Error::KeyNotHeld {
                role: role.to_string(),
                location: remote.location(),
            }
            .into());
        }
    }
    Ok(())
}

/// Runs the client with the keys and returns the exit code to exit with: the client's
/// (128 + the signal when a signal killed it), or a failure (10 on revocation).
pub(crate) async fn run(args: ExecArgs) -> Result<u8, Failure> {
    for (i, key) in args.keys.iter().enumerate() {
        if args.keys[..i].contains(key) {
            return Err(Failure::usage(format!("--keys names {key} twice")));
        }
    }
    refuse_remote_keys(&args)?;
    // Before the unlock, so that a stop signal during it is neither lost nor fatal.
    let mut signals = StopSignals::install();
    let kms = args.kms.config();
    let unlocked = tokio::select! {
        unlocked = cachet_keyprovider::unlock(&args.datadir, &kms) => unlocked?,
        name = signals.recv() => return Ok(128 + signal_number(name)),
    };
    let hardening = cachet_node::hardening_json(&unlocked.keys);
    let revocation = Revocation::new(&unlocked, &args.datadir);
    let readers = hand_over(&unlocked.keys, &args.keys);
    // Every key now sits in a pipe (or the handover failed): none is needed here any more.
    unlocked.keys.wipe();
    let mut child = spawn(&args.command, readers?)?;
    let pid = child.id().and_then(|id| Pid::from_raw(id as i32));
    let fds: Vec<String> = args
        .keys
        .iter()
        .zip(FIRST_FD..)
        .map(|(key, fd)| format!("{key}:{fd}"))
        .collect();
    AuditLog::new(&args.datadir).record(
        AuditEvent::new("exec")
            .with_key(
                unlocked.bundle.master_key(),
                &unlocked.bundle.header().encryption_context,
            )
            .detail("program", args.command[0].to_string_lossy().into_owned())
            .detail("pid", child.id())
            .detail("keys", fds.clone()),
    );
    tracing::info!(target: "cachet::exec", pid = child.id(), keys = ?fds, %hardening, "keys handed to the client; key memory wiped");
    let lease = Lease::start_audited(&unlocked, &args.datadir, args.lease.config());
    let mut states = lease.subscribe();
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status.map_err(|e| Failure::internal(format!("waiting for the client: {e}")))?;
                return Ok(exit_code(status));
            }
            name = signals.recv() => {
                tracing::info!(target: "cachet::exec", signal = name, "forwarding to the client");
                signal_group(pid, to_signal(name));
            }
            changed = states.changed() => {
                let state = if changed.is_ok() {
                    states.borrow_and_update().clone()
                } else {
                    LeaseState::Revoked { error: lease.revoked().await }
                };
                match state {
                    LeaseState::Healthy => {}
                    LeaseState::Degraded { since, error } => {
                        tracing::warn!(target: "cachet::exec", error = %error, seconds = since.elapsed().as_secs(), "master key unreachable; the client runs on within --kms-grace");
                    }
                    LeaseState::Revoked { error } => {
                        tracing::error!(target: "cachet::exec", error = %error, "master key revoked: stopping the client");
                        stop(&mut child, pid, Duration::from_secs(args.stop_timeout)).await;
                        revocation.carry_out(RevocationCause::MasterKey(&error), &["client"]);
                        return Err(cachet_node::exit::revoked(&error));
                    }
                }
            }
        }
    }
}

/// One pipe per key: the key written and the write end closed here, before the client exists,
/// so it never holds a write end, reads the key then EOF, and nothing here waits on it. A key
/// is at most 82 bytes: far below a pipe's capacity (one page at least), so the write never
/// blocks. Returns the read ends, in `keys` order.
fn hand_over(keys: &UnlockedKeys, wanted: &[HandoffKey]) -> Result<Vec<OwnedFd>, Failure> {
    use std::io::Write as _;
    let mut readers = Vec::with_capacity(wanted.len());
    for key in wanted {
        let bytes = keys
            .secret_handoff(*key)
            .map_err(|e| Failure::internal(format!("the {key} key: {e}")))?;
        let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|e| Failure::internal(format!("creating the pipe for the {key} key: {e}")))?;
        std::fs::File::from(writer)
            .write_all(&bytes)
            .map_err(|e| Failure::internal(format!("writing the {key} key to its pipe: {e}")))?;
        readers.push(reader);
    }
    Ok(readers)
}

/// Starts the trampoline (`cachet exec-child`, which becomes the client) with the read ends
/// on fd 3, 4, … in its own process group (signals reach the client once, from here).
///
/// Called on the thread that runs `cmd::run` (the main thread, in `block_on`): the
/// parent-death signal fires when the *thread* that forked the child ends, and the main thread
/// lives as long as the process.
fn spawn(command: &[OsString], readers: Vec<OwnedFd>) -> Result<Child, Failure> {
    let mappings = readers
        .into_iter()
        .zip(FIRST_FD..)
        .map(|(parent_fd, child_fd)| FdMapping {
            parent_fd,
            child_fd,
        })
        .collect();
    // /proc/self/exe: this very binary, even if the file was replaced since it started.
    let mut trampoline = Command::new("/proc/self/exe");
    trampoline
        .arg("exec-child")
        .arg("--parent")
        .arg(std::process::id().to_string())
        .arg("--")
        .args(command)
        .process_group(0)
        .kill_on_drop(true);
    trampoline
        .fd_mappings(mappings)
        .map_err(|e| Failure::internal(e.to_string()))?;
    let child = trampoline.spawn().map_err(|e| {
        Failure::internal(format!("starting {}: {e}", command[0].to_string_lossy()))
    })?;
    // Dropping the command closes this process's copies of the read ends.
    drop(trampoline);
    Ok(child)
}

/// The trampoline: die with the parent (SIGKILL: the client must not outlive the lease that
/// guards its keys), then become the client. Returns only when that fails: 127 when the
/// program is not found, 126 otherwise (as shells do).
pub(crate) fn become_client(args: &ExecChildArgs) -> std::process::ExitCode {
    use std::os::unix::process::CommandExt as _;
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getppid, set_parent_process_death_signal};
        if let Err(e) = set_parent_process_death_signal(Some(Signal::KILL)) {
            eprintln!("error: cannot set the parent-death signal: {e}");
            return std::process::ExitCode::from(126);
        }
        // The parent may have died before the prctl: then nothing would ever signal us.
        if getppid().map(Pid::as_raw_nonzero).map(|p| p.get()) != Some(args.parent as i32) {
            eprintln!("error: cachet exec (pid {}) is gone", args.parent);
            return std::process::ExitCode::from(126);
        }
    }
    let error = std::process::Command::new(&args.command[0])
        .args(&args.command[1..])
        .exec();
    eprintln!(
        "error: cannot run {}: {error}",
        args.command[0].to_string_lossy()
    );
    std::process::ExitCode::from(if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}

/// SIGTERM to the client's process group, then SIGKILL if it has not exited within `timeout`.
async fn stop(child: &mut Child, pid: Option<Pid>, timeout: Duration) {
    signal_group(pid, Signal::TERM);
    if tokio::time::timeout(timeout, child.wait()).await.is_err() {
        tracing::warn!(target: "cachet::exec", seconds = timeout.as_secs(), "the client did not exit after SIGTERM: killing it");
        signal_group(pid, Signal::KILL);
        let _ = child.wait().await;
    }
}

/// Signals the client's process group (the client leads it: `process_group(0)`), so whatever
/// it started stops with it. Only called before the client is reaped: the id is still its.
fn signal_group(pid: Option<Pid>, signal: Signal) {
    if let Some(pid) = pid
        && let Err(e) = rustix::process::kill_process_group(pid, signal)
    {
        tracing::debug!(target: "cachet::exec", error = %e, "signalling the client");
    }
}

fn to_signal(name: &str) -> Signal {
    match name {
        "SIGTERM" => Signal::TERM,
        "SIGHUP" => Signal::HUP,
        _ => Signal::INT,
    }
}

fn signal_number(name: &str) -> u8 {
    to_signal(name).as_raw() as u8
}

/// The client's exit code, or 128 + the signal that killed it (as shells report it).
fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signal)) => 128u8.wrapping_add(signal as u8),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn exit_codes_follow_the_shell() {
        // Raw wait statuses: exit code in bits 8–15, terminating signal in bits 0–6.
        assert_eq!(exit_code(ExitStatus::from_raw(0)), 0);
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 137);
    }

    #[test]
    fn signals_map_to_their_numbers() {
        assert_eq!(signal_number("SIGINT"), 2);
        assert_eq!(signal_number("SIGHUP"), 1);
        assert_eq!(signal_number("SIGTERM"), 15);
    }
}
