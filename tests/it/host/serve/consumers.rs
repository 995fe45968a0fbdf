//! The AWS CLI, boto3 and the JavaScript v3 SDK get credentials from serve through the two variables alone, and
//! make real signed calls to moto's STS with them, across two rotations. boto3 and the JS SDK each run as one
//! long-lived process that must pick up every new key with no failed call.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

use super::{Serve, node_modules, support};
use crate::harness::{Env, Moto, run, set_expiration, tool};

/// One long-running SDK process, driven a call at a time.
struct Consumer {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Consumer {
    fn start(name: &'static str, mut cmd: Command) -> Self {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("spawn consumer");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Self { name, child, stdin, stdout }
    }

    /// One signed GetCallerIdentity; the consumer's JSON answer.
    fn call(&mut self) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(b"call\n").and_then(|()| stdin.flush()).expect("write to consumer");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read consumer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {line:?}", self.name))
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if super::wait_timeout(&mut self.child, std::time::Duration::from_secs(5)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The environment of a consumer: the two variables, moto as STS, and no other credential source.
fn consumer_env<'a>(cmd: &'a mut Command, serve: &Serve, moto: &Moto) -> &'a mut Command {
    serve
        .consumer(cmd)
        .env("AWS_ENDPOINT_URL_STS", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
}

#[test]
fn cli_boto3_and_js_get_credentials_across_two_rotations() {
    let (env, moto) = (Env::new(), Moto::start());
    let ci = moto.user("ci");
    let doc = env.path("state/aws/temp.json");
    // Each rotation is a real AssumeRole with its own session name, so the caller ARN shows which one signed.
    let rotate = |n: u32| -> Value {
        let mut cmd = env.credpush();
        moto.as_user(&mut cmd, &ci)
            .args(["assume", "--role-arn", &moto.role("deploy"), "--session-name", &format!("rot{n}"), "--output"])
            .arg(&doc);
        run(&mut cmd).expect_code(0);
        // Four minutes left: inside every SDK's refresh window (JS: 5 min, botocore: 10), over serve's 60 s floor,
        // so each call fetches again, as a call near the end of a real document's life does.
        set_expiration(&doc, time::OffsetDateTime::now_utc() + time::Duration::minutes(4));
        serde_json::from_str(&std::fs::read_to_string(&doc).expect("doc")).expect("doc json")
    };
    let first = rotate(1);
    let serve = Serve::start(&env, &doc, &["-vvv"]);
    let token = serve.token();

    let mut py = env.cmd(tool("python"));
    py.arg(support("serve_client.py"));
    consumer_env(&mut py, &serve, &moto);
    let mut js = env.cmd("node");
    js.arg(support("js/serve_client.js")).env("NODE_PATH", node_modules());
    consumer_env(&mut js, &serve, &moto);
    let mut consumers = [Consumer::start("boto3", py), Consumer::start("js", js)];

    let (mut keys, mut secrets) = (Vec::new(), vec![token]);
    for n in 1..=3 {
        let current = if n == 1 { first.clone() } else { rotate(n) };
        let key = current["AccessKeyId"].as_str().expect("key").to_owned();
        let want_arn = format!("arn:aws:sts::123456789012:assumed-role/deploy/rot{n}");
        let mut cli = env.cmd(tool("aws"));
        cli.args(["sts", "get-caller-identity", "--output", "json"]);
        consumer_env(&mut cli, &serve, &moto);
        let out: Value = serde_json::from_str(&run(&mut cli).expect_code(0).stdout).expect("cli json");
        assert_eq!(out["Arn"], want_arn.as_str(), "aws cli after rotation {n}");
        for c in consumers.iter_mut() {
            // botocore refreshes before the call that needs it; the JS SDK refreshes in the background while
            // the old, still valid key signs one more call. Either way every call succeeds, the new key arrives
            // within a few calls, and no call goes back to the old one after it.
            let mut seen_new = 0;
            for attempt in 0..6 {
                let got = c.call();
                assert_eq!(got["ok"], true, "{} call {attempt} after rotation {n}: {got}", c.name);
                if got["arn"] == want_arn.as_str() {
                    assert_eq!(got["key"], key.as_str(), "{} after rotation {n}", c.name);
                    seen_new += 1;
                } else {
                    assert_eq!(seen_new, 0, "{} went back to an older key after rotation {n}: {got}", c.name);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                if seen_new == 2 {
                    break;
                }
            }
            assert_eq!(seen_new, 2, "{} did not pick up rotation {n} within 6 calls", c.name);
        }
        secrets.push(current["SecretAccessKey"].as_str().expect("secret").to_owned());
        secrets.push(current["SessionToken"].as_str().expect("token").to_owned());
        keys.push(key);
    }
    keys.dedup();
    assert_eq!(keys.len(), 3, "each rotation brought a new key: {keys:?}");
    let (code, out, err) = serve.stop("TERM");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "", "nothing more on stdout");
    assert!(err.contains("serve: answered"), "-vvv logged the requests: {err}");
    for s in &secrets {
        assert!(!err.contains(s.as_str()), "serve logged no secret: {err}");
    }
}

#[test]
fn an_expired_document_is_a_503_whose_cause_the_sdks_report() {
    let env = Env::new();
    let doc = env.path("aws/temp.json");
    std::fs::create_dir_all(doc.parent().expect("parent")).expect("mkdir");
    super::write_document(&doc, "ASIAOLD", -3600);
    let serve = Serve::start(&env, &doc, &[]);
    let (status, body) = super::get(&serve, &[&format!("Authorization: {}", serve.token())]);
    assert_eq!(status, 503);
    let b: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(b["Code"], "CredentialsUnavailable");
    assert!(b["Message"].as_str().expect("msg").contains("expired at"), "{b}");
    assert!(!body.contains("ASIAOLD"), "no credential in a refusal: {body}");

    // botocore quotes the body, so the AWS CLI's error names the cause.
    let mut cli = env.cmd(tool("aws"));
    cli.args(["sts", "get-caller-identity", "--region", "us-east-1"]);
    serve.consumer(&mut cli).env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let r = run(&mut cli);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Received non 200 response 503"), "{}", r.stderr);
    assert!(r.stderr.contains("expired at") && r.stderr.contains("no rotation has reached this host"), "{}", r.stderr);

    // The JS SDK's chain ends in "Could not load credentials from any providers" without the cause: the README
    // points its users at `credpush doctor`.
    let mut js = env.cmd("node");
    js.arg(support("js/serve_client.js")).env("NODE_PATH", node_modules()).env("AWS_REGION", "us-east-1");
    serve.consumer(&mut js).env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let mut c = Consumer::start("js", js);
    let got = c.call();
    assert_eq!(got["ok"], false, "{got}");
    assert!(got["error"].as_str().expect("error").contains("Could not load credentials from any providers"), "{got}");
    assert!(!got.to_string().contains("ASIAOLD"), "{got}");
}
