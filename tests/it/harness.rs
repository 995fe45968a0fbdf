//! The real parts the tests run against, and a base command that inherits nothing from the developer.
//!
//! - [`Env`]: an isolated HOME with its own AWS config paths; every command built from it starts from a
//!   cleared environment.
//! - [`Moto`]: a `moto_server` on a free loopback port, loaded with an IAM world (users `ci` and `nobody`, roles
//!   `deploy`, `partner` (ExternalId), `locked`), then switched to enforce auth so every call is really signed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The Python venv that scripts/setup fills (moto, awscli, boto3, ansible-core).
pub fn venv() -> PathBuf {
    PathBuf::from(std::env::var("CREDPUSH_VENV").unwrap_or_else(|_| "/opt/credpush/venv".into()))
}

/// Path of a tool installed in the venv; panics with the fix when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let p = venv().join("bin").join(name);
    assert!(p.exists(), "{} is missing: run ./scripts/setup (or ./scripts/test)", p.display());
    p
}

/// A free loopback port. The listener is dropped before use; callers retry on the rare collision.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// An isolated HOME for one test.
pub struct Env {
    /// The temporary home directory.
    pub home: tempfile::TempDir,
}

impl Env {
    /// A fresh home with an empty `.aws`.
    pub fn new() -> Self {
        let home = tempfile::Builder::new().prefix("credpush-it-").tempdir().expect("tempdir");
        Self { home }
    }

    /// A path inside the home.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.home.path().join(rel)
    }

    /// A command with a cleared environment: PATH (venv first) and HOME, so the AWS config files are this
    /// home's. IMDS is off so no test ever reaches for 169.254.169.254.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", venv().join("bin").display()))
            .env("HOME", self.home.path())
            .env("LANG", "C.UTF-8")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null());
        // scripts/test gives each run a private TMPDIR, so that whatever a command leaves there (control
        // directories, temp files) can be found and counted afterwards.
        if let Some(tmp) = std::env::var_os("TMPDIR") {
            c.env("TMPDIR", tmp);
        }
        c
    }

    /// `credpush` with the isolated environment.
    pub fn credpush(&self) -> Command {
        self.cmd(credpush_bin())
    }
}

/// A finished command, with helpers that print everything when an assertion fails.
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to completion.
    pub fn of(cmd: &mut Command) -> Self {
        let Output { status, stdout, stderr } = cmd.output().expect("spawn");
        Self {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }
}

/// Every file below `dir`, recursively, without following links to directories (none when `dir` does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

/// Runs `cmd` and returns its result.
pub fn run(cmd: &mut Command) -> Run {
    Run::of(cmd)
}

/// Rewrites the Expiration of the credential document at `path` to `when` (keeping everything else) and returns
/// the new value as written: how the tests make a document expired or near expiry.
pub fn set_expiration(path: &Path, when: time::OffsetDateTime) -> String {
    let text = std::fs::read_to_string(path).expect("document");
    let old = text.split("\"Expiration\":\"").nth(1).and_then(|r| r.split('"').next()).expect("Expiration").to_owned();
    let new = credpush::host::document::format_expiration(when);
    std::fs::write(path, text.replace(&old, &new)).expect("write");
    new
}

/// One IAM user's identity and keys, as moto issued them.
#[derive(Debug, Clone)]
pub struct User {
    /// The user's ARN.
    pub arn: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// A running moto server with the test IAM world, auth enforced.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The world the setup script built.
    pub world: Value,
    dir: tempfile::TempDir,
}

impl Moto {
    /// Starts moto, builds the IAM world, and enforces auth. Retries on a port collision.
    pub fn start() -> Self {
        for _ in 0..5 {
            if let Some(m) = Self::try_start() {
                return m;
            }
        }
        panic!("moto_server did not start after 5 attempts");
    }

    fn try_start() -> Option<Self> {
        let port = free_port();
        let dir = tempfile::Builder::new().prefix("credpush-moto-").tempdir().expect("tempdir");
        let log = std::fs::File::create(dir.path().join("moto.log")).expect("log");
        let child = Command::new(tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("MOTO_ENABLE_RECORDING", "1")
            .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording.jsonl"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut moto = Self { child, endpoint, world: Value::Null, dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(_)) = moto.child.try_wait() {
                return None; // exited: most likely the port was taken between probe and bind
            }
            if http(port, "GET", "/moto-api/", "").is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "moto_server not ready after 30 s: {}", moto.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new(tool("python"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_world.py"))
            .arg(&moto.endpoint)
            .env_clear()
            .env("HOME", moto.dir.path())
            .output()
            .expect("run moto_world.py");
        assert!(out.status.success(), "moto_world.py failed: {}", String::from_utf8_lossy(&out.stderr));
        moto.world = serde_json::from_slice(&out.stdout).expect("world json");
        // From here on every request must be signed by credentials moto issued.
        let reply = http(port, "POST", "/moto-api/reset-auth", "0").expect("reset-auth");
        assert!(reply.contains("\"status\": \"ok\""), "reset-auth: {reply}");
        Some(moto)
    }

    /// The moto log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// A user from the world.
    pub fn user(&self, name: &str) -> User {
        let u = &self.world["users"][name];
        User {
            arn: u["arn"].as_str().expect("arn").to_owned(),
            access_key_id: u["access_key_id"].as_str().expect("key").to_owned(),
            secret_access_key: u["secret_access_key"].as_str().expect("secret").to_owned(),
        }
    }

    /// A role ARN from the world.
    pub fn role(&self, name: &str) -> String {
        self.world["roles"][name].as_str().expect("role").to_owned()
    }

    /// Points `cmd` at this moto as `user`, the way CodeBuild or a CI agent would set the environment.
    pub fn as_user<'a>(&self, cmd: &'a mut Command, user: &User) -> &'a mut Command {
        cmd.env("AWS_ENDPOINT_URL_STS", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", &user.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &user.secret_access_key)
    }

    /// Every request moto received, as recorded: method, url, headers, body (form-encoded for STS).
    pub fn recorded(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("recording.jsonl")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// The decoded form fields of every recorded request whose `Action` is `action`.
    pub fn recorded_actions(&self, action: &str) -> Vec<Vec<(String, String)>> {
        self.recorded()
            .iter()
            .filter_map(|r| {
                let body = r["body"].as_str()?;
                let raw =
                    if r["body_encoded"].as_bool() == Some(true) { b64decode(body) } else { body.as_bytes().to_vec() };
                let form = form_decode(&String::from_utf8_lossy(&raw));
                form.iter().any(|(k, v)| k == "Action" && v == action).then_some(form)
            })
            .collect()
    }
}

impl Drop for Moto {
    /// Stops moto's process group and anything else that still names its directory.
    fn drop(&mut self) {
        crate::procs::kill_group(self.child.id());
        let _ = self.child.wait();
        crate::procs::kill_naming(self.dir.path(), Duration::from_secs(5));
    }
}

/// A minimal HTTP/1.0 request to 127.0.0.1:`port`; returns the response text or None when nothing answers.
pub fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}", body.len()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/").then_some(out)
}

fn form_decode(s: &str) -> Vec<(String, String)> {
    let unescape = |v: &str| {
        let bytes = v.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            if bytes[i] == b'%'
                && let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn b64decode(s: &str) -> Vec<u8> {
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let Some(v) = ALPHA.iter().position(|&a| a == c) else { continue };
        buf = (buf << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

/// The credpush binary under test: this build's, or `CREDPUSH_BIN_UNDER_TEST` (how the trust tests measure an
/// older build for before/after figures; its assertions are about this build).
pub fn credpush_bin() -> std::ffi::OsString {
    std::env::var_os("CREDPUSH_BIN_UNDER_TEST").unwrap_or_else(|| env!("CARGO_BIN_EXE_credpush").into())
}

/// A file's sha256, in hex: what a release's SHA256SUMS and the install steps' sha parameters hold.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// `git rev-parse --short=12 HEAD` of this checkout, what build.rs embeds in `--version`; "unknown" outside a
/// git checkout, as build.rs says then.
pub fn head_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git");
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !commit.is_empty() { commit } else { "unknown".to_owned() }
}
