//! `credpush status` against loopback hosts, each left in a different state after a real rotation.

use serde_json::Value;

use crate::fleet::rotate::{json_of, read_doc, rotate};
use crate::harness::{Env, Moto, run, set_expiration};
use crate::sshd::Fleet;

#[test]
fn status_reports_every_state_without_moving_a_secret() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(8));
    // `odd"one\x` is a name from a hand-written inventory: its quote and backslash must be escaped in the labels.
    // `ssmbox` is reached through SSM, which status cannot read without running a command: its own row says so.
    let inv = fleet.inventory(concat!(
        "hole ansible_host=127.0.0.1 ansible_port=1\n'odd\"one\\x' ansible_host=127.0.0.1 ansible_port=1\n",
        "ssmbox ansible_connection=community.aws.aws_ssm ansible_aws_ssm_instance_id=mi-0123456789abcdef0\n",
    ));
    let mut cmd = rotate(
        &env,
        &moto,
        &fleet,
        &inv,
        &["--json", "--install-profile", "onprem", "--limit", "onprem:!hole:!odd*:!ssmbox"],
    );
    run(&mut cmd).expect_code(0);
    let h = |n: &str| fleet.host(n);
    let now = time::OffsetDateTime::now_utc();
    let secrets: Vec<String> = fleet
        .hosts
        .iter()
        .flat_map(|x| {
            let d = read_doc(&x.document());
            [
                d["SecretAccessKey"].as_str().unwrap_or_default().to_owned(),
                d["SessionToken"].as_str().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    let expired = set_expiration(&h("host2").document(), now - time::Duration::minutes(5));
    set_expiration(&h("host3").document(), now + time::Duration::minutes(10));
    let text = std::fs::read(h("host4").document()).expect("doc");
    std::fs::write(h("host4").document(), &text[..60]).expect("tear");
    std::fs::set_permissions(h("host5").document(), std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    std::fs::remove_file(h("host6").home.join(".aws/config")).expect("rm config");
    let config7 = h("host7").home.join(".aws/config");
    let c = std::fs::read_to_string(&config7).expect("config");
    std::fs::write(&config7, c.replace(&h("host7").document().display().to_string(), "~/.aws/temp.json"))
        .expect("write");

    // host8's document belongs to root: the login user can neither read it nor is it theirs.
    std::os::unix::fs::chown(h("host8").document(), Some(0), Some(0)).expect("chown");

    let prom = env.path("metrics/credpush.prom");
    let mut cmd = env.credpush();
    cmd.args(["status", "-i"])
        .arg(&inv)
        .args(["--json", "--timeout", "5", "--ssh-config"])
        .arg(fleet.ssh_config())
        .arg("--prometheus")
        .arg(&prom);
    let r = run(&mut cmd).expect_code(1);
    for s in &secrets {
        assert!(!r.stdout.contains(s.as_str()) && !r.stderr.contains(s.as_str()), "a secret left a host");
    }
    let report: Value = json_of(&r);
    let host = |n: &str| report["hosts"].as_array().expect("hosts").iter().find(|x| x["host"] == n).cloned().expect(n);
    let state = |n: &str| host(n)["state"].as_str().unwrap_or_default().to_owned();
    let problems = |n: &str| {
        host(n)["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .map(|p| p.as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    let doc = |n: &str| h(n).document().display().to_string();

    assert_eq!(state("host1"), "ok", "{}", host("host1"));
    assert_eq!(host("host1")["profiles"], serde_json::json!(["onprem"]));
    assert_eq!(host("host1")["mode"], "600");
    let key = read_doc(&h("host1").document())["AccessKeyId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(host("host1")["key_id_last4"], key[key.len() - 4..]);
    assert!(host("host1")["seconds_left"].as_i64().unwrap_or_default() > 3000);
    assert_eq!(
        (state("host2"), host("host2")["expiration"].as_str().unwrap_or_default().to_owned()),
        ("expired".into(), expired.clone())
    );
    assert_eq!(state("host3"), "expiring");
    assert_eq!(state("host4"), "broken");
    assert_eq!(
        problems("host4"),
        [format!(
            "{} is not a valid credential document (bad: secret, token, closed); a torn or foreign write",
            doc("host4")
        )]
    );
    assert_eq!(problems("host5"), [format!("{} is mode 0644: others on the host can read it", doc("host5"))]);
    assert_eq!(
        problems("host6"),
        [format!("no credpush profile in {} reads {}", h("host6").home.join(".aws/config").display(), doc("host6"))]
    );
    assert_eq!(problems("host7"), [format!("no credpush profile in {} reads {}", config7.display(), doc("host7"))]);
    assert_eq!(
        problems("host8"),
        [
            format!("{} exists but cannot be read by the login user", doc("host8")),
            format!(
                "{} is owned by 0 root, not by the user that reads it (uid {}); rotate as that user (ansible_user or ansible_become_user)",
                doc("host8"),
                crate::fleet::rotate::test_uid()
            ),
        ]
    );
    assert_eq!(state("hole"), "unreachable");
    assert_eq!(state("ssmbox"), "unsupported", "{}", host("ssmbox"));
    assert!(
        problems("ssmbox")[0].starts_with("status probes over ssh and this host is reached through SSM"),
        "{}",
        host("ssmbox")
    );

    let metrics = std::fs::read_to_string(&prom).expect("prometheus file");
    assert!(metrics.contains("# TYPE credpush_credentials_expiration_timestamp_seconds gauge\n"), "{metrics}");
    let exp = time::OffsetDateTime::parse(&expired, &time::format_description::well_known::Rfc3339).expect("rfc3339");
    assert!(
        metrics.contains(&format!(
            "credpush_credentials_expiration_timestamp_seconds{{host=\"host2\"}} {}\n",
            exp.unix_timestamp()
        )),
        "{metrics}"
    );
    let last_run = metrics
        .lines()
        .find_map(|l| l.strip_prefix("credpush_status_last_run_timestamp_seconds "))
        .and_then(|v| v.parse::<i64>().ok())
        .expect("last run sample");
    assert!((last_run - now.unix_timestamp()).abs() < 120, "{metrics}");
    assert!(metrics.contains("# HELP credpush_credentials_seconds_left DEPRECATED"), "{metrics}");
    assert!(metrics.contains("credpush_host_state{host=\"odd\\\"one\\\\x\",state=\"unreachable\"} 1\n"), "{metrics}");
    assert!(metrics.contains("credpush_host_state{host=\"host1\",state=\"ok\"} 1\n"), "{metrics}");
    assert!(metrics.contains("credpush_host_state{host=\"host2\",state=\"expired\"} 1\n"), "{metrics}");
    assert!(metrics.contains("credpush_host_state{host=\"hole\",state=\"unreachable\"} 1\n"), "{metrics}");
    assert!(metrics.contains("credpush_host_state{host=\"ssmbox\",state=\"unsupported\"} 1\n"), "{metrics}");

    // Prometheus' own linter and parser accept the file as written.
    let file = std::fs::File::open(&prom).expect("prometheus file");
    let lint = run(env.cmd("promtool").args(["check", "metrics"]).stdin(file)).expect_code(0);
    assert_eq!((lint.stdout.as_str(), lint.stderr.as_str()), ("", ""), "promtool check metrics");

    // With only healthy hosts it exits 0; the human table names them.
    let mut cmd = env.credpush();
    cmd.args(["status", "-i"])
        .arg(&inv)
        .args(["--limit", "host1", "--profile", "onprem", "--ssh-config"])
        .arg(fleet.ssh_config());
    let r = run(&mut cmd).expect_code(0);
    assert!(r.stdout.contains("1 ok, 0 expiring, 0 expired, 0 broken, 0 unreachable of 1 hosts"), "{}", r.stdout);
    // An SSM host beside it is listed as unsupported, and does not fail the run.
    let mut cmd = env.credpush();
    cmd.args(["status", "-i"])
        .arg(&inv)
        .args(["--limit", "host1:ssmbox", "--profile", "onprem", "--ssh-config"])
        .arg(fleet.ssh_config());
    let r = run(&mut cmd).expect_code(0);
    assert!(r.stdout.contains("ssmbox") && r.stdout.contains("unsupported"), "{}", r.stdout);
}
