//! buildspec.yml run the way CodeBuild runs it (tests/support/codebuild_local.py): variables exported, the SSH
//! key and known_hosts read from moto's Secrets Manager (auth enforced), each phase in one bash session with
//! `finally`, the build as the template's service role rotating onto loopback sshd hosts, the report kept as an
//! artifact. credpush is "installed" through the test-only CREDPUSH_BIN variable pointing at the binary cargo
//! built; the S3 and cargo paths of the install phase are not run here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{as_build, codebuild_world, repo_file};
use crate::harness::{Env, Moto, Run, files_under, free_port, run, tool};
use crate::sshd::Fleet;

/// A source checkout: buildspec.yml from the repository and `inventory/hosts.ini`.
fn source(env: &Env, inventory: &str) -> PathBuf {
    let src = env.path("src");
    std::fs::create_dir_all(src.join("inventory")).expect("src");
    std::fs::copy(repo_file("buildspec.yml"), src.join("buildspec.yml")).expect("buildspec");
    std::fs::write(src.join("inventory/hosts.ini"), inventory).expect("inventory");
    src
}

/// Runs one build; `runner_args` go to codebuild_local.py (`--env NAME=VALUE`, `--shard-build ID`).
fn build(env: &Env, moto: &Moto, world: &Value, src: &Path, runner_args: &[&str]) -> (Run, PathBuf) {
    let artifacts = env.path("artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    let tmp = env.path("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut cmd: Command = env.cmd(tool("python"));
    cmd.arg(repo_file("tests/support/codebuild_local.py"))
        .arg("--buildspec")
        .arg(src.join("buildspec.yml"))
        .arg("--src")
        .arg(src)
        .arg("--artifacts")
        .arg(&artifacts)
        .arg("--env")
        .arg(format!("CREDPUSH_BIN={}", env!("CARGO_BIN_EXE_credpush")))
        .arg("--env")
        .arg(format!("CREDPUSH_ROLE_ARN={}", world["target_role_arn"].as_str().expect("arn")))
        .arg("--env")
        .arg(format!("CREDPUSH_EXTERNAL_ID={}", world["external_id"].as_str().expect("id")))
        // The build's own temp dir, so that what it leaves behind can be looked for.
        .env("TMPDIR", &tmp)
        .env("CODEBUILD_AGENT_AWS_ACCESS_KEY_ID", world["agent"]["access_key_id"].as_str().expect("key"))
        .env("CODEBUILD_AGENT_AWS_SECRET_ACCESS_KEY", world["agent"]["secret_access_key"].as_str().expect("secret"));
    cmd.args(runner_args);
    as_build(&mut cmd, moto, world);
    (run(&mut cmd), artifacts)
}

#[test]
fn buildspec_rotates_every_host_and_a_down_host_fails_the_build_by_name() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let inventory = std::fs::read_to_string(fleet.inventory("")).expect("inventory");
    let src = source(&env, &inventory);
    let key = std::fs::read_to_string(fleet.root.path().join("client_key")).expect("key");
    let key_body = key.lines().nth(2).expect("a line of the key body");

    let (ok, artifacts) = build(&env, &moto, &world, &src, &[]);
    let log = format!("{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.code, 0, "{log}");
    for phase in ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"] {
        assert!(log.contains(&format!("Phase complete: {phase} State: SUCCEEDED")), "{phase}: {log}");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("credpush-report.json")).expect("artifact"))
            .expect("report json");
    assert_eq!(report["summary"]["ok"], 3, "{report}");
    let target = world["target_role_arn"].as_str().expect("arn");
    for h in &fleet.hosts {
        assert!(h.document().exists(), "{} has no document", h.name);
        let row = report["hosts"].as_array().expect("hosts").iter().find(|r| r["host"] == h.name.as_str());
        assert_eq!(row.expect("row")["role_arn"], target);
    }
    // The build assumed the template's target role with its ExternalId, as the service role's session.
    let calls = moto.recorded_actions("AssumeRole");
    let ours: Vec<_> = calls.iter().filter(|f| f.iter().any(|(k, v)| k == "RoleArn" && v == target)).collect();
    assert_eq!(ours.len(), 1, "{calls:?}");
    assert!(ours[0].iter().any(|(k, v)| k == "ExternalId" && v == "credpush-ext-7f3a"));
    // The key never reached the log, and nothing the build wrote is left in its temp dir.
    assert!(!log.contains(key_body), "the SSH key appeared in the build log");
    let left: Vec<_> = files_under(&env.path("tmp"))
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "id_key" || n == "known_hosts" || n == "ssh_config"))
        .collect();
    assert!(left.is_empty(), "secrets left behind: {left:?}");

    // One host down: the build fails as CodeBuild's would, post_build still runs and names it, and the report
    // artifact is still uploaded.
    let down = format!("{inventory}hostdown ansible_host=127.0.0.1 ansible_port={}\n", free_port());
    let src = source(&env, &down);
    let (failed, artifacts) = build(&env, &moto, &world, &src, &["--env", "CREDPUSH_ARGS=--retries 0 --timeout 10s"]);
    let log = format!("{}\n{}", failed.stdout, failed.stderr);
    assert_eq!(failed.code, 1, "{log}");
    assert!(log.contains("Phase complete: BUILD State: FAILED"), "{log}");
    assert!(log.contains("Build FAILED") && log.contains("  hostdown: unreachable"), "{log}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("credpush-report.json")).expect("artifact"))
            .expect("report json");
    assert_eq!((report["summary"]["ok"].as_u64(), report["summary"]["unreachable"].as_u64()), (Some(3), Some(1)));
    assert!(!log.contains(key_body), "the SSH key appeared in the build log");

    // A pre_build that fails halfway (the inventory is missing) ends the build there: no build phase, no
    // artifact, and its `finally` removed the key it had already written.
    let (aborted, artifacts) = build(&env, &moto, &world, &src, &["--env", "CREDPUSH_INVENTORY=missing/"]);
    let log = format!("{}\n{}", aborted.stdout, aborted.stderr);
    assert_eq!(aborted.code, 1, "{log}");
    assert!(log.contains("Phase complete: PRE_BUILD State: FAILED") && !log.contains("Entering phase BUILD"), "{log}");
    assert!(!artifacts.join("credpush-report.json").exists());
    let left: Vec<_> = files_under(&env.path("tmp")).into_iter().filter(|p| p.ends_with("id_key")).collect();
    assert!(left.is_empty(), "the key was left behind: {left:?}");
}

#[test]
fn a_batch_build_rotates_each_host_in_exactly_one_shard() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(6));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let src = source(&env, &std::fs::read_to_string(fleet.inventory("")).expect("inventory"));
    let spec: Value = {
        let out = Command::new(tool("python"))
            .args(["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
            .arg(src.join("buildspec.yml"))
            .output()
            .expect("python");
        serde_json::from_slice(&out.stdout).expect("buildspec as json")
    };
    let ids: Vec<String> = spec["batch"]["build-list"]
        .as_array()
        .expect("build-list")
        .iter()
        .map(|b| b["identifier"].as_str().expect("identifier").to_owned())
        .collect();
    assert!(ids.len() >= 2, "{ids:?}");
    let mut seen: Vec<String> = Vec::new();
    for id in &ids {
        let (r, artifacts) = build(&env, &moto, &world, &src, &["--shard-build", id]);
        assert_eq!(r.code, 0, "{id}: {}\n{}", r.stdout, r.stderr);
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(artifacts.join("credpush-report.json")).expect("artifact"))
                .expect("report");
        seen.extend(
            report["hosts"].as_array().expect("hosts").iter().map(|h| h["host"].as_str().expect("h").to_owned()),
        );
    }
    seen.sort();
    let all: Vec<String> = fleet.hosts.iter().map(|h| h.name.clone()).collect();
    assert_eq!(seen, all, "each host in exactly one shard");
}
