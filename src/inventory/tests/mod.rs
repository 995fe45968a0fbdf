//! Unit tests across the inventory modules: `--limit` selection and the text of every malformed-input error.
//! (Agreement with real `ansible-inventory` is tested in tests/it/inventory.rs.)

use super::Inventory;
use std::path::PathBuf;

mod bounds;

/// Writes `files` into a fresh temp dir and loads the first one as the source. Errors come back with the temp
/// dir stripped from paths, so tests can compare whole messages.
fn load(files: &[(&str, &str)]) -> Result<Inventory, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write fixture");
    }
    let source: PathBuf = dir.path().join(files[0].0);
    Inventory::load(&[source]).map_err(|e| e.to_string().replace(&format!("{}/", dir.path().display()), ""))
}

fn load_ok(files: &[(&str, &str)]) -> Inventory {
    load(files).unwrap_or_else(|e| panic!("fixture should load: {e}"))
}

fn load_err(name: &str, text: &str) -> String {
    load(&[(name, text)]).err().unwrap_or_else(|| panic!("{name} should fail:\n{text}"))
}

const INV: &str = "\
bastion
[web]
web01
web02
web03
[db]
db-a
db-b
[prod:children]
web
db
[stage]
web03
";

fn select(limit: &str) -> Vec<String> {
    load_ok(&[("hosts.ini", INV)]).select(Some(limit)).unwrap_or_else(|e| panic!("select({limit}): {e}"))
}

#[test]
fn limit_patterns_select_as_ansible() {
    // Ansible's order (checked with `ansible all --list-hosts`): hosts of `all`'s direct children first
    // (ungrouped, prod, stage), then a level deeper; a limit filters that list.
    let all = ["bastion", "web03", "web01", "web02", "db-a", "db-b"];
    assert_eq!(load_ok(&[("hosts.ini", INV)]).select(None).expect("no limit"), all);
    assert_eq!(select("all"), all);
    assert_eq!(select("*"), all);
    assert_eq!(select("web02"), ["web02"]);
    assert_eq!(select("web"), ["web03", "web01", "web02"]);
    assert_eq!(select("web0[!3]"), ["web01", "web02"]);
    assert_eq!(select("db-*"), ["db-a", "db-b"]);
    assert_eq!(select("web01:db"), ["web01", "db-a", "db-b"]);
    assert_eq!(select("web01,db-b"), ["web01", "db-b"]);
    assert_eq!(select("prod:&stage"), ["web03"]);
    assert_eq!(select("stage:web"), ["web03", "web01", "web02"]);
    assert_eq!(select("prod:!web"), ["db-a", "db-b"]);
    assert_eq!(select("!prod"), ["bastion"]);
    assert_eq!(select("~web0[13]"), ["web03", "web01"]);
    assert_eq!(select("~^b"), ["bastion"]);
    assert_eq!(select("web[0]"), ["web01"]);
    assert_eq!(select("web[-1]"), ["web03"]);
    assert_eq!(select("web[1:]"), ["web03", "web02"]);
    assert_eq!(select("prod[0:1]"), ["web01", "web02"]);
    assert_eq!(select("ungrouped"), ["bastion"]);
}

#[test]
fn limit_file_lists_one_pattern_per_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("retry");
    std::fs::write(&file, "web01\ndb-b\n\n").expect("write limit file");
    assert_eq!(select(&format!("@{}", file.display())), ["web01", "db-b"]);
    let inv = load_ok(&[("hosts.ini", INV)]);
    let err = inv.select(Some("@/nonexistent/retry")).expect_err("missing limit file").to_string();
    assert!(err.starts_with("invalid --limit pattern \"@/nonexistent/retry\": cannot read limit file"), "{err}");
}

#[test]
fn limit_errors_name_the_pattern() {
    let inv = load_ok(&[("hosts.ini", INV)]);
    let err = |l: &str| inv.select(Some(l)).expect_err("bad limit").to_string();
    assert_eq!(
        err("web:dbx"),
        "--limit pattern \"dbx\" matches no host or group in the inventory (check the name, or list them with `--list`)"
    );
    assert_eq!(
        err("!nosuch"),
        "--limit pattern \"nosuch\" matches no host or group in the inventory (check the name, or list them with `--list`)"
    );
    // As in Ansible, `[12]` after a name is a subscript, not a glob class.
    assert!(err("web0[12]").starts_with("--limit pattern \"web0\" matches no host or group"));
    assert_eq!(
        err("web[5]"),
        "invalid --limit pattern \"web[5]\": index 5 is out of range: it matches 3 hosts (count from 0)"
    );
    assert!(err("~web(").starts_with("invalid --limit pattern \"~web(\": "), "{}", err("~web("));
    // Ansible only warns about these, so --list ignores them the same way.
    let listed = inv.to_list_json(Some("web01:nosuch")).expect("list");
    assert_eq!(listed["web"]["hosts"], serde_json::json!(["web01"]));
}

#[test]
fn ini_errors_name_file_line_and_fix() {
    let cases = [
        (
            "[web:foo]\nh1\n",
            "hosts.ini:1: section [web:foo] has unknown type \"foo\" (use [web], [web:children] or [web:vars])",
        ),
        (
            "h0\n[web group]\n",
            "hosts.ini:2: invalid section header \"[web group]\" (write [group], [group:children] or [group:vars] with no spaces)",
        ),
        (
            "[web]\nweb[01:x]\n",
            "hosts.ini:2: invalid host range \"web[01:x]\" (expected [START:END] with numbers or letters)",
        ),
        ("[g]\nh\n[g:vars]\nnovalue\n", "hosts.ini:4: expected key=value in a :vars section, got \"novalue\""),
        (
            "[p:children]\nmissing\n",
            "hosts.ini:2: section [p:children] names group \"missing\", which is not defined (add a [missing] section or fix the name)",
        ),
        (
            "[ghost:vars]\na=1\n",
            "hosts.ini:1: section [ghost:vars] is for group \"ghost\", which is not defined (add a [ghost] section or fix the name)",
        ),
        ("[g]\nhost a\n", "hosts.ini:2: expected key=value after the host name, got \"a\" (quote values with spaces)"),
        (
            "[g]\nhost a=\"x\n",
            "hosts.ini:2: cannot split host line \"host a=\"x\": no closing quotation (close the quote)",
        ),
        (
            "[g]\nhost:\n",
            "hosts.ini:2: invalid host pattern \"host:\": a trailing ':' must be followed by a port (write host:PORT or drop the ':')",
        ),
        ("---\n", "hosts.ini:1: invalid host pattern \"---\" (\"---\" starts a YAML document; name the file .yml)"),
        (
            "[a:children]\nb\n[b:children]\na\n",
            "hosts.ini:4: adding group \"a\" as a child of \"b\" creates a loop (\"a\" is already an ancestor of \"b\")",
        ),
        (
            "[g]\nh\n[g:vars]\nansible_group_priority=high\n",
            "hosts.ini:4: ansible_group_priority must be an integer, got \"high\" (write a whole number such as 10)",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(load_err("hosts.ini", text), want, "input:\n{text}");
    }
}

#[test]
fn yaml_errors_name_file_line_and_fix() {
    let cases = [
        ("all:\n  hosts: [a, b\n", "hosts.yml:3: invalid YAML: "),
        ("- a\n- b\n", "hosts.yml:1: a YAML inventory must be a mapping of group names (start with `all:`)"),
        (
            "plugin: amazon.aws.aws_ec2\n",
            "hosts.yml: this is an inventory plugin config (`plugin:` key), which credpush cannot run (use a static INI or YAML inventory)",
        ),
        (
            "all:\n  hosts:\n    - a\n",
            "hosts.yml:3: \"hosts\" of group \"all\" must be a mapping (write `hosts:` followed by indented `key:` lines)",
        ),
        ("all:\n  hosts:\n    1:\n", "hosts.yml:3: host pattern 1 must be a string (quote numbers)"),
        (
            "all:\n  children:\n    g3: 5\n",
            "hosts.yml:3: \"g3\" is neither a known host nor a known group (define it before using it)",
        ),
        (
            "web:\n  hosts:\n    web[1:]:\n",
            "hosts.yml:3: invalid host range \"web[1:]\": missing end value (expected [START:END])",
        ),
        (
            "all:\n  vars:\n    x: !!int abc\n",
            "hosts.yml:3: cannot read \"abc\" as an integer (fix the value or drop the tag)",
        ),
    ];
    for (text, want) in cases {
        let got = load_err("hosts.yml", text);
        assert!(got.starts_with(want), "input:\n{text}\nwant: {want}\ngot:  {got}");
    }
}

#[test]
fn yaml_named_files_fall_back_to_ini_as_ansible_does() {
    assert!(load_ok(&[("hosts.yml", "")]).hosts().is_empty());
    assert_eq!(load_ok(&[("hosts.yml", "[web]\nw1 a=1\n")]).hosts(), ["w1"]);
    assert_eq!(load_ok(&[("inventory", "all:\n  hosts:\n    y1:\n")]).hosts(), ["y1"]);
    assert_eq!(load_ok(&[("inventory", "y1\n")]).hosts(), ["y1"]);
    assert_eq!(
        load_err("hosts.toml", "[all]\n"),
        "hosts.toml: TOML inventories are not supported (convert it to INI or YAML)"
    );
}

#[test]
fn deep_nesting_is_bounded() {
    let deep_ini = format!("h v={}{}\n", "[".repeat(300), "]".repeat(300));
    let inv = load_ok(&[("hosts.ini", &deep_ini)]);
    assert_eq!(inv.host_vars("h")["v"], serde_json::Value::String("[".repeat(300) + &"]".repeat(300)));
    // saphyr-parser bounds flow nesting itself; block nesting is bounded by our builder.
    let deep_flow = format!("all:\n  vars:\n    v: {}{}\n", "[".repeat(600), "]".repeat(600));
    assert!(load_err("hosts.yml", &deep_flow).starts_with("hosts.yml:3: invalid YAML: "));
    let deep_block = format!("all:\n  vars:\n    v:\n      {}x\n", "- ".repeat(600));
    let err = load_err("hosts.yml", &deep_block);
    assert!(err.ends_with("YAML nested more than 500 levels deep (flatten the data)"), "{err}");
}

#[test]
fn vars_and_source_errors() {
    let got = load(&[("hosts.ini", "[web]\nw1\n"), ("group_vars/web.yml", "- not\n- a mapping\n")]).err();
    assert_eq!(
        got.as_deref(),
        Some(
            "group_vars/web.yml:1: a vars file must hold a mapping of name: value (this one holds a list or a single value)"
        )
    );
    let missing = Inventory::load(&["/nonexistent/inventory.ini".into()]).expect_err("missing source");
    assert_eq!(
        missing.to_string(),
        "/nonexistent/inventory.ini: inventory source does not exist (check the path given with -i)"
    );
}

#[test]
fn host_vars_layer_as_documented() {
    let inv = load_ok(&[
        ("hosts.ini", "[p:children]\nc\n[c]\nh port=1\n[p:vars]\na=p\nb=p\n[c:vars]\na=c\n[all:vars]\nz=all\n"),
        ("group_vars/all.yml", "b: all_file\n"),
        ("host_vars/h.yml", "port: 2\n"),
    ]);
    let v = inv.host_vars("h");
    assert_eq!(v["a"], "c");
    assert_eq!(v["b"], "all_file", "group_vars/all beats inventory [p:vars]");
    assert_eq!(v["z"], "all");
    assert_eq!(v["port"], 2);
    assert!(inv.host_vars("nosuch").is_empty());
    assert_eq!(inv.hosts(), ["h"]);
}

#[test]
fn bad_limits_are_refused_before_selecting() {
    let inv = load_ok(&[("hosts.ini", INV)]);
    let err = |l: &str| inv.select(Some(l)).expect_err(l).to_string();
    assert_eq!(err(""), "--limit is empty (give a host, group or pattern such as web:&prod, or drop --limit)");
    assert_eq!(err("  "), err(""));
    let cases = [
        ("[", "invalid --limit pattern \"[\": '[' has no closing ']' (close the bracket)"),
        ("h[", "invalid --limit pattern \"h[\": '[' has no closing ']' (close the bracket)"),
        ("~[", "invalid --limit pattern \"~[\": '[' has no closing ']' (close the bracket)"),
        ("web]", "invalid --limit pattern \"web]\": ']' has no opening '[' (remove it or add the '[')"),
        ("a:", "invalid --limit pattern \"a:\": it ends with ':' and no pattern after it (remove the trailing ':')"),
        (":", "invalid --limit pattern \":\": it has an empty pattern before a ':' (remove the extra ':')"),
        ("web::db", "invalid --limit pattern \"web::db\": it has an empty pattern before a ':' (remove the extra ':')"),
        ("web,", "invalid --limit pattern \"web,\": it has an empty pattern between commas (remove the extra ',')"),
        (",", "invalid --limit pattern \",\": it has an empty pattern between commas (remove the extra ',')"),
        ("&", "invalid --limit pattern \"&\": '&' must be followed by a host, group or pattern (write web:&prod)"),
        ("web:!", "invalid --limit pattern \"!\": '!' must be followed by a host, group or pattern (write all:!web3)"),
        ("~", "invalid --limit pattern \"~\": '~' must be followed by a regular expression (write ~web0[1-3])"),
        (
            "@",
            "invalid --limit pattern \"@\": '@' must be followed by the path of a file of patterns (write @retry.txt)",
        ),
    ];
    for (limit, want) in cases {
        assert_eq!(err(limit), want, "--limit {limit:?}");
    }
    assert!(err("web,~[").starts_with("invalid --limit pattern \"~[\": "), "{}", err("web,~["));
    assert!(err("~web(").starts_with("invalid --limit pattern \"~web(\": "));
    assert_eq!(
        err("web:&db"),
        "--limit \"web:&db\" selects no host (check its & and ! parts, or see the hosts with `credpush inventory --list`)"
    );
    // The same checks without an inventory, for commands that validate flags first.
    assert!(super::check_limit("h[").is_err());
    assert!(super::check_limit("web:&prod:!web3").is_ok());
    assert!(super::check_limit("web[0:2], ~db-[ab] ,@file").is_ok());
    // Whitespace separates patterns, as in Ansible.
    assert_eq!(select("web01 db-b"), ["web01", "db-b"]);
}

#[test]
fn an_empty_inventory_is_named_not_the_limit() {
    let inv = load_ok(&[("hosts.yml", "")]);
    for limit in [None, Some("web")] {
        let err = inv.select(limit).expect_err("no hosts").to_string();
        assert!(
            err.starts_with("inventory ")
                && err.ends_with("hosts.yml has no hosts (add hosts to it, or check the path given with -i)"),
            "{err}"
        );
    }
}

#[test]
fn list_stops_where_ansible_stops_and_ignores_what_it_ignores() {
    let inv = load_ok(&[("hosts.ini", INV)]);
    let hosts = |l: &str| {
        let v = inv.to_list_json(Some(l)).unwrap_or_else(|e| panic!("{l}: {e}"));
        let mut out: Vec<String> =
            v["_meta"]["hostvars"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        for g in v.as_object().into_iter().flat_map(|m| m.values()) {
            out.extend(g["hosts"].as_array().into_iter().flatten().filter_map(|h| h.as_str().map(str::to_string)));
        }
        out.sort();
        out.dedup();
        out
    };
    // A pattern that matches nothing is ignored, as `ansible-inventory --list --limit` ignores it.
    assert_eq!(hosts("nosuch:web01"), ["web01"]);
    // Where Ansible stops (or crashes), so do we, with a clean error. So do we where its splitter drops a
    // malformed limit and then lists everything (`[`, `~[`, `:`) or a guess (`web[0`): that reads as a match.
    for limit in ["&", "!", "web:&", "~(", "web,~(", "web[5]", "@/nonexistent", "", "[", "~[", ":", "h[", "a:", "web[0"]
    {
        let err = inv.to_list_json(Some(limit)).expect_err(limit).to_string();
        assert!(err.contains("--limit"), "{limit}: {err}");
    }
}

#[test]
fn list_streams_the_same_json_as_the_value() {
    let inv = load_ok(&[
        ("hosts.ini", "[p:children]\nc\n[c]\nh1 a=1 s='x\"y'\nh2\n[other]\nA_upper x=[1,{'k':None}]\n[c:vars]\nv=2\n"),
        ("host_vars/h2.yml", "nested: {deep: [1, {two: 2}]}\n"),
    ]);
    for limit in [None, Some("c"), Some("nosuch")] {
        let list = inv.list(limit).expect("list");
        let mut out = Vec::new();
        list.write_json(&mut out).expect("write");
        let want = serde_json::to_string_pretty(&list.to_value()).expect("pretty") + "\n";
        assert_eq!(String::from_utf8(out).expect("utf-8"), want, "limit {limit:?}");
    }
}
