//! Where a run is, as far as signals go: the state the fleet's signal handlers ([`crate::fleet::signals`]) set
//! and every transport watches, so a host in flight can drain, then be cut, with its connection still closed.

use std::time::Duration;

use tokio::sync::watch;

/// How long hosts in flight may go on after the first signal. Short, because whoever sent SIGTERM usually sends
/// SIGKILL after a few seconds more (systemd's default is 90 s, `timeout -k` often 5 to 10 s).
pub const GRACE: Duration = Duration::from_secs(5);

/// Where a run is, as far as signals go. Ordered: each state only moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// No signal: work as usual.
    Run,
    /// A first signal: start nothing new, let what is in flight finish.
    Drain,
    /// The grace period is over, or a second signal came: cut what is still in flight.
    Cut,
}

/// A receiver that never sees a signal: for callers (and tests) that do not listen for any.
pub fn never() -> watch::Receiver<Stop> {
    let (tx, rx) = watch::channel(Stop::Run);
    // Leaking one sender keeps the channel open, so `wait_for` pends forever instead of failing.
    std::mem::forget(tx);
    rx
}

/// Resolves once `stop` reaches `at`. A sender that is gone can never send a signal, so that pends forever.
pub async fn reached(stop: &mut watch::Receiver<Stop>, at: Stop) {
    if stop.wait_for(|s| *s >= at).await.is_err() {
        std::future::pending::<()>().await;
    }
}
