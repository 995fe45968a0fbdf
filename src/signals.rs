//! Stopping a run on SIGINT, SIGTERM or SIGHUP, the signals Ctrl-C, cron's `timeout`, systemd, CodeBuild and a
//! closed terminal send. The first signal starts no new work and gives hosts in flight [`GRACE`] to finish; when
//! it runs out, or at a second signal, they are cut (each one's connection still closed, each one reported).
//! A third signal exits at once, for a run that is stuck even so.

use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::error::EXIT_HOSTS_FAILED;

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

/// Installs the handlers and returns the run's [`Stop`] state. Must be called inside the runtime. When a handler
/// cannot be installed (it never happens on Linux), that signal keeps its default action and the run goes on.
pub fn listen() -> watch::Receiver<Stop> {
    let (tx, rx) = watch::channel(Stop::Run);
    let kinds =
        [("SIGINT", SignalKind::interrupt()), ("SIGTERM", SignalKind::terminate()), ("SIGHUP", SignalKind::hangup())];
    let mut streams = Vec::new();
    for (name, kind) in kinds {
        match signal(kind) {
            Ok(s) => streams.push((name, s)),
            Err(e) => tracing::warn!(signal = name, error = %e, "cannot listen for the signal"),
        }
    }
    tokio::spawn(async move {
        let name = next(&mut streams).await;
        eprintln!(
            "credpush: interrupted: finishing hosts in flight, starting no new ones ({name}; hosts still running after \
             {}s are cut, as they are at a second signal)",
            GRACE.as_secs()
        );
        let _ = tx.send(Stop::Drain);
        tokio::select! {
            name = next(&mut streams) => eprintln!("credpush: {name} again: cutting hosts in flight now"),
            () = tokio::time::sleep(GRACE) => eprintln!("credpush: grace period over: cutting hosts still in flight"),
        }
        let _ = tx.send(Stop::Cut);
        let name = next(&mut streams).await;
        eprintln!("credpush: {name} a third time: exiting without the report");
        std::process::exit(EXIT_HOSTS_FAILED);
    });
    rx
}

/// Waits for the next of `streams` to fire and returns its name; pends forever when there is none.
async fn next(streams: &mut [(&'static str, Signal)]) -> &'static str {
    if streams.is_empty() {
        return std::future::pending().await;
    }
    let futures = streams.iter_mut().map(|(name, s)| {
        let name = *name;
        Box::pin(async move {
            // A stream that ended can never fire again.
            if s.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
            name
        })
    });
    select_first(futures.collect()).await
}

/// The first of `futures` to finish (a tiny `select_all`, to avoid a dependency for three futures).
async fn select_first<F: std::future::Future<Output = &'static str> + Unpin>(mut futures: Vec<F>) -> &'static str {
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if let std::task::Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Resolves once `stop` reaches `at`. A sender that is gone can never send a signal, so that pends forever.
pub async fn reached(stop: &mut watch::Receiver<Stop>, at: Stop) {
    if stop.wait_for(|s| *s >= at).await.is_err() {
        std::future::pending::<()>().await;
    }
}
