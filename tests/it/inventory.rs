//! `Inventory` against the real `ansible-inventory` (ansible-core 2.19, see requirements-test.txt) on the corpus
//! in tests/fixtures/inventory: for every case, `ansible-inventory -i ... --list [--limit ...]` and
//! `Inventory::load(..).to_list_json(..)` must print the same JSON, and `select` the same hosts.

use credpush::inventory::Inventory;

use crate::harness::{Env, run, tool};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory").join(rel)
}

/// Runs `ansible-inventory` cut off from the developer's setup: an empty config file, and HOME, the Ansible
/// home and the working directory in a fresh temp dir (Ansible would read `./ansible.cfg`, `~/.ansible.cfg` and
/// playbook-adjacent `group_vars/` from there).
fn ansible_list(sources: &[PathBuf], limit: Option<&str>) -> Value {
    let tmp = tempfile::tempdir().expect("temp dir");
    let cfg = tmp.path().join("ansible.cfg");
    std::fs::write(&cfg, "").expect("write empty ansible.cfg");
    let program = tool("ansible-inventory");
    let mut cmd = Command::new(&program);
    cmd.env_clear()
        .current_dir(tmp.path())
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tmp.path())
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOME", tmp.path().join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", tmp.path().join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("LC_ALL", "C.UTF-8");
    for s in sources {
        cmd.arg("-i").arg(s);
    }
    cmd.arg("--list");
    if let Some(l) = limit {
        cmd.args(["--limit", l]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program:?} ({e}); install ansible-core with scripts/setup"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ansible-inventory failed on {sources:?}:\n{stderr}");
    assert!(
        !stderr.contains("Unable to parse") && !stderr.contains("Failed to parse"),
        "ansible-inventory could not parse the fixture {sources:?}, so the case proves nothing:\n{stderr}"
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("ansible-inventory printed no JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
    })
}

/// `credpush inventory -i ... --list [--limit ...]`, parsed.
fn credpush_list(sources: &[PathBuf], limit: Option<&str>) -> Value {
    let env = Env::new();
    let mut cmd = env.credpush();
    cmd.arg("inventory");
    for s in sources {
        cmd.arg("-i").arg(s);
    }
    cmd.arg("--list");
    if let Some(l) = limit {
        cmd.args(["--limit", l]);
    }
    let r = run(&mut cmd).expect_code(0);
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("credpush inventory printed no JSON ({e}):\n{}", r.stdout))
}

/// Where two JSON values differ, as `path: ansible=... credpush=...` lines.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = format!("{path}/{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff(&p, x, y, out),
                    (x, y) => out.push(format!("{p}: ansible={x:?} credpush={y:?}")),
                }
            }
        }
        _ if want != got => out.push(format!("{path}: ansible={want} credpush={got}")),
        _ => {}
    }
}

/// Every host that appears in some group of a `--list` output.
fn listed_hosts(list: &Value) -> BTreeSet<String> {
    let groups = list.as_object().into_iter().flat_map(|m| m.values());
    let hosts = groups.filter_map(|g| g.get("hosts")).filter_map(Value::as_array).flatten();
    hosts.filter_map(Value::as_str).map(str::to_string).collect()
}

fn check(sources: &[&str], limits: &[&str]) {
    let paths: Vec<PathBuf> = sources.iter().map(|s| fixture(s)).collect();
    let inv = Inventory::load(&paths).unwrap_or_else(|e| panic!("credpush cannot load {sources:?}: {e}"));
    for limit in std::iter::once(None).chain(limits.iter().copied().map(Some)) {
        let want = ansible_list(&paths, limit);
        // The library and the user-facing command must both print what Ansible prints.
        let got = inv.to_list_json(limit);
        let cli = credpush_list(&paths, limit);
        for (what, got) in [("Inventory::to_list_json", &got), ("credpush inventory --list", &cli)] {
            let mut diffs = Vec::new();
            diff("", &want, got, &mut diffs);
            assert!(
                diffs.is_empty(),
                "{what} on {sources:?} --limit {limit:?} differs from ansible-inventory:\n{}",
                diffs.join("\n")
            );
        }
        let selected: BTreeSet<String> =
            inv.select(limit).unwrap_or_else(|e| panic!("select({limit:?}): {e}")).into_iter().collect();
        assert_eq!(selected, listed_hosts(&want), "select({limit:?}) on {sources:?}");
    }
}

macro_rules! corpus {
    ($($name:ident: [$($src:expr),+] $(limits [$($limit:expr),*])?;)*) => {
        $(
            #[test]
            fn $name() {
                check(&[$($src),+], &[$($($limit),*)?]);
            }
        )*
    };
}

corpus! {
    ini_basic: ["ini_basic/hosts.ini"] limits ["prod:!db", "web*", "bastion.example.com,db2.example.com"];
    ini_ranges: ["ini_ranges/hosts.ini"] limits ["web[0]", "web[2:4]", "web[8:]", "~db-[ab]", "odd:&~node"];
    ini_typing: ["ini_typing/hosts.ini"];
    ini_children: ["ini_children/hosts.ini"] limits ["europe:!france", "world", "ungrouped", "*"];
    yaml_basic: ["yaml_basic/hosts.yml"] limits ["replicas", "db", "all:!web", "jump.example.com"];
    yaml11_scalars: ["yaml11_scalars/hosts.yaml"];
    json_inventory: ["json_inventory/hosts.json"] limits ["app:cache"];
    group_vars_files: ["group_vars_files/hosts.ini"] limits ["web02"];
    group_vars_dirs: ["group_vars_dirs/hosts.yml"];
    dir_inventory: ["dir_inventory"] limits ["web:&db", "cache1:sub1"];
    multi_source: ["multi_source/a/hosts.ini", "multi_source/b/hosts.yml"] limits ["shared", "db:!shared"];
    precedence: ["precedence/hosts.ini"];
    priority: ["priority/hosts.yml"];
    ungrouped: ["ungrouped/hosts.yml", "ungrouped/more.ini"] limits ["ungrouped", "real"];
    no_extension: ["no_extension/inventory", "no_extension/yaml_inventory"];
    yaml_nested: ["yaml_nested/hosts.yml"] limits ["zone_a", "storage:&region", "n*:!n3"];
    ini_edge_syntax: ["ini_edge_syntax/crlf_bom.ini", "ini_edge_syntax/repeats.ini"] limits ["p", "h1:web"];
    yaml_edge_structure: ["yaml_edge_structure/hosts.yml"] limits ["web-servers", "other[1]", "again:!web1"];
    vars_file_resolution: ["vars_file_resolution/hosts.ini"];
    same_source_twice: ["vars_file_resolution/hosts.ini", "vars_file_resolution/hosts.ini"];
}

#[test]
fn unmatched_limit_lists_nothing_but_select_names_it() {
    let paths = [fixture("ini_basic/hosts.ini")];
    let inv = Inventory::load(&paths).expect("load");
    let want = ansible_list(&paths, Some("nosuchgroup"));
    assert_eq!(inv.to_list_json(Some("nosuchgroup")), want);
    let err = inv.select(Some("web:nosuchgroup")).expect_err("unknown pattern");
    assert_eq!(
        err.to_string(),
        "--limit pattern \"nosuchgroup\" matches no host or group in the inventory (check the name, or list them with `--list`)"
    );
}
