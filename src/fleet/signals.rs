//! Stopping a run on SIGINT, SIGTERM or SIGHUP, the signals Ctrl-C, cron's `timeout`, systemd, CodeBuild and a
//! closed terminal send. The first signal starts no new work and gives hosts in flight [`GRACE`] to finish; when
//! it runs out, or at a second signal, they are cut (each one's connection still closed, each one reported).
//! A third signal exits at once, for a run that is stuck even so.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use crate::delivery::stop::{GRACE, Stop};
use crate::error::EXIT_HOSTS_FAILED;

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
