//! Stop signals: SIGINT (Ctrl-C), SIGTERM (systemd, Docker, Kubernetes) and SIGHUP (a closed
//! terminal). Installed before anything is started, so a signal that arrives during startup
//! is not lost and never kills the process with its default action.

/// The installed handlers; [`StopSignals::recv`] waits for the first of them.
#[derive(Debug)]
pub(crate) struct StopSignals {
    #[cfg(unix)]
    unix: Option<[tokio::signal::unix::Signal; 3]>,
}

impl StopSignals {
    /// Replaces the default (terminating) action of SIGINT, SIGTERM and SIGHUP.
    pub(crate) fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = (|| {
                Ok::<_, std::io::Error>([
                    signal(SignalKind::interrupt())?,
                    signal(SignalKind::terminate())?,
                    signal(SignalKind::hangup())?,
                ])
            })();
            if let Err(e) = &unix {
                tracing::warn!(target: "cachet", error = %e, "cannot handle SIGTERM/SIGHUP; only Ctrl-C stops cleanly");
            }
            Self { unix: unix.ok() }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the next stop signal and returns its name.
    pub(crate) async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some([int, term, hup]) = &mut self.unix {
            return tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
