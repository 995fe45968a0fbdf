use std::os::unix::fs::PermissionsExt;

use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-28 06:00 UTC);
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct World {
    _dir: tempfile::TempDir,
    files: Files,
}

fn world(expiration: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    let files = Files { document: dir.path().join("temp.json"), token_file: dir.path().join("token") };
    let doc = format!(
        r#"{{"Version":1,"AccessKeyId":"ASIAKEY","SecretAccessKey":"SECRETKEY","SessionToken":"SESSIONTOKEN","Expiration":"{expiration}"}}"#
    );
    std::fs::write(&files.document, doc).unwrap();
    std::fs::write(&files.token_file, TOKEN).unwrap();
    std::fs::set_permissions(&files.token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    World { _dir: dir, files }
}

fn good_head() -> Head {
    Head {
        method: "GET".into(),
        target: SERVE_PATH.into(),
        hosts: vec!["127.0.0.1:9911".into()],
        authorizations: vec![Secret::new(TOKEN)],
        ..Head::default()
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn body(a: &Answer) -> serde_json::Value {
    serde_json::from_str(a.body.expose()).unwrap()
}

#[test]
fn serves_the_document_in_the_container_shape() {
    let w = world("2026-11-28T07:00:00Z");
    let a = answer(&good_head(), local(), &w.files, NOW);
    assert_eq!(a.status, 200);
    assert_eq!(
        body(&a),
        serde_json::json!({"AccessKeyId":"ASIAKEY","SecretAccessKey":"SECRETKEY","Token":"SESSIONTOKEN","Expiration":"2026-11-28T07:00:00Z"})
    );
    let http = a.to_http();
    assert!(http.expose().starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"), "{}", http.expose());
    assert!(http.expose().contains("\r\nConnection: close\r\n"));
    assert!(!format!("{a:?}").contains("SECRETKEY"), "Debug redacts");
}

#[test]
fn refuses_before_reading_the_document() {
    let w = world("2026-11-28T07:00:00Z");
    // A document that would be a 503: a 403 must win, which shows the document was never consulted.
    std::fs::write(&w.files.document, "not json").unwrap();
    let remote: SocketAddr = "10.0.0.5:40000".parse().unwrap();
    let cases: Vec<(Head, SocketAddr, &str)> = vec![
        (good_head(), remote, "requests are answered only from this host's loopback addresses"),
        (
            Head { forwarded: vec!["X-Forwarded-For".into()], ..good_head() },
            local(),
            "a request relayed by a proxy (X-Forwarded-For header) is refused",
        ),
        (
            Head { hosts: vec!["evil.example".into()], ..good_head() },
            local(),
            "Host \"evil.example\" is not a loopback name",
        ),
        (Head { hosts: vec![], ..good_head() }, local(), "a request without a Host header is refused"),
        (
            Head { hosts: vec!["127.0.0.1".into(), "localhost".into()], ..good_head() },
            local(),
            "more than one Host header",
        ),
        (
            Head { method: "POST".into(), ..good_head() },
            local(),
            "method \"POST\" is refused: the endpoint answers GET only",
        ),
        (Head { target: "/".into(), ..good_head() }, local(), "path \"/\" is not served"),
        (Head { target: format!("{SERVE_PATH}?x=1"), ..good_head() }, local(), "is not served"),
        (Head { authorizations: vec![], ..good_head() }, local(), "no Authorization header"),
        (
            Head { authorizations: vec![Secret::new(&TOKEN[..63])], ..good_head() },
            local(),
            "the Authorization header does not match the token",
        ),
        (
            Head { authorizations: vec![Secret::new(TOKEN), Secret::new(TOKEN)], ..good_head() },
            local(),
            "the Authorization header does not match the token",
        ),
    ];
    for (head, peer, want) in cases {
        let a = answer(&head, peer, &w.files, NOW);
        assert_eq!(a.status, 403, "{head:?}");
        let b = body(&a);
        assert_eq!(b["Code"], "AccessDenied");
        assert!(b["Message"].as_str().unwrap().contains(want), "{b} should contain {want:?}");
        assert!(!a.body.expose().contains(TOKEN), "never echoes the token");
    }
    std::fs::remove_file(&w.files.token_file).unwrap();
    let a = answer(&good_head(), local(), &w.files, NOW);
    assert_eq!(a.status, 403);
    assert!(body(&a)["Message"].as_str().unwrap().contains("the server's token file is missing or unusable"));
}

#[test]
fn answers_503_for_expired_nearly_expired_or_bad_documents() {
    for (exp, want) in [
        ("2026-11-28T05:00:00Z", "expired at 2026-11-28T05:00:00Z (1h 0m ago)"),
        ("2026-11-28T06:00:59Z", "expires at 2026-11-28T06:00:59Z, in 59s, under the 60s an SDK needs"),
    ] {
        let w = world(exp);
        let a = answer(&good_head(), local(), &w.files, NOW);
        assert_eq!(a.status, 503, "{exp}");
        assert_eq!(body(&a)["Code"], "CredentialsUnavailable");
        assert!(body(&a)["Message"].as_str().unwrap().contains(want), "{}", body(&a));
        assert!(!a.body.expose().contains("SECRETKEY"));
    }
    let w = world("2026-11-28T06:01:00Z");
    assert_eq!(answer(&good_head(), local(), &w.files, NOW).status, 200, "60 s left is enough");
    std::fs::write(&w.files.document, r#"{"Version":1,"AccessKeyId":"ASIAKEY","SecretAccessKey":"SECRETKEY""#).unwrap();
    let a = answer(&good_head(), local(), &w.files, NOW);
    assert_eq!(a.status, 503);
    assert!(body(&a)["Message"].as_str().unwrap().contains("is not a valid credential document"), "{}", body(&a));
    assert!(!a.body.expose().contains("SECRETKEY"));
    std::fs::remove_file(&w.files.document).unwrap();
    let a = answer(&good_head(), local(), &w.files, NOW);
    assert_eq!(a.status, 503);
    assert!(body(&a)["Message"].as_str().unwrap().contains("cannot read"), "{}", body(&a));
}

#[test]
fn loopback_hosts_and_peers() {
    for ok in ["127.0.0.1", "127.0.0.1:80", "127.1.2.3:65535", "localhost:9911", "LOCALHOST", "[::1]", "[::1]:9911"] {
        assert!(is_loopback_host(ok), "{ok}");
    }
    for bad in [
        "evil.example",
        "evil.example:9911",
        "127.0.0.1.evil.example",
        "10.0.0.1:9911",
        "[::1]x",
        "127.0.0.1:",
        "127.0.0.1:99999a",
        "localhost:80:80",
        "[fe80::1]",
        "",
    ] {
        assert!(!is_loopback_host(bad), "{bad}");
    }
    assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
    assert!(!is_loopback("::ffff:10.0.0.1".parse().unwrap()));
    assert!(!is_loopback("169.254.170.2".parse().unwrap()));
}
