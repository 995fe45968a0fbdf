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
