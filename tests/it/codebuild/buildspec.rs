//! buildspec.yml run the way CodeBuild runs it (tests/support/codebuild_local.py): variables exported, the SSH
//! key and known_hosts read from moto's Secrets Manager (auth enforced), each phase in one bash session with
//! `finally`, the build as the template's service role rotating onto loopback sshd hosts, the report kept as an
//! artifact. credpush is "installed" through the test-only CREDPUSH_BIN variable pointing at the binary cargo
//! built; the S3 and cargo paths of the install phase are not run here.

use std::process::Command;

use serde_json::Value;

use super::codebuild_world;
use super::local::{build, source};
use crate::harness::{Env, Moto, files_under, free_port, tool};
use crate::sshd::Fleet;

#[test]
fn buildspec_rotates_every_host_and_a_down_host_fails_the_build_by_name() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let inventory = std::fs::read_to_string(fleet.inventory("")).expect("inventory");
    let src = source(&env, &inventory);
    let key = std::fs::read_to_string(fleet.root.path().join("client_key")).expect("key");
    let key_body = key.lines().nth(2).expect("a line of the key body");

    let (ok, report) = build(&env, &moto, &world, &src, &[], None);
    let log = format!("{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.code, 0, "{log}");
    for phase in ["INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"] {
        assert!(log.contains(&format!("Phase complete: {phase} State: SUCCEEDED")), "{phase}: {log}");
    }
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
    let (failed, report) = build(&env, &moto, &world, &src, &["CREDPUSH_ARGS=--retries 0 --timeout 10s"], None);
    let log = format!("{}\n{}", failed.stdout, failed.stderr);
    assert_eq!(failed.code, 1, "{log}");
    assert!(log.contains("Phase complete: BUILD State: FAILED"), "{log}");
    assert!(log.contains("Build FAILED") && log.contains("  hostdown: unreachable"), "{log}");
    assert_eq!((report["summary"]["ok"].as_u64(), report["summary"]["unreachable"].as_u64()), (Some(3), Some(1)));
    assert!(!log.contains(key_body), "the SSH key appeared in the build log");

    // A pre_build that fails halfway (the inventory is missing) ends the build there: no build phase, no
    // artifact, and its `finally` removed the key it had already written.
    let (aborted, report) = build(&env, &moto, &world, &src, &["CREDPUSH_INVENTORY=missing/"], None);
    let log = format!("{}\n{}", aborted.stdout, aborted.stderr);
    assert_eq!(aborted.code, 1, "{log}");
    assert!(log.contains("Phase complete: PRE_BUILD State: FAILED") && !log.contains("Entering phase BUILD"), "{log}");
    assert!(report.is_null(), "an artifact was uploaded: {report}");
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
        let (r, report) = build(&env, &moto, &world, &src, &[], Some(id));
        assert_eq!(r.code, 0, "{id}: {}\n{}", r.stdout, r.stderr);
        seen.extend(
            report["hosts"].as_array().expect("hosts").iter().map(|h| h["host"].as_str().expect("h").to_owned()),
        );
    }
    seen.sort();
    let all: Vec<String> = fleet.hosts.iter().map(|h| h.name.clone()).collect();
    assert_eq!(seen, all, "each host in exactly one shard");
}
