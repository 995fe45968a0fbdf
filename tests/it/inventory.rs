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
        let got = inv.to_list_json(limit).unwrap_or_else(|e| panic!("to_list_json({limit:?}): {e}"));
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
    assert_eq!(inv.to_list_json(Some("nosuchgroup")).expect("list"), want);
    let err = inv.select(Some("web:nosuchgroup")).expect_err("unknown pattern");
    assert_eq!(
        err.to_string(),
        "--limit pattern \"nosuchgroup\" matches no host or group in the inventory (check the name, or list them with `--list`)"
    );
}

/// `credpush ARGS` under `ulimit -v KIB`, so a regression that allocates without bound fails the test (the
/// allocation fails and credpush aborts) instead of taking the machine's memory.
fn credpush_capped(env: &Env, kib: u64, args: &[&std::ffi::OsStr]) -> crate::harness::Run {
    let mut cmd = env.cmd("/bin/sh");
    cmd.args(["-c", &format!("ulimit -v {kib} && exec \"$0\" \"$@\""), env!("CARGO_BIN_EXE_credpush")]).args(args);
    run(&mut cmd)
}

/// Room for the binary, its threads and allocator arenas, and a small inventory; what a hostile input would
/// need is many times more.
const CAP_KIB: u64 = 768 * 1024;

fn inventory_args<'a>(path: &'a Path, extra: &[&'a str]) -> Vec<&'a std::ffi::OsStr> {
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["inventory".as_ref(), "-i".as_ref(), path.as_os_str(), "--list".as_ref()];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    args
}

/// Nine levels of ten aliases: 10^9 strings once expanded, from 400 bytes of YAML.
fn billion_laughs(indent: &str) -> String {
    let mut text = format!("{indent}l0: &l0 lol\n");
    for i in 1..=9 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        text.push_str(&format!("{indent}l{i}: &l{i} [{refs}]\n"));
    }
    text
}

#[test]
fn yaml_alias_bombs_end_in_exit_2_within_bounded_memory() {
    let env = Env::new();
    let laughs = env.path("laughs.yml");
    std::fs::write(&laughs, format!("all:\n  hosts:\n    h1:\n  vars:\n{}", billion_laughs("    "))).expect("write");
    let r = credpush_capped(&env, CAP_KIB, &inventory_args(&laughs, &[])).expect_code(2);
    assert_eq!(
        r.stderr.trim_end(),
        format!(
            "credpush: error: {}:12: YAML aliases expand to more than 2000000 nodes or 64 MiB of text, the limit for one file (this looks like a \"billion laughs\" document; repeat less through aliases)",
            laughs.display()
        )
    );
    assert!(r.stdout.is_empty(), "nothing half-written: {}", r.stdout);
    // A bomb of long strings, in a host_vars file of an INI inventory, with no extension on the vars file.
    let dir = env.path("strings");
    std::fs::create_dir_all(dir.join("host_vars")).expect("mkdir");
    std::fs::write(dir.join("hosts.ini"), "h1\n").expect("write");
    let line = format!("s0: &s0 \"{}\"\n", "x".repeat(1 << 20));
    let refs = vec!["*s0"; 200].join(", ");
    std::fs::write(dir.join("host_vars/h1"), format!("{line}s1: [{refs}]\n")).expect("write");
    let hosts = dir.join("hosts.ini");
    let r = credpush_capped(&env, CAP_KIB, &inventory_args(&hosts, &[])).expect_code(2);
    assert!(r.stderr.contains("host_vars/h1:2: YAML aliases expand to more than"), "{}", r.stderr);
}

#[test]
fn huge_host_ranges_end_in_exit_2_within_bounded_memory() {
    let env = Env::new();
    let cases = [
        (
            "[web]\nh[0:9999999999:1]\n",
            "2: host pattern \"h[0:9999999999:1]\" takes the inventory past 1000000 host entries",
        ),
        ("a[0:999999]b[0:999999]\n", "1: host pattern \"a[0:999999]b[0:999999]\" takes the inventory past"),
        ("[a]\nh[1:700000]\n[b]\nh[1:700000]\n", "4: host pattern \"h[1:700000]\" takes the inventory past"),
        ("h[0:99999999999999999999999999999999999999]\n", "1: invalid host range"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = env.path(&format!("ranges{i}.ini"));
        std::fs::write(&path, text).expect("write");
        let r = credpush_capped(&env, CAP_KIB, &inventory_args(&path, &[])).expect_code(2);
        assert!(r.stderr.starts_with(&format!("credpush: error: {}:{want}", path.display())), "{text}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    // 300,000 hosts sharing one 64 KiB var: 19 GiB if the value were copied per host.
    let shared = env.path("shared.ini");
    std::fs::write(&shared, format!("[web]\nh[1:300000] big={}\n", "x".repeat(64 << 10))).expect("write");
    let r = credpush_capped(&env, CAP_KIB, &inventory_args(&shared, &["--limit", "h300000"])).expect_code(0);
    let list: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(list["_meta"]["hostvars"]["h300000"]["big"].as_str().map(str::len), Some(64 << 10));
}

/// What `ansible-inventory --list --limit` does with malformed limits (it drops what its splitter cannot read,
/// and an empty result means all hosts), `credpush inventory --list` does too for a well-formed limit; where
/// Ansible stops or crashes, or the limit is malformed, credpush exits 2 with one line naming the limit.
#[test]
fn list_follows_ansible_for_well_formed_limits_and_refuses_malformed_ones() {
    let paths = [fixture("ini_basic/hosts.ini")];
    let inv = Inventory::load(&paths).expect("load");
    for limit in ["!!web", "web:&!db"] {
        let want = ansible_list(&paths, Some(limit));
        assert_eq!(credpush_list(&paths, Some(limit)), want, "--limit {limit:?}");
        assert_eq!(inv.to_list_json(Some(limit)).expect("list"), want, "--limit {limit:?}");
    }
    let env = Env::new();
    // Where Ansible stops or crashes; and where its splitter drops a malformed limit and then lists everything or a
    // guess (issue 16: `--limit '['` printed the whole inventory), which reads as if the limit had matched.
    let malformed = ["", " ", "[", "~[", ":", "h[", "a:", "web[", "all[", "web]"];
    for limit in ["&", "!", "web:&", "~(", "web,~(", "prod[99]", "@/nonexistent/limit"].into_iter().chain(malformed) {
        let mut cmd = env.credpush();
        cmd.args(["inventory", "-i"]).arg(&paths[0]).args(["--list", "--limit", limit]);
        let r = run(&mut cmd).expect_code(2);
        let named = r.stderr.starts_with("credpush: error: invalid --limit pattern \"")
            || r.stderr.starts_with("credpush: error: --limit is empty");
        assert!(named, "{limit}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stdout.is_empty());
    }
}

#[test]
fn rotate_refuses_malformed_limits_and_names_an_empty_inventory_before_sts() {
    use crate::harness::Moto;
    use crate::sshd::Fleet;
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let inv = fleet.inventory("");
    let rotate = |inv: &Path, extra: &[&str]| run(&mut crate::fleet::rotate::rotate(&env, &moto, &fleet, inv, extra));
    for (limit, want) in [
        ("", "--limit is empty (give a host, group or pattern such as web:&prod, or drop --limit)"),
        ("[", "invalid --limit pattern \"[\": '[' has no closing ']' (close the bracket)"),
        ("host[", "invalid --limit pattern \"host[\": '[' has no closing ']' (close the bracket)"),
        ("host1:", "invalid --limit pattern \"host1:\": it ends with ':' and no pattern after it"),
        ("&", "invalid --limit pattern \"&\": '&' must be followed by a host, group or pattern"),
        ("~(", "invalid --limit pattern \"~(\": "),
        ("host9", "--limit pattern \"host9\" matches no host or group in the inventory"),
    ] {
        let r = rotate(&inv, &["--limit", limit]).expect_code(2);
        assert!(r.stderr.starts_with(&format!("credpush: error: {want}")), "--limit {limit:?}: {}", r.stderr);
    }
    let empty = fleet.root.path().join("empty.yml");
    std::fs::write(&empty, "all:\n  children:\n    web:\n").expect("write");
    for extra in [&[][..], &["--limit", "web"][..]] {
        let r = rotate(&empty, extra).expect_code(2);
        assert_eq!(
            r.stderr.trim_end(),
            format!(
                "credpush: error: inventory {} has no hosts (add hosts to it, or check the path given with -i)",
                empty.display()
            )
        );
    }
    assert!(moto.recorded_actions("GetCallerIdentity").is_empty(), "a bad limit reached STS");
    assert!(!fleet.host("host1").document().exists());
}

/// The benchmark's 100,000-host inventory (scripts/lib/gen_inventory.py), listed by the debug build under a
/// memory cap, with its peak RSS under ten times the file's size and its CPU time bounded.
#[test]
fn a_100k_host_inventory_lists_in_bounded_memory_and_time() {
    let env = Env::new();
    let path = env.path("hosts.ini");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lib/gen_inventory.py");
    let generated = run(env.cmd("/usr/bin/python3").arg(&script).arg("100000")).expect_code(0);
    std::fs::write(&path, &generated.stdout).expect("write");
    let size_kib = generated.stdout.len() as u64 / 1024;
    let times = env.path("time");
    let mut cmd = env.cmd("/bin/sh");
    cmd.args(["-c", &format!("ulimit -v {} && exec \"$0\" \"$@\" >/dev/null", CAP_KIB + 10 * size_kib)])
        .args(["/usr/bin/time", "-f", "%U %S %M", "-o"])
        .arg(&times)
        .arg(env!("CARGO_BIN_EXE_credpush"))
        .args(inventory_args(&path, &[]));
    run(&mut cmd).expect_code(0);
    let text = std::fs::read_to_string(&times).expect("time output");
    let fields: Vec<f64> = text.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let [user, sys, rss_kib] = fields[..] else { panic!("unexpected /usr/bin/time output: {text}") };
    assert!(rss_kib < (10 * size_kib) as f64, "peak RSS {rss_kib} KiB for a {size_kib} KiB inventory");
    // CPU time, not wall time: the tests share two cores. Release takes well under a second and the debug build
    // a few seconds (docs/BENCHMARKS.md); the bound catches a return to quadratic work (the first version took
    // minutes on a file this size).
    assert!(user + sys < 30.0, "took {user} s user + {sys} s system CPU");
}
