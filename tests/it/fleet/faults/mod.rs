//! Faults a scheduled run meets in production: signals from cron's `timeout`, systemd or CodeBuild (`signals`),
//! an STS endpoint that stalls or answers garbage (`sts`), a low open file limit and a closed stdout (`limits`).
//! Real moto, real sshd hosts, and small real TCP servers standing in for broken STS endpoints.

mod limits;
mod signals;
mod sts;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Live `ssh` processes whose command line mentions `marker` (a run's private TMPDIR). Zombies are not counted:
/// PID 1 here does not reap orphans, and a zombie holds nothing.
pub(crate) fn live_ssh(marker: &Path) -> Vec<String> {
    crate::procs::naming(marker)
        .into_iter()
        .filter(|p| p.cmdline.starts_with("ssh "))
        .map(|p| format!("{} {}", p.pid, p.cmdline))
        .collect()
}

/// Waits up to `within` for no live ssh process of the run to remain; returns those left.
pub(crate) fn ssh_left_after(marker: &Path, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = live_ssh(marker);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The entries of a directory (a run's private TMPDIR).
pub(crate) fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).expect("dir").flatten().map(|e| e.path()).collect()
}

/// How a fake STS endpoint misbehaves.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Misbehave {
    /// Answers HTTP 500 with an HTML error page.
    Http500,
    /// Accepts and never says a word.
    Silent,
    /// Sends the status line and headers of a 200, a few bytes of body, then nothing.
    StalledBody,
    /// Answers bytes that are not HTTP, then closes.
    Garbage,
    /// Announces a 4000-byte body, sends a few bytes of it, then closes.
    Truncated,
    /// Answers HTTP 501, a server error the SDK does not retry.
    Http501,
}

/// A real TCP server on loopback that answers every request the way `mode` says.
pub(crate) struct FakeSts {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl FakeSts {
    pub(crate) fn start(mode: Misbehave) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream, mode));
            }
        });
        Self { endpoint }
    }
}

fn serve(mut s: TcpStream, mode: Misbehave) {
    loop {
        if read_request(&mut s).is_none() {
            return;
        }
        let reply: &[u8] = match mode {
            Misbehave::Http500 => {
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<h1>Server Error</h1>"
            }
            Misbehave::Silent => b"",
            Misbehave::StalledBody => {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4000\r\n\r\n<GetCallerIdentityResponse>"
            }
            Misbehave::Garbage => b"SSH-2.0-OpenSSH_9.6 this is not HTTP\r\n\r\n",
            Misbehave::Truncated => {
                b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 4000\r\n\r\n<GetCallerIdentityResponse>"
            }
            Misbehave::Http501 => {
                b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<h1>Not there</h1>..."
            }
        };
        if s.write_all(reply).is_err() {
            return;
        }
        match mode {
            Misbehave::Http500 | Misbehave::Http501 => {}
            Misbehave::Garbage | Misbehave::Truncated => return,
            // Hold the connection open, silent, until the client gives up.
            Misbehave::Silent | Misbehave::StalledBody => {
                let mut sink = [0u8; 1024];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

/// Reads one HTTP request (head and Content-Length body); returns it, or None when the client is gone.
pub(crate) fn read_request(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    buf.extend_from_slice(&body);
    Some(buf)
}

/// A proxy in front of moto that never answers the AssumeRole calls whose form body contains `hold` (e.g.
/// `RoleSessionName=credpush-slow`) and passes everything else through, request by request.
pub(crate) struct HoldingProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl HoldingProxy {
    pub(crate) fn start(upstream: &str, hold: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = upstream.trim_start_matches("http://").to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let upstream = upstream.clone();
                std::thread::spawn(move || relay(stream, &upstream, hold));
            }
        });
        Self { endpoint }
    }
}

fn relay(mut client: TcpStream, upstream: &str, hold: &str) {
    while let Some(request) = read_request(&mut client) {
        if String::from_utf8_lossy(&request).contains(hold) {
            let mut sink = [0u8; 1024];
            while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
        let Ok(mut up) = TcpStream::connect(upstream) else { return };
        if up.write_all(&request).is_err() {
            return;
        }
        let Some(response) = read_request(&mut up) else { return };
        if client.write_all(&response).is_err() {
            return;
        }
    }
}
