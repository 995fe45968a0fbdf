//! The seam between the fleet and its transports: what a transport is handed for one host ([`Delivery`]), what
//! it gives back ([`HostOutcome`]), and the run's stop state ([`stop`]). It sits below both, so a transport never
//! imports the fleet layer and the fleet never looks inside a transport's errors.

pub mod bounded;
pub mod stop;

use std::sync::Arc;

use crate::host::document::CredentialDocument;
use crate::host::secret::Secret;

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
    /// Left alone: a later rotation had already written the host's document (not a failure).
    Superseded,
}

impl Status {
    /// The word reports use: `ok`, `failed`, `unreachable`, `skipped`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
            Status::Skipped => "skipped",
            Status::Superseded => "superseded",
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

/// What every host of one AssumeRole receives, serialized once and shared.
#[derive(Debug)]
pub struct Payload {
    /// The document's bytes.
    pub json: Secret,
    /// The document itself, for `--format credentials` (each host's section has its own name).
    pub doc: CredentialDocument,
    /// Its expiration, for the report.
    pub expiration: String,
    /// When its rotation assumed the role, in nanoseconds since the epoch: a host's writer leaves a document
    /// whose kept stamp is later (no roll-back).
    pub stamp: u64,
}

impl Payload {
    /// The payload of a document whose role was assumed at `stamp` (see [`now_stamp`]).
    pub fn assumed_at(doc: &CredentialDocument, stamp: u64) -> Self {
        Self { json: doc.to_json(), doc: doc.clone(), expiration: doc.expiration_rfc3339(), stamp }
    }
}

impl From<&CredentialDocument> for Payload {
    /// A payload stamped now; prefer [`Payload::assumed_at`] with the time taken before the AssumeRole call.
    fn from(doc: &CredentialDocument) -> Self {
        Self::assumed_at(doc, now_stamp())
    }
}

pub use crate::host::atomic::now_stamp;

/// What a host is given: the `credential_process` document, or a section of its AWS credentials file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// The JSON document at the delivery's path (and, with a profile, a config block that reads it).
    #[default]
    Json,
    /// A managed `[NAME]` section (NAME: the delivery's profile) in the credentials file at the delivery's path.
    Credentials,
}

/// One host's delivery, as the fleet hands it to a transport: where the document goes and what it is. The
/// transport adds how the host is reached (its route's own settings).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The inventory hostname.
    pub host: String,
    /// How reports name the destination (`user@address:port`, `local`).
    pub destination: String,
    /// The target path on the host: absolute or `~/…`.
    pub path: String,
    /// The role whose credentials these are (for the report).
    pub role_arn: String,
    /// The managed profile to ensure beside the document, and its region (with [`Format::Credentials`], the
    /// section's name).
    pub profile: Option<(String, Option<String>)>,
    /// What is written.
    pub format: Format,
    /// The document.
    pub payload: Arc<Payload>,
}

impl Delivery {
    /// The report line for this host. `written` is the absolute path and the profile outcome of a verified write.
    pub fn outcome(
        &self,
        status: Status,
        seconds: f64,
        attempts: u32,
        written: Option<(String, Option<&'static str>)>,
        error: Option<String>,
    ) -> HostOutcome {
        let expiration = written.as_ref().map(|_| self.payload.expiration.clone());
        let (path, profile) = written.unwrap_or_else(|| (self.path.clone(), None));
        HostOutcome {
            host: self.host.clone(),
            destination: self.destination.clone(),
            status,
            seconds,
            path,
            expiration,
            role_arn: self.role_arn.clone(),
            attempts,
            profile,
            error,
        }
    }
}

/// What a transport's read-only status probe gives back for one host (`credpush status`). The fleet judges the
/// answer; a transport that cannot read a host's document without running a command there says so instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// The probe's `key value` lines (`templates/remote_status.sh`'s answer). Holds no secret.
    Answer(String),
    /// The host was never reached; why.
    Unreachable(String),
    /// Reached, but the probe failed; why.
    Failed(String),
    /// This host's route has no read-only probe; why, and what to use instead.
    Unsupported(String),
}

/// Whether an error's text says a descriptor could not be had: EMFILE (os error 24) for this process or an `ssh`
/// it started, ENFILE (os error 23) for the whole system. The errors come as text from ssh and the openssh crate,
/// so the text is what can be checked.
pub fn is_fd_exhaustion(text: &str) -> bool {
    text.contains("Too many open files") || text.contains("os error 24") || text.contains("os error 23")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_is_recognised_in_any_layer_s_words() {
        assert!(is_fd_exhaustion("ssh failed: Too many open files (os error 24)"));
        assert!(is_fd_exhaustion("cannot create an ssh config in /tmp/x: os error 24"));
        assert!(is_fd_exhaustion("socket: Too many open files in system"));
        assert!(!is_fd_exhaustion("unreachable: Connection refused"));
    }
}
