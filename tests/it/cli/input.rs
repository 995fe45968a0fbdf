//! Bad input of every class fails with exit 2 and one line naming the input, before any network call: the STS
//! endpoint is a closed port, so a call that slipped through would exit 3 instead.

use crate::harness::{Env, free_port, run};

const GOOD: &str = "arn:aws:iam::123456789012:role/deploy";

fn assume(env: &Env, endpoint: &str, args: &[&str]) -> crate::harness::Run {
    let mut cmd = env.credpush();
    cmd.env("AWS_ENDPOINT_URL_STS", endpoint).env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE").env("AWS_SECRET_ACCESS_KEY", "x");
    run(cmd.arg("assume").args(args))
}

#[test]
fn stricter_sts_input_is_refused_before_the_call() {
    let env = Env::new();
    let endpoint = format!("http://127.0.0.1:{}", free_port());
    let big = env.path("big-policy.json");
    let statement = r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-with-a-long-name/*"}"#;
    let statements = vec![statement; 40].join(",");
    let big_text = format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{statements}]}}");
    std::fs::write(&big, &big_text).expect("write");
    let pretty = env.path("pretty-policy.json");
    // Whitespace does not count: this one is compact enough once re-serialized.
    std::fs::write(&pretty, format!("{{\n{}\"Version\": \"2012-10-17\"\n}}", " ".repeat(3000))).expect("write");
    let file = env.path("a-file");
    std::fs::write(&file, "").expect("write");
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--duration".into(), "1h1h".into()],
            "--duration \"1h1h\" is invalid: each unit may appear once, in the order h, m, s (expected seconds or a span like 45m, 1h, 1h30m, 12h, from 15m to 12h)".into(),
        ),
        (
            vec!["--duration".into(), "-1".into()],
            "--duration \"-1\" is invalid: a duration cannot be negative (expected seconds or a span like 45m, 1h, 1h30m, 12h, from 15m to 12h)".into(),
        ),
        (
            vec!["--tag".into(), "Team=a".into(), "--tag".into(), "TEAM=b".into()],
            "--tag \"Team, TEAM\" is invalid: repeats a key (STS compares tag keys without regard to case); give each key once".into(),
        ),
        (
            vec!["--policy-file".into(), big.display().to_string()],
            format!("--policy-file {}: the policy is {} characters without whitespace, over STS's limit of 2048 for a session policy (fix: narrow it, or use --policy-arn for a managed policy)", big.display(), big_text.len()),
        ),
        (
            vec!["--region".into(), "us-east".into()],
            "--region \"us-east\" is invalid: not a region name (expected e.g. us-east-1, eu-central-1, us-gov-west-1)".into(),
        ),
        (
            vec!["--output".into(), env.home.path().display().to_string()],
            format!("--output {:?} is invalid: is a directory (fix: name the file to write, e.g. DIR/temp.json)", env.home.path().display().to_string()),
        ),
        (
            vec!["--output".into(), file.join("temp.json").display().to_string()],
            format!("--output {:?} is invalid: {} is not a directory", file.join("temp.json").display().to_string(), file.display()),
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["--role-arn", GOOD];
        all.extend(args.iter().map(String::as_str));
        let r = assume(&env, &endpoint, &all).expect_code(2);
        assert_eq!(r.stderr.trim_end(), format!("credpush: error: {message}"));
    }
    // The compacted policy passes validation and goes on to the (closed) endpoint.
    let r =
        assume(&env, &endpoint, &["--role-arn", GOOD, "--policy-file", &pretty.display().to_string()]).expect_code(3);
    assert!(r.stderr.contains("could not reach the STS endpoint"), "{}", r.stderr);
}

#[test]
fn negative_numbers_are_values_not_flags() {
    let env = Env::new();
    for (flag, want) in [("--forks", "-1 is not in 1..=1000"), ("--retries", "-1 is not in 0..=10")] {
        let r =
            run(env.credpush().args(["rotate", "-i", "/nonexistent", "--role-arn", GOOD, flag, "-1"])).expect_code(2);
        assert!(
            r.stderr.contains(&format!("invalid value '-1' for '{flag}")) && r.stderr.contains(want),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("unexpected argument"), "{}", r.stderr);
    }
    let r = run(env.credpush().args(["rotate", "-i", "/nonexistent", "--role-arn", GOOD, "--timeout", "-5s"]))
        .expect_code(2);
    assert!(r.stderr.contains("--timeout \"-5s\" is invalid: a duration cannot be negative"), "{}", r.stderr);
}
