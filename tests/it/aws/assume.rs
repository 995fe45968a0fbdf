//! `credpush assume` against moto's STS with auth enforced, read back by the real AWS CLI.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Env, Moto, User, free_port, run, tool};

const ACCOUNT: &str = "123456789012";

fn doc_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Runs `credpush assume` as `user` and returns the parsed document from stdout.
fn assume_as(env: &Env, moto: &Moto, user: &User, role: &str, extra: &[&str]) -> Value {
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, user).args(["assume", "--role-arn", role]).args(extra);
    doc_of(&run(&mut cmd).expect_code(0).stdout)
}

/// Points a command at moto as the session in `doc`.
fn as_session<'a>(cmd: &'a mut Command, moto: &Moto, doc: &Value) -> &'a mut Command {
    cmd.env("AWS_ENDPOINT_URL_STS", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", doc["AccessKeyId"].as_str().unwrap_or_default())
        .env("AWS_SECRET_ACCESS_KEY", doc["SecretAccessKey"].as_str().unwrap_or_default())
        .env("AWS_SESSION_TOKEN", doc["SessionToken"].as_str().unwrap_or_default())
}

#[test]
fn output_document_drives_the_aws_cli_through_a_rendered_profile() {
    let (env, moto) = (Env::new(), Moto::start());
    let ci = moto.user("ci");
    let target = env.path("state/aws/temp.json");
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &ci).args(["assume", "--role-arn", &moto.role("deploy"), "--session-name", "it-cli"]);
    let r = run(cmd.arg("--output").arg(&target)).expect_code(0);
    assert_eq!(r.stdout, "", "nothing may go to stdout with --output");
    assert!(
        r.stderr.contains(&format!("wrote credentials for {} (session it-cli, expires ", moto.role("deploy"))),
        "{}",
        r.stderr
    );

    let meta = std::fs::metadata(&target).expect("document written");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(env.path("state/aws")).expect("dir").mode() & 0o777, 0o700);
    let doc = doc_of(&std::fs::read_to_string(&target).expect("read"));
    assert_eq!(doc["Version"], 1);
    let exp = doc["Expiration"].as_str().expect("Expiration");
    assert!(exp.ends_with('Z') && exp.len() == 20, "{exp}");

    let config = env.path(".aws/config");
    let mut p = env.credpush();
    p.args(["profile", "--name", "onprem", "--region", "us-east-1", "--path"])
        .arg(&target)
        .arg("--install")
        .arg(&config);
    assert_eq!(run(&mut p).expect_code(0).stdout, format!("profile \"onprem\" in {}: created\n", config.display()));

    // The AWS CLI gets no keys in its environment: only the profile's credential_process.
    let mut aws = env.cmd(tool("aws"));
    aws.env("AWS_ENDPOINT_URL_STS", &moto.endpoint).args([
        "sts",
        "get-caller-identity",
        "--profile",
        "onprem",
        "--output",
        "json",
    ]);
    let who = doc_of(&run(&mut aws).expect_code(0).stdout);
    assert_eq!(who["Arn"], format!("arn:aws:sts::{ACCOUNT}:assumed-role/deploy/it-cli"));
}

#[test]
fn output_dash_is_standard_output_never_a_file_named_dash() {
    let (env, moto) = (Env::new(), Moto::start());
    let ci = moto.user("ci");
    let cwd = env.path("cwd");
    std::fs::create_dir_all(&cwd).expect("cwd");
    let mut cmd = env.credpush();
    cmd.current_dir(&cwd);
    moto.as_user(&mut cmd, &ci).args(["assume", "--role-arn", &moto.role("deploy"), "--output", "-"]);
    let r = run(&mut cmd).expect_code(0);
    let doc = doc_of(&r.stdout);
    assert_eq!(doc["Version"], 1);
    assert!(doc["SessionToken"].as_str().is_some_and(|t| !t.is_empty()), "{}", r.stdout);
    assert!(!r.stderr.contains("wrote credentials"), "{}", r.stderr);
    let left: Vec<_> = std::fs::read_dir(&cwd).expect("read cwd").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "`--output -` left files in the working directory: {left:?}");
}

#[test]
fn a_document_with_a_wrong_secret_is_rejected() {
    let (env, moto) = (Env::new(), Moto::start());
    let mut doc = assume_as(&env, &moto, &moto.user("ci"), &moto.role("deploy"), &["--session-name", "it-wrong"]);
    doc["SecretAccessKey"] = Value::String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());
    let path = env.path("tampered.json");
    std::fs::write(&path, doc.to_string()).expect("write");
    let mut p = env.credpush();
    p.args(["profile", "--name", "tampered", "--path"]).arg(&path).arg("--install").arg(env.path(".aws/config"));
    run(&mut p).expect_code(0);
    let mut aws = env.cmd(tool("aws"));
    aws.env("AWS_ENDPOINT_URL_STS", &moto.endpoint).args([
        "sts",
        "get-caller-identity",
        "--profile",
        "tampered",
        "--region",
        "us-east-1",
    ]);
    let r = run(&mut aws);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains("SignatureDoesNotMatch"), "{}", r.stderr);
}

#[test]
fn every_sts_parameter_reaches_sts() {
    let (env, moto) = (Env::new(), Moto::start());
    let policy = env.path("session-policy.json");
    let policy_text =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    std::fs::write(&policy, policy_text).expect("write policy");
    let policy_arg = policy.to_string_lossy().into_owned();
    let before = time::OffsetDateTime::now_utc();
    let doc = assume_as(
        &env,
        &moto,
        &moto.user("ci"),
        &moto.role("partner"),
        &[
            "--session-name",
            "it-params",
            "--duration",
            "45m",
            "--external-id",
            "partner-ext-123",
            "--policy-file",
            &policy_arg,
            "--policy-arn",
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "--tag",
            "team=platform",
            "--tag",
            "host=web01",
            "--transitive-tag-key",
            "team",
            "--source-identity",
            "web01.example",
            "--region",
            "eu-west-1",
        ],
    );
    let exp = time::OffsetDateTime::parse(
        doc["Expiration"].as_str().expect("exp"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    let secs = (exp - before).whole_seconds();
    assert!((2690..=2710).contains(&secs), "45m session expires in {secs}s");

    let calls = moto.recorded_actions("AssumeRole");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let field = |k: &str| calls[0].iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(field("RoleArn").as_deref(), Some(moto.role("partner").as_str()));
    assert_eq!(field("RoleSessionName").as_deref(), Some("it-params"));
    assert_eq!(field("DurationSeconds").as_deref(), Some("2700"));
    assert_eq!(field("ExternalId").as_deref(), Some("partner-ext-123"));
    assert_eq!(field("Policy").as_deref(), Some(policy_text));
    assert_eq!(field("PolicyArns.member.1.arn").as_deref(), Some("arn:aws:iam::aws:policy/ReadOnlyAccess"));
    assert_eq!(field("Tags.member.1.Key").as_deref(), Some("team"));
    assert_eq!(field("Tags.member.1.Value").as_deref(), Some("platform"));
    assert_eq!(field("Tags.member.2.Key").as_deref(), Some("host"));
    assert_eq!(field("Tags.member.2.Value").as_deref(), Some("web01"));
    assert_eq!(field("TransitiveTagKeys.member.1").as_deref(), Some("team"));
    assert_eq!(field("SourceIdentity").as_deref(), Some("web01.example"));
    // --region chose the signing region of both STS calls (the IAM calls are the harness's setup).
    let signed = moto
        .recorded()
        .iter()
        .filter_map(|r| r["headers"]["Authorization"].as_str().map(str::to_owned))
        .filter(|a| a.contains("/sts/aws4_request"))
        .collect::<Vec<_>>();
    assert_eq!(signed.len(), 2, "{signed:?}");
    assert!(signed.iter().all(|a| a.contains("/eu-west-1/sts/aws4_request")), "{signed:?}");
}

#[test]
fn external_id_is_enforced_by_the_trust_policy() {
    let (env, moto) = (Env::new(), Moto::start());
    let (ci, partner) = (moto.user("ci"), moto.role("partner"));
    // moto denies a wrong ExternalId; unlike AWS it lets a missing one through, so that case is not asserted.
    {
        let mut cmd = env.credpush();
        moto.as_user(&mut cmd, &ci).args(["assume", "--role-arn", &partner, "--external-id", "wrong-id"]);
        let r = run(&mut cmd).expect_code(3);
        assert!(
            r.stderr.starts_with(&format!(
                "credpush: error: access denied: the caller {} may not assume {partner}: ",
                ci.arn
            )),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("ExternalId that --external-id does not match"), "{}", r.stderr);
        assert_eq!(r.stdout, "");
    }
    let doc = assume_as(&env, &moto, &ci, &partner, &["--external-id", "partner-ext-123", "--session-name", "it-ext"]);
    let mut who = env.cmd(tool("aws"));
    as_session(&mut who, &moto, &doc).args(["sts", "get-caller-identity", "--output", "json"]);
    assert_eq!(
        doc_of(&run(&mut who).expect_code(0).stdout)["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/partner/it-ext")
    );
}

#[test]
fn access_denied_names_caller_and_role() {
    let (env, moto) = (Env::new(), Moto::start());
    for (user, role) in [("nobody", "deploy"), ("ci", "locked")] {
        let (u, r_arn) = (moto.user(user), moto.role(role));
        let mut cmd = env.credpush();
        moto.as_user(&mut cmd, &u).args(["assume", "--role-arn", &r_arn]);
        let r = run(&mut cmd).expect_code(3);
        assert!(
            r.stderr
                .starts_with(&format!("credpush: error: access denied: the caller {} may not assume {r_arn}: ", u.arn)),
            "{}",
            r.stderr
        );
        assert!(
            r.stderr.contains(
                "likely causes: the role's trust policy does not name the caller, the caller lacks sts:AssumeRole"
            ),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn role_chaining_past_one_hour_is_refused_before_assume_role() {
    let (env, moto) = (Env::new(), Moto::start());
    let first = assume_as(&env, &moto, &moto.user("ci"), &moto.role("deploy"), &["--session-name", "codebuild"]);
    let mut cmd = env.credpush();
    as_session(&mut cmd, &moto, &first).args(["assume", "--role-arn", &moto.role("deploy"), "--duration", "2h"]);
    let r = run(&mut cmd).expect_code(2);
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "credpush: error: --duration 7200s is over the 1-hour limit STS applies to role chaining: the caller \
             arn:aws:sts::{ACCOUNT}:assumed-role/deploy/codebuild is itself an assumed role (fix: use --duration 1h or \
             less, and rotate at least every 30 minutes)"
        )
    );
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 1, "the refused request must not reach STS");
    // Within the limit, chaining works.
    let mut ok = env.credpush();
    as_session(&mut ok, &moto, &first).args(["assume", "--role-arn", &moto.role("chained"), "--duration", "1h"]);
    let ok = run(&mut ok).expect_code(0);
    assert!(doc_of(&ok.stdout)["AccessKeyId"].is_string());
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 2);
}

#[test]
fn bad_input_fails_before_any_network_call() {
    let env = Env::new();
    let closed = free_port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let policy = env.path("bad-policy.json");
    std::fs::write(&policy, "{\"Version\": \"2012-10-17\", ").expect("write");
    let good = "arn:aws:iam::123456789012:role/deploy";
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--role-arn".into(), "arn:aws:iam::1234:role/deploy".into()],
            "--role-arn \"arn:aws:iam::1234:role/deploy\" is invalid: the account id must be 12 digits (expected arn:aws:iam::ACCOUNT:role/NAME, e.g. arn:aws:iam::123456789012:role/deploy)".into(),
        ),
        (
            vec!["--role-arn".into(), good.into(), "--duration".into(), "13h".into()],
            "--duration \"13h\" is invalid: 46800 seconds is outside what STS allows (expected seconds or a span like 45m, 1h, 1h30m, 12h, from 15m to 12h)".into(),
        ),
        (
            vec!["--role-arn".into(), good.into(), "--tag".into(), "team".into()],
            "--tag \"team\" is invalid: missing '=' (expected KEY=VALUE, key 1-128 and value 0-256 characters of letters, digits, spaces and _.:/=+-@)".into(),
        ),
        (
            vec!["--role-arn".into(), good.into(), "--policy-file".into(), policy.to_string_lossy().into_owned()],
            format!("--policy-file {}: not valid JSON: EOF while parsing a value at line 1 column 26 (fix: check it with `python3 -m json.tool FILE`)", policy.display()),
        ),
    ];
    for (args, message) in cases {
        let mut cmd = env.credpush();
        cmd.env("AWS_ENDPOINT_URL_STS", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "x");
        let r = run(cmd.arg("assume").args(&args)).expect_code(2);
        assert_eq!(r.stderr.trim_end(), format!("credpush: error: {message}"));
    }
    // The same call with valid input does go to the network, and names the endpoint it could not reach.
    let mut cmd = env.credpush();
    cmd.env("AWS_ENDPOINT_URL_STS", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "x");
    let r = run(cmd.args(["assume", "--role-arn", good])).expect_code(3);
    assert!(
        r.stderr.starts_with(&format!("credpush: error: could not reach the STS endpoint {endpoint}: ")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("fix: check AWS_ENDPOINT_URL_STS"), "{}", r.stderr);
}

#[test]
fn missing_or_expired_caller_credentials_exit_3() {
    let env = Env::new();
    let mut cmd = env.credpush();
    let r = run(cmd.args(["assume", "--role-arn", "arn:aws:iam::123456789012:role/deploy"])).expect_code(3);
    assert!(r.stderr.starts_with("credpush: error: no AWS credentials found for the caller: "), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("looked in: environment AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or default profile"),
        "{}",
        r.stderr
    );

    // A caller whose credential_process hands out an expired document: moto would accept it, credpush must not.
    let expired = env.path("expired.json");
    std::fs::write(
        &expired,
        r#"{"Version":1,"AccessKeyId":"AKIDEXAMPLE","SecretAccessKey":"x","SessionToken":"y","Expiration":"2020-01-01T00:00:00Z"}"#,
    )
    .expect("write");
    std::fs::create_dir_all(env.path(".aws")).expect("mkdir");
    std::fs::write(
        env.path(".aws/config"),
        format!("[profile caller]\ncredential_process = cat {}\n", expired.display()),
    )
    .expect("write");
    let mut cmd = env.credpush();
    cmd.env("AWS_PROFILE", "caller").env("AWS_ENDPOINT_URL_STS", format!("http://127.0.0.1:{}", free_port()));
    let r = run(cmd.args(["assume", "--role-arn", "arn:aws:iam::123456789012:role/deploy"])).expect_code(3);
    assert!(r.stderr.contains("expired"), "{}", r.stderr);
}

#[test]
fn secrets_never_reach_logs_even_at_trace() {
    let (env, moto) = (Env::new(), Moto::start());
    let ci = moto.user("ci");
    let target = env.path("out/temp.json");
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &ci).args(["-vvv", "assume", "--role-arn", &moto.role("deploy"), "--output"]).arg(&target);
    let r = run(&mut cmd).expect_code(0);
    let doc = doc_of(&std::fs::read_to_string(&target).expect("read"));
    assert!(r.stderr.contains("AssumeRole"), "trace logging is on: {}", r.stderr);
    for secret in [doc["SecretAccessKey"].as_str(), doc["SessionToken"].as_str(), Some(ci.secret_access_key.as_str())] {
        let secret = secret.expect("secret");
        assert!(!r.stderr.contains(secret) && !r.stdout.contains(secret), "a secret leaked into the output");
    }
}

#[test]
fn concurrent_reader_never_sees_a_partial_document() {
    use credpush::host::document::CredentialDocument;
    use credpush::host::secret::Secret;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let env = Env::new();
    let path = env.path("aws/temp.json");
    let doc = |i: usize| CredentialDocument {
        access_key_id: format!("ASIA{i:016}"),
        // Varying lengths make a torn read visible as broken JSON.
        secret_access_key: Secret::new("s".repeat(40 + i % 97)),
        session_token: Secret::new("t".repeat(300 + (i * 7) % 911)),
        expiration: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    credpush::host::fsutil::write_atomic(&path, doc(0).to_json().expose().as_bytes(), 0o600).expect("first write");
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0usize, 0usize);
            while reads < 10_000 || !done.load(Ordering::Acquire) {
                let bytes = std::fs::read(&path).expect("read");
                if CredentialDocument::parse(&bytes).is_err() {
                    bad += 1;
                }
                reads += 1;
            }
            (reads, bad)
        })
    };
    for i in 1..=1000 {
        credpush::host::fsutil::write_atomic(&path, doc(i).to_json().expose().as_bytes(), 0o600).expect("write");
    }
    done.store(true, Ordering::Release);
    let (reads, bad) = reader.join().expect("reader");
    assert!(reads >= 10_000);
    assert_eq!(bad, 0, "{bad} of {reads} reads saw a partial document");
    assert_eq!(std::fs::metadata(&path).expect("meta").mode() & 0o777, 0o600);
    assert_eq!(
        CredentialDocument::parse(&std::fs::read(&path).expect("read")).expect("valid").access_key_id,
        format!("ASIA{:016}", 1000)
    );
}
