//! Loopback OpenSSH hosts for the tests: each `sshd` runs as the unprivileged user [`TEST_USER`] on its own
//! port, with its own host key and its own HOME (so every host is a separate machine to credpush). The client side
//! (key, known_hosts, ssh config) lives in the fleet's directory; nothing touches this machine's `~/.ssh`.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::free_port;
use crate::procs;

/// The unprivileged user the sshd hosts run as and log in (created by scripts/setup).
pub const TEST_USER: &str = "credpush-it";

/// One loopback host.
pub struct SshHost {
    child: Child,
    /// Inventory name.
    pub name: String,
    /// Listening port on 127.0.0.1.
    pub port: u16,
    /// The host's HOME for sessions (its `~`).
    pub home: PathBuf,
    /// The host's private directory (sshd config, key, log).
    pub dir: PathBuf,
    /// The host's public key line (`ssh-ed25519 AAAA…`).
    pub host_key: String,
}

/// Several hosts and the client settings to reach them.
pub struct Fleet {
    /// Root of everything this fleet wrote.
    pub root: tempfile::TempDir,
    /// The hosts.
    pub hosts: Vec<SshHost>,
}

fn uid_gid() -> (u32, u32) {
    let out = Command::new("id").args(["-u", TEST_USER]).output().expect("id");
    assert!(out.status.success(), "user {TEST_USER} is missing: run ./scripts/setup");
    let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("uid");
    let out = Command::new("id").args(["-g", TEST_USER]).output().expect("id");
    (uid, String::from_utf8_lossy(&out.stdout).trim().parse().expect("gid"))
}

/// chown to the test user.
pub fn give_to_test_user(path: &Path) {
    let (uid, gid) = uid_gid();
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
}

fn keygen(path: &Path, comment: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
}

impl Fleet {
    /// Starts `n` hosts named host1..hostN.
    pub fn start(n: usize) -> Self {
        Self::start_with(n, false)
    }

    /// Like [`Fleet::start`], with a ForceCommand hook on every host that can cut a session mid-transfer (see
    /// `add_host`). sshd then logs the forced command instead of the client's, so tests of logs use `start`.
    pub fn start_cuttable(n: usize) -> Self {
        Self::start_with(n, true)
    }

    fn start_with(n: usize, cuttable: bool) -> Self {
        let root = tempfile::Builder::new().prefix("credpush-ssh-").tempdir().expect("tempdir");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        keygen(&root.path().join("client_key"), "credpush-it-client");
        let mut fleet = Self { root, hosts: Vec::new() };
        for i in 1..=n {
            fleet.add_host(&format!("host{i}"), cuttable);
        }
        fleet.write_client_config();
        fleet
    }

    /// The ssh config the tests pass with --ssh-config: this fleet's key and known_hosts only.
    pub fn ssh_config(&self) -> PathBuf {
        self.root.path().join("ssh_config")
    }

    /// The known_hosts file.
    pub fn known_hosts(&self) -> PathBuf {
        self.root.path().join("known_hosts")
    }

    fn write_client_config(&self) {
        let text = format!(
            "UserKnownHostsFile {}\nGlobalKnownHostsFile /dev/null\nIdentityFile {}\nIdentitiesOnly yes\nUser {TEST_USER}\nLogLevel ERROR\n",
            self.known_hosts().display(),
            self.root.path().join("client_key").display()
        );
        std::fs::write(self.ssh_config(), text).expect("ssh_config");
        let known: String = self.hosts.iter().map(|h| format!("[127.0.0.1]:{} {}\n", h.port, h.host_key)).collect();
        std::fs::write(self.known_hosts(), known).expect("known_hosts");
    }

    fn add_host(&mut self, name: &str, cuttable: bool) {
        let dir = self.root.path().join(name);
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        keygen(&dir.join("host_key"), name);
        std::fs::copy(self.root.path().join("client_key.pub"), dir.join("authorized_keys")).expect("authorized_keys");
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).expect("pub");
        let host_key = host_key.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        // A ForceCommand hook lets a test break a session mid-transfer: while the file `cut` exists, sshd's session
        // process is killed after 100 bytes of stdin, as when a network drops during the write; while `stall`
        // exists, the transfer stops after 100 bytes and the session hangs for 6 s, as on a stuck link; `hang` is
        // `stall` for 30 s, longer than any test waits. `late` (holding seconds) holds the next session's stdin
        // back that long while the writer already runs, as a slow link with the document already in the pipe.
        // With `bash`, the command runs under bash (which reads ~/.bashrc for ssh commands), not sh.
        let hook = dir.join("session.sh");
        std::fs::write(
            &hook,
            format!(
                "sh=sh; [ ! -e {bash} ] || sh=bash\n\
                 if [ -e {cut} ]; then {{ head -c 100; kill -KILL $PPID; }} | \"$sh\" -c \"$SSH_ORIGINAL_COMMAND\"; \
                 elif [ -e {stall} ]; then {{ head -c 100; sleep 6; }} | \"$sh\" -c \"$SSH_ORIGINAL_COMMAND\"; \
                 elif [ -e {hang} ]; then {{ head -c 100; sleep 30; }} | \"$sh\" -c \"$SSH_ORIGINAL_COMMAND\"; \
                 elif mv {late} {late}.taken 2>/dev/null; then {{ sleep \"$(cat {late}.taken)\"; cat; }} | \"$sh\" -c \"$SSH_ORIGINAL_COMMAND\"; \
                 else exec \"$sh\" -c \"$SSH_ORIGINAL_COMMAND\"; fi\n",
                cut = dir.join("cut").display(),
                stall = dir.join("stall").display(),
                hang = dir.join("hang").display(),
                late = dir.join("late").display(),
                bash = dir.join("bash").display()
            ),
        )
        .expect("hook");
        for f in ["host_key", "host_key.pub", "authorized_keys", "session.sh", "home", ""] {
            give_to_test_user(&dir.join(f));
        }
        // sftp, because Ansible copies modules with it; no tty, because an unprivileged sshd aborts a pty session
        // when it cannot write login records (Ansible's `ssh -tt` then runs without one, as on a host that refuses).
        for _ in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nAuthorizedKeysFile {dir}/authorized_keys\nPidFile none\n\
                     UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                     SetEnv HOME={home}\nLogLevel DEBUG3\nSubsystem sftp internal-sftp\nPermitTTY no\n{force}",
                    key = dir.join("host_key").display(),
                    dir = dir.display(),
                    home = home.display(),
                    force = if cuttable { format!("ForceCommand sh {}/session.sh\n", dir.display()) } else { String::new() },
                ),
            )
            .expect("sshd_config");
            // sshd runs directly as the test user (no runuser in between, which could not pass a signal on) and
            // leads its own process group, so stopping the host reaches sshd and every session it forked.
            let (uid, gid) = uid_gid();
            let mut child = Command::new("/usr/sbin/sshd")
                .args(["-D", "-f"])
                .arg(&config)
                .arg("-E")
                .arg(dir.join("sshd.log"))
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", &home)
                .env("USER", TEST_USER)
                .env("LOGNAME", TEST_USER)
                .uid(uid)
                .gid(gid)
                .process_group(0)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            if wait_for_banner(port, &mut child) {
                self.hosts.push(SshHost { child, name: name.to_owned(), port, home, dir, host_key });
                return;
            }
            procs::kill_group(child.id());
            let _ = child.wait();
        }
        panic!("sshd for {name} did not start; see {}", dir.join("sshd.log").display());
    }

    /// The host by name.
    pub fn host(&self, name: &str) -> &SshHost {
        self.hosts.iter().find(|h| h.name == name).expect("host")
    }

    /// An INI inventory line for each host, plus `extra` lines (other hosts, groups).
    pub fn inventory(&self, extra: &str) -> PathBuf {
        let mut text = String::from("[onprem]\n");
        for h in &self.hosts {
            text.push_str(&format!(
                "{} ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER}\n",
                h.name, h.port
            ));
        }
        text.push_str(extra);
        let path = self.root.path().join("hosts.ini");
        std::fs::write(&path, text).expect("inventory");
        path
    }

    /// Runs `command` on a host through the real ssh client, with `stdin` as input.
    pub fn ssh(&self, host: &str, command: &str, stdin: &[u8]) -> Output {
        let h = self.host(host);
        let mut child = Command::new("ssh")
            .arg("-F")
            .arg(self.ssh_config())
            .args(["-o", "BatchMode=yes", "-p", &h.port.to_string(), "127.0.0.1", command])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh");
        // A command that exits before reading all its input closes the pipe: that is its answer, not a test failure.
        match std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), stdin) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
        child.wait_with_output().expect("ssh output")
    }

    /// Every sshd log of the fleet, concatenated.
    pub fn logs(&self) -> String {
        self.hosts.iter().map(|h| std::fs::read_to_string(h.dir.join("sshd.log")).unwrap_or_default()).collect()
    }
}

impl SshHost {
    /// The default document path on this host.
    pub fn document(&self) -> PathBuf {
        self.home.join(".aws/temp.json")
    }
}

impl Drop for Fleet {
    /// Stops every host and everything its sessions started: each sshd with all it forked (connection processes
    /// leave the process group), then any process left that names this fleet's directory.
    fn drop(&mut self) {
        for h in &mut self.hosts {
            procs::kill_tree(h.child.id());
            procs::kill_group(h.child.id());
            let _ = h.child.wait();
        }
        let left = procs::kill_naming(self.root.path(), Duration::from_secs(5));
        if !left.is_empty() && !std::thread::panicking() {
            panic!("processes of {} outlived the fleet: {left:?}", self.root.path().display());
        }
    }
}

fn wait_for_banner(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 8];
            if s.read_exact(&mut buf).is_ok() && &buf[..4] == b"SSH-" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A TCP listener that accepts connections and never says a word: a black-holed host.
pub struct BlackHole {
    /// Its port.
    pub port: u16,
    _listener: std::sync::Arc<TcpListener>,
}

impl BlackHole {
    /// Starts one; accepted sockets are held open until the process exits.
    pub fn start() -> Self {
        let listener = std::sync::Arc::new(TcpListener::bind("127.0.0.1:0").expect("bind"));
        let port = listener.local_addr().expect("addr").port();
        let l = listener.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                held.push(s);
            }
        });
        Self { port, _listener: listener }
    }
}

/// What `~/.ssh/rc` prints on a host, as sshd runs it before every session command: `noise`, from a file in the
/// host's home. sshd reads `.ssh/rc` from the test user's real home, shared by every host, so the rc there only
/// prints what a host's own home asks for (and nothing for every other host and test).
pub fn set_rc_noise(home: &Path, noise: &[u8]) {
    let pw = String::from_utf8(Command::new("getent").args(["passwd", TEST_USER]).output().expect("getent").stdout)
        .expect("utf8");
    let ssh = PathBuf::from(pw.trim().split(':').nth(5).expect("home")).join(".ssh");
    std::fs::create_dir_all(&ssh).expect("mkdir");
    let rc = ssh.join("rc");
    let text = "[ ! -f \"$HOME/.credpush-rc-noise\" ] || cat \"$HOME/.credpush-rc-noise\"\n";
    if std::fs::read_to_string(&rc).ok().as_deref() != Some(text) {
        let tmp = ssh.join(format!("rc.{}", std::process::id()));
        std::fs::write(&tmp, text).expect("rc");
        give_to_test_user(&tmp);
        std::fs::rename(&tmp, &rc).expect("rc");
    }
    give_to_test_user(&ssh);
    std::fs::write(home.join(".credpush-rc-noise"), noise).expect("noise");
}
