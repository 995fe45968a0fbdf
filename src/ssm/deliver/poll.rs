//! Polling: every sent command's invocations, each round, until all are final, the deadline passes or a signal
//! arrives. A failed poll is retried at the next round, so one throttled call costs a round, not the run.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::Instance;
use crate::ssm::client::{InvocationState, Ssm};

/// One SendCommand and what its polls have seen, per instance ID.
pub(super) struct Sent {
    pub(super) group: usize,
    pub(super) command_id: String,
    /// The IDs sent, or None for targets (SSM resolves them).
    pub(super) ids: Option<Vec<Instance>>,
    pub(super) target_label: String,
    pub(super) at: Instant,
    pub(super) seen: HashMap<String, (InvocationState, f64)>,
    pub(super) done: bool,
}

/// Polls until every command is final (false) or `cancel` fires first (true); returns false at `deadline` too.
pub(super) async fn poll_all(
    ssm: &Ssm,
    sent: &mut [Sent],
    every: Duration,
    deadline: Instant,
    cancel: impl Future<Output = ()>,
) -> bool {
    tokio::pin!(cancel);
    loop {
        if sent.iter().all(|s| s.done) {
            return false;
        }
        let wait = every.min(deadline.saturating_duration_since(Instant::now()));
        tokio::select! {
            biased;
            () = &mut cancel => return true,
            () = tokio::time::sleep(wait) => {}
        }
        for s in sent.iter_mut().filter(|s| !s.done) {
            match ssm.invocations(&s.command_id).await {
                Ok(states) => {
                    let secs = s.at.elapsed().as_secs_f64();
                    for (id, st) in states {
                        let keep = s.seen.get(&id).is_some_and(|(old, _)| old.is_final());
                        if !keep {
                            s.seen.insert(id, (st, secs));
                        }
                    }
                    let is_final = |id: &String| s.seen.get(id).is_some_and(|(st, _)| st.is_final());
                    s.done = match &s.ids {
                        Some(ids) => ids.iter().all(|i| is_final(&i.id)),
                        None => !s.seen.is_empty() && s.seen.keys().all(is_final),
                    };
                }
                // A failed poll is retried at the next round; the deadline bounds it.
                Err(e) => tracing::warn!(command_id = s.command_id, "polling failed: {e}"),
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}
