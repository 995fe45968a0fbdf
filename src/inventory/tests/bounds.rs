//! The inventory's bounds: YAML aliases and host entries are counted before expansion, ranges stored once.

use super::*;

/// A "billion laughs" document: nine levels of ten aliases each would expand to 10^9 strings.
fn billion_laughs() -> String {
    let mut text = String::from("all:\n  vars:\n    l0: &l0 lol\n");
    for i in 1..=9 {
        let refs: Vec<String> = (0..10).map(|_| format!("*l{}", i - 1)).collect();
        text.push_str(&format!("    l{i}: &l{i} [{}]\n", refs.join(", ")));
    }
    text.push_str("  hosts:\n    h1:\n");
    text
}

#[test]
fn yaml_aliases_are_bounded() {
    let err = load_err("hosts.yml", &billion_laughs());
    assert_eq!(
        err,
        "hosts.yml:10: YAML aliases expand to more than 2000000 nodes or 64 MiB of text, the limit for one file (this looks like a \"billion laughs\" document; repeat less through aliases)"
    );
    // One long string aliased many times is the same attack with few nodes.
    let long = format!("all:\n  vars:\n    s: &s {}\n    t: [{}]\n", "x".repeat(1 << 20), vec!["*s"; 100].join(", "));
    assert!(load_err("hosts.yml", &long).contains("64 MiB of text"));
    // A file without an extension is read as YAML first; the bound is the answer, not an INI error.
    assert!(load_err("inventory", &billion_laughs()).starts_with("inventory:10: YAML aliases expand"));
    // The same bound holds in group_vars files.
    let vars: String = billion_laughs().lines().skip(2).take(10).map(|l| format!("{}\n", l.trim_start())).collect();
    let got = load(&[("hosts.ini", "[web]\nw1\n"), ("group_vars/web.yml", &vars)]).err();
    assert!(got.as_deref().is_some_and(|e| e.starts_with("group_vars/web.yml:")), "{got:?}");
    // Ordinary use of aliases, even many of them, is fine.
    let mut ok = String::from("all:\n  vars:\n    base: &base {a: 1, b: [x, y]}\n  hosts:\n");
    for i in 0..2000 {
        ok.push_str(&format!("    h{i}:\n      <<: *base\n      c: *base\n"));
    }
    let inv = load_ok(&[("hosts.yml", &ok)]);
    assert_eq!(inv.host_vars("h1999")["c"]["b"], serde_json::json!(["x", "y"]));
}

#[test]
fn host_entries_are_bounded_for_all_sources_together() {
    let err = load_err("hosts.ini", "[web]\nh[0:9999999999:1]\n");
    assert_eq!(
        err,
        "hosts.ini:2: host pattern \"h[0:9999999999:1]\" takes the inventory past 1000000 host entries, the limit for all sources together (narrow the range or split the inventory)"
    );
    let yaml = load_err("hosts.yml", "all:\n  hosts:\n    'a[0:999999]b[0:999999]':\n");
    assert!(
        yaml.starts_with("hosts.yml:3: host pattern \"a[0:999999]b[0:999999]\" takes the inventory past"),
        "{yaml}"
    );
    // Repeats count: the same 600,000 hosts twice is 1,200,000 entries.
    let twice = load_err("hosts.ini", "[a]\nh[1:600000]\n[b]\nh[1:600000]\n");
    assert!(twice.starts_with("hosts.ini:4: host pattern \"h[1:600000]\""), "{twice}");
    // Two sources share the budget.
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.ini"), dir.path().join("b.yml"));
    std::fs::write(&a, "h[1:600000]\n").expect("write a");
    std::fs::write(&b, "all:\n  hosts:\n    g[1:600000]:\n").expect("write b");
    let err = Inventory::load(&[a.clone(), b.clone()]).expect_err("over the budget").to_string();
    assert!(err.contains("b.yml:3: host pattern \"g[1:600000]\""), "{err}");
    assert_eq!(Inventory::load(&[a]).expect("one source fits").hosts().len(), 600_000);
}

#[test]
fn range_vars_are_stored_once() {
    // 200,000 hosts sharing a 64 KiB value: 12 GiB if copied per host, 64 KiB when shared.
    let text = format!("[web]\nh[1:200000] big={}\n", "x".repeat(64 << 10));
    let inv = load_ok(&[("hosts.ini", &text)]);
    assert_eq!(inv.host_vars("h200000")["big"].as_str().map(str::len), Some(64 << 10));
}
