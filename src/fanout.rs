//! Many hosts: bounded concurrency, a time budget per host, retries with backoff for connection failures (and for
//! hosts that found no free file descriptor), and signals that stop new hosts, give running ones a grace period,
//! then cut them. Jobs arrive on a channel, so a host starts as soon as its credentials are there. One host's
//! failure is a value, never an abort.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

use crate::document::CredentialDocument;
use crate::limits::is_fd_exhaustion;
use crate::profile::InstallOutcome;
use crate::push::{self, PushError, SshSettings};
use crate::secret::Secret;
use crate::signals::{Stop, reached};
use crate::target::HostTarget;

/// The result of one host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written and verified.
    Ok,
    /// Reached, but the push failed (or STS failed for its role, or its key or login was refused).
    Failed,
    /// Never reached.
    Unreachable,
    /// Not started: the run was interrupted.
    Skipped,
}

impl Status {
    /// The word reports use: `ok`, `failed`, `unreachable`, `skipped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
            Status::Skipped => "skipped",
        }
    }
}

/// One host's line in the report. Holds no secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostOutcome {
    /// Inventory hostname.
    pub host: String,
    /// user@address:port.
    pub destination: String,
    /// What happened.
    pub status: Status,
    /// Wall time spent on this host, in seconds.
    pub seconds: f64,
    /// The absolute path on the host when written, else the configured path.
    pub path: String,
    /// The document's expiration, when written.
    pub expiration: Option<String>,
    /// The role whose credentials were pushed.
    pub role_arn: String,
    /// Connection attempts made.
    pub attempts: u32,
    /// `created`, `updated` or `unchanged`, with --install-profile.
    pub profile: Option<&'static str>,
    /// Why it failed.
    pub error: Option<String>,
}

impl HostOutcome {
    /// An outcome for a host that never got a connection attempt.
    pub fn not_attempted(target: &HostTarget, status: Status, error: String) -> Self {
        Self {
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
}

/// Settings for a fan-out.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// Hosts in flight at once.
    pub forks: usize,
    /// The most one host may take, retries included.
    pub timeout: Duration,
    /// Extra connection attempts after the first.
    pub retries: u32,
    /// SSH settings.
    pub ssh: SshSettings,
    /// `--install-profile NAME`.
    pub install_profile: Option<String>,
    /// Region written into that profile.
    pub profile_region: Option<String>,
    /// Print a line per finished host on stderr.
    pub progress: bool,
    /// The soft open file limit, named when a host runs out of descriptors.
    pub open_file_limit: Option<u64>,
}

/// The AWS config file `--install-profile` maintains on each host.
const PROFILE_CONFIG: &str = "~/.aws/config";

/// What every host of one AssumeRole receives, serialized once and shared.
#[derive(Debug)]
pub struct Payload {
    /// The document's bytes.
    pub json: Secret,
    /// Its expiration, for the report.
    pub expiration: String,
}

impl From<&CredentialDocument> for Payload {
    fn from(doc: &CredentialDocument) -> Self {
        Self { json: doc.to_json(), expiration: doc.expiration_rfc3339() }
    }
}

/// A host and the document it gets.
pub type Job = (HostTarget, Arc<Payload>);

/// How long closing one connection may take before the run moves on (a master that does not answer its control
/// socket is left to its own ControlPersist bound).
const CLOSE_BOUND: Duration = Duration::from_secs(3);

/// Why an attempt ended without a push: the push's own error, or a cut by a signal.
enum Failure {
    Push(PushError),
    /// Cut by the second signal or the end of the grace period; `connected` says whether the host was reached.
    Cut {
        connected: bool,
    },
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
                push_one(job, &opts, stop).await
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
    HostOutcome::not_attempted(target, Status::Skipped, "interrupted before this host started".into())
}

async fn push_one((target, doc): Job, opts: &FanoutOptions, mut stop: watch::Receiver<Stop>) -> HostOutcome {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut ssh = opts.ssh.clone();
        // ssh's ConnectTimeout is in whole seconds and also bounds the SSH handshake.
        ssh.connect_timeout = ssh.connect_timeout.min(remaining).max(Duration::from_secs(1));
        match attempt(&target, &doc, &ssh, opts, deadline, &mut stop).await {
            // A host that found no free descriptor is retried whatever --retries says: the host is fine, and
            // descriptors free up as other hosts finish.
            Err(Failure::Push(e))
                if (e.is_retryable() && attempts <= opts.retries) || is_fd_exhaustion(&e.to_string()) =>
            {
                let backoff = Duration::from_millis(250 * (1 << (attempts - 1).min(4)));
                if Instant::now() + backoff >= deadline {
                    break Err(Failure::Push(e));
                }
                tracing::info!(attempt = attempts, error = %e, "retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    // Interrupted: no new attempt; the host ends with the error it has.
                    () = reached(&mut stop, Stop::Drain) => break Err(Failure::Push(e)),
                }
            }
            other => break other,
        }
    };
    let seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    let (status, path, expiration, profile, error) = match result {
        Ok(pushed) => {
            tracing::info!(path = %pushed.path, "verified");
            (Status::Ok, pushed.path, Some(doc.expiration.clone()), pushed.profile.map(InstallOutcome::as_str), None)
        }
        Err(failure) => {
            let (status, error) = describe(&failure, opts.open_file_limit);
            tracing::info!(error = %error, "host failed");
            (status, target.path.clone(), None, None, Some(error))
        }
    };
    HostOutcome {
        host: target.name.clone(),
        destination: target.destination(),
        status,
        seconds,
        path,
        expiration,
        role_arn: target.role_arn.to_string(),
        attempts,
        profile,
        error,
    }
}

/// A failure's status and report text.
fn describe(failure: &Failure, open_file_limit: Option<u64>) -> (Status, String) {
    match failure {
        Failure::Push(e) => {
            let status = if e.is_unreachable() { Status::Unreachable } else { Status::Failed };
            let mut text = e.to_string();
            if is_fd_exhaustion(&text) {
                let limit = open_file_limit.map(|n| format!(" of {n}")).unwrap_or_default();
                text.push_str(&format!(
                    " (credpush ran out of file descriptors: the open file limit{limit} (ulimit -n) was reached; fix: \
                     raise the limit, e.g. ulimit -n 4096 or LimitNOFILE= in the systemd unit, or lower --forks)"
                ));
            }
            (status, text)
        }
        Failure::Cut { connected: false } => {
            (Status::Skipped, "interrupted while connecting; nothing was written".into())
        }
        Failure::Cut { connected: true } => (
            Status::Failed,
            format!(
                "interrupted during the push and cut after the {}s grace period; the previous file is kept unless the \
                 new one was already in place (run again to be sure)",
                crate::signals::GRACE.as_secs()
            ),
        ),
    }
}

/// One connection: connect, write (and profile), close. The connection is closed on every path, including a
/// timeout and a cut, so no ssh master outlives its host.
async fn attempt(
    target: &HostTarget,
    doc: &Payload,
    ssh: &SshSettings,
    opts: &FanoutOptions,
    deadline: Instant,
    stop: &mut watch::Receiver<Stop>,
) -> Result<push::Pushed, Failure> {
    let conn = tokio::select! {
        connected = tokio::time::timeout_at(deadline, push::connect(target, ssh)) => match connected {
            Ok(conn) => conn.map_err(Failure::Push)?,
            Err(_) => return Err(Failure::Push(PushError::ConnectTimeout(opts.timeout))),
        },
        () = reached(stop, Stop::Cut) => return Err(Failure::Cut { connected: false }),
    };
    let work = async {
        // The inventory's credpush_profile / credpush_region (what the playbook reads) win over the flags.
        let profile_name = target.profile.as_ref().or(opts.install_profile.as_ref());
        let region = target.profile_region.as_deref().or(opts.profile_region.as_deref());
        let show = profile_name.map(|_| PROFILE_CONFIG);
        let written = conn.write_file(&target.path, &doc.json, 0o600, show).await?;
        let profile = match (profile_name, written.shown) {
            (Some(name), Some(shown)) => Some(conn.install_profile(name, &written.path, region, shown).await?),
            _ => None,
        };
        Ok(push::Pushed { path: written.path, profile })
    };
    let result = tokio::select! {
        done = tokio::time::timeout_at(deadline, work) => match done {
            Ok(r) => r.map_err(Failure::Push),
            Err(_) => Err(Failure::Push(PushError::Timeout(opts.timeout))),
        },
        () = reached(stop, Stop::Cut) => Err(Failure::Cut { connected: true }),
    };
    match tokio::time::timeout(CLOSE_BOUND, conn.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "closing the ssh connection failed"),
        Err(_) => tracing::warn!("closing the ssh connection took over {CLOSE_BOUND:?}; moving on"),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_out_of_descriptors_names_the_limit_and_the_fix() {
        let e = PushError::Ssh("cannot start the remote writer: Too many open files (os error 24)".into());
        let (status, text) = describe(&Failure::Push(e), Some(256));
        assert_eq!(status, Status::Failed);
        assert_eq!(
            text,
            "ssh failed: cannot start the remote writer: Too many open files (os error 24) (credpush ran out of file \
             descriptors: the open file limit of 256 (ulimit -n) was reached; fix: raise the limit, e.g. ulimit -n \
             4096 or LimitNOFILE= in the systemd unit, or lower --forks)"
        );
        let (status, text) = describe(&Failure::Push(PushError::Unreachable("Connection refused".into())), Some(256));
        assert_eq!(status, Status::Unreachable);
        assert!(
            text.starts_with("unreachable: Connection refused (fix: check ansible_host and ansible_port"),
            "{text}"
        );
    }

    #[test]
    fn a_cut_host_says_whether_anything_could_have_changed() {
        assert_eq!(describe(&Failure::Cut { connected: false }, None).0, Status::Skipped);
        let (status, text) = describe(&Failure::Cut { connected: true }, None);
        assert_eq!(status, Status::Failed);
        assert!(text.starts_with("interrupted during the push and cut after the 5s grace period"), "{text}");
    }
}
