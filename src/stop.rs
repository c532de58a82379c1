//! The run's stop request as the code below the play sees it: the flag the first Ctrl-C or
//! SIGTERM sets (`interrupt`), asked before a remote action and awaited beside every wait.
//! A file of its own in the base layer: the cloud clients need it, and `interrupt` sits on
//! the reporter, above them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The run's stop request (its cancel flag) as the code below the play sees it: asked before
/// starting a remote action, and awaited beside every wait, so a wait ends within moments of
/// Ctrl-C or SIGTERM. The default is a request that never comes (no run, or a command that
/// does not stop gracefully).
#[derive(Clone, Default)]
pub struct StopRequest(Arc<AtomicBool>);

impl StopRequest {
    /// How often a wait looks at the flag (the signal handler only sets it).
    const LOOK: Duration = Duration::from_millis(50);

    pub fn new(flag: Arc<AtomicBool>) -> StopRequest {
        StopRequest(flag)
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Resolves once a stop is requested.
    pub async fn come(&self) {
        while !self.requested() {
            tokio::time::sleep(Self::LOOK).await;
        }
    }

    /// `fut`'s output, or `None` (`fut` dropped, abandoned) once a stop is requested first.
    pub async fn unless<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        if self.requested() {
            return None;
        }
        tokio::select! {
            out = fut => Some(out),
            _ = self.come() => None,
        }
    }

    /// Sleeps `d`; false when a stop request cut it short.
    pub async fn pause(&self, d: Duration) -> bool {
        self.unless(tokio::time::sleep(d)).await.is_some()
    }
}

impl std::fmt::Debug for StopRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StopRequest({})", self.requested())
    }
}
