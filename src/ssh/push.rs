//! One host's open connection: write a file atomically over one exec with the content on stdin, verify its
//! checksum, optionally ensure the AWS profile block, and run the read-only status probe.

use std::path::Path;

use std::time::{Duration, Instant};

use openssh::Session;

use crate::delivery::bounded;
pub use crate::ssh::answer::Shown;
use crate::ssh::answer::{self, Reply};
use crate::ssh::direct::Direct;
use crate::ssh::exec::{self, Answer};

use crate::host::credentials::CredentialsSection;
use crate::host::document::CredentialDocument;
use crate::host::fsutil::sha256_hex;
use crate::host::profile::{InstallOutcome, ProfileSpec};
use crate::host::secret::Secret;
use crate::ssh::error::PushError;
use crate::ssh::helper::{Helper, HelperNote};
use crate::ssh::host::Become;
use std::sync::Arc;

/// The remote writer, after the prelude it shares with the status probe.
pub(crate) const WRITE_SCRIPT: &str = concat!(
    include_str!("../../templates/remote_common.sh"),
    include_str!("../../templates/remote_dirs.sh"),
    include_str!("../../templates/remote_write.sh")
);

/// The read-only reader of a file the next exec merges into and writes (`--format credentials`).
const SHOW_SCRIPT: &str =
    concat!(include_str!("../../templates/remote_common.sh"), include_str!("../../templates/remote_show.sh"));

/// What a successful push did on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The absolute path written on the host.
    pub path: String,
    /// What happened to the profile, when one was asked for.
    pub profile: Option<InstallOutcome>,
    /// A later rotation (this stamp) had already written the document, which was left alone.
    pub superseded: Option<u64>,
}

/// How a connection runs its execs.
enum Link {
    /// A master's mux socket.
    Mux(Session),
    /// One plain ssh per exec.
    Direct(Direct),
    /// This machine, without ssh.
    Local,
}

/// An open connection to one host (or this machine, for `ansible_connection: local`).
pub struct Connection {
    link: Link,
    /// `ansible_become`: the writer runs through `sudo -n` as this user.
    become_user: Option<Become>,
    /// The writer's helper program, run in place of the shell writer where it is installed.
    helper: Option<Arc<Helper>>,
}

impl Connection {
    /// A connection over an ssh master's mux socket.
    pub(crate) fn ssh(session: Session, become_user: Option<Become>, helper: Option<Arc<Helper>>) -> Self {
        Self { link: Link::Mux(session), become_user, helper }
    }

    /// A connection made anew by each exec.
    pub(crate) fn direct(direct: Direct, become_user: Option<Become>, helper: Option<Arc<Helper>>) -> Self {
        Self { link: Link::Direct(direct), become_user, helper }
    }

    /// The writer on this machine.
    pub(crate) fn local(become_user: Option<Become>, helper: Option<Arc<Helper>>) -> Self {
        Self { link: Link::Local, become_user, helper }
    }

    /// False while nothing can have reached the host: a plain ssh per exec that has not yet authenticated and
    /// taken any input. A master, once up, and this machine count as reached.
    pub fn reached(&self) -> bool {
        match &self.link {
            Link::Direct(d) => d.reached(),
            Link::Mux(_) | Link::Local => true,
        }
    }

    /// Writes `content` to `path` (absolute or `~/…`) atomically with `mode`, and checks that the file on the host
    /// has the checksum of what was sent. With `show`, the same exec also reads that small file back, so a
    /// rotation that also keeps a profile costs one exec when the profile is already right. `stamp` (when the
    /// rotation assumed its role) makes the writer leave a document a later rotation wrote; past `deadline` the
    /// writer renames nothing. `expect` (the sha256 of the file as an earlier exec read it, or `absent`) makes it
    /// leave a file that changed since.
    #[allow(clippy::too_many_arguments)]
    pub async fn write_file(
        &self,
        path: &str,
        content: &Secret,
        mode: u32,
        show: Option<&str>,
        stamp: Option<u64>,
        deadline: Instant,
        expect: Option<&str>,
    ) -> Result<Written, PushError> {
        let helper = self.helper.as_deref().map(Helper::check_arg);
        self.write_bytes(path, content.expose().as_bytes(), mode, show, stamp, deadline, expect, helper.as_deref())
            .await
    }

    /// [`Connection::write_file`] of any bytes; `helper` names and checks the helper to run, if installed
    /// ([`Helper::check_arg`]).
    #[allow(clippy::too_many_arguments)]
    async fn write_bytes(
        &self,
        path: &str,
        bytes: &[u8],
        mode: u32,
        show: Option<&str>,
        stamp: Option<u64>,
        deadline: Instant,
        expect: Option<&str>,
        helper: Option<&str>,
    ) -> Result<Written, PushError> {
        let want = sha256_hex(bytes);
        let nonce = bounded::nonce();
        // What is left of the host's time, less a margin for the answer's way back.
        let secs = deadline.saturating_duration_since(Instant::now()).saturating_sub(Duration::from_secs(1));
        let stamp = stamp.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let mut argv: Vec<String> =
            ["-c", WRITE_SCRIPT, "credpush", helper.unwrap_or("-"), path].map(str::to_owned).to_vec();
        argv.extend([format!("{mode:o}"), stamp, secs.as_secs().max(1).to_string(), nonce.clone()]);
        if show.is_some() || expect.is_some() {
            argv.push(show.unwrap_or_default().to_owned());
        }
        argv.extend(expect.map(str::to_owned));
        // A header with the checksum and length, the content, an end marker: a stream cut short, or one whose end
        // never comes, changes nothing on the host.
        let header = format!("credpush-write {want} {}\n", bytes.len());
        let answer = self.run_writer(argv, &[header.as_bytes(), bytes, b"credpush-end\n"]).await?;
        let remote = |detail: String| PushError::Remote { path: path.to_owned(), detail };
        let Some(body) = bounded::frame(&answer.stdout, &nonce) else {
            return Err(remote(self.unframed(&answer)));
        };
        let (note, body) = answer::helper_note(&body);
        let helper = note.map_or(HelperNote::None, HelperNote::parse);
        match answer::parse(body).map_err(remote)? {
            Reply::Error(detail) => Err(remote(detail)),
            Reply::Newer(kept) => Ok(Written { path: path.to_owned(), shown: None, superseded: Some(kept), helper }),
            Reply::Ok { sha256, .. } if sha256 != want => Err(PushError::Verify(path.to_owned())),
            Reply::Ok { path: abs, shown, .. } => Ok(Written { path: abs, shown, superseded: None, helper }),
        }
    }

    /// True when this run has a helper to run and install.
    pub fn has_helper(&self) -> bool {
        self.helper.is_some()
    }

    /// Installs the run's helper on the host (after a write said it is missing or changed), through the shell
    /// writer: under the directory rule, 0700, checked against its sha256. Not a host's failure when it fails:
    /// the shell writer wrote the document and goes on doing so.
    pub async fn install_helper(&self, deadline: Instant) -> Result<(), PushError> {
        let Some(helper) = &self.helper else { return Ok(()) };
        self.write_bytes(&helper.remote_path(), helper.bytes(), 0o700, None, None, deadline, None, None).await?;
        Ok(())
    }

    /// Why an exec gave no framed answer: sudo's refusal, the shell's own error, or the exit status.
    fn unframed(&self, answer: &Answer) -> String {
        let stderr = answer.stderr.text().trim().to_owned();
        match &self.become_user {
            Some(b) if stderr.contains("sudo:") => sudo_failure(b, &stderr),
            _ if stderr.is_empty() => format!("no answer from the remote writer (exit status {:?})", answer.code),
            _ => stderr,
        }
    }

    /// Ensures the managed profile block in the host's `~/.aws/config` (as `shown` by the document's write),
    /// pointing at `document_path`. Writes only when the block is missing or different.
    pub async fn install_profile(
        &self,
        name: &str,
        document_path: &str,
        region: Option<&str>,
        shown: Shown,
        deadline: Instant,
    ) -> Result<InstallOutcome, PushError> {
        let spec = ProfileSpec::new(name, document_path, region).map_err(|e| PushError::Local(e.to_string()))?;
        if let Some(size) = shown.too_large {
            return Err(PushError::Remote {
                path: shown.path,
                detail: format!(
                    "it is {size} bytes (or not a regular file), over the 64 KiB credpush reads back to merge the profile (fix: trim it, or drop --install-profile for this host)"
                ),
            });
        }
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
        self.write_file(&shown.path, &Secret::new(merged), mode, None, None, deadline, None).await?;
        Ok(outcome)
    }

    /// `--format credentials`: merges `section` for `doc` into `file` (`~/.aws/credentials`) on the host. One
    /// read-only exec reads the file (it holds secrets, so its text is a [`Secret`] here and never in a message);
    /// the merge happens here; the write is 0600, stamped like a document (no roll-back), and made only if the
    /// file is still what was read.
    pub async fn install_credentials(
        &self,
        file: &str,
        section: &CredentialsSection,
        doc: &CredentialDocument,
        stamp: u64,
        deadline: Instant,
    ) -> Result<(Written, InstallOutcome), PushError> {
        let body = self.probe_bytes(SHOW_SCRIPT, &[file], "credentials reader").await?;
        let remote = |path: &str, detail: String| PushError::Remote { path: path.to_owned(), detail };
        let Shown { path, existing, too_large } = answer::parse_show(&body).map_err(|d| remote(file, d))?;
        if let Some(size) = too_large {
            return Err(remote(
                &path,
                format!(
                    "it is {size} bytes (or not a regular file), over the 64 KiB credpush reads back to merge the credentials section (fix: trim it, or rotate this host with --format json)"
                ),
            ));
        }
        let (text, expect, outcome) = match existing {
            Some((_, text)) => {
                let sha = sha256_hex(text.as_bytes());
                (Secret::new(text), sha, InstallOutcome::Updated)
            }
            None => (Secret::new(""), "absent".to_owned(), InstallOutcome::Created),
        };
        let merged = section.merge(&text, doc, Path::new(&path)).map_err(|e| remote(&path, e.to_string()))?;
        let written = self.write_file(&path, &merged, 0o600, None, Some(stamp), deadline, Some(&expect)).await?;
        Ok((written, outcome))
    }

    /// Runs `sh ARGV` (through `sudo -n -H -u USER` under become) over ssh or locally, with `input` on stdin,
    /// both output streams read through the bounded reader. Arguments are passed as words (the openssh crate
    /// escapes each one), never as command text.
    async fn run_writer(&self, argv: Vec<String>, input: &[&[u8]]) -> Result<Answer, PushError> {
        let mut words: Vec<String> = Vec::new();
        if let Some(b) = &self.become_user {
            words.extend(["sudo", "-n", "-H", "-u", &b.user].map(str::to_owned));
            words.extend(b.flags.iter().cloned());
            words.push("--".into());
        }
        words.push("sh".into());
        words.extend(argv);
        match &self.link {
            Link::Mux(session) => exec::remote(session, &words, input).await,
            Link::Direct(direct) => direct.exec(&words, input).await,
            Link::Local => exec::local(&words, input).await,
        }
    }

    /// Runs one of credpush's fixed read-only scripts (`sh -c SCRIPT credpush ARGS… NONCE`) with no input and
    /// returns its framed answer, whatever login scripts printed around it. It runs as the writer does (become,
    /// local), so it reads what the writer wrote.
    pub async fn probe(&self, script: &str, args: &[&str]) -> Result<String, PushError> {
        let body = self.probe_bytes(script, args, "status probe").await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// [`Connection::probe`], answering the frame's bytes as they came; `what` names the script in errors.
    async fn probe_bytes(&self, script: &str, args: &[&str], what: &str) -> Result<Vec<u8>, PushError> {
        let nonce = bounded::nonce();
        let mut argv: Vec<String> = ["-c", script, "credpush"].map(str::to_owned).to_vec();
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv.push(nonce.clone());
        let answer = self.run_writer(argv, &[]).await?;
        match bounded::frame(&answer.stdout, &nonce) {
            Some(body) => Ok(body),
            None => Err(PushError::Ssh(format!("the {what} gave no answer: {}", self.unframed(&answer)))),
        }
    }

    /// Closes the master connection, reporting its error (a plain ssh per exec has none left open).
    pub async fn close(self) -> Result<(), PushError> {
        match self.link {
            Link::Mux(session) => {
                session.close().await.map_err(|e| PushError::Ssh(format!("closing the connection: {e}")))
            }
            Link::Direct(_) | Link::Local => Ok(()),
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
    /// A later rotation (this stamp) had already written the file, which was left alone.
    pub superseded: Option<u64>,
    /// What the answer said of the helper.
    pub helper: HelperNote,
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

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
