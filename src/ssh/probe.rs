//! One host's `credpush status` probe over ssh: a fixed read-only script (`templates/remote_status.sh`) that
//! answers the document's mode, owner, size, sha256, field shapes, Expiration and the key id's last 4 characters,
//! and the credential_process lines of the managed profile blocks, never the secret. One exec, so one plain ssh
//! ([`crate::ssh::direct`]) rather than a master; one retry for a host that did not answer, all within `timeout`.

use std::time::{Duration, Instant};

use crate::delivery::Probed;
use crate::ssh::connect::{Reach, connect};
use crate::ssh::error::PushError;
use crate::ssh::host::Peer;
use crate::ssh::settings::SshSettings;

const PROBE: &str =
    concat!(include_str!("../../templates/remote_common.sh"), include_str!("../../templates/remote_status.sh"));

/// Probes `path` (and the profile blocks of `config`) on `peer`.
pub async fn probe(peer: Peer<'_>, ssh: &SshSettings, path: &str, config: &str, timeout: Duration) -> Probed {
    let deadline = Instant::now() + timeout;
    let mut result = Err(PushError::ConnectTimeout(timeout));
    for attempt in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let one = async {
            let conn = connect(peer, ssh, Reach::Direct).await?;
            let out = conn.probe(PROBE, &[path, config]).await;
            if let Err(e) = conn.close().await {
                tracing::debug!(error = %e, "closing the connection");
            }
            out
        };
        result = tokio::time::timeout(left, one).await.unwrap_or(Err(PushError::ConnectTimeout(timeout)));
        match &result {
            Err(e) if e.is_retryable() && attempt == 0 && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await
            }
            _ => break,
        }
    }
    match result {
        Ok(answer) => Probed::Answer(answer),
        Err(e) if e.is_unreachable() => Probed::Unreachable(e.to_string()),
        Err(e) => Probed::Failed(e.to_string()),
    }
}
