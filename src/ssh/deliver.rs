//! One host's delivery over the SSH transport: connect, write (and profile), close, within the host's time
//! budget, with retries and backoff for connection failures (and for hosts that found no free file descriptor),
//! and the run's stop state honoured at every step. Every path ends in one [`HostOutcome`].

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::delivery::stop::{GRACE, Stop, reached};
use crate::delivery::{Delivery, Format, HostOutcome, Status, is_fd_exhaustion};
use crate::host::credentials::CredentialsSection;
use crate::host::profile::InstallOutcome;
use crate::ssh::connect::{Reach, connect};
use crate::ssh::error::PushError;
use crate::ssh::helper::HelperNote;
use crate::ssh::host::Peer;
use crate::ssh::push::Pushed;
use crate::ssh::settings::SshSettings;

/// How the SSH transport delivers: the run's ssh settings and each host's budget.
#[derive(Debug, Clone)]
pub struct DeliverOptions {
    /// The most one host may take, retries included.
    pub timeout: Duration,
    /// Extra connection attempts after the first.
    pub retries: u32,
    /// SSH settings.
    pub ssh: SshSettings,
    /// The soft open file limit, named when a host runs out of descriptors.
    pub open_file_limit: Option<u64>,
}

/// The AWS config file a managed profile lives in on each host.
const PROFILE_CONFIG: &str = "~/.aws/config";

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

/// Delivers `delivery` to `peer`: the document written and verified, or the reason it was not.
pub async fn deliver(
    peer: Peer<'_>,
    delivery: &Delivery,
    opts: &DeliverOptions,
    mut stop: watch::Receiver<Stop>,
) -> HostOutcome {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut attempts = 0;
    let result = loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut ssh = opts.ssh.clone();
        // ssh's ConnectTimeout is in whole seconds and also bounds the SSH handshake.
        ssh.connect_timeout = ssh.connect_timeout.min(remaining).max(Duration::from_secs(1));
        match attempt(peer, delivery, &ssh, opts, deadline, &mut stop).await {
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
    match result {
        Ok(Pushed { path, superseded: Some(kept), .. }) => {
            tracing::info!(%path, kept, "replaced by a newer rotation");
            delivery.outcome(Status::Superseded, seconds, attempts, None, Some(superseded(kept)))
        }
        Ok(pushed) => {
            tracing::info!(path = %pushed.path, "verified");
            let written = (pushed.path, pushed.profile.map(InstallOutcome::as_str));
            delivery.outcome(Status::Ok, seconds, attempts, Some(written), None)
        }
        Err(failure) => {
            let (status, error) = describe(&failure, opts.open_file_limit);
            tracing::info!(error = %error, "host failed");
            delivery.outcome(status, seconds, attempts, None, Some(error))
        }
    }
}

/// The report text of a host a later rotation had already written (`kept` is its stamp).
fn superseded(kept: u64) -> String {
    let at = crate::host::atomic::stamp_rfc3339(kept);
    format!("replaced by a newer rotation (one that assumed its role at {at}); this run's document was left unwritten")
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
                GRACE.as_secs()
            ),
        ),
    }
}

/// One connection: connect, write (and profile), close. The connection is closed on every path, including a
/// timeout and a cut, so no ssh master outlives its host. A `--format json` write reaches the host with one plain
/// ssh per exec ([`crate::ssh::direct`]), whose processes end with each exec.
async fn attempt(
    peer: Peer<'_>,
    delivery: &Delivery,
    ssh: &SshSettings,
    opts: &DeliverOptions,
    deadline: Instant,
    stop: &mut watch::Receiver<Stop>,
) -> Result<Pushed, Failure> {
    // A write that is the host's one exec goes over one plain ssh; a credentials merge reads first, then writes.
    let reach = if delivery.format == Format::Credentials { Reach::Master } else { Reach::Direct };
    let conn = tokio::select! {
        connected = tokio::time::timeout_at(deadline, connect(peer, ssh, reach)) => match connected {
            Ok(conn) => conn.map_err(Failure::Push)?,
            Err(_) => return Err(Failure::Push(PushError::ConnectTimeout(opts.timeout))),
        },
        () = reached(stop, Stop::Cut) => return Err(Failure::Cut { connected: false }),
    };
    let work = async {
        let (payload, at) = (&delivery.payload, deadline.into_std());
        if delivery.format == Format::Credentials {
            return credentials(&conn, delivery, at).await;
        }
        let show = delivery.profile.as_ref().map(|_| PROFILE_CONFIG);
        let stamp = Some(payload.stamp);
        let written = conn.write_file(&delivery.path, &payload.json, 0o600, show, stamp, at, None).await?;
        // A later rotation's document stays, and so does the profile it ensured.
        let profile = match (&delivery.profile, written.shown) {
            (Some((name, region)), Some(shown)) => {
                Some(conn.install_profile(name, &written.path, region.as_deref(), shown, at).await?)
            }
            _ => None,
        };
        helper(&conn, &written.helper, at).await;
        Ok(Pushed { path: written.path, profile, superseded: written.superseded })
    };
    let result = tokio::select! {
        done = tokio::time::timeout_at(deadline, work) => match done {
            Ok(r) => r.map_err(Failure::Push),
            Err(_) => Err(Failure::Push(PushError::Timeout(opts.timeout))),
        },
        () = reached(stop, Stop::Cut) => Err(Failure::Cut { connected: true }),
    };
    // One plain ssh per exec connects inside the write: until it took the write's input, it was still
    // connecting, and nothing can have been written.
    let result = match result {
        Err(Failure::Push(PushError::Timeout(t))) if !conn.reached() => {
            Err(Failure::Push(PushError::ConnectTimeout(t)))
        }
        Err(Failure::Cut { .. }) => Err(Failure::Cut { connected: conn.reached() }),
        other => other,
    };
    match tokio::time::timeout(CLOSE_BOUND, conn.close()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "closing the ssh connection failed"),
        Err(_) => tracing::warn!("closing the ssh connection took over {CLOSE_BOUND:?}; moving on"),
    }
    result
}

/// What an install of the helper leaves of the host's time, so that its own limit, not the host's, ends it.
const INSTALL_MARGIN: Duration = Duration::from_secs(1);

/// Installs of the helper at once, run-wide: first contact with a large fleet sends 1.3 MB over one more
/// connection per host, and unbounded that competes with every host's write for the CPU. Hosts that find no
/// slot within their time are installed by a later run.
static INSTALLS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// After the host's work: installs the run's helper where the answer said it is missing or changed, and says
/// which writer wrote. A failed or unfinished install is not the host's failure (the shell writer wrote, and goes
/// on writing): it gets what is left of the host's time less [`INSTALL_MARGIN`], and the next run tries again.
async fn helper(conn: &crate::ssh::push::Connection, note: &HelperNote, at: std::time::Instant) {
    if !conn.has_helper() {
        return;
    }
    match note {
        HelperNote::None => tracing::debug!(writer = "helper", "written by the helper"),
        HelperNote::Refused(why) => {
            tracing::info!(writer = "shell", reason = %why, "the helper's directory breaks the rule; not installed")
        }
        note => {
            let Some(by) = at.checked_sub(INSTALL_MARGIN).filter(|by| *by > std::time::Instant::now()) else {
                tracing::info!(writer = "shell", "no time left to install the helper; the next run will");
                return;
            };
            let install = async {
                let _slot = INSTALLS.acquire().await;
                conn.install_helper(by).await
            };
            match tokio::time::timeout_at(by.into(), install).await {
                Ok(Ok(())) => tracing::info!(writer = "shell", ?note, "helper installed"),
                Ok(Err(e)) => tracing::warn!(writer = "shell", error = %e, "installing the helper failed"),
                Err(_) => tracing::warn!(
                    writer = "shell",
                    "installing the helper did not finish within the host's time; the next run tries again"
                ),
            }
        }
    }
}

/// `--format credentials`: the managed section named by the delivery's profile, in the credentials file at its
/// path, instead of the document.
async fn credentials(
    conn: &crate::ssh::push::Connection,
    delivery: &Delivery,
    at: std::time::Instant,
) -> Result<Pushed, PushError> {
    let name = delivery.profile.as_ref().map_or("", |(n, _)| n.as_str());
    let section = CredentialsSection::new("--install-profile", name).map_err(|e| PushError::Local(e.to_string()))?;
    let payload = &delivery.payload;
    let (written, outcome) =
        conn.install_credentials(&delivery.path, &section, &payload.doc, payload.stamp, at).await?;
    helper(conn, &written.helper, at).await;
    let profile = written.superseded.is_none().then_some(outcome);
    Ok(Pushed { path: written.path, profile, superseded: written.superseded })
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
