//! The directory rule against a second local user racing each writer with inotify, 20 runs each: the SSH
//! writer, the local writer (`assume --output`), the Ansible module and the action's remote_tmp. Afterwards no
//! file that user can read holds a secret, and nothing of theirs ran.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{assert_nothing_stolen, evil_dir, race, stop};
use crate::fleet::rotate::{host_status, json_of, read_doc, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::{Fleet, TEST_USER, give_to_test_user};

const RUNS: usize = 20;

/// A root-owned directory with `mode` (0777: anyone may write; 01777: sticky, as /tmp is).
fn shared_dir(parent: &Path, name: &str, mode: u32) -> std::path::PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

fn loot(root: &Path) -> std::path::PathBuf {
    super::evil_dir(root, "loot", 0o755)
}

fn secrets_of(doc: &Path) -> Vec<String> {
    let d = read_doc(doc);
    ["SecretAccessKey", "SessionToken"].iter().map(|k| d[k].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn the_ssh_writer_refuses_directories_another_user_controls_while_that_user_races_it() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let root = fleet.root.path();
    let loot = loot(root);
    // The pass's case (a directory the other user owns, open to the writer), one anyone may write, and a new
    // directory below a sticky one that the other user creates first, as a symlink to theirs.
    let theirs = evil_dir(root, "theirs", 0o777);
    let open = shared_dir(root, "open", 0o777);
    let sticky = shared_dir(root, "sticky", 0o1777);
    let planted = evil_dir(root, "planted", 0o777);
    let swap = sticky.join("new");
    let st = std::process::Command::new("setpriv")
        .args([&format!("--reuid={}", super::EVIL), &format!("--regid={}", super::EVIL), "--init-groups", "ln", "-s"])
        .arg(&planted)
        .arg(&swap)
        .status()
        .expect("ln");
    assert!(st.success());
    let cases = [
        (theirs.join("temp.json"), "is owned by credpush-evil", &theirs),
        (open.join("temp.json"), "is writable by group or others", &open),
        (swap.join("temp.json"), "is owned by credpush-evil", &planted),
    ];
    for (target, why, watched) in &cases {
        let racer = race(watched, &loot);
        let inv = fleet.inventory("");
        let text = std::fs::read_to_string(&inv).expect("inventory").replacen(
            &format!("ansible_user={TEST_USER}\n"),
            &format!("ansible_user={TEST_USER} credpush_path={}\n", target.display()),
            1,
        );
        std::fs::write(&inv, text).expect("inventory");
        let mut secrets = Vec::new();
        for i in 0..RUNS {
            let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(1));
            let (status, error) = host_status(&report, "host1");
            assert_eq!(status, "failed", "run {i}: {report}");
            assert!(error.contains(why) && error.contains("(fix: "), "run {i}: {error}");
            assert_eq!(host_status(&report, "host2").0, "ok", "the other host is not held back");
            secrets.extend(secrets_of(&fleet.host("host2").document()));
        }
        stop(racer);
        assert_nothing_stolen(&[root], &loot, &secrets);
        assert!(!target.exists(), "{}: written although refused", target.display());
    }
    // The writer's own directory below the sticky one: allowed, and the race gains nothing.
    let mine = sticky.join("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    give_to_test_user(&mine);
    let racer = race(&sticky, &loot);
    let mut secrets = Vec::new();
    for i in 0..RUNS {
        let path = mine.join("temp.json");
        let mut cmd = rotate(&env, &moto, &fleet, &fleet.inventory(""), &["--json", "--path"]);
        let report = json_of(&run(cmd.arg(&path)).expect_code(0));
        assert_eq!(host_status(&report, "host1").0, "ok", "run {i}: {report}");
        secrets.extend(secrets_of(&path));
    }
    stop(racer);
    assert_nothing_stolen(&[root], &loot, &secrets);
}

#[test]
fn the_local_writer_refuses_directories_another_user_controls_while_that_user_races_it() {
    let (env, moto) = (Env::new(), Moto::start());
    let root = tempfile::Builder::new().prefix("credpush-trust-").tempdir().expect("tempdir");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let loot = loot(root.path());
    let theirs = evil_dir(root.path(), "theirs", 0o777);
    let open = shared_dir(root.path(), "open", 0o777);
    for (dir, why) in [(&theirs, "is owned by uid"), (&open, "is writable by group or others")] {
        let racer = race(dir, &loot);
        for i in 0..RUNS {
            let mut cmd = env.credpush();
            moto.as_user(&mut cmd, &moto.user("ci"))
                .args(["assume", "--role-arn", &moto.role("deploy"), "--output"])
                .arg(dir.join("sub/temp.json"));
            let r = run(&mut cmd);
            assert_ne!(r.code, 0, "run {i}: written into {}", dir.display());
            assert!(r.stderr.contains(why) && r.stderr.contains("(fix: "), "run {i}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        }
        stop(racer);
        // Nothing was assumed into a readable place: no file the other user can read looks like a document.
        assert_nothing_stolen(&[root.path()], &loot, &["SecretAccessKey".to_owned(), "SessionToken".to_owned()]);
    }
}

#[test]
fn the_module_and_the_actions_remote_tmp_refuse_directories_another_user_controls() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let ansible = crate::ansible::Ansible { env: &env, moto: &moto, fleet: &fleet };
    let root = fleet.root.path();
    let loot = loot(root);
    let theirs = evil_dir(root, "theirs", 0o777);
    let rotate_yml = crate::ansible::repo().join("ansible/rotate.yml");
    let stolen = || ["SecretAccessKey".to_owned(), "SessionToken".to_owned()];
    // remote_tmp where the other user can swap the temp dir and the module binary (the pass: 4 of 5 runs).
    let racer = race(&theirs, &loot);
    let inv = ansible.inventory("", &format!("ansible_remote_tmp={}/tmp\n", theirs.display()));
    for i in 0..RUNS {
        let r = run(&mut ansible.playbook(&rotate_yml, &inv, &[]));
        assert_ne!(r.code, 0, "run {i}: {}", r.stdout);
        assert!(r.stdout.contains("is owned by credpush-evil") && r.stdout.contains("(fix: "), "run {i}: {}", r.stdout);
    }
    stop(racer);
    assert_nothing_stolen(&[root], &loot, &stolen());
    // The module's own path below such a directory, with a trusted remote_tmp.
    let racer = race(&theirs, &loot);
    let inv = ansible.inventory("", &format!("credpush_path={}/temp.json\n", theirs.display()));
    for i in 0..RUNS {
        let r = run(&mut ansible.playbook(&rotate_yml, &inv, &[]));
        assert_ne!(r.code, 0, "run {i}: {}", r.stdout);
        assert!(r.stdout.contains("is owned by uid") && r.stdout.contains("(fix: "), "run {i}: {}", r.stdout);
    }
    stop(racer);
    assert_nothing_stolen(&[root], &loot, &stolen());
}
