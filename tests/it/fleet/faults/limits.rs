//! A low open file limit and a closed stdout: every host still ends ok, and nothing panics.

use std::process::Stdio;

use crate::fleet::rotate::{json_of, rotate};
use crate::harness::{Env, Moto, Run, run};
use crate::sshd::Fleet;

/// `credpush rotate` started by a shell that first runs `ulimit`.
fn under_ulimit(base: &std::process::Command, env: &Env, ulimit: &str) -> std::process::Command {
    let mut cmd = env.cmd("/bin/sh");
    cmd.arg("-c").arg(format!("{ulimit} && exec \"$0\" \"$@\"")).arg(base.get_program()).args(base.get_args());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd
}

/// `--forks 200` against 200 loopback hosts under `ulimit -n 256` (soft and hard, so credpush cannot raise it and
/// caps its forks instead). Before: 79 of 200 hosts ok, the others failed with messages that did not name the
/// limit. Then, with only the soft limit at 256, credpush raises it (on two hosts: 200 handshakes at once are
/// more than two loaded cores finish within --timeout, which is not what this test is about).
#[test]
fn two_hundred_hosts_under_ulimit_n_256_all_end_ok() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(200));
    let inv = fleet.inventory("");
    let base = rotate(&env, &moto, &fleet, &inv, &["--json", "--forks", "200", "-v"]);
    let r = run(&mut under_ulimit(&base, &env, "ulimit -n 256")).expect_code(0);
    let report = json_of(&r);
    assert_eq!(report["summary"]["ok"], 200, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "--forks 200 capped to 20: the open file limit of 256 leaves room for 20 hosts in flight at 10 \
             descriptors each (raise the hard limit, e.g. ulimit -Hn, for more)"
        ),
        "{}",
        r.stderr
    );

    let base = rotate(&env, &moto, &fleet, &inv, &["--json", "--forks", "200", "-v", "--limit", "host1:host2"]);
    let r = run(&mut under_ulimit(&base, &env, "ulimit -Sn 256")).expect_code(0);
    assert_eq!(json_of(&r)["summary"]["ok"], 2, "{}", r.stderr);
    let hard =
        String::from_utf8(std::process::Command::new("sh").args(["-c", "ulimit -Hn"]).output().expect("sh").stdout)
            .expect("utf-8");
    let raised = hard.trim().parse::<u64>().map_or(65_536, |h| h.min(65_536));
    assert!(r.stderr.contains(&format!("open file limit soft={raised} raised_from=256 ")), "{}", r.stderr);
    assert!(!r.stderr.contains("capped"), "{}", r.stderr);
}

/// `credpush … | head -c 10`: the reader is gone before credpush writes. Before: a panic and exit 101.
#[test]
fn a_closed_stdout_ends_quietly_with_the_command_s_own_exit_code() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let inv = fleet.inventory("");
    let closed = || {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        Stdio::from(writer)
    };
    let mut list = env.credpush();
    let r = Run::of(list.args(["inventory", "--list", "-i"]).arg(&inv).stdout(closed())).expect_code(0);
    assert_eq!(r.stderr, "");
    let mut dry = rotate(&env, &moto, &fleet, &inv, &["--dry-run"]);
    let r = Run::of(dry.stdout(closed())).expect_code(0);
    assert_eq!(r.stderr, "");
    let mut profile = env.credpush();
    let r = Run::of(profile.args(["profile", "--name", "p", "--path", "/x/temp.json"]).stdout(closed())).expect_code(0);
    assert_eq!(r.stderr, "");
    // A real rotation: the host is written, and the report that cannot be printed changes nothing.
    let r = Run::of(rotate(&env, &moto, &fleet, &inv, &[]).stdout(closed())).expect_code(0);
    assert_eq!(r.stderr, "");
    assert!(fleet.host("host1").document().exists());
    let mut read = env.credpush();
    let r = Run::of(read.args(["read", "--path"]).arg(fleet.host("host1").document()).stdout(closed())).expect_code(0);
    assert_eq!(r.stderr, "");
    let mut assume = env.credpush();
    moto.as_user(&mut assume, &moto.user("ci"));
    let r = Run::of(assume.args(["assume", "--role-arn", &moto.role("deploy")]).stdout(closed())).expect_code(0);
    assert_eq!(r.stderr, "");
}
