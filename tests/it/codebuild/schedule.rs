//! `credpush plan` and `rotate --shard`/`--every` from the command line: exit codes, messages, and shards that
//! partition a 30-host inventory the same way on every run and across edits to other hosts, and that
//! `inventory --hosts --shard` hands to ansible-playbook as a limit file.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::repo_file;
use crate::harness::{Env, run, tool};

#[test]
fn plan_accepts_every_30m_and_refuses_every_60m_with_1h_credentials() {
    let env = Env::new();
    let ok = run(env.credpush().args(["plan", "--duration", "1h", "--every", "30m", "--role-chaining"])).expect_code(0);
    assert!(ok.stdout.contains("binding: botocore (AWS CLI, boto3) (--sdk botocore)"), "{}", ok.stdout);
    assert!(ok.stdout.contains("its 10m mandatory window starts 50m after"), "{}", ok.stdout);
    assert!(ok.stdout.contains("at most 35m after") && ok.stdout.contains("margin: 15m\n"), "{}", ok.stdout);
    assert!(ok.stderr.is_empty(), "{}", ok.stderr);

    let bad = run(env.credpush().args(["plan", "--duration", "1h", "--every", "60m"])).expect_code(1);
    assert!(bad.stdout.contains("margin: -15m\n"), "{}", bad.stdout);
    assert!(
        bad.stderr.contains("unsafe schedule") && bad.stderr.contains("1h5m old") && bad.stderr.contains("--every 45m"),
        "{}",
        bad.stderr
    );

    // Role chaining: 2-hour credentials are refused whatever the period, with the capped advice.
    let chained = run(env.credpush().args(["plan", "--duration", "2h", "--every", "30m", "--role-chaining"]));
    let chained = chained.expect_code(1);
    assert!(chained.stderr.contains("1-hour cap") && chained.stderr.contains("--duration 1h"), "{}", chained.stderr);
    run(env.credpush().args(["plan", "--duration", "2h", "--every", "1h"])).expect_code(0);

    // --sdk narrows the check: 1-hour credentials every 50 minutes fail botocore's 10-minute window but not the
    // 5-minute one of JavaScript v3, which then binds.
    let all = run(env.credpush().args(["plan", "--duration", "1h", "--every", "50m"])).expect_code(1);
    assert!(all.stderr.contains("(--sdk botocore)") && all.stderr.contains("--every 45m"), "{}", all.stderr);
    let some =
        run(env.credpush().args(["plan", "--duration", "1h", "--every", "50m", "--sdk", "go-v2", "--sdk", "js-v3"]));
    let some = some.expect_code(0);
    assert!(some.stdout.contains("binding: JavaScript v3 (--sdk js-v3)"), "{}", some.stdout);
    assert!(!some.stdout.contains("botocore"), "only the SDKs asked for are listed: {}", some.stdout);
    let junk = run(env.credpush().args(["plan", "--every", "30m", "--sdk", "boto3"])).expect_code(2);
    assert_eq!(junk.stderr.lines().count(), 1, "{}", junk.stderr);
    assert!(junk.stderr.contains("--sdk") && junk.stderr.contains("botocore-new"), "{}", junk.stderr);

    for bad_input in [["--every", "soon"], ["--every", "0"], ["--duration", "5m"], ["--build-time", "-3m"]] {
        let mut args = vec!["plan"];
        args.extend(bad_input);
        if bad_input[0] != "--every" {
            args.extend(["--every", "30m"]);
        }
        let r = run(env.credpush().args(&args)).expect_code(2);
        assert!(r.stderr.starts_with("credpush: error: "), "{args:?}: {}", r.stderr);
    }
}

/// A 30-host inventory; `extra` adds lines (other hosts).
fn inventory(dir: &Path, extra: &str) -> std::path::PathBuf {
    let mut text = String::from("[onprem]\n");
    for i in 1..=30 {
        text.push_str(&format!("node{i:02}.dc1.example ansible_host=192.0.2.{i}\n"));
    }
    text.push_str(extra);
    let path = dir.join("hosts.ini");
    std::fs::write(&path, text).expect("inventory");
    path
}

fn shard_hosts(env: &Env, inv: &Path, shard: &str) -> BTreeSet<String> {
    let r = run(env.credpush().args(["rotate", "-i"]).arg(inv).args([
        "--role-arn",
        "arn:aws:iam::123456789012:role/deploy",
        "--dry-run",
        "--json",
        "--shard",
        shard,
    ]))
    .expect_code(0);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    report["hosts"].as_array().expect("hosts").iter().map(|h| h["host"].as_str().expect("host").to_owned()).collect()
}

#[test]
fn three_shards_of_thirty_hosts_cover_each_host_once_and_stay_put() {
    let env = Env::new();
    let inv = inventory(env.home.path(), "");
    let shards: Vec<BTreeSet<String>> = ["1/3", "2/3", "3/3"].iter().map(|s| shard_hosts(&env, &inv, s)).collect();
    let all: BTreeSet<String> = (1..=30).map(|i| format!("node{i:02}.dc1.example")).collect();
    assert_eq!(shards.iter().map(BTreeSet::len).sum::<usize>(), 30, "{shards:?}");
    assert_eq!(shards.iter().flatten().cloned().collect::<BTreeSet<_>>(), all);
    assert!(shards.iter().all(|s| !s.is_empty()), "{shards:?}");

    // The same on the next run, and after hosts are added elsewhere in the inventory.
    let again: Vec<_> = ["1/3", "2/3", "3/3"].iter().map(|s| shard_hosts(&env, &inv, s)).collect();
    assert_eq!(again, shards);
    let edited = inventory(env.home.path(), "[db]\ndb1 ansible_host=192.0.2.200\ndb2 ansible_host=192.0.2.201\n");
    for (i, s) in ["1/3", "2/3", "3/3"].iter().enumerate() {
        let now = shard_hosts(&env, &edited, s);
        assert!(shards[i].is_subset(&now), "shard {s} lost hosts: {:?} -> {now:?}", shards[i]);
    }
}

#[test]
fn bad_shards_are_refused_before_anything_runs_and_every_warns() {
    let env = Env::new();
    let inv = inventory(env.home.path(), "");
    for bad in ["0/3", "4/3", "1/0", "junk", "1/", "-1/3"] {
        let r = run(env.credpush().args(["rotate", "-i"]).arg(&inv).args(["--dry-run", "--shard", bad]));
        let r = r.expect_code(2);
        assert!(r.stderr.contains("--shard") && r.stderr.contains("I/N"), "{bad}: {}", r.stderr);
    }
    let rotate = |every: &str| {
        run(env.credpush().args(["rotate", "-i"]).arg(&inv).args([
            "--role-arn",
            "arn:aws:iam::123456789012:role/deploy",
            "--dry-run",
            "--every",
            every,
        ]))
        .expect_code(0)
    };
    let slow = rotate("1h");
    assert!(slow.stderr.contains("warning: unsafe schedule") && slow.stderr.contains("--every 45m"), "{}", slow.stderr);
    assert!(!rotate("30m").stderr.contains("warning"));
}

#[test]
fn the_limit_file_selects_in_ansible_exactly_the_hosts_of_rotate_shard() {
    let env = Env::new();
    // Names with dots, dashes and digits, in two groups, plus hosts of other groups.
    let inv = inventory(env.home.path(), "[db]\ndb-1.dc2.example\n10.0.0.7\n[web:children]\ndb\n");
    let mut all = BTreeSet::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let by_rotate = shard_hosts(&env, &inv, shard);
        let r = run(env.credpush().args(["inventory", "--hosts", "--shard", shard, "-i"]).arg(&inv)).expect_code(0);
        let file = env.path(&format!("shard-{}", &shard[..1]));
        std::fs::write(&file, &r.stdout).expect("limit file");
        // ansible-playbook reads the file as Ansible reads any --limit @FILE.
        let listed = run(env
            .cmd(tool("ansible-playbook"))
            .env("ANSIBLE_HOME", env.path(".ansible"))
            .arg(repo_file("ansible/rotate.yml"))
            .arg("-i")
            .arg(&inv)
            .args(["-e", "target=all", "--list-hosts", "--limit"])
            .arg(format!("@{}", file.display())))
        .expect_code(0);
        let by_ansible: BTreeSet<String> = listed
            .stdout
            .lines()
            .skip_while(|l| !l.contains("hosts ("))
            .skip(1)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(by_ansible, by_rotate, "{shard}: {}", r.stdout);
        all.extend(by_ansible);
    }
    assert_eq!(all.len(), 32);

    // A host named like a group would bring the whole group into an Ansible shard: refused, naming it.
    let clash = inventory(env.home.path(), "[db]\ndb\ndb2\n");
    let r = run(env.credpush().args(["inventory", "--hosts", "--shard", "1/1", "-i"]).arg(&clash)).expect_code(2);
    assert!(r.stderr.contains("host db: inventory_hostname \"db\" is invalid: it also names a group"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}
