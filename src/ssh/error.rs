//! Why one host failed, in words that name the likely cause and the fix.

use std::time::Duration;

/// Why one host failed. Messages carry no secret: remote stderr comes from our own scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The host did not answer (refused, timed out, no route, closed during handshake). Retried.
    #[error(
        "unreachable: {0} (fix: check ansible_host and ansible_port, that sshd listens there, and the route or ProxyJump)"
    )]
    Unreachable(String),
    /// The host key is unknown or changed.
    #[error(
        "host key verification failed for {destination} (fix: verify the key, e.g. with ssh-keyscan{port} {address}, and add it to known_hosts; or trust a new host once with --known-hosts accept-new)"
    )]
    HostKey {
        /// user@host:port.
        destination: String,
        /// The address.
        address: String,
        /// ` -p PORT` or empty.
        port: String,
    },
    /// Authentication was refused.
    #[error(
        "ssh authentication failed: {0} (fix: check ansible_user and ansible_ssh_private_key_file, or the ssh agent)"
    )]
    Auth(String),
    /// Any other ssh failure.
    #[error("ssh failed: {0}")]
    Ssh(String),
    /// The remote write failed; the previous file is intact.
    #[error("remote write to {path} failed, previous file kept: {detail}")]
    Remote {
        /// The target path.
        path: String,
        /// The remote script's message.
        detail: String,
    },
    /// The file on the host does not have the checksum of what was sent.
    #[error("verification failed for {0}: the file on the host does not match what was sent")]
    Verify(String),
    /// The host did not answer within --timeout.
    #[error(
        "timed out after {0:?} while connecting (likely a firewall dropping packets or a wrong address; fix: check ansible_host and ansible_port, or raise --timeout)"
    )]
    ConnectTimeout(Duration),
    /// The host was reached but did not finish within --timeout; the previous file is intact unless the remote
    /// writer had already renamed the new one into place.
    #[error(
        "timed out after {0:?} after connecting (the host stopped answering during the push; the previous file is kept unless the new one was already in place; fix: check the host's load and disk, or raise --timeout)"
    )]
    Timeout(Duration),
    /// A local problem preparing the connection.
    #[error("{0}")]
    Local(String),
}

impl PushError {
    /// Connection-level failures are worth retrying; a refused key or a failed write is not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, PushError::Unreachable(_))
    }

    /// True when the host was never reached.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, PushError::Unreachable(_) | PushError::ConnectTimeout(_))
    }
}
