//! `rotate --format credentials`: a managed `[NAME]` section in each host's `~/.aws/credentials`, read by the real
//! AWS CLI, with everything else in the file kept byte for byte and no roll-back.

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::{host_status, json_of, rotate, test_uid};
use crate::harness::{Env, Moto, run};
use crate::sshd::Fleet;

const BEGIN: &str = "# >>> credpush managed credentials \"onprem\" >>>";

#[test]
fn credentials_format_writes_a_section_the_aws_cli_reads_and_keeps_the_rest() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let inv = fleet.inventory("");
    let uid = test_uid();
    let h = |n: &str| fleet.host(n);
    let file = |n: &str| h(n).home.join(".aws/credentials");
    // host1 has someone's static keys (CRLF, no final newline, mode 0644); host3 a hand-written [onprem].
    let theirs = "[default]\r\naws_access_key_id = AKIAEXAMPLEOTHER\r\naws_secret_access_key = theirs\r\n# end";
    for (host, text) in [("host1", theirs), ("host3", "[onprem]\naws_access_key_id = AKIAHAND\n")] {
        let dir = h(host).home.join(".aws");
        std::fs::create_dir_all(&dir).expect("dir");
        std::os::unix::fs::chown(&dir, Some(uid), None).expect("chown");
        std::fs::set_permissions(&dir, PermissionsExt::from_mode(0o700)).expect("chmod");
        std::fs::write(file(host), text).expect("credentials");
        std::os::unix::fs::chown(file(host), Some(uid), None).expect("chown");
        std::fs::set_permissions(file(host), PermissionsExt::from_mode(0o644)).expect("chmod");
    }
    let args = ["--json", "--format", "credentials", "--install-profile", "onprem"];
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &args)).expect_code(1);
    let report = json_of(&r);
    let row = |n: &str| report["hosts"].as_array().expect("hosts").iter().find(|x| x["host"] == n).cloned().expect(n);
    assert_eq!((row("host1")["status"].as_str(), row("host1")["profile"].as_str()), (Some("ok"), Some("updated")));
    assert_eq!((row("host2")["status"].as_str(), row("host2")["profile"].as_str()), (Some("ok"), Some("created")));
    assert_eq!(row("host2")["path"], file("host2").display().to_string());
    let (status, error) = host_status(&report, "host3");
    assert_eq!(status, "failed");
    assert!(error.contains("[onprem] is already defined outside credpush's managed block at line 1"), "{error}");
    assert_eq!(std::fs::read_to_string(file("host3")).expect("kept"), "[onprem]\naws_access_key_id = AKIAHAND\n");

    let first = std::fs::read_to_string(file("host1")).expect("credentials");
    assert!(first.starts_with(&format!("{theirs}\n\n{BEGIN}\n")), "{first:?}");
    let secret = first.lines().filter_map(|l| l.strip_prefix("aws_secret_access_key = ")).find(|s| *s != "theirs");
    let secret = secret.expect("the section's secret").to_owned();
    assert!(!r.stdout.contains(&secret) && !r.stderr.contains(&secret), "a secret reached the report");
    for host in ["host1", "host2"] {
        let meta = std::fs::metadata(file(host)).expect("credentials");
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid), "{host}");
        assert!(!h(host).home.join(".aws/temp.json").exists(), "{host}: no JSON document with --format credentials");
    }

    // The AWS CLI on the host, as its user, reads the section as profile onprem.
    let cli = format!(
        "env AWS_ENDPOINT_URL_STS={} AWS_DEFAULT_REGION=us-east-1 /opt/credpush/venv/bin/aws sts get-caller-identity --profile onprem --output text --query Arn",
        moto.endpoint
    );
    for host in ["host1", "host2"] {
        let who = fleet.ssh(host, &cli, b"");
        assert!(who.status.success(), "{host}: {}", String::from_utf8_lossy(&who.stderr));
        let arn = String::from_utf8_lossy(&who.stdout).into_owned();
        assert!(arn.starts_with("arn:aws:sts::123456789012:assumed-role/deploy/credpush-"), "{host}: {arn}");
    }

    // The next rotation replaces only the section: one section, new keys, the rest as it was.
    let limit = ["--limit", "host1:host2"];
    run(&mut rotate(&env, &moto, &fleet, &inv, &[&args[..], &limit[..]].concat())).expect_code(0);
    let second = std::fs::read_to_string(file("host1")).expect("credentials");
    assert!(second.starts_with(&format!("{theirs}\n\n{BEGIN}\n")) && second.matches(BEGIN).count() == 1, "{second:?}");
    assert!(!second.contains(&secret), "the section was replaced");
    // sshd (LogLevel DEBUG3) logs every exec: a rotation costs two per host, the read and the write.
    let execs = std::fs::read_to_string(h("host2").dir.join("sshd.log")).unwrap_or_default();
    assert_eq!(execs.matches("entering command sh -c").count(), 4, "two rotations of host2");

    // No roll-back: a later rotation's stamp beside the file keeps this run's section out.
    std::fs::write(h("host1").home.join(".aws/.credentials.credpush-stamp"), "9000000000000000000\n").expect("stamp");
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &[&args[..], &["--limit", "host1"][..]].concat()));
    assert_eq!(host_status(&json_of(&r.expect_code(0)), "host1").0, "superseded");
    assert_eq!(std::fs::read_to_string(file("host1")).expect("kept"), second);

    // Without a section name, or for a file holding a JSON document, nothing is written.
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &["--format", "credentials"])).expect_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("--install-profile"), "{}", r.stderr);
    std::fs::write(file("host2"), "{\"Version\":1}\n").expect("json");
    let json_path = ["--limit", "host2", "--json"];
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &[&args[1..], &json_path[..]].concat())).expect_code(1);
    assert!(host_status(&json_of(&r), "host2").1.contains("holds JSON, not an AWS credentials file"));
}
