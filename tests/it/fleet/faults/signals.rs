//! SIGTERM and SIGHUP end a run the way Ctrl-C does: nothing new starts, hosts in flight get a grace period and
//! are then cut, every ssh master is closed, and the report is printed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{entries, live_ssh, ssh_left_after};
use crate::fleet::rotate::{host_status, json_of, rotate};
use crate::harness::{Env, Moto, Run};
use crate::sshd::{BlackHole, Fleet};

const CUT: &str = "interrupted during the push and cut after the 5s grace period; the previous file is kept unless \
                   the new one was already in place (run again to be sure)";
const SKIPPED: &str = "interrupted before this host started";

fn signal(child: &Child, name: &str) {
    let st = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// The remote writers' temp files on a host: one per write in progress (a stalled writer keeps its file).
fn temp_files(fleet: &Fleet, host: &str) -> Vec<std::ffi::OsString> {
    let dir = fleet.host(host).home.join(".aws");
    let names: Vec<std::ffi::OsString> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    names.into_iter().filter(|n| n.to_string_lossy().starts_with(".credpush.")).collect()
}

/// Waits until each host has one more remote writer than `before`: the push is in flight and stalled.
fn wait_in_flight(fleet: &Fleet, hosts: &[&str], before: &[usize]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for (h, n) in hosts.iter().zip(before) {
        while temp_files(fleet, h).len() <= *n {
            assert!(Instant::now() < deadline, "{h} never started its write");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn sigterm_and_sighup_print_the_report_and_leave_no_ssh_process_or_control_directory() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(3));
    let inv = fleet.inventory("");
    // host1 and host2 stall mid-transfer for longer than the test waits; --forks 2 keeps host3 waiting.
    for h in ["host1", "host2"] {
        std::fs::write(fleet.host(h).dir.join("hang"), "").expect("hang");
    }
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    let start = |tag: &str| {
        let before: Vec<usize> = ["host1", "host2"].iter().map(|h| temp_files(&fleet, h).len()).collect();
        let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json", "--forks", "2", "--timeout", "60s"]);
        let child = cmd.env("TMPDIR", &tmp).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        wait_in_flight(&fleet, &["host1", "host2"], &before);
        assert_eq!(live_ssh(&tmp).len(), 2, "{tag}: one master per host in flight: {:?}", live_ssh(&tmp));
        child
    };
    let check = |tag: &str, r: Run| {
        let r = r.expect_code(1);
        let report = json_of(&r);
        assert_eq!(report["summary"]["failed"], 2, "{tag}: {report}");
        for h in ["host1", "host2"] {
            assert_eq!(host_status(&report, h), ("failed".into(), CUT.into()), "{tag}");
        }
        assert_eq!(host_status(&report, "host3"), ("skipped".into(), SKIPPED.into()), "{tag}");
        let left = ssh_left_after(&tmp, Duration::from_secs(2));
        assert!(left.is_empty(), "{tag}: ssh processes outlived the run: {left:?}");
        assert_eq!(entries(&tmp), Vec::<std::path::PathBuf>::new(), "{tag}: control directories left");
        r
    };

    // SIGTERM: the hosts in flight get the 5 s grace period, then are cut.
    let child = start("SIGTERM");
    let signalled = Instant::now();
    signal(&child, "TERM");
    let r = finish(child);
    let took = signalled.elapsed();
    assert!(took >= Duration::from_millis(4900) && took < Duration::from_secs(9), "SIGTERM: ended after {took:?}");
    let r = check("SIGTERM", r);
    assert!(
        r.stderr.contains(
            "credpush: interrupted: finishing hosts in flight, starting no new ones (SIGTERM; hosts still running \
             after 5s are cut, as they are at a second signal)\n"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("credpush: grace period over: cutting hosts still in flight\n"), "{}", r.stderr);

    // SIGHUP twice: the second one cuts at once.
    let mut child = start("SIGHUP");
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(1000));
    assert!(child.try_wait().expect("try_wait").is_none(), "the first SIGHUP must not end the run");
    let signalled = Instant::now();
    signal(&child, "HUP");
    let r = finish(child);
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(3), "SIGHUP twice: ended {took:?} after the second");
    let r = check("SIGHUP", r);
    assert!(r.stderr.contains("(SIGHUP; hosts still running after 5s are cut"), "{}", r.stderr);
    assert!(r.stderr.contains("credpush: SIGHUP again: cutting hosts in flight now\n"), "{}", r.stderr);

    // Neither run touched host3, and the stalled writers never replaced anything.
    for h in &fleet.hosts {
        assert!(!h.document().exists(), "{}", h.name);
    }
}

#[test]
fn a_signal_during_the_sts_phase_stops_the_run_with_every_host_skipped() {
    let env = Env::new();
    let sts = BlackHole::start();
    let inv = env.path("hosts.ini");
    std::fs::write(&inv, "web1 ansible_host=127.0.0.1 ansible_port=9\nweb2 ansible_host=127.0.0.1 ansible_port=9\n")
        .expect("inventory");
    let mut cmd = env.credpush();
    let child = cmd
        .env("AWS_ENDPOINT_URL_STS", format!("http://127.0.0.1:{}", sts.port))
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .args(["rotate", "-i"])
        .arg(&inv)
        .args(["--role-arn", "arn:aws:iam::123456789012:role/deploy", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    signal(&child, "TERM");
    let r = finish(child);
    assert!(signalled.elapsed() < Duration::from_secs(2), "took {:?}", signalled.elapsed());
    let r = r.expect_code(1);
    assert!(
        r.stderr.ends_with("credpush: interrupted before any AssumeRole call: no host was contacted\n"),
        "{}",
        r.stderr
    );
    let report = json_of(&r);
    assert_eq!(
        report["summary"],
        serde_json::json!({"hosts": 2, "ok": 0, "failed": 0, "unreachable": 0, "skipped": 2})
    );
    assert_eq!(host_status(&report, "web1"), ("skipped".into(), SKIPPED.into()));
}

/// A host still connecting when the run is cut was never written: ssh had taken none of the document, so the
/// host is `skipped`, not `failed`.
#[test]
fn a_host_cut_while_connecting_is_skipped_with_nothing_written() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let hole = BlackHole::start();
    let inv = fleet.inventory(&format!(
        "hole ansible_host=127.0.0.1 ansible_port={} ansible_user={}\n",
        hole.port,
        crate::sshd::TEST_USER
    ));
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json", "--timeout", "60s"]);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    let doc = fleet.host("host1").document();
    let start = Instant::now();
    while !doc.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "host1 was never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let report = json_of(&finish(child).expect_code(1));
    assert_eq!(host_status(&report, "host1").0, "ok", "{report}");
    assert_eq!(
        host_status(&report, "hole"),
        ("skipped".into(), "interrupted while connecting; nothing was written".into()),
        "{report}"
    );
}
