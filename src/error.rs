//! Every failure credpush reports, and the exit code each one maps to.
//!
//! Exit codes (documented in the README and `credpush --help`):
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success (for `rotate`: every host ok) |
//! | 1 | `rotate` ran, and at least one host failed, was unreachable, or was skipped by a signal |
//! | 2 | bad input: flags, ARN, duration, tag, policy file, profile path, inventory; a directory on the way to a written file that breaks the directory rule; an open file limit too low for one host; or a refused request such as role chaining past 1 hour |
//! | 3 | AWS: no caller credentials, STS unreachable or silent past `--sts-deadline`, access denied, any other STS error |
//! | 4 | a local file could not be read or written, `serve` could not listen on its address, or a program credpush runs could not be started |
//!
//! Messages are lower case, name the input, say what is wrong and how to fix it, and never carry a secret.

use std::path::PathBuf;

pub use carried::Carried;

mod carried;

/// Exit code: every host ok, or the command succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code: `rotate` finished, and at least one host failed, was unreachable, or was skipped by a signal.
pub const EXIT_HOSTS_FAILED: i32 = 1;
/// Exit code: bad input or a refused request; nothing was called or written.
pub const EXIT_INPUT: i32 = 2;
/// Exit code: AWS credentials or STS failed.
pub const EXIT_AWS: i32 = 3;
/// Exit code: a local file could not be read or written.
pub const EXIT_IO: i32 = 4;

/// A credpush failure. Each variant names the input it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag's value failed validation before any network call.
    #[error("{flag} {value:?} is invalid: {reason}")]
    InvalidArg {
        /// The flag, e.g. `--role-arn`.
        flag: &'static str,
        /// The value as given (never a secret).
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },

    /// The policy file could not be read, or is not JSON.
    #[error("--policy-file {}: {reason}", path.display())]
    PolicyFile {
        /// The file given.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The caller is an assumed role and asked for more than STS allows for role chaining.
    #[error(
        "--duration {duration_secs}s is over the 1-hour limit STS applies to role chaining: the caller {caller_arn} \
         is itself an assumed role (fix: use --duration 1h or less, and rotate at least every 30 minutes)"
    )]
    RoleChaining {
        /// The caller's ARN.
        caller_arn: String,
        /// The requested duration in seconds.
        duration_secs: u32,
    },

    /// No credentials for the caller were found anywhere in the standard chain.
    #[error(
        "no AWS credentials found for the caller: {detail} (looked in: environment AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         AWS_PROFILE or default profile in the shared config and credentials files, web identity token, \
         container credentials (ECS, CodeBuild), EC2 instance metadata; fix: provide one of these)"
    )]
    NoCredentials {
        /// What the credential chain said.
        detail: String,
    },

    /// The caller's own credentials are past their expiry.
    #[error("the caller's AWS credentials expired at {expired_at} (fix: refresh them before running credpush)")]
    CallerCredentialsExpired {
        /// RFC 3339 expiry of the caller's credentials.
        expired_at: String,
    },

    /// The caller's credentials hold bytes no AWS key has (a control character or whitespace, often a `\r` from a
    /// file saved on Windows or a newline from `$(cat FILE)`); the SDK's signer would panic on them.
    #[error(
        r"the caller's {field} contains a control character or whitespace{where_}, which no AWS credential has (likely a \r or \n left by the file or command that set it; fix: remove it where the credential is set)"
    )]
    CallerCredentialsMalformed {
        /// Which part: the access key id, secret access key or session token (never its value).
        field: &'static str,
        /// Where it was at: the end, or inside.
        where_: &'static str,
    },

    /// credpush runs as the `credential_process` of a credpush resolving its caller's credentials.
    #[error(
        "credpush was started by credpush (pid {pid}) to resolve that run's caller credentials: the caller's profile runs credpush as its credential_process, which would start it again and again (fix: give the caller credentials of its own)"
    )]
    NestedCaller {
        /// The outer credpush.
        pid: i32,
    },

    /// STS could not be reached.
    #[error(
        "could not reach the STS endpoint {endpoint}: {detail} (fix: check AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the region, and the network or proxy)"
    )]
    EndpointUnreachable {
        /// The endpoint the request went to.
        endpoint: String,
        /// The transport error.
        detail: String,
    },

    /// STS refused AssumeRole.
    #[error(
        "access denied: the caller {caller_arn} may not assume {role_arn}: {message} (likely causes: the role's trust \
         policy does not name the caller, the caller lacks sts:AssumeRole on the role, or the trust policy requires an \
         ExternalId that --external-id does not match)"
    )]
    AccessDenied {
        /// The caller's ARN.
        caller_arn: String,
        /// The role asked for.
        role_arn: String,
        /// STS's own message.
        message: String,
    },

    /// STS rejected the caller's credentials themselves.
    #[error(
        "STS rejected the caller's credentials ({code}): {message} (fix: check that the caller's access key, secret and session token belong together and are current)"
    )]
    CallerRejected {
        /// The STS operation.
        operation: &'static str,
        /// STS's error code.
        code: String,
        /// STS's message.
        message: String,
    },

    /// Any other STS error.
    #[error(
        "STS {operation}{} at {endpoint} failed: {message} (fix: {fix})",
        role_arn.as_deref().map(|r| format!(" for {r}")).unwrap_or_default()
    )]
    Sts {
        /// The STS operation.
        operation: &'static str,
        /// The role, for AssumeRole.
        role_arn: Option<String>,
        /// The endpoint that answered.
        endpoint: String,
        /// STS's code and message.
        message: String,
        /// What to do about it.
        fix: &'static str,
    },

    /// The STS endpoint did not answer in time, or answered with something that is not an STS response.
    #[error(
        "STS {call} at {endpoint} failed: {what} (likely cause: {cause}; fix: check AWS_ENDPOINT_URL_STS, \
         AWS_ENDPOINT_URL, the region and any HTTPS proxy; unset the endpoint variables to use AWS's own STS)"
    )]
    StsEndpoint {
        /// The STS operation, and for AssumeRole the role: `AssumeRole for arn:…`.
        call: String,
        /// The endpoint the request went to.
        endpoint: String,
        /// What went wrong, as seen from here.
        what: String,
        /// The likely cause.
        cause: &'static str,
    },

    /// A profile path that botocore could not use.
    #[error("profile path {path:?} is not usable: {reason}")]
    ProfilePath {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },

    /// The config file already has the profile outside credpush's managed block, or a broken block.
    #[error("{}: {reason}", path.display())]
    ConfigFile {
        /// The config file.
        path: PathBuf,
        /// What is wrong and the fix.
        reason: String,
    },

    /// A host's inventory variable is unusable.
    #[error(
        "host {host}: {var} {value:?} is invalid: {reason} (fix: correct it in the inventory or its group_vars/host_vars)"
    )]
    HostVar {
        /// The inventory host.
        host: String,
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },

    /// A host has no role: no credpush_role_arn and no --role-arn.
    #[error(
        "host {host} has no role to assume (fix: pass --role-arn, or set credpush_role_arn for the host or its group in the inventory)"
    )]
    NoRole {
        /// The inventory host.
        host: String,
    },

    /// `fetch` refused the parameter's document: invalid, expired, or older than the version already written.
    #[error("parameter {parameter}: {reason}")]
    FetchRefused {
        /// The SecureString parameter.
        parameter: String,
        /// Why, and that the old file was kept.
        reason: String,
    },

    /// An SSM call failed (PutParameter, SendCommand, GetParameter, the invocation reads).
    #[error("SSM {operation} for {object} failed: {message} (fix: {fix})")]
    Ssm {
        /// The operation.
        operation: &'static str,
        /// The parameter, instances or command it was about.
        object: String,
        /// SSM's code and message.
        message: String,
        /// What to do about it.
        fix: &'static str,
    },

    /// The open file limit leaves no room for one host in flight.
    #[error(
        "the open file limit (ulimit -n) is {soft}{}, and one host in flight needs {need} descriptors (fix: raise it, e.g. ulimit -n 1024, or LimitNOFILE= in a systemd unit)",
        hard.map(|h| format!(" with a hard limit of {h}")).unwrap_or_default()
    )]
    FdLimit {
        /// The soft limit, after credpush raised it as far as the hard limit allows.
        soft: u64,
        /// The hard limit (`None`: unlimited).
        hard: Option<u64>,
        /// Descriptors credpush needs for its own use plus one host.
        need: u64,
    },

    /// The inventory could not be read: an `inventory::InventoryError`, converted where that type lives.
    #[error(transparent)]
    Inventory(Carried),

    /// `credpush serve` could not listen on its address.
    #[error(
        "could not listen on {addr}: {source} (fix: choose a free port with --listen 127.0.0.1:PORT, or stop what holds it)"
    )]
    Listen {
        /// The address.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A program credpush runs could not be started on this machine.
    #[error("could not start {program}: {source} (fix: {})", spawn_fix(source))]
    Spawn {
        /// The program, as the message names it.
        program: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A local file operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },

    /// A write refused by the directory rule (a refusal), or that failed on the way (names the directory and the
    /// fix): a `host::dirs::DirError`, converted where that type lives.
    #[error(transparent)]
    Dir(Carried),
}

impl Error {
    /// The process exit code for this error (see the module docs).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::InvalidArg { .. }
            | Error::PolicyFile { .. }
            | Error::RoleChaining { .. }
            | Error::ProfilePath { .. }
            | Error::ConfigFile { .. }
            | Error::HostVar { .. }
            | Error::NoRole { .. }
            | Error::FetchRefused { .. }
            | Error::FdLimit { .. }
            | Error::Inventory(_) => EXIT_INPUT,
            Error::NoCredentials { .. }
            | Error::CallerCredentialsExpired { .. }
            | Error::CallerCredentialsMalformed { .. }
            | Error::NestedCaller { .. }
            | Error::EndpointUnreachable { .. }
            | Error::AccessDenied { .. }
            | Error::CallerRejected { .. }
            | Error::Sts { .. }
            | Error::StsEndpoint { .. }
            | Error::Ssm { .. } => EXIT_AWS,
            Error::Dir(e) if e.is_refusal() => EXIT_INPUT,
            Error::Io { .. } | Error::Listen { .. } | Error::Dir(_) | Error::Spawn { .. } => EXIT_IO,
        }
    }

    /// Shorthand for [`Error::InvalidArg`].
    pub fn invalid(flag: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidArg { flag, value: value.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

/// `Result` with credpush's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The fix for a failed spawn, by the kind of failure.
fn spawn_fix(e: &std::io::Error) -> &'static str {
    use rustix::io::Errno;
    match Errno::from_io_error(e) {
        Some(Errno::MFILE | Errno::NFILE) => "raise the open file limit, e.g. ulimit -n 4096, or lower --forks",
        Some(Errno::AGAIN) => "raise the process limit (ulimit -u), or lower --forks",
        Some(Errno::NOENT) => "install the OpenSSH client, or put ssh on PATH",
        _ => "check that this machine can start processes",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_spawn_names_the_limit_it_ran_into() {
        let line = |errno: rustix::io::Errno| {
            Error::Spawn { program: "ssh -G", source: std::io::Error::from_raw_os_error(errno.raw_os_error()) }
                .to_string()
        };
        assert!(
            line(rustix::io::Errno::MFILE)
                .ends_with("(fix: raise the open file limit, e.g. ulimit -n 4096, or lower --forks)")
        );
        assert!(line(rustix::io::Errno::NFILE).contains("ulimit -n"));
        assert!(line(rustix::io::Errno::AGAIN).contains("ulimit -u"));
        assert!(line(rustix::io::Errno::NOENT).contains("install the OpenSSH client"));
        let e = Error::Spawn { program: "ssh -G", source: std::io::Error::from_raw_os_error(1) };
        assert_eq!(e.exit_code(), EXIT_IO);
    }
}
