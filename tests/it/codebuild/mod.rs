//! The CodeBuild deployment: `plan` and `rotate --shard` from the command line (`schedule`), buildspec.yml run
//! locally with CodeBuild's phase semantics on the rotate path (`buildspec`) and the playbook path (`playbook`),
//! the IAM part of deploy/credpush.yml in moto with auth enforced (`iam`), and the rest of the template around
//! the build: alarm key, trust, report bucket, dead-letter queue (`template`). `local` runs one build; `release`
//! installs credpush from a release tarball in S3, checked against its sha256.

mod buildspec;
mod iam;
mod local;
mod playbook;
mod release;
mod schedule;
mod template;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Moto, http, tool};
use crate::sshd::Fleet;

/// A repository file.
pub(super) fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The template's IAM world in `moto` (see tests/support/codebuild_world.py): auth is off while it is built and
/// enforced again before this returns.
pub(super) fn codebuild_world(moto: &Moto, fleet: &Fleet, dir: &Path) -> Value {
    codebuild_world_with(moto, fleet, dir, serde_json::json!({}), serde_json::json!([]))
}

/// [`codebuild_world`] with more template parameters, and `objects` (`[{"uri": "s3://B/K", "file": PATH}]`)
/// uploaded to moto's S3 before auth is enforced.
pub(super) fn codebuild_world_with(moto: &Moto, fleet: &Fleet, dir: &Path, params: Value, objects: Value) -> Value {
    let mut parameters = serde_json::json!({ "ExternalId": "credpush-ext-7f3a" });
    for (k, v) in params.as_object().into_iter().flatten() {
        parameters[k] = v.clone();
    }
    let port: u16 = moto.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    let input = dir.join("world-input.json");
    std::fs::write(
        &input,
        serde_json::json!({
            "ssh_key_file": fleet.root.path().join("client_key"),
            "known_hosts_file": fleet.known_hosts(),
            "parameters": parameters,
            "objects": objects,
        })
        .to_string(),
    )
    .expect("input");
    let reply = http(port, "POST", "/moto-api/reset-auth", "1000").expect("reset-auth");
    assert!(reply.contains("\"status\": \"ok\""), "reset-auth: {reply}");
    let out = Command::new(tool("python"))
        .arg(repo_file("tests/support/codebuild_world.py"))
        .arg(&moto.endpoint)
        .arg(repo_file("deploy/credpush.yml"))
        .arg(&input)
        .env_clear()
        .env("HOME", dir)
        .output()
        .expect("codebuild_world.py");
    let reply = http(port, "POST", "/moto-api/reset-auth", "0").expect("reset-auth");
    assert!(reply.contains("\"status\": \"ok\""), "reset-auth: {reply}");
    assert!(out.status.success(), "codebuild_world.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("world json")
}

/// Points `cmd` at moto as the build's service-role session, as CodeBuild's container credentials would.
pub(super) fn as_build<'a>(cmd: &'a mut Command, moto: &Moto, world: &Value) -> &'a mut Command {
    let s = &world["session"];
    cmd.env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", s["access_key_id"].as_str().expect("key"))
        .env("AWS_SECRET_ACCESS_KEY", s["secret_access_key"].as_str().expect("secret"))
        .env("AWS_SESSION_TOKEN", s["session_token"].as_str().expect("token"))
}
