//! Every refusal, on the wire: status and `{"Code","Message"}` body. Plus a second local user without the token
//! file, and the flags serve refuses to start with.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use serde_json::Value;

use super::{Serve, exchange, get, write_document};
use crate::harness::{Env, run};

fn refusal(status_body: (u16, String)) -> (u16, String, String) {
    let (status, body) = status_body;
    let b: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"));
    (status, b["Code"].as_str().unwrap_or_default().to_owned(), b["Message"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn each_refusal_has_its_status_and_reason() {
    let env = Env::new();
    let doc = env.path("aws/temp.json");
    std::fs::create_dir_all(doc.parent().expect("parent")).expect("mkdir");
    write_document(&doc, "ASIAGOOD", 3600);
    // At the most verbose level, so that the check at the end covers every log line.
    let serve = Serve::start(&env, &doc, &["-vvv"]);
    let token = serve.token();
    assert_eq!(token.len(), 64, "32 random bytes as hex, no newline");
    assert_eq!(std::fs::metadata(&serve.token_file).expect("token").mode() & 0o777, 0o600);
    let auth = format!("Authorization: {token}");
    let port = serve.port;

    let (status, body) = get(&serve, &[&auth]);
    assert_eq!(status, 200, "{body}");
    let b: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(b["AccessKeyId"], "ASIAGOOD");
    assert_eq!(b["Token"], "token-ASIAGOOD");

    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                "GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {}",
                "f".repeat(64)
            ),
            "the Authorization header does not match the token",
        ),
        (format!("GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}"), "no Authorization header"),
        (
            format!(
                "GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\nX-Forwarded-For: 10.0.0.8"
            ),
            "a request relayed by a proxy (X-Forwarded-For header) is refused",
        ),
        (
            format!("GET /credpush/v1/credentials HTTP/1.1\r\nHost: evil.example\r\n{auth}"),
            "Host \"evil.example\" is not a loopback name",
        ),
        (
            format!("POST /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\nContent-Length: 0"),
            "method \"POST\" is refused: the endpoint answers GET only",
        ),
        (
            format!("GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"),
            "path \"/latest/meta-data/iam/security-credentials/\" is not served",
        ),
    ];
    for (head, want) in &cases {
        let (status, code, message) = refusal(exchange(port, head));
        assert_eq!((status, code.as_str()), (403, "AccessDenied"), "{head}");
        assert!(message.contains(want), "{message:?} should contain {want:?}");
        assert!(!message.contains(&token) && !message.contains("ASIAGOOD"), "{message}");
    }
    let (status, code, _) = refusal(exchange(port, "\u{16}\u{3}\u{1} not http"));
    assert_eq!((status, code.as_str()), (400, "BadRequest"));
    let big = format!("GET /credpush/v1/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {}", "a".repeat(9000));
    let (status, code, _) = refusal(exchange(port, &big));
    assert_eq!((status, code.as_str()), (431, "RequestHeaderFieldsTooLarge"));

    // Replacing the token file rotates the token with no restart; deleting it revokes every client.
    let new = "0".repeat(64);
    std::fs::write(&serve.token_file, &new).expect("rotate token");
    assert_eq!(get(&serve, &[&auth]).0, 403, "the old token is refused at once");
    assert_eq!(get(&serve, &[&format!("Authorization: {new}")]).0, 200);
    std::fs::remove_file(&serve.token_file).expect("delete token");
    let (status, code, message) = refusal(get(&serve, &[&format!("Authorization: {new}")]));
    assert_eq!((status, code.as_str()), (403, "AccessDenied"));
    assert!(message.contains("the server's token file is missing or unusable"), "{message}");
    let (code, _, err) = serve.stop("TERM");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("serve: answered"), "the requests were logged: {err}");
    assert!(!err.contains(&token) && !err.contains(&new) && !err.contains("secret-ASIAGOOD"), "{err}");
    assert!(!err.contains("token-ASIAGOOD"), "{err}");
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("uid")
}

/// Runs `cmd` as the local user `user` through setpriv.
fn as_user(env: &Env, user: &str, program: &str) -> Command {
    let mut c = env.cmd("setpriv");
    c.args([&format!("--reuid={user}"), &format!("--regid={user}"), "--init-groups", program]);
    c
}

#[test]
fn a_second_local_user_without_the_token_file_gets_403_and_nothing_else() {
    let env = Env::new();
    // The test users must reach the document's and the token's directories to show the file modes do the work.
    std::fs::set_permissions(env.home.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod home");
    let doc = env.path("aws/temp.json");
    std::fs::create_dir_all(doc.parent().expect("parent")).expect("mkdir");
    write_document(&doc, "ASIAOWNER", 3600);
    let tokens = env.path("serve");
    std::fs::create_dir(&tokens).expect("mkdir");
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o711)).expect("chmod");
    let token_file = tokens.join("token");
    let serve =
        Serve::start(&env, &doc, &["--owner", "credpush-it", "--token-file", token_file.to_str().expect("utf-8")]);
    let meta = std::fs::metadata(&token_file).expect("token");
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid_of("credpush-it")), "0600, given to --owner");

    // The owner, reading the token file itself, gets credentials through botocore's container provider.
    let mut owner = as_user(&env, "credpush-it", &crate::harness::tool("python").display().to_string());
    owner.args(["-c", "import botocore.session as s; print(s.get_session().get_credentials().access_key)"]);
    let r = run(serve.consumer(&mut owner)).expect_code(0);
    assert_eq!(r.stdout, "ASIAOWNER\n");

    // The other user cannot read the token, and without it gets 403 and a reason, never a credential.
    let mut cat = as_user(&env, "credpush-it2", "/bin/cat");
    cat.arg(&token_file);
    let r = run(&mut cat);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
    for header in [None, Some("Authorization: guess".to_owned()), Some(format!("Authorization: {}", "0".repeat(64)))] {
        let mut other = as_user(&env, "credpush-it2", "/usr/bin/curl");
        other.args(["-s", "-w", "\n%{http_code}"]);
        if let Some(h) = &header {
            other.args(["-H", h]);
        }
        let r = run(other.arg(&serve.uri)).expect_code(0);
        let (body, status) = r.stdout.rsplit_once('\n').expect("status line");
        assert_eq!(status, "403", "{header:?}: {body}");
        assert!(body.starts_with("{\"Code\":\"AccessDenied\",\"Message\":"), "{body}");
        assert!(!body.contains("ASIAOWNER") && !body.contains("secret-"), "{body}");
    }
    // Through the AWS CLI as well: botocore cannot open the token file, so no request is even made.
    let mut cli = as_user(&env, "credpush-it2", &crate::harness::tool("aws").display().to_string());
    cli.args(["sts", "get-caller-identity", "--region", "us-east-1"]).env("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9");
    let r = run(serve.consumer(&mut cli));
    assert_ne!(r.code, 0);
    assert!(!r.stdout.contains("ASIAOWNER") && !r.stderr.contains("ASIAOWNER"));
}

#[test]
fn refuses_to_start_on_a_public_address_or_a_loose_token_file() {
    let env = Env::new();
    let doc = env.path("temp.json");
    write_document(&doc, "ASIAX", 3600);
    for listen in ["0.0.0.0:9911", "192.0.2.1:80", "localhost:9911"] {
        let r = run(env.credpush().args(["serve", "--listen", listen, "--path"]).arg(&doc)).expect_code(2);
        assert!(r.stderr.starts_with(&format!("credpush: error: --listen {listen:?} is invalid: ")), "{}", r.stderr);
        assert_eq!(r.stdout, "", "no variables before it listens");
    }
    let loose = env.path("loose.token");
    std::fs::write(&loose, "a".repeat(64)).expect("write");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let r = run(env
        .credpush()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&loose)
        .arg("--path")
        .arg(&doc))
    .expect_code(2);
    assert!(
        r.stderr.contains("has mode 0644, so other users may read or replace it (fix: chmod 600 it)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(&"a".repeat(64)));
    let odd = env.path("odd\ndir/token");
    let r = run(env
        .credpush()
        .args(["serve", "--listen", "127.0.0.1:0", "--token-file"])
        .arg(&odd)
        .arg("--path")
        .arg(&doc))
    .expect_code(2);
    assert!(r.stderr.contains("has control characters or is not UTF-8"), "{}", r.stderr);
    // A port that is taken is a local I/O failure, exit 4, naming the address.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = holder.local_addr().expect("addr").to_string();
    let r = run(env.credpush().args(["serve", "--listen", &taken, "--path"]).arg(&doc)).expect_code(4);
    assert!(r.stderr.contains(&format!("could not listen on {taken}")), "{}", r.stderr);
}
