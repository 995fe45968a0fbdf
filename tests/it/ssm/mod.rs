//! The SSM transport against moto and the agent emulator (tests/support/ssm_agent.py).
//!
//! Each emulated managed instance is one local user of this machine (credpush-it, credpush-it2, credpush-it3).
//! Its document goes into a directory of this test's own in that user's real home, because fetch's directory
//! rules refuse the world-writable /tmp. The emulator runs the document's steps as root, as the SSM agent does.
//!
//! The emulator's limits are stated in its file. Those that matter here: moto evaluates SSM and KMS permissions
//! against Resource "*" (so resource-scoped policies are checked as text, in `iam`); moto's SecureString calls no
//! KMS (the emulator looks the key up, so a missing or disabled key fails, but no KMS permission is evaluated);
//! and all the instances share this one filesystem, so two instances given the same path write one file.

mod delivery;
mod failures;
mod formats;
pub(crate) mod iam;
mod install;
mod mixed;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Env, Moto, User, http, tool};

/// The local users the emulated instances stand for (scripts/setup creates them).
pub const USERS: [&str; 3] = ["credpush-it", "credpush-it2", "credpush-it3"];

/// The instance ID of the `n`th emulated instance.
pub fn instance_id(n: usize) -> String {
    format!("mi-{n:017x}")
}

/// One emulated instance.
pub struct Instance {
    /// Its `mi-…` ID.
    pub id: String,
    /// The local user it stands for.
    pub user: &'static str,
    /// This test's directory in that user's home (removed at the end).
    pub dir: PathBuf,
}

impl Instance {
    /// Where this instance's document goes.
    pub fn document(&self) -> PathBuf {
        self.dir.join("temp.json")
    }
}

/// moto with the SSM world, and the agent emulator in front of it.
pub struct SsmWorld {
    /// The moto server (auth enforced).
    pub moto: Moto,
    agent: Child,
    /// The emulator's endpoint: every SSM client of the tests goes through it.
    pub endpoint: String,
    /// What tests/support/ssm_world.py built.
    pub world: Value,
    /// The emulator's state directory (the instances' orchestration directories).
    pub state: tempfile::TempDir,
    /// The instances, with their users.
    pub instances: Vec<Instance>,
}

/// How each instance of a world is set up.
pub struct Spec {
    /// Instances that poll (they run commands).
    pub online: usize,
    /// Instances registered but never polling.
    pub offline: usize,
}

impl SsmWorld {
    /// Starts moto, adds the SSM world with `spec`'s instances (all tagged `credpush=g1`), and starts the agent
    /// emulator. Online instance `n` stands for user `USERS[n % 3]`.
    pub fn start(spec: Spec) -> Self {
        Self::start_with_pickup(spec, 0.2)
    }

    /// [`SsmWorld::start`], with the instances waiting `seconds` after a command arrives before they run it.
    pub fn start_with_pickup(spec: Spec, seconds: f64) -> Self {
        let moto = Moto::start();
        let port: u16 = moto.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("moto port");
        let state = tempfile::Builder::new().prefix("credpush-ssm-agent-").tempdir().expect("tempdir");
        let unique = state.path().file_name().expect("name").to_string_lossy().into_owned();
        let mut instances = Vec::new();
        let mut registry = Vec::new();
        for n in 0..spec.online + spec.offline {
            let id = instance_id(n + 1);
            let online = n < spec.online;
            registry.push(json!({"id": id, "tags": {"credpush": "g1"}, "online": online}));
            let user = USERS[n % USERS.len()];
            let dir = home_of(user).join(format!("{unique}-{n}"));
            instances.push(Instance { id, user, dir });
        }
        // The world is added like the IAM one: before auth is enforced (again) for the test's own calls.
        let reply = http(port, "POST", "/moto-api/reset-auth", "inf").expect("reset-auth");
        assert!(reply.contains("\"status\": \"ok\""), "reset-auth: {reply}");
        let config = state.path().join("agent.json");
        // What the instances have installed besides credpush: the AWS CLI, for the install step's download.
        let host_bin = state.path().join("host-bin");
        std::fs::create_dir(&host_bin).expect("host-bin");
        std::os::unix::fs::symlink(tool("aws"), host_bin.join("aws")).expect("aws on the instances");
        let spec_json = json!({
            "document": repo().join("deploy/credpush-fetch.yml"),
            "instances": registry,
            "host_path": host_bin,
            "pickup_delay": seconds,
        });
        let mut child = Command::new(tool("python"))
            .arg(repo().join("tests/support/ssm_world.py"))
            .arg(&moto.endpoint)
            .arg(&config)
            .env_clear()
            .env("HOME", state.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssm_world.py");
        std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), spec_json.to_string().as_bytes())
            .expect("spec");
        let out = child.wait_with_output().expect("ssm_world.py");
        assert!(out.status.success(), "ssm_world.py: {}", String::from_utf8_lossy(&out.stderr));
        let world: Value = serde_json::from_slice(&out.stdout).expect("world json");
        let reply = http(port, "POST", "/moto-api/reset-auth", "0").expect("reset-auth");
        assert!(reply.contains("\"status\": \"ok\""), "reset-auth: {reply}");

        let mut agent = Command::new(tool("python"))
            .arg(repo().join("tests/support/ssm_agent.py"))
            .args(["--moto", &moto.endpoint, "--config"])
            .arg(&config)
            .arg("--state")
            .arg(state.path().join("instances"))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", state.path())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(state.path().join("agent.log")).expect("log"))
            .spawn()
            .expect("ssm_agent.py");
        let mut line = String::new();
        BufReader::new(agent.stdout.take().expect("stdout")).read_line(&mut line).expect("listening line");
        let port = line.strip_prefix("listening ").map(str::trim).expect("listening PORT").to_owned();
        Self { moto, agent, endpoint: format!("http://127.0.0.1:{port}"), world, state, instances }
    }

    /// A user of the world (`rotator`, `rotator_noput`, `reader`, `publisher`).
    pub fn user(&self, name: &str) -> User {
        let u = &self.world[name];
        User {
            arn: u["arn"].as_str().expect("arn").to_owned(),
            access_key_id: u["access_key_id"].as_str().expect("key").to_owned(),
            secret_access_key: u["secret_access_key"].as_str().expect("secret").to_owned(),
        }
    }

    /// The role whose credentials are delivered.
    pub fn target_role(&self) -> String {
        self.world["target_role_arn"].as_str().expect("role").to_owned()
    }

    /// Points `cmd` at moto (STS) and the emulator (SSM) as `user`.
    pub fn as_user<'a>(&self, cmd: &'a mut Command, user: &User) -> &'a mut Command {
        // The AWS CLI v1 reads AWS_DEFAULT_REGION, not AWS_REGION.
        self.moto.as_user(cmd, user).env("AWS_ENDPOINT_URL_SSM", &self.endpoint).env("AWS_DEFAULT_REGION", "us-east-1")
    }

    /// `credpush rotate` as the rotator, through SSM, with `extra` flags.
    pub fn rotate(&self, env: &Env, extra: &[&str]) -> Command {
        let mut cmd = env.credpush();
        self.as_user(&mut cmd, &self.user("rotator"))
            .args(["rotate", "--role-arn", &self.target_role(), "--ssm-credpush-path"])
            .arg(env!("CARGO_BIN_EXE_credpush"))
            .arg("--json")
            .args(extra);
        cmd
    }

    /// Rotates the first instance by its ID, with its directory made, and expects success: a real document in
    /// the parameter and on the instance, for the tests that then change one of them.
    pub fn rotate_first(&self, env: &Env) -> &Instance {
        self.make_dirs();
        let i = &self.instances[0];
        let ids = format!("Key=InstanceIds,Values={}", i.id);
        let path = i.document().to_str().expect("utf-8").to_owned();
        crate::harness::run(&mut self.rotate(env, &["--ssm-targets", &ids, "--path", &path, "--owner", i.user]))
            .expect_code(0);
        i
    }

    /// Puts `file`'s content over the rotation's parameter as the rotator, with the AWS CLI (the value is read
    /// from the file, so it is in no argv).
    pub fn put_value_from(&self, env: &Env, file: &std::path::Path) {
        let mut put = env.cmd(tool("aws"));
        self.as_user(&mut put, &self.user("rotator")).args([
            "ssm",
            "put-parameter",
            "--name",
            "/credpush/credpush-onprem",
            "--type",
            "SecureString",
            "--key-id",
            "alias/credpush",
            "--overwrite",
            "--value",
        ]);
        put.arg(format!("file://{}", file.display()));
        crate::harness::run(&mut put).expect_code(0);
    }

    /// An AWS CLI call as the world's read-only user, parsed.
    pub fn aws_json(&self, env: &Env, args: &[&str]) -> Value {
        let mut cmd = env.cmd(tool("aws"));
        self.as_user(&mut cmd, &self.user("reader")).args(args).args(["--output", "json"]);
        let r = crate::harness::run(&mut cmd).expect_code(0);
        serde_json::from_str(&r.stdout).expect("aws json")
    }

    /// Every file the emulated agents wrote (the step scripts and their outputs), with its text.
    pub fn agent_files(&self) -> Vec<(PathBuf, String)> {
        crate::harness::files_under(&self.state.path().join("instances"))
            .into_iter()
            .map(|p| {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                (p, text)
            })
            .collect()
    }

    /// Creates each instance's directory, 0700 and owned by its user, as a host would have it.
    pub fn make_dirs(&self) {
        for i in &self.instances {
            std::fs::create_dir_all(&i.dir).expect("instance dir");
            std::fs::set_permissions(&i.dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
            chown_to(&i.dir, i.user);
        }
    }
}

impl Drop for SsmWorld {
    fn drop(&mut self) {
        crate::procs::kill_group(self.agent.id());
        let _ = self.agent.wait();
        for i in &self.instances {
            let _ = std::fs::remove_dir_all(&i.dir);
        }
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `user`'s home, from /etc/passwd.
pub fn home_of(user: &str) -> PathBuf {
    passwd(user).1
}

/// `user`'s uid.
pub fn uid_of(user: &str) -> u32 {
    passwd(user).0
}

fn passwd(user: &str) -> (u32, PathBuf) {
    let text = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let f: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with(&format!("{user}:")))
        .unwrap_or_else(|| panic!("user {user} is missing: run ./scripts/setup"))
        .split(':')
        .collect();
    (f[2].parse().expect("uid"), PathBuf::from(f[5]))
}

fn chown_to(path: &Path, user: &str) {
    let st = Command::new("chown").arg(format!("{user}:")).arg(path).status().expect("chown");
    assert!(st.success());
}

/// The SSM requests moto received for `operation` (e.g. `PutParameter`), by their X-Amz-Target header.
pub fn recorded_ssm(moto: &Moto, operation: &str) -> Vec<Value> {
    let target = format!("AmazonSSM.{operation}");
    moto.recorded()
        .into_iter()
        .filter(|r| {
            r["headers"].as_object().is_some_and(|h| {
                h.iter().any(|(k, v)| k.eq_ignore_ascii_case("x-amz-target") && v.as_str() == Some(target.as_str()))
            })
        })
        .collect()
}

/// A host's status and error in a `--json` report.
pub fn status_of(report: &Value, host: &str) -> (String, String) {
    let h = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no host {host} in {report}"));
    (h["status"].as_str().unwrap_or_default().to_owned(), h["error"].as_str().unwrap_or_default().to_owned())
}
