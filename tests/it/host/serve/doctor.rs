//! `doctor` with the container variables set (against a running serve, then a stopped one), `profile
//! --container`, and the systemd unit as `systemd-analyze verify` reads it.

use std::path::Path;

use serde_json::Value;

use super::{Serve, write_document};
use crate::harness::{Env, run};

/// Runs `doctor --json --no-clock` with `vars`; returns the exit code and the container findings as
/// (severity, message).
fn container_findings(env: &Env, vars: &[(&str, &str)]) -> (i32, Vec<(String, String)>) {
    let mut cmd = env.credpush();
    cmd.args(["doctor", "--json", "--no-clock"]);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let r = run(&mut cmd);
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", r.stdout, r.stderr));
    let found = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["check"] == "container")
        .map(|f| (f["severity"].as_str().unwrap_or_default().into(), f["message"].as_str().unwrap_or_default().into()))
        .collect();
    (r.code, found)
}

#[test]
fn doctor_warns_of_the_variables_and_checks_that_the_endpoint_answers() {
    let env = Env::new();
    let doc = env.path("aws/temp.json");
    std::fs::create_dir_all(doc.parent().expect("parent")).expect("mkdir");
    write_document(&doc, "ASIADOCTOR", 3600);
    run(env
        .credpush()
        .args(["profile", "--name", "onprem", "--path"])
        .arg(&doc)
        .arg("--install")
        .arg(env.path(".aws/config")))
    .expect_code(0);
    let serve = Serve::start(&env, &doc, &[]);
    let (uri, token_file) = (serve.uri.clone(), serve.token_file.display().to_string());
    let vars = [
        ("AWS_PROFILE", "onprem"),
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.as_str()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.as_str()),
    ];
    let (code, f) = container_findings(&env, &vars);
    assert_eq!(code, 1, "the worst finding is the shadowing warning: {f:?}");
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].0, "warning");
    assert!(f[0].1.contains("AWS_PROFILE=\"onprem\" comes first in every SDK"), "{f:?}");
    assert_eq!(f[1].0, "ok");
    assert!(f[1].1.starts_with(&format!("the endpoint {} answers with credentials valid until ", serve.uri)), "{f:?}");

    // Without the profile selected, the variables decide; a wrong token is reported with serve's reason.
    let wrong = env.path("wrong.token");
    std::fs::write(&wrong, "x".repeat(64)).expect("write");
    let (code, f) = container_findings(
        &env,
        &[
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &serve.uri),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", wrong.to_str().expect("utf-8")),
        ],
    );
    assert_eq!(code, 5, "{f:?}");
    assert!(
        f[0].1.contains("jobs here that select no profile with credentials get the endpoint's credentials"),
        "{f:?}"
    );
    assert_eq!(f[1].0, "error");
    assert!(f[1].1.ends_with("answered 403 AccessDenied: the Authorization header does not match the token"), "{f:?}");

    let (code, _, _) = serve.stop("TERM");
    assert_eq!(code, 0);
    let (code, f) = container_findings(&env, &vars);
    assert_eq!(code, 5, "{f:?}");
    assert!(f[1].1.contains(&format!("the endpoint {uri} does not answer: nothing answers at 127.0.0.1:")), "{f:?}");

    let (_, f) = container_findings(&env, &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://172.17.0.1:9911/x")]);
    assert_eq!(f[1].0, "error");
    assert!(f[1].1.contains("is refused by the SDKs"), "{f:?}");
}

#[test]
fn profile_container_prints_what_serve_prints() {
    let env = Env::new();
    let doc = env.path("temp.json");
    write_document(&doc, "ASIAX", 3600);
    let serve = Serve::start(&env, &doc, &[]);
    let listen = format!("127.0.0.1:{}", serve.port);
    let r = run(env
        .credpush()
        .args(["profile", "--container", "--user", "ci", "--listen", &listen, "--token-file"])
        .arg(&serve.token_file))
    .expect_code(0);
    assert_eq!(
        r.stdout,
        format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI={}\nAWS_CONTAINER_AUTHORIZATION_TOKEN_FILE={}\n",
            serve.uri,
            serve.token_file.display()
        )
    );
    let r = run(env.credpush().args(["profile", "--container", "--user", "ci"])).expect_code(0);
    assert!(
        r.stdout.ends_with("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/lib/credpush-serve/ci/token\n"),
        "{}",
        r.stdout
    );
    let r = run(env.credpush().args(["profile", "--container", "--user", "../etc"])).expect_code(2);
    assert!(r.stderr.starts_with("credpush: error: --user \"../etc\" is invalid: is not a user name"), "{}", r.stderr);
}

#[test]
fn the_systemd_unit_verifies_and_is_sandboxed() {
    let unit = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/credpush-serve@.service"))
        .expect("unit");
    for line in [
        "User=%i",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "IPAddressDeny=any",
        "StateDirectory=credpush-serve/%i",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} is in the unit");
    }
    // systemd-analyze wants the binary and the environment file to exist, and refuses "nobody": point both at
    // stand-ins, and the instance at a real user.
    let env = Env::new();
    let dir = env.path("units");
    std::fs::create_dir(&dir).expect("mkdir");
    let local = unit
        .replace("/usr/bin/credpush", env!("CARGO_BIN_EXE_credpush"))
        .replace("EnvironmentFile=/etc/credpush/serve/%i.env", "EnvironmentFile=-/etc/credpush/serve/%i.env");
    std::fs::write(dir.join("credpush-serve@.service"), local).expect("write");
    let r = run(env
        .cmd("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.join("credpush-serve@credpush-it.service")));
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{}", r.stdout);
}
