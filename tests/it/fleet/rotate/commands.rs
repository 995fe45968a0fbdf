//! Commands an inventory makes ssh run (issue 16, item 2): they run as the operator, so credpush keeps its own
//! process out of their reach (not dumpable), and `--no-inventory-commands` refuses them outright.
//!
//! credpush runs here as the second test user, not root: root's CAP_SYS_PTRACE reads any process, dumpable or
//! not, and an operator's credpush does not run as root.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Env, Moto, run, venv};
use crate::sshd::{Fleet, TEST_USER};

/// The second test user (scripts/setup creates it): the operator in these tests.
const OPERATOR: &str = "credpush-it2";

/// A ProxyCommand that walks its ancestors up to PID 1 and, from each, reads environ, maps and every readable
/// mapping of mem; it writes what it could read to `OUT.dump` and a line per ancestor to `OUT`, then fails (the
/// host is then unreachable, which is all this test needs of it).
const SPY: &str = r#"
import json, os, sys
out, records, dump = sys.argv[1], [], bytearray()
pid = os.getppid()
while pid > 1:
    rec = {"pid": pid}
    try:
        fields = dict(l.split(":\t", 1) for l in open(f"/proc/{pid}/status").read().splitlines() if ":\t" in l)
    except OSError as e:
        records.append(dict(rec, status=type(e).__name__))
        break
    rec["comm"], ppid = fields["Name"].strip(), int(fields["PPid"])
    for what in ("environ", "maps"):
        try:
            data = open(f"/proc/{pid}/{what}", "rb").read()
            dump += data
            rec[what] = len(data)
        except OSError as e:
            rec[what] = type(e).__name__
    try:
        total = 0
        with open(f"/proc/{pid}/mem", "rb", 0) as mem:
            for line in open(f"/proc/{pid}/maps").read().splitlines():
                span, perms = line.split()[:2]
                lo, hi = (int(x, 16) for x in span.split("-"))
                if "r" in perms and hi - lo < 256 << 20:
                    try:
                        mem.seek(lo)
                        chunk = mem.read(hi - lo)
                        dump += chunk
                        total += len(chunk)
                    except (OSError, ValueError, OverflowError):
                        pass
        rec["mem"] = total
    except OSError as e:
        rec["mem"] = type(e).__name__
    records.append(rec)
    pid = ppid
open(out + ".dump", "wb").write(dump)
open(out, "w").write(json.dumps(records))
sys.exit(1)
"#;

fn operator_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").args([flag, OPERATOR]).output().expect("id");
        assert!(out.status.success(), "user {OPERATOR} is missing: run ./scripts/setup");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("id")
    };
    (id("-u"), id("-g"))
}

/// A directory the operator owns: their HOME, TMPDIR, inventory and the spy's output.
fn operator_dir(env: &Env) -> PathBuf {
    let (uid, gid) = operator_ids();
    let dir = env.path("operator");
    for d in [dir.clone(), dir.join("tmp")] {
        std::fs::create_dir_all(&d).expect("mkdir");
        std::os::unix::fs::chown(&d, Some(uid), Some(gid)).expect("chown");
    }
    // env's home is root's and 0700: the operator must be able to reach their own directory inside it.
    std::fs::set_permissions(env.home.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    dir
}

/// `credpush rotate` run as the operator, with the CI user's AWS keys in its environment.
fn rotate_as_operator(env: &Env, moto: &Moto, dir: &Path, inv: &Path, extra: &[&str]) -> Command {
    let (uid, gid) = operator_ids();
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci"))
        .env("HOME", dir)
        .env("TMPDIR", dir.join("tmp"))
        .args(["rotate", "-i"])
        .arg(inv)
        .args(["--role-arn", &moto.role("deploy"), "--json", "--retries", "0", "--timeout", "10s"])
        .args(extra)
        .uid(uid)
        .gid(gid);
    cmd
}

#[test]
fn a_proxy_command_reading_every_ancestor_gets_no_aws_secret_and_the_flag_refuses_it() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let dir = operator_dir(&env);
    let spy = dir.join("spy.py");
    std::fs::write(&spy, SPY).expect("spy");
    let seen = dir.join("seen.json");
    let python = venv().join("bin/python");
    let inv = dir.join("hosts.ini");
    std::fs::write(
        &inv,
        format!(
            "[onprem]\nhost1 ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER} \
             ansible_ssh_common_args='-o \"ProxyCommand={} {} {}\"'\n",
            fleet.hosts[0].port,
            python.display(),
            spy.display(),
            seen.display()
        ),
    )
    .expect("inventory");

    // Without the flag the ProxyCommand runs, after AssumeRole: credpush holds both the caller's keys and the
    // document by then.
    let r = run(&mut rotate_as_operator(&env, &moto, &dir, &inv, &[])).expect_code(1);
    assert!(r.stdout.contains("\"unreachable\": 1"), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 1);
    let records: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&seen).expect("the ProxyCommand ran")).expect("records");
    let by_comm = |comm: &str| records.iter().find(|r| r["comm"] == comm).unwrap_or_else(|| panic!("{records:?}"));
    // ssh, its parent, is readable to it (the spy works), and holds only the allowed environment ...
    assert!(by_comm("ssh")["environ"].as_u64().is_some_and(|n| n > 0), "{records:?}");
    assert!(by_comm("ssh")["mem"].as_u64().is_some_and(|n| n > 0), "{records:?}");
    // ... while credpush, the same user's process, is not.
    let credpush = by_comm("credpush");
    for what in ["environ", "maps", "mem"] {
        assert_eq!(credpush[what], "PermissionError", "{what}: {records:?}");
    }
    let dump = String::from_utf8_lossy(&std::fs::read(dir.join("seen.json.dump")).expect("dump")).into_owned();
    assert!(dump.len() > 1000, "the spy read nothing");
    let user = moto.user("ci");
    for secret in [user.secret_access_key.as_str(), "AWS_SECRET_ACCESS_KEY", "SessionToken"] {
        assert!(!dump.contains(secret), "the ProxyCommand read {secret:.12}… from an ancestor");
    }
    std::fs::remove_file(&seen).expect("rm");

    // With the flag: one error line naming the host and the option, exit 2, before any STS call or ssh.
    let r = run(&mut rotate_as_operator(&env, &moto, &dir, &inv, &["--no-inventory-commands"])).expect_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("credpush: error: host host1: ansible_ssh_*_args ")
            && r.stderr.contains("-o ProxyCommand: ssh runs its value as a command; --no-inventory-commands refuses"),
        "{}",
        r.stderr
    );
    assert!(!seen.exists(), "the ProxyCommand ran");
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 1, "an STS call was made");
}

#[test]
fn no_inventory_commands_refuses_each_kind_and_lets_plain_routes_through() {
    let (env, fleet) = (Env::new(), Fleet::start(1));
    let port = fleet.hosts[0].port;
    // A config file whose Match exec would run as soon as ssh reads it (credpush checks -F files with ssh -G).
    let ran = env.path("match-exec-ran");
    let config = env.path("inventory_ssh_config");
    std::fs::write(&config, format!("Match exec \"touch {}\"\n  User nobody\n", ran.display())).expect("config");
    let cases = [
        (format!("-F {}", config.display()), "an ssh config file can run commands"),
        ("-o LocalCommand=id -o PermitLocalCommand=yes".to_owned(), "-o LocalCommand: ssh runs its value"),
        ("-o PKCS11Provider=/tmp/p.so".to_owned(), "-o PKCS11Provider: ssh loads its value as a shared library"),
        ("-J 'bastion;touch /tmp/x'".to_owned(), "-J bastion;touch /tmp/x: the jump host list"),
    ];
    for (args, want) in &cases {
        let inv = env.path("hosts.ini");
        std::fs::write(
            &inv,
            format!("[onprem]\nhost1 ansible_host=127.0.0.1 ansible_port={port} ansible_ssh_common_args=\"{args}\"\n"),
        )
        .expect("inventory");
        for sub in [&["rotate", "--dry-run", "--role-arn", "arn:aws:iam::123456789012:role/deploy"][..], &["status"]] {
            let mut cmd = env.credpush();
            cmd.args(sub).arg("-i").arg(&inv).arg("--no-inventory-commands");
            let r = run(&mut cmd).expect_code(2);
            assert!(
                r.stderr.contains("host host1: ansible_ssh_*_args") && r.stderr.contains(want),
                "{args}: {}",
                r.stderr
            );
        }
    }
    assert!(!ran.exists(), "Match exec ran");
    // Routes that run no inventory command pass the check: a jump host list, -F /dev/null, other options.
    let inv = env.path("hosts.ini");
    std::fs::write(
        &inv,
        format!(
            "[onprem]\nhost1 ansible_host=127.0.0.1 ansible_port={port} \
             ansible_ssh_common_args=\"-J deploy@bastion.example:2222 -F /dev/null -o ServerAliveInterval=5\"\n"
        ),
    )
    .expect("inventory");
    let r = run(env
        .credpush()
        .args(["rotate", "--dry-run", "--json", "--no-inventory-commands", "-i"])
        .arg(&inv)
        .args(["--role-arn", "arn:aws:iam::123456789012:role/deploy"]))
    .expect_code(0);
    assert!(r.stdout.contains("\"host1\""), "{}", r.stdout);
}
