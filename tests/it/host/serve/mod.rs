//! `credpush serve` with real consumers (the AWS CLI, boto3, the JavaScript v3 SDK) against moto's STS, raw HTTP
//! refusals, a second local user, and the bounds (idle connections, slowloris, signals).

mod consumers;
mod doctor;
mod limits;
mod refusals;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::harness::Env;

/// A running `credpush serve` on a free loopback port, stopped with SIGTERM when dropped.
pub struct Serve {
    /// The process.
    pub child: Child,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` as printed.
    pub uri: String,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` as printed.
    pub token_file: PathBuf,
    /// The port from the URI.
    pub port: u16,
    stdout: BufReader<ChildStdout>,
}

impl Serve {
    /// Starts serve for `document` with `extra` flags, as this process's user; returns once it printed both
    /// variables (so it listens).
    pub fn start(env: &Env, document: &Path, extra: &[&str]) -> Self {
        Self::start_with(env.credpush(), document, extra)
    }

    /// [`Serve::start`] from a prepared command (another user, other variables).
    pub fn start_with(mut cmd: Command, document: &Path, extra: &[&str]) -> Self {
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--path"])
            .arg(document)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn credpush serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = |want: &str| {
            let mut l = String::new();
            stdout.read_line(&mut l).expect("read serve stdout");
            let value = l.trim_end().strip_prefix(want).unwrap_or_else(|| {
                let mut err = String::new();
                let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
                panic!("serve printed {l:?}, expected {want}...; stderr: {err}")
            });
            value.to_owned()
        };
        let uri = line("AWS_CONTAINER_CREDENTIALS_FULL_URI=");
        let token_file = PathBuf::from(line("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="));
        let port = uri
            .strip_prefix("http://127.0.0.1:")
            .and_then(|r| r.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("uri {uri}"));
        Self { child, uri, token_file, port, stdout }
    }

    /// Sets the two variables on `cmd`, as a consumer would.
    pub fn consumer<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("AWS_CONTAINER_CREDENTIALS_FULL_URI", &self.uri)
            .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &self.token_file)
    }

    /// The token, read as the test user (root or the owner).
    pub fn token(&self) -> String {
        std::fs::read_to_string(&self.token_file).expect("token file")
    }

    /// Sends SIGTERM and waits; returns the exit code, whatever serve printed after the variables, and stderr.
    pub fn stop(mut self, signal: &str) -> (i32, String, String) {
        let ok = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status().expect("kill");
        assert!(ok.success());
        let status = wait_timeout(&mut self.child, Duration::from_secs(10)).expect("serve did not exit within 10 s");
        let mut out = String::new();
        let _ = self.stdout.read_to_string(&mut out);
        let mut err = String::new();
        let _ = self.child.stderr.take().map(|mut e| e.read_to_string(&mut err));
        (status.code().unwrap_or(-1), out, err)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for `child` up to `limit`.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// A raw HTTP exchange with 127.0.0.1:`port`: sends `head` (CRLF line ends, the blank line added) and returns
/// the status and the body.
pub fn exchange(port: u16, head: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    s.write_all(format!("{head}\r\n\r\n").as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {out:?}"));
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// A GET of the served path with `headers` (each `Name: value`).
pub fn get(serve: &Serve, headers: &[&str]) -> (u16, String) {
    let mut head = format!("GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:{}", serve.port);
    for h in headers {
        head.push_str("\r\n");
        head.push_str(h);
    }
    exchange(serve.port, &head)
}

/// A document for the tests that need no AWS call: keys of the given names, expiring `in_secs` from now.
pub fn write_document(path: &Path, key: &str, in_secs: i64) {
    let exp =
        credpush::host::document::format_expiration(time::OffsetDateTime::now_utc() + time::Duration::seconds(in_secs));
    let text = format!(
        r#"{{"Version":1,"AccessKeyId":"{key}","SecretAccessKey":"secret-{key}","SessionToken":"token-{key}","Expiration":"{exp}"}}"#
    );
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write document");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::rename(&tmp, path).expect("rename document");
}

/// The Node.js install scripts/setup made (the JavaScript v3 SDK and its lock).
pub fn node_modules() -> PathBuf {
    let dir = PathBuf::from(std::env::var("CREDPUSH_NODE").unwrap_or_else(|_| "/opt/credpush/node".into()));
    let m = dir.join("node_modules");
    assert!(m.join("@aws-sdk/credential-providers").exists(), "{} is missing: run ./scripts/setup", m.display());
    m
}

/// The test support directory.
pub fn support(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(rel)
}
