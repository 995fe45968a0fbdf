//! The credpush.credpush collection as a user gets it: `ansible-doc` reads the module's adjacent documentation,
//! and the tarball `scripts/build-collection` builds installs with `ansible-galaxy collection install` and runs
//! its playbook, `credpush.credpush.rotate`, from the install alone (no checkout on any Ansible path).

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{Ansible, COLLECTION, ansible_cmd, play, recap, repo};
use crate::fleet::rotate::{read_doc, test_uid};
use crate::harness::{Env, Moto, run};
use crate::sshd::Fleet;

/// An empty ansible.cfg in the test's home: nothing of the repository's configuration takes part.
fn empty_config(env: &Env) -> PathBuf {
    let cfg = env.path("empty-ansible.cfg");
    std::fs::write(&cfg, "").expect("ansible.cfg");
    cfg
}

/// `ansible-doc ARGS` with only `collections` on the collections path.
fn ansible_doc(env: &Env, collections: &Path, args: &[&str]) -> Command {
    let mut cmd = ansible_cmd(env, "ansible-doc", &empty_config(env));
    cmd.env("ANSIBLE_COLLECTIONS_PATH", collections).args(args);
    cmd
}

#[test]
fn ansible_doc_prints_the_modules_options_examples_and_return_values() {
    let env = Env::new();
    let collections = repo().join("ansible/collections");
    let text = run(&mut ansible_doc(&env, &collections, &["credpush.credpush.credpush"])).expect_code(0).stdout;
    assert!(text.starts_with("> MODULE credpush.credpush.credpush "), "{text}");
    for section in ["OPTIONS (= indicates it is required):", "EXAMPLES:", "RETURN VALUES:"] {
        assert!(text.contains(section), "no {section} in\n{text}");
    }
    assert!(text.contains("= path "), "path is required:\n{text}");
    assert!(text.contains("credpush.credpush.credpush:\n"), "the examples use the FQCN:\n{text}");

    // The documented options are exactly what a task may pass: what the module's "Unsupported parameters"
    // message lists (the action validates the task against these same options).
    let json =
        run(&mut ansible_doc(&env, &collections, &["--json", "credpush.credpush.credpush"])).expect_code(0).stdout;
    let doc: Value = serde_json::from_str(&json).expect("ansible-doc --json");
    let module = &doc["credpush.credpush.credpush"];
    let options: BTreeSet<&str> =
        module["doc"]["options"].as_object().expect("options").keys().map(String::as_str).collect();
    let task: BTreeSet<&str> = credpush::ansible::args::TASK_OPTIONS.into_iter().collect();
    assert_eq!(options, task);
    for (name, option) in module["doc"]["options"].as_object().expect("options") {
        assert!(option["description"].as_array().is_some_and(|d| !d.is_empty()), "{name} has no description");
        assert!(option["type"].is_string(), "{name} has no type");
    }
    assert!(module["examples"].as_str().is_some_and(|e| e.contains("role_arn:") && e.contains("session_name:")));
    // Return values: only fields that never hold a secret.
    let returned: BTreeSet<&str> = module["return"].as_object().expect("return").keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> =
        ["expiration", "path", "profile", "role_arn", "sha256", "superseded"].into_iter().collect();
    assert_eq!(returned, expected);

    // The report callback is documented too, under its collection name.
    let cb = run(&mut ansible_doc(&env, &collections, &["-t", "callback", "credpush.credpush.report"])).expect_code(0);
    assert!(cb.stdout.starts_with("> CALLBACK credpush.credpush.report "), "{}", cb.stdout);
    assert!(cb.stdout.contains("CREDPUSH_REPORT_FILE"), "{}", cb.stdout);
}

#[test]
fn the_built_tarball_installs_and_its_playbook_rotates_loopback_hosts() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let dist = env.path("dist");
    // Built first under the tests' lock, so the build-module run inside build-collection finds it up to date
    // rather than racing another test's build of it.
    super::module_binary();
    let built = Command::new(repo().join("scripts/build-collection")).arg(&dist).output().expect("build-collection");
    assert!(built.status.success(), "scripts/build-collection: {}", String::from_utf8_lossy(&built.stderr));
    let tarball = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    assert_eq!(tarball.parent(), Some(dist.as_path()));
    assert!(tarball.file_name().is_some_and(|n| n.to_string_lossy().starts_with("credpush-credpush-")));

    // Installed into a fresh collections path, as a user installs a release artifact.
    let installed = env.path("collections");
    let cfg = empty_config(&env);
    let install = run(ansible_cmd(&env, "ansible-galaxy", &cfg)
        .args(["collection", "install", "--offline"])
        .arg(&tarball)
        .arg("-p")
        .arg(&installed))
    .expect_code(0);
    let root = installed.join("ansible_collections/credpush/credpush");
    assert!(install.stdout.contains("credpush.credpush"), "{}", install.stdout);
    let module = std::fs::metadata(root.join("plugins/modules/credpush")).expect("the module is in the tarball");
    assert_eq!(module.mode() & 0o111, 0o111, "the module is executable");
    let rule = std::fs::symlink_metadata(root.join("plugins/action/remote_dirs.sh")).expect("the directory rule");
    assert!(rule.is_file(), "the directory rule is in the tarball");
    assert_eq!(
        std::fs::read(root.join("plugins/action/remote_dirs.sh")).expect("rule"),
        std::fs::read(repo().join("templates/remote_dirs.sh")).expect("template")
    );

    // The playbook by its collection name, from the install alone; the report callback from it too. The
    // session name, duration and ExternalId reach `credpush assume`.
    let inv = ansible.inventory("", "");
    let report = env.path("report.json");
    let extra = [
        "-e",
        "credpush_session_name=nightly-rotation",
        "-e",
        "credpush_duration=45m",
        "-e",
        "credpush_external_id=ext-7f3a",
        "-vvv",
    ];
    let mut cmd = ansible.playbook_with(&cfg, "credpush.credpush.rotate".as_ref(), &inv, &extra);
    cmd.env("ANSIBLE_COLLECTIONS_PATH", &installed)
        .env("ANSIBLE_CALLBACKS_ENABLED", "credpush.credpush.report")
        .env("CREDPUSH_REPORT_FILE", &report);
    let r = play(&mut cmd, 0);
    let uid = test_uid();
    for h in &fleet.hosts {
        assert_eq!(recap(&r, &h.name), (1, 0, 0), "{}", r.stdout);
        let meta = std::fs::metadata(h.document()).expect("document");
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid), "{}", h.name);
        assert_eq!(read_doc(&h.document())["Version"], 1, "{}", h.name);
    }
    let assumed = moto.recorded_actions("AssumeRole");
    assert_eq!(assumed.len(), 1, "one AssumeRole for the one role");
    let field = |k: &str| assumed[0].iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
    assert_eq!(
        (field("RoleSessionName"), field("DurationSeconds"), field("ExternalId")),
        (Some("nightly-rotation"), Some("2700"), Some("ext-7f3a"))
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("report");
    assert_eq!(report["summary"]["ok"], 2, "{report}");
    assert_eq!(report["summary"]["hosts"], 2, "{report}");
    // The playbook ran from the install, and nothing of the checkout was on a path Ansible searched.
    assert!(r.stdout.contains(&format!("1 plays in {}", root.join("playbooks/rotate.yml").display())), "{}", r.stdout);
    assert!(!r.stdout.contains(COLLECTION) && !r.stderr.contains(COLLECTION), "{}\n{}", r.stdout, r.stderr);
    // -vvv shows every command and result, and no secret.
    for h in &fleet.hosts {
        let doc = read_doc(&h.document());
        for k in ["SecretAccessKey", "SessionToken"] {
            let secret = doc[k].as_str().expect("secret");
            assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "{k} of {} is in the output", h.name);
        }
    }
}

/// `scripts/build-collection OUTDIR`, with `SOURCE_DATE_EPOCH` set to `epoch` or unset; returns the tarball.
fn build_collection(out: &Path, epoch: Option<&str>) -> PathBuf {
    let mut cmd = Command::new(repo().join("scripts/build-collection"));
    cmd.arg(out).env_remove("SOURCE_DATE_EPOCH");
    if let Some(e) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", e);
    }
    let built = cmd.output().expect("build-collection");
    assert!(built.status.success(), "scripts/build-collection: {}", String::from_utf8_lossy(&built.stderr));
    PathBuf::from(String::from_utf8_lossy(&built.stdout).trim())
}

#[test]
fn the_collection_tarball_is_the_same_bytes_for_the_same_commit_and_verifies() {
    let env = Env::new();
    super::module_binary();
    // Two builds in different seconds: ansible-galaxy alone stamps each with its own time.
    let first = build_collection(&env.path("one"), None);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = build_collection(&env.path("two"), None);
    let (a, b) = (std::fs::read(&first).expect("first"), std::fs::read(&second).expect("second"));
    assert!(a == b, "two builds of one commit differ: {} and {}", first.display(), second.display());
    // The gzip header carries the epoch (bytes 4..8) and no file name (FLG bit 3 clear).
    let commit_time: u32 = run(env.cmd("git").arg("-C").arg(repo()).args(["log", "-1", "--format=%ct"]))
        .expect_code(0)
        .stdout
        .trim()
        .parse()
        .expect("ct");
    assert_eq!(u32::from_le_bytes(a[4..8].try_into().expect("4 bytes")), commit_time);
    assert_eq!(a[3] & 0x08, 0, "the gzip header names a file");

    // With SOURCE_DATE_EPOCH: that time on every member, owner 0/0, the two manifests first, the rest sorted.
    let pinned = build_collection(&env.path("pinned"), Some("1700000000"));
    let listing = run(env
        .cmd("tar")
        .args(["--list", "--verbose", "--numeric-owner", "--full-time", "--gzip", "--file"])
        .arg(&pinned))
    .expect_code(0)
    .stdout;
    let mut names = Vec::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 6, "{line}");
        assert_eq!(f[1], "0/0", "{line}");
        assert_eq!(format!("{} {}", f[3], f[4]), "2023-11-14 22:13:20", "{line}");
        names.push(f[5].trim_end_matches('/').to_owned());
    }
    assert_eq!(names[..2], ["MANIFEST.json", "FILES.json"], "{listing}");
    let mut sorted = names[2..].to_vec();
    sorted.sort();
    assert_eq!(names[2..], sorted[..], "{listing}");
    let files: Value =
        serde_json::from_str(&run(env.cmd("tar").args(["-xzOf"]).arg(&pinned).arg("FILES.json")).expect_code(0).stdout)
            .expect("FILES.json");
    let listed: Vec<&str> =
        files["files"].as_array().expect("files").iter().filter_map(|f| f["name"].as_str()).collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    assert_eq!(listed, listed_sorted, "FILES.json is not sorted");

    // What was rewritten still installs, and ansible-galaxy finds MANIFEST.json, FILES.json and every file
    // consistent; one changed byte is caught.
    let installed = env.path("collections");
    let cfg = empty_config(&env);
    run(ansible_cmd(&env, "ansible-galaxy", &cfg)
        .args(["collection", "install", "--offline"])
        .arg(&pinned)
        .arg("-p")
        .arg(&installed))
    .expect_code(0);
    let verify = |code: i32| {
        run(ansible_cmd(&env, "ansible-galaxy", &cfg)
            .env("ANSIBLE_COLLECTIONS_PATH", &installed)
            .args(["collection", "verify", "--offline", "credpush.credpush", "-p"])
            .arg(&installed))
        .expect_code(code)
        .stdout
    };
    assert!(verify(0).contains("internally consistent with its manifest"));
    let readme = installed.join("ansible_collections/credpush/credpush/README.md");
    let mut text = std::fs::read(&readme).expect("README");
    text.push(b'\n');
    std::fs::write(&readme, text).expect("write");
    assert!(verify(1).contains("README.md"));
}
