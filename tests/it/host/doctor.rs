//! `credpush doctor` on real files, a real moto STS for the clock, and a small HTTP server that answers with a
//! skewed Date. Every finding's text is asserted.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{Env, Moto, run};

/// A home with a rotated document and an installed profile `onprem`.
struct Host {
    env: Env,
    moto: Moto,
    doc: PathBuf,
    config: PathBuf,
}

impl Host {
    fn new() -> Self {
        let (env, moto) = (Env::new(), Moto::start());
        let doc = env.path("aws/temp.json");
        let mut cmd = env.credpush();
        moto.as_user(&mut cmd, &moto.user("ci"))
            .args(["assume", "--role-arn", &moto.role("deploy"), "--output"])
            .arg(&doc);
        run(&mut cmd).expect_code(0);
        let config = env.path(".aws/config");
        run(env.credpush().args(["profile", "--name", "onprem", "--path"]).arg(&doc).arg("--install").arg(&config))
            .expect_code(0);
        Self { env, moto, doc, config }
    }

    /// Runs doctor with `vars` added to the clean environment; returns the exit code and (check, severity,
    /// message) of every finding.
    fn doctor(&self, vars: &[(&str, &str)], args: &[&str]) -> (i32, Vec<(String, String, String)>) {
        let mut cmd = self.env.credpush();
        cmd.env("AWS_ENDPOINT_URL_STS", &self.moto.endpoint).args(["doctor", "--json"]).args(args);
        for (k, v) in vars {
            if v.is_empty() {
                cmd.env_remove(k)
            } else {
                cmd.env(k, v)
            };
        }
        let r = run(&mut cmd);
        let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
        let findings = v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                (
                    f["check"].as_str().unwrap_or_default().into(),
                    f["severity"].as_str().unwrap_or_default().into(),
                    f["message"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        (r.code, findings)
    }

    fn set_expiration(&self, when: time::OffsetDateTime) -> String {
        crate::harness::set_expiration(&self.doc, when)
    }
}

fn has(findings: &[(String, String, String)], check: &str, severity: &str, message: &str) {
    assert!(
        findings.iter().any(|(c, s, m)| c == check && s == severity && m == message),
        "no {severity} {check} {message:?} in {findings:#?}"
    );
}

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).expect("chmod");
}

#[test]
fn a_healthy_host_passes_and_each_document_problem_is_named() {
    let h = Host::new();
    let d = h.doc.display().to_string();
    let (code, f) = h.doctor(&[], &[]);
    assert_eq!(code, 0, "{f:#?}");
    has(&f, "home", "ok", &format!("HOME is {}", h.env.home.path().display()));
    has(&f, "profile", "ok", &format!("[profile onprem] reads {d}"));
    has(&f, "permissions", "ok", &format!("{d} is mode 0600"));
    assert!(
        f.iter().any(|(c, s, m)| c == "document" && s == "ok" && m.starts_with("the document is valid until ")),
        "{f:#?}"
    );
    assert!(f.iter().any(|(c, s, m)| c == "clock" && s == "ok" && m.starts_with("the local clock is ")), "{f:#?}");

    mode(&h.doc, 0o644);
    let (code, f) = h.doctor(&[], &["--no-clock"]);
    assert_eq!(code, 5);
    has(&f, "permissions", "error", &format!("{d} is mode 0644: others on this host can read the credentials"));
    mode(&h.doc, 0o600);

    crate::sshd::give_to_test_user(&h.doc);
    let uid = crate::fleet::rotate::test_uid();
    let (code, f) = h.doctor(&[], &["--no-clock"]);
    assert_eq!(code, 1);
    has(&f, "owner", "warning", &format!("{d} is owned by uid {uid}, not by this user (uid 0)"));
    std::os::unix::fs::chown(&h.doc, Some(0), Some(0)).expect("chown back");

    let now = time::OffsetDateTime::now_utc();
    let exp = h.set_expiration(now + time::Duration::minutes(12) + time::Duration::seconds(30));
    let (code, f) = h.doctor(&[], &["--no-clock"]);
    assert_eq!(code, 1);
    has(
        &f,
        "document",
        "warning",
        &format!("the document expires at {exp}, in 12 min: inside botocore's 15-minute refresh window"),
    );
    let exp = h.set_expiration(now + time::Duration::minutes(5) + time::Duration::seconds(30));
    let (code, f) = h.doctor(&[], &["--no-clock"]);
    assert_eq!(code, 5);
    has(
        &f,
        "document",
        "error",
        &format!(
            "the document expires at {exp}, in 5 min: inside botocore's 10-minute window, calls fail unless a new one arrives"
        ),
    );
    h.set_expiration(time::macros::datetime!(2020-01-01 00:00 UTC));
    let (_, f) = h.doctor(&[], &["--no-clock"]);
    has(&f, "document", "error", "the document expired at 2020-01-01T00:00:00Z");

    let text = std::fs::read(&h.doc).expect("doc");
    std::fs::write(&h.doc, &text[..40]).expect("tear");
    let (code, f) = h.doctor(&[], &["--no-clock"]);
    assert_eq!(code, 5);
    has(
        &f,
        "document",
        "error",
        &format!(
            "{d} is not a valid credential document: not a credential_process document: Eof error at line 1 column 40"
        ),
    );
}

#[test]
fn profile_and_environment_traps_are_named() {
    let h = Host::new();
    let c = h.config.display().to_string();
    let (code, f) = h.doctor(&[], &["--no-clock", "--profile", "other"]);
    assert_eq!(code, 5);
    has(&f, "profile", "error", &format!("[profile other] is not in {c}"));

    let (code, f) = h.doctor(
        &[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_PROFILE", "legacy")],
        &["--no-clock", "--profile", "onprem"],
    );
    assert_eq!(code, 1, "{f:#?}");
    has(
        &f,
        "environment",
        "warning",
        "AWS_ACCESS_KEY_ID is set: keys in the environment take precedence over every profile, so the rotated credentials are not used",
    );
    has(
        &f,
        "environment",
        "warning",
        "AWS_PROFILE is \"legacy\", so jobs in this environment use that profile, not \"onprem\"",
    );

    let (code, f) = h.doctor(&[("HOME", "")], &["--no-clock", "--config", &c]);
    assert_eq!(code, 5);
    has(
        &f,
        "home",
        "error",
        "HOME is not set, so the AWS SDKs cannot find ~/.aws/config (typical under systemd or cron)",
    );

    let text = std::fs::read_to_string(&h.config).expect("config");
    std::fs::write(
        &h.config,
        format!("[default]\nregion = us-east-1\n\n{}", text.replace(&h.doc.display().to_string(), "~/aws/temp.json")),
    )
    .expect("write");
    let (code, f) = h.doctor(&[], &["--no-clock"]);
    assert_eq!(code, 5);
    has(
        &f,
        "environment",
        "warning",
        &format!(
            "AWS_PROFILE is not set and {c} has a [default] section: jobs that do not name a profile use [default], not \"onprem\""
        ),
    );
    has(
        &f,
        "path",
        "error",
        "credential_process reads \"~/aws/temp.json\": botocore runs it without a shell, so ~, $VARIABLES and relative paths are not expanded",
    );
}

#[test]
fn a_skewed_clock_is_an_error() {
    let h = Host::new();
    // An endpoint whose clock is 10 minutes behind ours: every answer carries that Date.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let date = (time::OffsetDateTime::now_utc() - time::Duration::minutes(10))
                .format(time::macros::format_description!(
                    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
                ))
                .expect("format");
            let _ = write!(
                s,
                "HTTP/1.1 403 Forbidden\r\nDate: {date}\r\nContent-Type: text/xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    let (code, f) = h.doctor(&[("AWS_ENDPOINT_URL_STS", &format!("http://127.0.0.1:{port}"))], &[]);
    assert_eq!(code, 5, "{f:#?}");
    let (_, sev, msg) = f.iter().find(|(c, _, _)| c == "clock").expect("clock finding");
    assert_eq!(sev, "error");
    let secs: i64 = msg.trim_start_matches("the local clock is ").split('s').next().unwrap_or("x").parse().expect(msg);
    assert!((598..=602).contains(&secs), "{msg}");
    assert_eq!(msg, &format!("the local clock is {secs}s off STS's"));
}
