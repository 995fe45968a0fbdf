//! STS endpoints that stall or answer garbage fail the run within `--sts-deadline`, with one line that names the
//! endpoint, the likely cause and the fix; hosts whose credentials are in are pushed to meanwhile.

use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{FakeSts, HoldingProxy, Misbehave};
use crate::fleet::rotate::{host_status, json_of, read_doc, rotate};
use crate::harness::{Env, Moto, Run, run};
use crate::sshd::{BlackHole, Fleet, TEST_USER};

const ROLE: &str = "arn:aws:iam::123456789012:role/deploy";
const FIX: &str = "fix: check AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, the region and any HTTPS proxy; unset the \
                   endpoint variables to use AWS's own STS)";

fn credpush_against(env: &Env, endpoint: &str) -> std::process::Command {
    let mut cmd = env.credpush();
    cmd.env("AWS_ENDPOINT_URL_STS", endpoint).env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env("AWS_SECRET_ACCESS_KEY", "x");
    cmd
}

fn inventory(env: &Env, n: usize) -> std::path::PathBuf {
    let path = env.path("hosts.ini");
    let text: String = (1..=n).map(|i| format!("web{i} ansible_host=127.0.0.1 ansible_port=9\n")).collect();
    std::fs::write(&path, text).expect("inventory");
    path
}

fn silent_message(endpoint: &str, deadline: u64, timeout: u64) -> String {
    format!(
        "credpush: error: STS GetCallerIdentity at {endpoint} failed: no answer within --sts-deadline {deadline}s \
         (--sts-timeout {timeout}s per attempt) (likely cause: the endpoint, or a proxy or firewall on the way, \
         accepts connections but never responds; {FIX}\n"
    )
}

fn black_hole_rotate(extra: &[&str]) {
    let env = Env::new();
    let hole = BlackHole::start();
    let endpoint = format!("http://127.0.0.1:{}", hole.port);
    let inv = inventory(&env, 16);
    let start = Instant::now();
    let r =
        run(credpush_against(&env, &endpoint).args(["rotate", "-i"]).arg(&inv).args(["--role-arn", ROLE]).args(extra))
            .expect_code(3);
    let took = start.elapsed();
    // Before: about 62 s per call (3 attempts of 20 s), 124 s for 16 hosts with --session-per-host.
    assert!(took < Duration::from_secs(30) && took >= Duration::from_secs(24), "{extra:?}: failed after {took:?}");
    assert_eq!(r.stderr, silent_message(&endpoint, 25, 10), "{extra:?}");
    assert_eq!(r.stdout, "", "no host was contacted, so there is no report");
}

#[test]
fn a_black_hole_sts_fails_the_run_within_the_default_deadline() {
    black_hole_rotate(&[]);
}

#[test]
fn a_black_hole_sts_fails_a_session_per_host_run_within_the_default_deadline() {
    black_hole_rotate(&["--session-per-host"]);
}

#[test]
fn each_broken_sts_answer_is_one_line_with_the_endpoint_the_cause_and_the_fix() {
    let env = Env::new();
    let cases = [
        (
            Misbehave::Http500,
            "it answered HTTP 500, also when retried (3 attempts) (likely cause: an STS outage, or an error page \
             from a proxy on the way",
        ),
        (
            Misbehave::Http501,
            "it answered HTTP 501 (likely cause: an STS outage, or an error page from a proxy on the way",
        ),
        (
            Misbehave::Truncated,
            "its answer was cut short (HTTP 200: the connection closed before the 4000 bytes it announced) (likely \
             cause: a proxy or load balancer on the way that truncates responses, or an endpoint that closed \
             mid-answer",
        ),
        (
            Misbehave::Silent,
            "no answer within --sts-deadline 3s (--sts-timeout 1s per attempt) (likely cause: the endpoint, or a \
             proxy or firewall on the way, accepts connections but never responds",
        ),
        (
            Misbehave::StalledBody,
            "it answered HTTP 200 but the response body stalled (incomplete after --sts-timeout 1s per attempt, \
             --sts-deadline 3s in all) (likely cause: a proxy or load balancer on the way that holds or truncates \
             responses",
        ),
        (
            Misbehave::Garbage,
            "its answer is not HTTP (invalid HTTP version parsed) (likely cause: the endpoint URL names a service \
             that is not STS, or a TLS port with http://",
        ),
    ];
    for (mode, what) in cases {
        let sts = FakeSts::start(mode);
        let start = Instant::now();
        let r = run(credpush_against(&env, &sts.endpoint).args([
            "assume",
            "--role-arn",
            ROLE,
            "--sts-timeout",
            "1s",
            "--sts-deadline",
            "3s",
        ]))
        .expect_code(3);
        assert!(start.elapsed() < Duration::from_secs(5), "{mode:?}: took {:?}", start.elapsed());
        assert_eq!(
            r.stderr,
            format!("credpush: error: STS GetCallerIdentity at {} failed: {what}; {FIX}\n", sts.endpoint),
            "{mode:?}"
        );
        assert_eq!(r.stdout, "");
    }
}

#[test]
fn hosts_are_pushed_while_a_slow_session_waits_and_a_down_endpoint_gets_no_more_calls() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    // Ten more hosts whose AssumeRole calls the proxy never answers; they are never contacted over ssh.
    let slow: String = (1..=10)
        .map(|i| format!("slow{i:02} ansible_host=127.0.0.1 ansible_port=9 ansible_user={TEST_USER}\n"))
        .collect();
    let inv = fleet.inventory(&slow);
    let proxy = HoldingProxy::start(&moto.endpoint, "RoleSessionName=credpush-slow");
    let mut cmd = rotate(
        &env,
        &moto,
        &fleet,
        &inv,
        &["--json", "--session-per-host", "--sts-timeout", "2s", "--sts-deadline", "4s"],
    );
    let child = cmd
        .env("AWS_ENDPOINT_URL_STS", &proxy.endpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    let mut child = child;
    // Both real hosts get their documents while the slow sessions are still waiting for STS.
    for h in &fleet.hosts {
        while !h.document().exists() {
            assert!(child.try_wait().expect("try_wait").is_none(), "{} was not written before the run ended", h.name);
            assert!(start.elapsed() < Duration::from_secs(20), "{} never written", h.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(child.try_wait().expect("try_wait").is_none(), "the run must still wait for the slow sessions");
    let out = child.wait_with_output().expect("wait");
    let took = start.elapsed();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
    .expect_code(3);
    // Eight calls in flight (the concurrency) wait out the 4 s deadline; the endpoint is then known to be down,
    // so the last two are not made at all, instead of waiting 4 s more.
    assert!(took < Duration::from_secs(7), "took {took:?}");
    let report = json_of(&r);
    assert_eq!(report["summary"]["ok"], 2, "{report}");
    assert_eq!(report["summary"]["failed"], 10, "{report}");
    for h in &fleet.hosts {
        assert_eq!(host_status(&report, &h.name).0, "ok");
        assert_eq!(read_doc(&h.document())["Version"], 1);
    }
    let silent = format!(
        "no answer within --sts-deadline 4s (--sts-timeout 2s per attempt) (likely cause: the endpoint, or a proxy \
         or firewall on the way, accepts connections but never responds; {FIX}"
    );
    let (mut waited, mut not_made) = (0, 0);
    for i in 1..=10 {
        let (status, error) = host_status(&report, &format!("slow{i:02}"));
        assert_eq!(status, "failed");
        let prefix = format!("STS AssumeRole for {} at {} failed: ", moto.role("deploy"), proxy.endpoint);
        if error == format!("{prefix}{silent}") {
            waited += 1;
        } else if error == format!("{prefix}not attempted, because an earlier call there failed: {silent}") {
            not_made += 1;
        } else {
            panic!("slow{i:02}: {error}");
        }
    }
    assert_eq!((waited, not_made), (8, 2));
    let assumed = moto.recorded_actions("AssumeRole");
    assert_eq!(assumed.len(), 2, "only the real hosts' sessions reached STS");
}
