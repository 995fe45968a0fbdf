//! One exec of a credpush script on a host (over an ssh mux session, or locally for `ansible_connection:
//! local`): input on stdin, and stdout and stderr read at once through the bounded reader. A stream past its
//! limit ends the exec: the channel (or the local child) is dropped, which closes it, and the host fails alone.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::delivery::bounded::{self, Bound, Captured};
use crate::ssh::error::PushError;

/// What one exec sent back.
#[derive(Debug)]
pub struct Answer {
    /// Its exit code (`None` when it was killed by a signal).
    pub code: Option<i32>,
    /// What was kept of stdout.
    pub stdout: Captured,
    /// What was kept of stderr.
    pub stderr: Captured,
}

/// The error for a stream that went past its bound.
fn flood(stream: &str, c: &Captured) -> PushError {
    let max = c.bound().map_or(0, |b| b.max >> 20);
    let (head, _) = c.parts();
    let start = String::from_utf8_lossy(&head[..head.len().min(80)]).into_owned();
    PushError::Ssh(format!(
        "the host sent more than {max} MiB on {stream} (it began {start:?}); credpush closed the channel (fix: make the login scripts of that user quiet for non-interactive shells, e.g. ~/.bashrc and ~/.ssh/rc)"
    ))
}

/// Sends `input` (its parts one after another, so that a large shared part, the helper, is never copied) and
/// reads both streams, all at once; stops at the first stream over its bound.
pub(crate) async fn exchange<W, O, E>(
    stdin: Option<W>,
    stdout: Option<O>,
    stderr: Option<E>,
    input: &[&[u8]],
) -> Result<(Captured, Captured), PushError>
where
    W: AsyncWrite + Unpin,
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let send = async {
        if let Some(mut s) = stdin {
            // A writer that exits early (a refused directory) closes its stdin: not an error of ours.
            let mut sent = Ok(());
            for part in input {
                sent = s.write_all(part).await;
                if sent.is_err() {
                    break;
                }
            }
            if let Err(e) = sent.and(s.shutdown().await) {
                tracing::debug!(error = %e, "stdin closed early");
            }
        }
    };
    let read = |s: Option<O>| async move {
        match s {
            Some(s) => bounded::read(s, Bound::ANSWER).await,
            None => Ok(Captured::default()),
        }
    };
    let read_err = |s: Option<E>| async move {
        match s {
            Some(s) => bounded::read(s, Bound::DIAGNOSTIC).await,
            None => Ok(Captured::default()),
        }
    };
    let (out_f, err_f) = (read(stdout), read_err(stderr));
    tokio::pin!(send, out_f, err_f);
    let (mut sent, mut out, mut err) = (false, None, None);
    let failed = |e: std::io::Error| PushError::Ssh(format!("the connection failed during the exec: {e}"));
    while out.is_none() || err.is_none() {
        tokio::select! {
            () = &mut send, if !sent => sent = true,
            r = &mut out_f, if out.is_none() => {
                let c = r.map_err(failed)?;
                if c.over {
                    return Err(flood("stdout", &c));
                }
                out = Some(c);
            }
            r = &mut err_f, if err.is_none() => {
                let c = r.map_err(failed)?;
                if c.over {
                    return Err(flood("stderr", &c));
                }
                err = Some(c);
            }
        }
    }
    Ok((out.unwrap_or_default(), err.unwrap_or_default()))
}

/// `words` over the mux session: argv words, each escaped by the openssh crate, never command text.
pub(crate) async fn remote(session: &openssh::Session, words: &[String], input: &[&[u8]]) -> Result<Answer, PushError> {
    use openssh::Stdio;
    let mut cmd = session.command(&words[0]);
    cmd.args(&words[1..]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .await
        .map_err(|e| PushError::Ssh(format!("cannot start the remote writer: {e}")))?;
    let (stdin, stdout, stderr) = (child.stdin().take(), child.stdout().take(), child.stderr().take());
    // On an early return the child is dropped, which closes the channel.
    let (stdout, stderr) = exchange(stdin, stdout, stderr, input).await?;
    let status =
        child.wait().await.map_err(|e| PushError::Ssh(format!("the connection failed during the write: {e}")))?;
    Ok(Answer { code: status.code(), stdout, stderr })
}

/// `ansible_connection: local`: the same script on this machine. `kill_on_drop` ends it with the host's task.
pub(crate) async fn local(words: &[String], input: &[&[u8]]) -> Result<Answer, PushError> {
    let mut child = tokio::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PushError::Local(format!("cannot start the local writer {}: {e}", words[0])))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let (stdout, stderr) = exchange(stdin, stdout, stderr, input).await?;
    let status = child.wait().await.map_err(|e| PushError::Local(format!("the local writer failed: {e}")))?;
    Ok(Answer { code: status.code(), stdout, stderr })
}
