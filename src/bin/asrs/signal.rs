//! Stopping a long-running mode on Ctrl-C or SIGTERM alike: service managers, containers and
//! `kill` send SIGTERM, and the clients deserve the same clean close either way.

use std::future::Future;

/// Installs the handlers now (so a signal arriving at any later point counts) and returns a
/// future that resolves on the first Ctrl-C (SIGINT) or SIGTERM.
pub(crate) fn stop_requested() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
