//! buildspec.yml with `CREDPUSH_VIA=playbook`, run the way CodeBuild runs it (tests/support/codebuild_local.py):
//! ansible-playbook ansible/rotate.yml from a cached venv, on the same inventory, key and known_hosts from moto's
//! Secrets Manager, as the template's service role, onto loopback sshd hosts. The module and the credpush CLI are
//! "installed" through the test-only CREDPUSH_MODULE_BIN and CREDPUSH_BIN; the venv cache is restored by linking
//! `$HOME/.credpush/venv` to the tests' own venv, whose ansible-core and dependencies requirements-test.txt pins
//! from ansible/requirements.txt. The pip, S3 and cargo install paths are not run here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::codebuild_world;
use super::local::{build, source};
use crate::harness::{Env, Moto, files_under, free_port, tool};
use crate::sshd::Fleet;

fn row<'a>(report: &'a Value, host: &str) -> &'a Value {
    report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|r| r["host"] == host)
        .unwrap_or_else(|| panic!("{host}: {report}"))
}

/// Every secret a log must not hold: the SSH key's body, the build session's, and the documents the hosts got.
fn secrets(fleet: &Fleet, world: &Value) -> Vec<String> {
    let key = std::fs::read_to_string(fleet.root.path().join("client_key")).expect("key");
    let mut out: Vec<String> = key.lines().filter(|l| !l.starts_with("-----")).map(str::to_owned).collect();
    out.push(world["session"]["secret_access_key"].as_str().expect("secret").to_owned());
    out.push(world["session"]["session_token"].as_str().expect("token").to_owned());
    for h in &fleet.hosts {
        if let Ok(text) = std::fs::read_to_string(h.document()) {
            let doc: Value = serde_json::from_str(&text).expect("doc");
            out.extend(["SecretAccessKey", "SessionToken"].map(|k| doc[k].as_str().expect("secret").to_owned()));
        }
    }
    out
}

#[test]
fn a_playbook_build_writes_every_host_and_a_down_or_unverified_host_fails_it_by_name() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    // host3's known_hosts line holds host1's key: its real key cannot be verified.
    let known = std::fs::read_to_string(fleet.known_hosts()).expect("known_hosts");
    let h1_key = &fleet.host("host1").host_key;
    let h3 = fleet.host("host3");
    let wrong = known.replace(&format!("]:{} {}", h3.port, h3.host_key), &format!("]:{} {h1_key}", h3.port));
    assert_ne!(wrong, known);
    std::fs::write(fleet.known_hosts(), &wrong).expect("known_hosts");
    let world = codebuild_world(&moto, &fleet, env.home.path());
    std::fs::write(fleet.known_hosts(), &known).expect("known_hosts");

    // host3 is left out of the first build; the second adds it, with an inventory that tries to turn the check
    // off, and a host that is down.
    let inventory = std::fs::read_to_string(fleet.inventory("")).expect("inventory");
    let first: String = inventory.lines().filter(|l| !l.starts_with("host3 ")).map(|l| format!("{l}\n")).collect();
    let src = source(&env, &first);
    let (ok, report) = build(&env, &moto, &world, &src, &["CREDPUSH_VIA=playbook"], None);
    let log = format!("{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.code, 0, "{log}");
    assert!(
        log.contains("credpush: ansible-core from the cached venv") && log.contains("credpush: ansible-core 2.19."),
        "{log}"
    );
    assert!(log.contains("PLAY RECAP") && log.contains("Phase complete: BUILD State: SUCCEEDED"), "{log}");
    assert!(log.contains("credpush: every host got fresh credentials"), "{log}");
    assert_eq!(report["summary"]["ok"], 2, "{report}");
    assert_eq!(report["summary"]["hosts"], 2, "{report}");
    let target = world["target_role_arn"].as_str().expect("arn");
    for name in ["host1", "host2"] {
        let r = row(&report, name);
        assert_eq!((r["status"].as_str(), r["role_arn"].as_str()), (Some("ok"), Some(target)), "{report}");
        let h = fleet.host(name);
        assert_eq!(r["path"].as_str(), Some(h.document().to_str().expect("utf-8")), "{report}");
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(h.document()).expect("doc")).expect("json");
        assert_eq!(r["expiration"], doc["Expiration"], "{report}");
    }
    // The playbook assumed the template's target role once, with its ExternalId and the build's duration.
    let calls = moto.recorded_actions("AssumeRole");
    let ours: Vec<_> = calls.iter().filter(|f| f.iter().any(|(k, v)| k == "RoleArn" && v == target)).collect();
    assert_eq!(ours.len(), 1, "{calls:?}");
    assert!(ours[0].iter().any(|(k, v)| k == "ExternalId" && v == "credpush-ext-7f3a"), "{:?}", ours[0]);
    assert!(ours[0].iter().any(|(k, v)| k == "DurationSeconds" && v == "3600"), "{:?}", ours[0]);
    // Nothing of Ansible's or the build's is left: not in the build's temp dir, not in HOME, not on the hosts.
    assert_eq!(files_under(&env.path("tmp")), Vec::<PathBuf>::new());
    assert!(
        !env.path(".ansible").exists(),
        "Ansible wrote outside the build's private temp dir: {:?}",
        String::from_utf8_lossy(&Command::new("find").arg(env.path(".ansible")).output().expect("find").stdout)
    );
    for h in &fleet.hosts {
        assert!(files_under(&h.home.join(".ansible/tmp")).is_empty(), "{}", h.name);
    }
    let mut hidden = secrets(&fleet, &world);
    for s in &hidden {
        assert!(!log.contains(s.as_str()), "a secret is in the build log: {s:.12}…");
    }

    let down = free_port();
    let second = format!(
        "{inventory}hostdown ansible_host=127.0.0.1 ansible_port={down}\n\
         [onprem:vars]\nansible_host_key_checking=false\n\
         ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'\n"
    );
    let src = source(&env, &second);
    let (failed, report) = build(&env, &moto, &world, &src, &["CREDPUSH_VIA=playbook", "ANSIBLE_VERBOSITY=3"], None);
    let log = format!("{}\n{}", failed.stdout, failed.stderr);
    assert_eq!(failed.code, 1, "{log}");
    assert!(log.contains("Phase complete: BUILD State: FAILED") && log.contains("Build FAILED"), "{log}");
    assert!(log.contains("<127.0.0.1> SSH: EXEC ssh"), "not -vvv: {log}");
    assert!(log.contains("  hostdown: unreachable: "), "{log}");
    assert!(log.contains("  host3: unreachable: ") && log.contains("Host key verification failed"), "{log}");
    assert_eq!(report["summary"]["ok"], 2, "{report}");
    assert_eq!(report["summary"]["unreachable"], 2, "{report}");
    assert_eq!(row(&report, "host3")["status"], "unreachable");
    assert!(!fleet.host("host3").document().exists(), "host3 was written past its host key");
    hidden.extend(secrets(&fleet, &world));
    for s in &hidden {
        assert!(!log.contains(s.as_str()), "a secret is in the -vvv build log: {s:.12}…");
        assert!(!report.to_string().contains(s.as_str()), "a secret is in the report");
    }
    assert_eq!(files_under(&env.path("tmp")), Vec::<PathBuf>::new());
}

/// The hosts of a report.
fn hosts(report: &Value) -> BTreeSet<String> {
    report["hosts"].as_array().expect("hosts").iter().map(|h| h["host"].as_str().expect("host").to_owned()).collect()
}

#[test]
fn sharded_playbook_and_rotate_builds_select_the_same_hosts() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(6));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let src = source(&env, &std::fs::read_to_string(fleet.inventory("")).expect("inventory"));
    // A file the shell would glob `host*` to, were CREDPUSH_ARGS expanded unquoted.
    std::fs::write(src.join("host-glob-trap"), "").expect("trap");
    let spec: Value = {
        let out = Command::new(tool("python"))
            .args(["-c", "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
            .arg(src.join("buildspec.yml"))
            .output()
            .expect("python");
        serde_json::from_slice(&out.stdout).expect("buildspec as json")
    };
    let ids: Vec<&str> = spec["batch"]["build-list"]
        .as_array()
        .expect("build-list")
        .iter()
        .map(|b| b["identifier"].as_str().expect("identifier"))
        .collect();
    let mut all = BTreeSet::new();
    for id in &ids {
        let (rotated, by_rotate) = build(&env, &moto, &world, &src, &["CREDPUSH_ARGS=--limit host*"], Some(id));
        assert_eq!(rotated.code, 0, "{id}: {}\n{}", rotated.stdout, rotated.stderr);
        let vars = ["CREDPUSH_VIA=playbook", "CREDPUSH_ARGS=-e target=host*"];
        let (played, by_playbook) = build(&env, &moto, &world, &src, &vars, Some(id));
        assert_eq!(played.code, 0, "{id}: {}\n{}", played.stdout, played.stderr);
        assert_eq!(hosts(&by_playbook), hosts(&by_rotate), "{id}");
        assert_eq!(by_playbook["summary"]["ok"], by_rotate["summary"]["ok"], "{id}: {by_playbook}");
        for h in hosts(&by_rotate) {
            assert!(all.insert(h.clone()), "{h} in two shards");
        }
    }
    let every: BTreeSet<String> = fleet.hosts.iter().map(|h| h.name.clone()).collect();
    assert_eq!(all, every, "each host in exactly one shard");

    // A --limit would replace the shard's on the playbook path: refused before anything runs.
    let vars = ["CREDPUSH_VIA=playbook", "CREDPUSH_ARGS=-v --limit host1"];
    let (refused, report) = build(&env, &moto, &world, &src, &vars, Some(ids[0]));
    assert_eq!(refused.code, 1);
    assert!(
        refused.stdout.contains("CREDPUSH_ARGS has --limit, which would replace the shard's hosts"),
        "{}",
        refused.stdout
    );
    assert!(report.is_null() && !refused.stdout.contains("PLAY ["), "{}", refused.stdout);
    // So is a CREDPUSH_VIA that is neither path, in the install phase.
    let (bad, _) = build(&env, &moto, &world, &src, &["CREDPUSH_VIA=ansible"], None);
    assert_eq!(bad.code, 1);
    assert!(bad.stdout.contains("CREDPUSH_VIA is \"ansible\" (fix: set it to rotate or playbook)"), "{}", bad.stdout);
    assert!(bad.stdout.contains("Phase complete: INSTALL State: FAILED"), "{}", bad.stdout);
}
