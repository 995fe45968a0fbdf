//! `credpush serve`: a loopback endpoint in the shape of the container credentials provider
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI` plus `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`), which every AWS SDK and
//! the AWS CLI read, for containers and other consumers that cannot run `credential_process`.
//!
//! It serves one document that rotate, the Ansible module or `fetch` keep fresh, and holds no credential itself:
//! every request re-reads the token file ([`token`]) and the document (as `credpush read` does), so rotations and
//! token changes take effect with no restart and no signal.
//!
//! The rules ([`answer`]): loopback only, the token compared in constant time, and 403 before the document is
//! read for a wrong or missing token, a non-loopback peer or `Host`, a proxy header, a method other than GET or
//! another path; 503 for a document that is missing, malformed, expired or has under a minute left.
//!
//! What a peer can cost is bounded: [`Limits::max_connections`] at once (more are closed as they arrive), a head
//! of at most [`MAX_HEAD_BYTES`] that must arrive whole within [`Limits::idle_timeout`] (a client trickling
//! bytes is dropped like a silent one), one answer per connection, and no body ever read.

pub mod answer;
pub mod check;
pub mod probe;
pub mod request;
pub mod token;
pub mod unit;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::error::{EXIT_OK, Error, Result};
use answer::{Answer, Files};
use request::HeadError;

/// The largest request head read. The SDKs send about 300 bytes; 8 KiB is what common servers allow.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The address `serve` listens on unless `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9911";
/// The token file next to the document unless `--token-file` says otherwise.
pub const DEFAULT_TOKEN_NAME: &str = "credpush-serve.token";

/// What a peer may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is closed as soon as it is accepted.
    pub max_connections: usize,
    /// How long a connection may take to send its whole request head.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_connections: 1024, idle_timeout: Duration::from_secs(5) }
    }
}

/// Checked options for [`run`].
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The document, as an absolute path.
    pub document: PathBuf,
    /// A loopback address.
    pub listen: SocketAddr,
    /// The token file, as an absolute path.
    pub token_file: PathBuf,
    /// Who owns a token file that serve creates: (uid, gid) of `--owner`.
    pub owner: Option<(u32, u32)>,
    /// Connection limits.
    pub limits: Limits,
}

/// Parses `--listen`: an IP literal and port on a loopback address. A name is refused too, since it could
/// resolve anywhere.
pub fn parse_listen(value: &str) -> Result<SocketAddr> {
    let addr: SocketAddr = value.parse().map_err(|_| {
        Error::invalid(
            "--listen",
            value,
            "is not IP:PORT (fix: use 127.0.0.1:PORT or [::1]:PORT; port 0 picks a free one)",
        )
    })?;
    if !answer::is_loopback(addr.ip()) {
        return Err(Error::invalid(
            "--listen",
            value,
            "is not a loopback address: serve hands out credentials, so it listens on 127.0.0.0/8 or ::1 only (fix: use 127.0.0.1:PORT; for containers see the README's Containers section)",
        ));
    }
    Ok(addr)
}

/// `path` made absolute against the working directory, without resolving links (the document may not exist
/// yet). Consumers get the token path in a variable, so it must not depend on their working directory.
pub fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io("make absolute", path, e))
}

/// The two variables a consumer needs, as `NAME=value` lines.
pub fn variables(listen: SocketAddr, token_file: &Path) -> String {
    format!(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://{listen}{}\nAWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}\n",
        answer::SERVE_PATH,
        token_file.display()
    )
}

/// Runs the endpoint until SIGTERM, SIGHUP or SIGINT, then returns exit code 0. Creates the token file when
/// missing, binds, prints [`variables`] on stdout, and answers.
pub async fn run(opts: ServeOptions) -> Result<i32> {
    // The handlers go in first, so a signal that comes while binding still ends the run cleanly.
    let mut stop = Signals::install()?;
    if token::ensure(&opts.token_file, opts.owner)? == token::Ensured::Created {
        tracing::info!(file = %opts.token_file.display(), "serve: created a new token file");
    }
    raise_fd_limit(opts.limits.max_connections);
    let listener = bind(opts.listen, opts.limits.max_connections)
        .map_err(|source| Error::Listen { addr: opts.listen.to_string(), source })?;
    let bound = listener.local_addr().map_err(|source| Error::Listen { addr: opts.listen.to_string(), source })?;
    crate::term::print(&variables(bound, &opts.token_file))?;
    tracing::info!(listen = %bound, document = %opts.document.display(), "serve: listening");

    let files = Arc::new(Files { document: opts.document.clone(), token_file: opts.token_file.clone() });
    let slots = Arc::new(Semaphore::new(opts.limits.max_connections));
    let (quit_tx, quit_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let name = loop {
        tokio::select! {
            name = stop.next() => break name,
            accepted = listener.accept() => match accepted {
                Ok((sock, peer)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        let (files, quit) = (Arc::clone(&files), quit_rx.clone());
                        tasks.spawn(async move {
                            connection(sock, peer, &files, opts.limits.idle_timeout, quit).await;
                            drop(slot);
                        });
                    }
                    // Closing at once costs nothing; queueing would let idle clients hold the backlog too.
                    Err(_) => tracing::debug!(%peer, "serve: at the connection limit; closed a new connection"),
                },
                // Out of file descriptors or memory: wait a little instead of spinning on the same error.
                Err(e) => {
                    tracing::warn!(error = %e, "serve: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    };
    drop(listener);
    // Idle connections end now; answers being written get a moment to finish.
    let _ = quit_tx.send(true);
    let drained =
        tokio::time::timeout(Duration::from_secs(2), async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tasks.shutdown().await;
    }
    eprintln!("credpush: serve: {name}: stopped");
    Ok(EXIT_OK)
}

/// Listens on `addr` with room in the kernel's accept queue for `backlog` connections (capped by
/// net.core.somaxconn). A plain bind queues 128: a burst of clients beyond that (containers starting together)
/// would have their SYNs dropped and wait a second or more for the retransmit before serve even sees them.
fn bind(addr: SocketAddr, backlog: usize) -> std::io::Result<TcpListener> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As std's bind does: a restarted serve can bind its port while old connections are in TIME_WAIT.
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(u32::try_from(backlog).unwrap_or(u32::MAX))
}

/// One connection: one head within the idle timeout, one answer, close.
async fn connection(
    mut sock: TcpStream,
    peer: SocketAddr,
    files: &Files,
    idle: Duration,
    mut quit: watch::Receiver<bool>,
) {
    let head = tokio::select! {
        head = tokio::time::timeout(idle, request::read_head(&mut sock, MAX_HEAD_BYTES)) => head,
        _ = quit.wait_for(|q| *q) => return,
    };
    let answer = match head {
        Err(_) => {
            tracing::debug!(%peer, "serve: dropped a connection that sent no whole request within the idle timeout");
            return;
        }
        Ok(Err(HeadError::Closed)) => return,
        Ok(Err(HeadError::TooLarge)) => Answer::refusal(
            431,
            "RequestHeaderFieldsTooLarge",
            &format!("the request head is over {MAX_HEAD_BYTES} bytes or {} headers", request::MAX_HEADERS),
        ),
        Ok(Err(HeadError::Malformed)) => Answer::refusal(400, "BadRequest", "not an HTTP/1.x request"),
        Ok(Ok(head)) => answer::answer(&head, peer, files, OffsetDateTime::now_utc()),
    };
    tracing::debug!(%peer, status = answer.status, "serve: answered");
    let http = answer.to_http();
    let _ = tokio::time::timeout(idle, async {
        sock.write_all(http.expose().as_bytes()).await?;
        sock.shutdown().await
    })
    .await;
}

/// Room for every connection plus a margin, when the soft limit on open files is lower (often 1024) and the
/// hard limit allows it. Failing to raise it only means accept fails sooner, which the loop handles.
fn raise_fd_limit(connections: usize) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let want = connections as u64 + 64;
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|c| c < want) {
        lim.current = Some(lim.maximum.map_or(want, |m| m.min(want)));
        let _ = setrlimit(Resource::Nofile, lim);
    }
}

/// SIGTERM (systemd, docker stop), SIGHUP (a closed terminal) and SIGINT (Ctrl-C) all end the run cleanly.
/// There is nothing to reload on SIGHUP: every request already re-reads the files.
struct Signals(Vec<(&'static str, tokio::signal::unix::Signal)>);

impl Signals {
    fn install() -> Result<Self> {
        let mut streams = Vec::new();
        for (name, kind) in [
            ("SIGTERM", SignalKind::terminate()),
            ("SIGHUP", SignalKind::hangup()),
            ("SIGINT", SignalKind::interrupt()),
        ] {
            let s = signal(kind).map_err(|e| Error::io("listen for signals on", name, e))?;
            streams.push((name, s));
        }
        Ok(Self(streams))
    }

    /// The name of the next signal.
    async fn next(&mut self) -> &'static str {
        let [(a, sa), (b, sb), (c, sc)] = &mut self.0[..] else { return std::future::pending().await };
        tokio::select! {
            _ = sa.recv() => a,
            _ = sb.recv() => b,
            _ = sc.recv() => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_must_be_a_loopback_literal() {
        assert_eq!(parse_listen("127.0.0.1:9911").unwrap().port(), 9911);
        assert!(parse_listen("[::1]:0").is_ok());
        for (bad, why) in [
            ("0.0.0.0:9911", "is not a loopback address"),
            ("10.1.2.3:80", "is not a loopback address"),
            ("[::]:80", "is not a loopback address"),
            ("localhost:9911", "is not IP:PORT"),
            ("127.0.0.1", "is not IP:PORT"),
        ] {
            let e = parse_listen(bad).unwrap_err();
            assert_eq!(e.exit_code(), crate::error::EXIT_INPUT, "{bad}");
            assert!(e.to_string().starts_with(&format!("--listen {bad:?} is invalid: {why}")), "{e}");
        }
    }

    #[test]
    fn variables_name_the_uri_and_the_file_never_the_token() {
        let v = variables("127.0.0.1:9911".parse().unwrap(), Path::new("/var/lib/credpush-serve/ci/token"));
        assert_eq!(
            v,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:9911/credpush/v1/credentials\n\
             AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/lib/credpush-serve/ci/token\n"
        );
        let v6 = variables("[::1]:80".parse().unwrap(), Path::new("/t"));
        assert!(v6.starts_with("AWS_CONTAINER_CREDENTIALS_FULL_URI=http://[::1]:80/"), "{v6}");
    }
}
