//! One host: connect with the system ssh (through the `openssh` crate), write a file atomically over one exec
//! with the content on stdin, verify its checksum, and optionally ensure the AWS profile block.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use openssh::{Session, Stdio};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::master::{self, ControlDir, LaunchError};
use crate::profile::{InstallOutcome, ProfileSpec};
use crate::secret::Secret;
use crate::sshargs::{HostArgs, Pinned};
use crate::target::{Become, HostTarget};

/// The remote writer, after the prelude it shares with the status probe.
pub(crate) const WRITE_SCRIPT: &str =
    concat!(include_str!("../templates/remote_common.sh"), include_str!("../templates/remote_write.sh"));

/// How strictly host keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HostKeyPolicy {
    /// Only hosts whose key is already in known_hosts (the default).
    Strict,
    /// Trust and record the key of a host never seen before; a changed key still fails.
    AcceptNew,
}

/// SSH settings shared by every host of a run.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Host key policy.
    pub host_keys: HostKeyPolicy,
    /// Connect timeout (TCP and SSH handshake).
    pub connect_timeout: Duration,
    /// How long an idle master stays up after its last session (bounds what a killed run leaves behind).
    pub persist: Duration,
    /// Where control sockets and master logs live.
    pub control: Arc<ControlDir>,
    /// `--ssh-config`: used instead of the user's default ssh config.
    pub config_file: Option<PathBuf>,
}

impl SshSettings {
    /// The settings of one run: `--known-hosts`, `--timeout` in seconds (the connect timeout is at most 10 s of
    /// it; an idle master outlives its last session by at most all of it), and `--ssh-config`, which must be
    /// readable. Creates the run's control directory.
    pub fn for_run(
        host_keys: HostKeyPolicy,
        timeout_secs: u64,
        config_file: Option<PathBuf>,
    ) -> crate::error::Result<Self> {
        use crate::error::Error;
        if let Some(file) = &config_file {
            std::fs::File::open(file).map_err(|e| {
                Error::invalid(
                    "--ssh-config",
                    file.display().to_string(),
                    format!("cannot read it ({e}); name a readable ssh config file"),
                )
            })?;
        }
        let control =
            ControlDir::create().map_err(|e| Error::io("create a control directory in", std::env::temp_dir(), e))?;
        Ok(Self {
            host_keys,
            connect_timeout: Duration::from_secs(timeout_secs.clamp(1, 10)),
            persist: Duration::from_secs(timeout_secs.max(1)),
            control: Arc::new(control),
            config_file,
        })
    }

    /// The options credpush pins on every ssh command line of this run.
    pub fn pinned(&self) -> Pinned {
        Pinned {
            strict: match self.host_keys {
                HostKeyPolicy::Strict => "yes",
                HostKeyPolicy::AcceptNew => "accept-new",
            },
            connect_timeout_secs: self.connect_timeout.as_secs().max(1),
            persist_secs: self.persist.as_secs().max(1),
            operator_config: self.config_file.clone(),
        }
    }
}

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

/// What a successful push did on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The absolute path written on the host.
    pub path: String,
    /// What happened to the profile, when one was asked for.
    pub profile: Option<InstallOutcome>,
}

/// An open connection to one host (or this machine, for `ansible_connection: local`).
pub struct Connection {
    /// None for a local host: the same writer runs here, without ssh.
    session: Option<Session>,
    /// `ansible_become`: the writer runs through `sudo -n` as this user.
    become_user: Option<Become>,
}

fn host_args(target: &HostTarget) -> HostArgs<'_> {
    HostArgs {
        address: &target.address,
        port: target.port,
        key_file: target.key_file.as_deref(),
        user: target.user.as_deref(),
        inventory: &target.ssh_args,
    }
}

/// Connects to `target`: starts its master (see [`crate::master`]) and attaches the mux client to it.
pub async fn connect(target: &HostTarget, settings: &SshSettings) -> Result<Connection, PushError> {
    if target.local {
        return Ok(Connection { session: None, become_user: target.become_user.clone() });
    }
    let (socket, log) = settings.control.slot();
    tracing::debug!(host = %target.name, destination = %target.destination(), "connecting");
    match master::launch(&settings.pinned(), &host_args(target), &socket, &log).await {
        Ok(()) => Ok(Connection {
            session: Some(Session::resume_mux(socket.into(), Some(log.into()))),
            become_user: target.become_user.clone(),
        }),
        Err(LaunchError::Spawn(e)) => Err(PushError::Local(format!("cannot start ssh: {e}"))),
        Err(LaunchError::Failed(text)) => Err(classify_connect_error(target, &text)),
    }
}

/// Checks that the inventory's ssh args (a `-F` file above all) leave host key trust as the operator's own
/// config sets it: ssh resolves the trust options both ways (`ssh -G`), and they must be equal. Returns why not.
pub async fn check_trust(target: &HostTarget, settings: &SshSettings) -> Result<(), String> {
    if !target.ssh_args_have_config {
        return Ok(());
    }
    let pinned = settings.pinned();
    let host = host_args(target);
    let resolve = |operator_only: bool| {
        let args = crate::sshargs::resolve_args(&pinned, &host, operator_only);
        async move {
            let out = tokio::process::Command::new("ssh")
                .args(args)
                .env_clear()
                .envs(crate::sshargs::ssh_env())
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output();
            match tokio::time::timeout(Duration::from_secs(10), out).await {
                Ok(Ok(o)) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
                Ok(Ok(o)) => Err(format!("ssh -G failed: {}", String::from_utf8_lossy(&o.stderr).trim())),
                Ok(Err(e)) => Err(format!("cannot start ssh: {e}")),
                Err(_) => Err("ssh -G did not finish within 10s".to_owned()),
            }
        }
    };
    let (operator, inventory) = tokio::try_join!(resolve(true), resolve(false))?;
    match crate::sshargs::trust_difference(&operator, &inventory) {
        None => Ok(()),
        Some((key, mine, theirs)) => Err(format!(
            "its ssh args change host key trust: {key} is {theirs:?} with them and {mine:?} in your ssh config; set host key options in your ssh config, not in the inventory"
        )),
    }
}

fn classify_connect_error(target: &HostTarget, log: &str) -> PushError {
    let detail =
        log.trim().lines().filter(|l| !l.starts_with("Warning: Permanently added")).collect::<Vec<_>>().join("; ");
    if detail.contains("Host key verification failed")
        || detail.contains("HOST IDENTIFICATION HAS CHANGED")
        || detail.contains("host key is known")
    {
        return PushError::HostKey {
            destination: target.destination(),
            address: target.address.clone(),
            port: target.port.map(|p| format!(" -p {p}")).unwrap_or_default(),
        };
    }
    if detail.contains("Permission denied") {
        return PushError::Auth(detail);
    }
    // What ssh says when the network, not the host, is the problem: worth another attempt.
    const UNREACHABLE: &[&str] = &[
        "Connection refused",
        "Connection timed out",
        "timed out during banner exchange",
        "No route to host",
        "Network is unreachable",
        "Could not resolve hostname",
        "Connection closed by",
        "Connection reset by",
        "kex_exchange_identification",
    ];
    if detail.is_empty() || UNREACHABLE.iter().any(|m| detail.contains(m)) {
        return PushError::Unreachable(if detail.is_empty() { "connection failed".into() } else { detail });
    }
    PushError::Ssh(detail)
}

impl Connection {
    /// Writes `content` to `path` (absolute or `~/…`) atomically with `mode`, and checks that the file on the host
    /// has the checksum of what was sent. With `show`, the same exec also reads that small file back, so a
    /// rotation that also keeps a profile costs one exec when the profile is already right.
    pub async fn write_file(
        &self,
        path: &str,
        content: &Secret,
        mode: u32,
        show: Option<&str>,
    ) -> Result<Written, PushError> {
        let want = hex(&Sha256::digest(content.expose().as_bytes()));
        let mut argv: Vec<String> = ["-c", WRITE_SCRIPT, "credpush", path].map(str::to_owned).to_vec();
        argv.push(format!("{mode:o}"));
        argv.extend(show.map(str::to_owned));
        // The checksum line first, then the content: a stream cut short fails the remote check.
        let mut input = Vec::with_capacity(want.len() + 1 + content.expose().len());
        input.extend_from_slice(want.as_bytes());
        input.push(b'\n');
        input.extend_from_slice(content.expose().as_bytes());
        let out = self.run_writer(argv, &input).await?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            let detail = match &self.become_user {
                Some(b) if stderr.contains("sudo:") => sudo_failure(b, &stderr),
                _ if stderr.is_empty() => format!("remote exit status {:?}", out.status.code()),
                _ => stderr,
            };
            return Err(PushError::Remote { path: path.to_owned(), detail });
        }
        let stdout = String::from_utf8(out.stdout)
            .map_err(|_| PushError::Remote { path: path.into(), detail: "the reply is not UTF-8 text".into() })?;
        let (first, rest) = stdout.split_once('\n').unwrap_or((stdout.as_str(), ""));
        let (got, abs) = first.split_once(' ').unwrap_or_default();
        if got != want {
            return Err(PushError::Verify(path.to_owned()));
        }
        let shown = show
            .map(|_| parse_shown(rest))
            .transpose()
            .map_err(|detail| PushError::Remote { path: path.into(), detail })?;
        Ok(Written { path: abs.to_owned(), shown })
    }

    /// Ensures the managed profile block in the host's `~/.aws/config` (as `shown` by the document's write),
    /// pointing at `document_path`. Writes only when the block is missing or different.
    pub async fn install_profile(
        &self,
        name: &str,
        document_path: &str,
        region: Option<&str>,
        shown: Shown,
    ) -> Result<InstallOutcome, PushError> {
        let spec = ProfileSpec::new(name, document_path, region).map_err(|e| PushError::Local(e.to_string()))?;
        let (mode, text, outcome) = match shown.existing {
            Some((mode, text)) => (mode, text, InstallOutcome::Updated),
            None => (0o600, String::new(), InstallOutcome::Created),
        };
        let merged = spec
            .merge(&text, Path::new(&shown.path))
            .map_err(|e| PushError::Remote { path: shown.path.clone(), detail: e.to_string() })?;
        if outcome == InstallOutcome::Updated && merged == text {
            return Ok(InstallOutcome::Unchanged);
        }
        self.write_file(&shown.path, &Secret::new(merged), mode, None).await?;
        Ok(outcome)
    }

    /// Runs `sh ARGV` (through `sudo -n -H -u USER` under become) over ssh or locally, with `input` on stdin.
    /// Arguments are passed as words (the openssh crate escapes each one), never as command text.
    async fn run_writer(&self, argv: Vec<String>, input: &[u8]) -> Result<std::process::Output, PushError> {
        let mut words: Vec<String> = Vec::new();
        if let Some(b) = &self.become_user {
            words.extend(["sudo", "-n", "-H", "-u", &b.user].map(str::to_owned));
            words.extend(b.flags.iter().cloned());
            words.push("--".into());
        }
        words.push("sh".into());
        words.extend(argv);
        let Some(session) = &self.session else {
            return run_local(&words, input).await;
        };
        let mut cmd = session.command(&words[0]);
        cmd.args(&words[1..]);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .await
            .map_err(|e| PushError::Ssh(format!("cannot start the remote writer: {e}")))?;
        if let Some(mut stdin) = child.stdin().take() {
            let sent = stdin.write_all(input).await.and(stdin.shutdown().await);
            drop(stdin);
            if let Err(e) = sent {
                tracing::debug!(error = %e, "stdin closed early");
            }
        }
        child
            .wait_with_output()
            .await
            .map_err(|e| PushError::Ssh(format!("the connection failed during the write: {e}")))
    }

    /// Runs one of credpush's fixed read-only scripts (`sh -c SCRIPT credpush ARGS…`) with no input and returns its
    /// standard output, at most `limit` bytes of it. It runs as the writer does (become, local), so it reads what
    /// the writer wrote.
    pub async fn probe(&self, script: &str, args: &[&str], limit: usize) -> Result<String, PushError> {
        let mut argv: Vec<String> = ["-c", script, "credpush"].map(str::to_owned).to_vec();
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let out = self.run_writer(argv, &[]).await?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.len() > limit {
            let mut cut = limit;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        Ok(text)
    }

    /// Closes the master connection, reporting its error.
    pub async fn close(self) -> Result<(), PushError> {
        match self.session {
            Some(session) => session.close().await.map_err(|e| PushError::Ssh(format!("closing the connection: {e}"))),
            None => Ok(()),
        }
    }
}

/// What a write reported back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The absolute path written.
    pub path: String,
    /// The file asked for with `show`.
    pub shown: Option<Shown>,
}

/// A small file read back by the same exec as a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Its absolute path.
    pub path: String,
    /// Its octal mode and content, when it exists.
    pub existing: Option<(u32, String)>,
}

/// `ansible_connection: local`: the same writer on this machine. `kill_on_drop` ends it with the host's task.
async fn run_local(words: &[String], input: &[u8]) -> Result<std::process::Output, PushError> {
    let mut child = tokio::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PushError::Local(format!("cannot start the local writer {}: {e}", words[0])))?;
    if let Some(mut stdin) = child.stdin.take() {
        let sent = stdin.write_all(input).await.and(stdin.shutdown().await);
        drop(stdin);
        if let Err(e) = sent {
            tracing::debug!(error = %e, "stdin closed early");
        }
    }
    child.wait_with_output().await.map_err(|e| PushError::Local(format!("the local writer failed: {e}")))
}

/// sudo's own refusal, with the fix: credpush runs `sudo -n`, which never prompts.
fn sudo_failure(b: &Become, stderr: &str) -> String {
    let first = stderr.lines().find(|l| l.contains("sudo:")).unwrap_or(stderr);
    if stderr.contains("password is required") {
        format!(
            "{first} (fix: let the login user run commands as {} through sudo without a password (NOPASSWD), or remove ansible_become for this host)",
            b.user
        )
    } else {
        format!("{first} (fix: check ansible_become_user and the host's sudoers rules for {})", b.user)
    }
}

/// Parses the writer's `SHOW` section: path, `absent` | `present` + mode + content.
fn parse_shown(text: &str) -> Result<Shown, String> {
    let mut parts = text.splitn(3, '\n');
    let path = parts.next().unwrap_or_default().to_owned();
    match parts.next() {
        Some("absent") => Ok(Shown { path, existing: None }),
        Some("present") => {
            let rest = parts.next().unwrap_or_default();
            let (mode, content) = rest.split_once('\n').unwrap_or((rest, ""));
            let mode =
                u32::from_str_radix(mode.trim(), 8).map_err(|_| format!("unexpected mode {mode:?} for {path}"))?;
            Ok(Shown { path, existing: Some((mode, content.to_owned())) })
        }
        other => Err(format!("unexpected reply {other:?} reading {path}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn run_write(home: &Path, target: &str, input: &[u8]) -> std::process::Output {
        run_write_show(home, target, input, &[])
    }

    fn run_write_show(home: &Path, target: &str, input: &[u8], show: &[&str]) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new("sh")
            .args(["-c", WRITE_SCRIPT, "credpush", target, "600"])
            .args(show)
            .env("HOME", home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    #[test]
    fn remote_writer_is_atomic_and_rejects_short_input() {
        let home = tempfile::tempdir().unwrap();
        let doc = b"{\"Version\":1}\n";
        let sha = hex(&Sha256::digest(doc));
        let out = run_write(home.path(), "~/.aws/temp.json", &[sha.as_bytes(), b"\n", doc].concat());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let abs = home.path().join(".aws/temp.json");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{sha} {}\n", abs.display()));
        assert_eq!(std::fs::read(&abs).unwrap(), doc);

        let short = run_write(home.path(), "~/.aws/temp.json", &[b"0000\n".as_slice(), b"{\"Vers"].concat());
        assert_eq!(short.status.code(), Some(65));
        assert!(String::from_utf8_lossy(&short.stderr).contains("checksum mismatch"));
        assert_eq!(std::fs::read(&abs).unwrap(), doc, "the previous document must survive");
        assert_eq!(std::fs::read_dir(home.path().join(".aws")).unwrap().count(), 1, "temp file left behind");

        let rel = run_write(home.path(), "aws/temp.json", &[sha.as_bytes(), b"\n", doc].concat());
        assert_eq!(rel.status.code(), Some(64));

        // A directory, or a link to one, at the target: refused, and nothing is left in it or beside it.
        for (target, make) in [("~/d", false), ("~/link", true)] {
            let dir = home.path().join("real-dir");
            std::fs::create_dir_all(&dir).unwrap();
            if make {
                std::os::unix::fs::symlink(&dir, home.path().join("link")).unwrap();
            } else {
                std::fs::create_dir_all(home.path().join("d")).unwrap();
            }
            let out = run_write(home.path(), target, &[sha.as_bytes(), b"\n", doc].concat());
            assert_eq!(out.status.code(), Some(66), "{target}");
            assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{target}: a temp file was left in the directory");
        }
        let names: Vec<_> = std::fs::read_dir(home.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().starts_with(".credpush")), "{names:?}");
    }

    #[test]
    fn remote_writer_shows_a_second_file_in_the_same_exec() {
        let home = tempfile::tempdir().unwrap();
        let doc = b"{}";
        let input = [hex(&Sha256::digest(doc)).as_bytes(), b"\n", doc].concat();
        let config = home.path().join(".aws/config");
        let out = run_write_show(home.path(), "~/.aws/temp.json", &input, &["~/.aws/config"]);
        let text = String::from_utf8(out.stdout).unwrap();
        let rest = text.split_once('\n').unwrap().1;
        assert_eq!(parse_shown(rest).unwrap(), Shown { path: config.display().to_string(), existing: None });

        std::fs::write(&config, "[default]\nregion = x\n").unwrap();
        std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
        let out = run_write_show(home.path(), "~/.aws/temp.json", &input, &["~/.aws/config"]);
        let text = String::from_utf8(out.stdout).unwrap();
        let shown = parse_shown(text.split_once('\n').unwrap().1).unwrap();
        assert_eq!(shown.existing, Some((0o640, "[default]\nregion = x\n".to_owned())));
    }
}
