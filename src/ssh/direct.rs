//! One plain ssh per exec, without a master: how `rotate` reaches a host when the write is its one exec
//! (`--format json`). A master plus a mux session costs another ssh process, a fork into the background and a
//! relay through the control socket on top of the same connection (`scripts/bench-host`, docs/BENCHMARKS.md);
//! a rotation that keeps a profile pays a second connection only on the run that changes the profile.
//!
//! Every pinned option of the master's command line holds ([`crate::ssh::args::direct_args`]); ssh runs with the
//! same minimal environment and leads its own process group, killed (with any `ProxyCommand`) when the exec ends
//! or is abandoned, so nothing outlives the host's task. The words are quoted for the remote shell as the
//! `openssh` crate quotes them over the mux, and the document still travels on stdin only.
//!
//! Without a separate connect step, "was the host reached?" is read from stdin: ssh reads its stdin only once the
//! server has opened the session channel, after authentication. While every byte credpush sent is still in the
//! pipe, the host cannot have been written: a cut then is "skipped", a timeout "while connecting".

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

use crate::ssh::connect::classify_connect_error;
use crate::ssh::error::PushError;
use crate::ssh::exec::{Answer, exchange};
use crate::ssh::host::SshHost;
use crate::ssh::master::GroupGuard;

/// ssh's own exit code for its failures (connect, authentication, a dropped connection); credpush's scripts and
/// sudo never exit with it.
const SSH_FAILED: i32 = 255;

/// How to reach one host with one ssh per exec.
pub(crate) struct Direct {
    /// ssh's arguments up to and including the address; the command follows.
    args: Vec<OsString>,
    /// ssh's log (`-E`), read when it fails, removed after each exec.
    log: PathBuf,
    /// The host, for the error of a failed connection.
    host: SshHost,
    /// Some exec of this connection reached the host.
    reached: AtomicBool,
    /// The exec in flight: a second read end of its stdin pipe and the bytes written to it.
    current: Mutex<Option<(OwnedFd, Arc<AtomicUsize>)>>,
}

impl Direct {
    pub(crate) fn new(args: Vec<OsString>, log: PathBuf, host: SshHost) -> Self {
        Self { args, log, host, reached: AtomicBool::new(false), current: Mutex::new(None) }
    }

    /// True once ssh has taken input of any exec of this connection: it had authenticated and opened a session,
    /// so a write may have happened.
    pub(crate) fn reached(&self) -> bool {
        if self.reached.load(Ordering::Relaxed) {
            return true;
        }
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().is_some_and(|(read, sent)| consumed(read, sent))
    }

    /// Runs `words` on the host (one connection), `input` on stdin, both streams through the bounded reader.
    pub(crate) async fn exec(&self, words: &[String], input: &[&[u8]]) -> Result<Answer, PushError> {
        let command = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        let (read, write) = std::io::pipe().map_err(local("make a pipe for ssh"))?;
        let watch: OwnedFd = read.try_clone().map_err(local("make a pipe for ssh"))?.into();
        let sent = Arc::new(AtomicUsize::new(0));
        let stdin =
            tokio::net::unix::pipe::Sender::from_owned_fd(write.into()).map_err(local("make a pipe for ssh"))?;
        // ssh -E appends: each exec starts from an empty log.
        std::fs::File::create(&self.log).map_err(local("create the ssh log"))?;
        let mut child = tokio::process::Command::new("ssh")
            .args(&self.args)
            .arg(command)
            .env_clear()
            .envs(crate::ssh::args::ssh_env())
            .stdin(std::process::Stdio::from(OwnedFd::from(read)))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| PushError::Local(format!("cannot start ssh: {e}")))?;
        let mut group = GroupGuard::of(&child);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((watch, sent.clone()));
        let stdin = Counted { inner: stdin, sent };
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let result = async {
            let streams = exchange(Some(stdin), stdout, stderr, input);
            tokio::pin!(streams);
            let mut status = None;
            let (stdout, stderr) = loop {
                tokio::select! {
                    r = &mut streams => break r?,
                    s = child.wait(), if status.is_none() => {
                        // ssh has relayed everything: what it started (a ProxyCommand's forked relay, which holds
                        // ssh's stderr) goes now, so the streams end once drained.
                        group.kill();
                        status = Some(s);
                    }
                }
            };
            let status = match status {
                Some(s) => s,
                None => child.wait().await,
            }
            .map_err(|e| PushError::Ssh(format!("the connection failed during the exec: {e}")))?;
            Ok(Answer { code: status.code(), stdout, stderr })
        }
        .await;
        let reached = self.reached();
        match result {
            Ok(answer) if answer.code == Some(SSH_FAILED) => {
                let log = std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned());
                let _ = std::fs::remove_file(&self.log);
                self.finish(reached);
                let log = log.unwrap_or_default();
                Err(match classify_connect_error(&self.host, &log) {
                    // Lost after the session opened: the write may have run, so it is not "unreachable".
                    PushError::Unreachable(detail) if reached => {
                        PushError::Ssh(format!("the connection failed during the exec: {detail}"))
                    }
                    e => e,
                })
            }
            Ok(answer) => {
                let _ = std::fs::remove_file(&self.log);
                self.finish(true);
                Ok(answer)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.log);
                self.finish(reached);
                Err(e)
            }
        }
    }

    fn finish(&self, reached: bool) {
        if reached {
            self.reached.store(true, Ordering::Relaxed);
        }
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// `word` for the remote user's shell, as the `openssh` crate quotes a word for the mux: bare when it is made of
/// characters no shell treats specially, else in single quotes (`'` as `'\''`, and `!` outside the quotes).
fn quote(word: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-=/,.+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.into();
    }
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '!' => out.push_str("'\\!'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out.into()
}

/// True when ssh read some of what was written to its stdin (`read` is a second read end of that pipe).
fn consumed(read: &OwnedFd, sent: &AtomicUsize) -> bool {
    let unread = rustix::io::ioctl_fionread(read).unwrap_or(u64::MAX);
    (sent.load(Ordering::Relaxed) as u64) > unread
}

fn local(what: &'static str) -> impl Fn(std::io::Error) -> PushError {
    move |e| PushError::Local(format!("cannot {what}: {e}"))
}

/// A writer that counts the bytes it passed on.
struct Counted<W> {
    inner: W,
    sent: Arc<AtomicUsize>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counted<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            this.sent.fetch_add(n, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_reach_the_remote_shell_as_they_are() {
        let words = ["sh", "-c", "echo 'a' \"$b\" `c` !d\n; x", "", "~/.aws/temp.json", "600"];
        let command = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
        assert_eq!(command.split(' ').next(), Some("sh"));
        // sh parses it back into the same words.
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("for w in {}; do printf '%s\\0' \"$w\"; done", &command[3..])])
            .output()
            .expect("sh");
        let back: Vec<&str> = std::str::from_utf8(&out.stdout).expect("utf-8").split_terminator('\0').collect();
        assert_eq!(back, words[1..]);
    }
}
