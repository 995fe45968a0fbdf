//! One host's open connection: write a file atomically over one exec with the content on stdin, verify its
//! checksum, optionally ensure the AWS profile block, and run the read-only status probe.

use std::path::Path;

use openssh::{Session, Stdio};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::host::profile::{InstallOutcome, ProfileSpec};
use crate::host::secret::Secret;
use crate::ssh::error::PushError;
use crate::ssh::host::Become;

/// The remote writer, after the prelude it shares with the status probe.
pub(crate) const WRITE_SCRIPT: &str =
    concat!(include_str!("../../templates/remote_common.sh"), include_str!("../../templates/remote_write.sh"));

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

impl Connection {
    /// A connection over an ssh master's mux socket.
    pub(crate) fn ssh(session: Session, become_user: Option<Become>) -> Self {
        Self { session: Some(session), become_user }
    }

    /// The writer on this machine.
    pub(crate) fn local(become_user: Option<Become>) -> Self {
        Self { session: None, become_user }
    }

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
