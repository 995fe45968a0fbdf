//! The fetch document's `install` step (deploy/credpush-fetch.yml: `binarySource`, `binarySha256`), run by the
//! agent emulator with the instance's own credentials: the step downloads with the AWS CLI from moto's S3 (the
//! emulated instances have the CLI on their PATH, see `SsmWorld::start`), checks the sha256, and only then
//! renames the binary into place; the `fetch` step checks the sha256 again before it runs anything.
//!
//! The "binary" published here is a two-line shell script that execs the credpush under test: it is a real
//! executable whose sha256 the document checks, and a small upload.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Spec, SsmWorld};
use crate::harness::{Env, run, sha256_file, tool};

const PARAMETER: &str = "/credpush/credpush-onprem";

/// An AWS CLI call as `user` (S3 straight to moto, SSM through the emulator), parsed when it prints JSON.
fn aws(env: &Env, w: &SsmWorld, user: &str, args: &[&str]) -> Value {
    let mut cmd = env.cmd(tool("aws"));
    w.as_user(&mut cmd, &w.user(user))
        .env("AWS_ENDPOINT_URL_S3", &w.moto.endpoint)
        .args(args)
        .args(["--output", "json"]);
    let r = run(&mut cmd).expect_code(0);
    serde_json::from_str(&r.stdout).unwrap_or(Value::Null)
}

/// The final state of one step of command `cid` on `iid`.
fn step(env: &Env, w: &SsmWorld, cid: &str, iid: &str, plugin: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut cmd = env.cmd(tool("aws"));
        w.as_user(&mut cmd, &w.user("rotator")).args([
            "ssm",
            "get-command-invocation",
            "--command-id",
            cid,
            "--instance-id",
            iid,
            "--plugin-name",
            plugin,
            "--output",
            "json",
        ]);
        let out = cmd.output().expect("aws");
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            if ["Success", "Failed", "TimedOut", "Cancelled"].contains(&v["Status"].as_str().unwrap_or_default()) {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "step {plugin} of {cid} not final: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Sends the fetch document to the instance with `install` as its binarySource/binarySha256; returns the
/// install and fetch steps' final states.
fn send(env: &Env, w: &SsmWorld, dest: &Path, install: &[(&str, &str)]) -> (Value, Value) {
    let i = &w.instances[0];
    let mut params = json!({
        "parameterName": [PARAMETER],
        "path": [i.document()],
        "owner": [i.user],
        "credpushPath": [dest],
    });
    for (k, v) in install {
        params[*k] = json!([v]);
    }
    let sent = aws(
        env,
        w,
        "rotator",
        &[
            "ssm",
            "send-command",
            "--document-name",
            "credpush-fetch",
            "--instance-ids",
            &i.id,
            "--parameters",
            &params.to_string(),
        ],
    );
    let cid = sent["Command"]["CommandId"].as_str().expect("command id").to_owned();
    (step(env, w, &cid, &i.id, "install"), step(env, w, &cid, &i.id, "fetch"))
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

#[test]
fn install_checks_the_sha256_before_anything_runs_and_needs_one() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    // A rotation puts the parameter; the sends below fetch it again with each install setting.
    let i = w.rotate_first(&env);

    let build = env.path("credpush-build");
    std::fs::write(&build, format!("#!/bin/sh\nexec '{}' \"$@\"\n", env!("CARGO_BIN_EXE_credpush"))).expect("build");
    let sum = sha256_file(&build);
    let bucket = w.world["bucket"].as_str().expect("bucket").to_owned();
    let source = format!("s3://{bucket}/credpush/linux-x86_64");
    aws(&env, &w, "publisher", &["s3", "cp", build.to_str().expect("utf-8"), &source]);
    let bin_dir = env.path("usr-local-bin");
    std::fs::create_dir_all(&bin_dir).expect("bin dir");

    // A good sha256: installed 0755 at credpushPath, and that binary runs fetch.
    std::fs::remove_file(i.document()).expect("rm document");
    let good = bin_dir.join("credpush");
    let (install, fetch) = send(&env, &w, &good, &[("binarySource", &source), ("binarySha256", &sum)]);
    assert_eq!(
        (install["Status"].as_str(), fetch["Status"].as_str()),
        (Some("Success"), Some("Success")),
        "{install}\n{fetch}"
    );
    assert_eq!(std::fs::read(&good).expect("installed"), std::fs::read(&build).expect("build"));
    assert_eq!(std::fs::metadata(&good).expect("installed").permissions().mode() & 0o777, 0o755);
    assert!(fetch["StandardOutputContent"].as_str().unwrap_or_default().contains("written"), "{fetch}");
    assert!(i.document().exists(), "fetch did not write the document");

    // A wrong sha256: the install step fails and installs nothing (no temp file left either), and the fetch
    // step's own check refuses to run what is (not) at credpushPath.
    std::fs::remove_file(i.document()).expect("rm document");
    let wrong = bin_dir.join("credpush-wrong");
    let (install, fetch) = send(&env, &w, &wrong, &[("binarySource", &source), ("binarySha256", &"0".repeat(64))]);
    assert_eq!(install["Status"], "Failed", "{install}");
    assert_eq!(install["ResponseCode"], 3, "{install}");
    assert!(
        install["StandardErrorContent"]
            .as_str()
            .unwrap_or_default()
            .contains("does not have the expected sha256; nothing installed"),
        "{install}"
    );
    assert_eq!(fetch["Status"], "Failed", "{fetch}");
    assert!(fetch["StandardErrorContent"].as_str().unwrap_or_default().contains("not run"), "{fetch}");
    assert_eq!(entries(&bin_dir), std::slice::from_ref(&good), "the wrong download was left in place");
    assert!(!i.document().exists(), "a document was written through an unchecked binary");

    // A source without a sha256 is refused before any download.
    let unchecked = bin_dir.join("credpush-unchecked");
    let (install, fetch) = send(&env, &w, &unchecked, &[("binarySource", &source)]);
    assert_eq!((install["Status"].as_str(), install["ResponseCode"].as_i64()), (Some("Failed"), Some(2)), "{install}");
    assert!(
        install["StandardErrorContent"].as_str().unwrap_or_default().contains("binarySource needs binarySha256"),
        "{install}"
    );
    assert_eq!(fetch["Status"], "Failed", "{fetch}");
    assert_eq!(entries(&bin_dir), [good], "something was installed without a sha256");
    assert!(!i.document().exists());
}
