//! Many hosts: bounded concurrency, a time budget per host, retries with backoff for connection failures only,
//! Ctrl-C that stops new hosts but lets running ones finish. One host's failure is a value, never an abort.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::document::CredentialDocument;
use crate::profile::InstallOutcome;
use crate::push::{self, PushError, SshSettings};
use crate::secret::Secret;
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

/// Pushes every job; returns one outcome per job (skipped ones included), in completion order.
pub async fn run(jobs: Vec<Job>, opts: Arc<FanoutOptions>, mut cancel: watch::Receiver<bool>) -> Vec<HostOutcome> {
    let total = jobs.len();
    let sem = Arc::new(Semaphore::new(opts.forks.max(1)));
    let mut set = JoinSet::new();
    let mut outcomes = Vec::with_capacity(total);
    let mut pending = jobs.into_iter();
    while let Some(job) = pending.next() {
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.ok(),
            _ = cancel.wait_for(|c| *c) => None,
        };
        let Some(permit) = permit.filter(|_| !*cancel.borrow()) else {
            for (target, _) in std::iter::once(job).chain(pending.by_ref()) {
                outcomes.push(HostOutcome::not_attempted(
                    &target,
                    Status::Skipped,
                    "interrupted before this host started".into(),
                ));
            }
            break;
        };
        let opts = opts.clone();
        let span = tracing::info_span!("host", host = %job.0.name);
        set.spawn(
            async move {
                let _permit = permit;
                push_one(job, &opts).await
            }
            .instrument(span),
        );
    }
    while let Some(joined) = set.join_next().await {
        // A panicking host task is a bug; keep going for the others.
        let Ok(outcome) = joined else { continue };
        if opts.progress {
            eprintln!(
                "[{}/{total}] {} {}",
                outcomes.len() + 1,
                crate::term::escape(&outcome.host),
                outcome.status.as_str()
            );
        }
        outcomes.push(outcome);
    }
    outcomes
}

async fn push_one((target, doc): Job, opts: &FanoutOptions) -> HostOutcome {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut ssh = opts.ssh.clone();
        // ssh's ConnectTimeout is in whole seconds and also bounds the SSH handshake.
        ssh.connect_timeout = ssh.connect_timeout.min(remaining).max(Duration::from_secs(1));
        let connected = AtomicBool::new(false);
        let attempt = tokio::time::timeout(remaining, attempt(&target, &doc, &ssh, opts, &connected));
        let r = attempt.await.unwrap_or_else(|_| {
            Err(if connected.load(Ordering::Relaxed) {
                PushError::Timeout(opts.timeout)
            } else {
                PushError::ConnectTimeout(opts.timeout)
            })
        });
        match r {
            Err(e) if e.is_retryable() && attempts <= opts.retries => {
                let backoff = Duration::from_millis(250 * (1 << (attempts - 1).min(4)));
                if Instant::now() + backoff >= deadline {
                    break Err(e);
                }
                tracing::info!(attempt = attempts, error = %e, "retrying");
                tokio::time::sleep(backoff).await;
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
        Err(e) => {
            tracing::info!(error = %e, "host failed");
            let status = if e.is_unreachable() { Status::Unreachable } else { Status::Failed };
            (status, target.path.clone(), None, None, Some(e.to_string()))
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

async fn attempt(
    target: &HostTarget,
    doc: &Payload,
    ssh: &SshSettings,
    opts: &FanoutOptions,
    connected: &AtomicBool,
) -> Result<push::Pushed, PushError> {
    let conn = push::connect(target, ssh).await?;
    connected.store(true, Ordering::Relaxed);
    let result = async {
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
    }
    .await;
    if let Err(e) = conn.close().await {
        tracing::warn!(error = %e, "closing the ssh connection failed");
    }
    result
}
