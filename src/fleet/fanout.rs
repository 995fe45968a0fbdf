//! Many hosts: bounded concurrency, and signals that stop new hosts, give running ones a grace period, then cut
//! them. Jobs arrive on a channel, so a host starts as soon as its credentials are there. Each host is handed to
//! the transport its route names, which returns one [`HostOutcome`]; one host's failure is a value, never an abort.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::delivery::stop::{Stop, reached};
use crate::delivery::{HostOutcome, Payload, Status};
use crate::fleet::target::{HostTarget, Route};
use crate::ssh::deliver::DeliverOptions;
use crate::ssh::host::Peer;

/// Settings for a fan-out.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// Hosts in flight at once.
    pub forks: usize,
    /// How the SSH transport (and the local route, which shares its writer) delivers.
    pub ssh: DeliverOptions,
    /// `--install-profile NAME`.
    pub install_profile: Option<String>,
    /// Region written into that profile.
    pub profile_region: Option<String>,
    /// `--format`.
    pub format: crate::delivery::Format,
    /// Print a line per finished host on stderr.
    pub progress: bool,
}

/// A host and the document it gets.
pub type Job = (HostTarget, Arc<Payload>);

/// The outcome of a host that never got a connection attempt.
pub fn not_attempted(target: &HostTarget, status: Status, error: String) -> HostOutcome {
    HostOutcome {
        host: target.name.clone(),
        destination: target.destination(),
        status,
        seconds: 0.0,
        path: target.path.clone(),
        expiration: None,
        role_arn: target.role_arn.to_string(),
        attempts: 0,
        profile: None,
        error: Some(error),
    }
}

/// Pushes every job as it arrives on `jobs`, until the sender is dropped; returns one outcome per job received
/// (skipped ones included), in completion order. `total` is the number of hosts in the run, for progress lines.
/// At [`Stop::Drain`] no new job starts (the rest are received and reported as skipped, and the channel is closed
/// so the sender learns it too); at [`Stop::Cut`] hosts in flight are cut, each one's connection closed.
pub async fn run(
    mut jobs: mpsc::UnboundedReceiver<Job>,
    total: usize,
    opts: Arc<FanoutOptions>,
    mut stop: watch::Receiver<Stop>,
) -> Vec<HostOutcome> {
    let sem = Arc::new(Semaphore::new(opts.forks.max(1)));
    let mut set = JoinSet::new();
    let mut outcomes = Vec::new();
    let record = |outcomes: &mut Vec<HostOutcome>, joined: Result<HostOutcome, tokio::task::JoinError>| {
        // A panicking host task is a bug; keep going for the others.
        let Ok(outcome) = joined else { return };
        if opts.progress {
            eprintln!(
                "[{}/{total}] {} {}",
                outcomes.len() + 1,
                crate::term::escape(&outcome.host),
                outcome.status.as_str()
            );
        }
        outcomes.push(outcome);
    };
    'feed: loop {
        let job = tokio::select! {
            biased;
            () = reached(&mut stop, Stop::Drain) => break 'feed,
            Some(joined) = set.join_next(), if !set.is_empty() => {
                record(&mut outcomes, joined);
                continue 'feed;
            }
            job = jobs.recv() => match job {
                Some(job) => job,
                None => break 'feed,
            },
        };
        let permit = loop {
            tokio::select! {
                biased;
                () = reached(&mut stop, Stop::Drain) => {
                    outcomes.push(skipped(&job.0));
                    break 'feed;
                }
                Some(joined) = set.join_next(), if !set.is_empty() => record(&mut outcomes, joined),
                permit = sem.clone().acquire_owned() => break permit,
            }
        };
        let Ok(permit) = permit else { break 'feed };
        let (opts, stop) = (opts.clone(), stop.clone());
        let span = tracing::info_span!("host", host = %job.0.name);
        set.spawn(
            async move {
                let _permit = permit;
                deliver(job, &opts, stop).await
            }
            .instrument(span),
        );
    }
    // Stopped by a signal, or every job was received. Jobs still queued, or sent from now on, never start.
    jobs.close();
    while let Ok((target, _)) = jobs.try_recv() {
        outcomes.push(skipped(&target));
    }
    while let Some(joined) = set.join_next().await {
        record(&mut outcomes, joined);
    }
    outcomes
}

/// The outcome of a host that never started because the run was interrupted.
pub fn skipped(target: &HostTarget) -> HostOutcome {
    not_attempted(target, Status::Skipped, "interrupted before this host started".into())
}

/// Hands one host to the transport its route names.
async fn deliver((target, payload): Job, opts: &FanoutOptions, stop: watch::Receiver<Stop>) -> HostOutcome {
    let mut delivery = target.delivery(payload, opts.install_profile.as_deref(), opts.profile_region.as_deref());
    delivery.format = opts.format;
    match &target.route {
        Route::Ssh(host) => crate::ssh::deliver::deliver(Peer::Ssh(host), &delivery, &opts.ssh, stop).await,
        Route::Local(host) => crate::ssh::deliver::deliver(Peer::Local(host), &delivery, &opts.ssh, stop).await,
        // The rotation hands SSM hosts to the SSM transport, never to this fan-out.
        Route::Ssm(_) => {
            not_attempted(&target, Status::Failed, "internal error: an SSM host reached the ssh fan-out".into())
        }
    }
}
