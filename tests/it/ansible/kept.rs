//! The copy of the module kept on each host: the first task sends the module and keeps it where `credpush rotate`
//! keeps its writer's helper (the same binary), later tasks run that copy with only the args on stdin, and a copy
//! that fails the helper's checks is never run.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::{Ansible, module_binary, play, recap, repo};
use crate::fleet::rotate::{read_doc, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::{Fleet, SshHost};

/// Where a host keeps the module, named by its sha256.
fn kept(h: &SshHost) -> PathBuf {
    let out = run(std::process::Command::new("sha256sum").arg(module_binary())).expect_code(0).stdout;
    let sha = out.split_whitespace().next().expect("sha256sum").to_owned();
    h.home.join(format!(".cache/credpush/bin/credpush-helper-{sha}"))
}

#[test]
fn the_module_is_sent_once_then_the_copy_kept_on_the_host_runs_and_rotate_shares_it() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let rotate_yml = repo().join("ansible/rotate.yml");
    let inv = ansible.inventory("", "");
    // First contact: the kept copy's command finds none and reads nothing, then the module is sent: two round
    // trips per host. The copy is the module, 0700, in a 0700 directory of the host's user.
    let first = play(&mut ansible.playbook(&rotate_yml, &inv, &["-vvv"]), 0);
    assert_eq!(first.stdout.matches("SSH: EXEC ssh ").count(), 4, "{}", first.stdout);
    let module = std::fs::read(module_binary()).expect("module");
    for h in &fleet.hosts {
        assert_eq!(recap(&first, &h.name), (1, 0, 0), "{}", first.stdout);
        let copy = kept(h);
        assert_eq!(std::fs::read(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display())), module);
        assert_eq!(std::fs::metadata(&copy).expect("copy").mode() & 0o7777, 0o700);
        assert_eq!(std::fs::metadata(copy.parent().expect("dir")).expect("dir").mode() & 0o777, 0o700);
        assert!(
            !std::fs::read_dir(copy.parent().expect("dir"))
                .expect("dir")
                .any(|e| { e.expect("entry").file_name().to_string_lossy().ends_with(".tmp") })
        );
    }
    assert!(!first.stdout.contains("was not kept"), "{}", first.stdout);

    // Later tasks: one round trip per host, and the module never crosses. A remote_tmp that breaks the directory
    // rule proves it: sending the module needs remote_tmp, and is refused there.
    for h in &fleet.hosts {
        let open = h.home.join("open-tmp");
        let r = fleet.ssh(&h.name, &format!("mkdir -p {0} && chmod 0777 {0}", open.display()), b"");
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    }
    let before: Vec<_> = fleet.hosts.iter().map(|h| read_doc(&h.document())["AccessKeyId"].clone()).collect();
    let inv = ansible.inventory("", "ansible_remote_tmp=$HOME/open-tmp\n");
    let second = play(&mut ansible.playbook(&rotate_yml, &inv, &["-vvv"]), 0);
    assert_eq!(second.stdout.matches("SSH: EXEC ssh ").count(), 2, "{}", second.stdout);
    for (h, key) in fleet.hosts.iter().zip(&before) {
        assert_eq!(recap(&second, &h.name), (1, 0, 0), "{}", second.stdout);
        assert_ne!(&read_doc(&h.document())["AccessKeyId"], key, "{} was not rotated", h.name);
        assert!(std::fs::read_dir(h.home.join("open-tmp")).expect("open-tmp").next().is_none());
    }
    // The module sent to the same remote_tmp is refused by the rule, as before.
    for h in &fleet.hosts {
        std::fs::remove_file(kept(h)).expect("remove the copy");
    }
    let refused = play(&mut ansible.playbook(&rotate_yml, &inv, &[]), 2);
    assert!(refused.stdout.contains("open-tmp (owner ") && refused.stdout.contains("is writable by group or others"));

    // `credpush rotate` with the module's build as its helper finds the copy a task kept, and writes with it.
    let inv = ansible.inventory("", "");
    play(&mut ansible.playbook(&rotate_yml, &inv, &[]), 0);
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["-vv"]);
    cmd.env("CREDPUSH_HELPER", module_binary());
    let r = run(&mut cmd).expect_code(0);
    assert!(r.stderr.contains("written by the helper") && !r.stderr.contains("helper installed"), "{}", r.stderr);
}

#[test]
fn a_changed_loosened_or_exposed_copy_is_never_run() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let rotate_yml = repo().join("ansible/rotate.yml");
    let inv = ansible.inventory("", "");
    play(&mut ansible.playbook(&rotate_yml, &inv, &[]), 0);
    let sh = |host: &str, script: &str| {
        let r = fleet.ssh(host, script, b"");
        assert!(r.status.success(), "{host}: {script}: {}", String::from_utf8_lossy(&r.stderr));
    };
    let (h1, h2, h3) = (fleet.host("host1"), fleet.host("host2"), fleet.host("host3"));
    // host1: another program under the copy's name (a different checksum): never run, replaced by the module.
    let ran = h1.home.join("ran");
    sh("host1", &format!("printf '#!/bin/sh\\ntouch {}\\n' >{1} && chmod 0700 {1}", ran.display(), kept(h1).display()));
    // host2: the module itself, but writable by the group: not run, replaced by a 0700 copy (a new inode).
    sh("host2", &format!("chmod 0770 {}", kept(h2).display()));
    let inode2 = std::fs::metadata(kept(h2)).expect("copy").ino();
    // host3: its directory is writable by the group: the copy is not run, none is kept, and the task says so.
    sh("host3", &format!("chmod 0770 {}", h3.home.join(".cache/credpush/bin").display()));
    let inode3 = std::fs::metadata(kept(h3)).expect("copy").ino();

    let r = play(&mut ansible.playbook(&rotate_yml, &inv, &[]), 0);
    for h in &fleet.hosts {
        assert_eq!(recap(&r, &h.name), (1, 0, 0), "{}\n{}", r.stdout, r.stderr);
    }
    assert!(!ran.exists(), "a changed copy ran");
    let module = std::fs::read(module_binary()).expect("module");
    assert_eq!(std::fs::read(kept(h1)).expect("copy"), module);
    let meta2 = std::fs::metadata(kept(h2)).expect("copy");
    assert_eq!((meta2.mode() & 0o7777, meta2.ino() != inode2), (0o700, true));
    assert_eq!(std::fs::metadata(kept(h3)).expect("copy").ino(), inode3, "a copy was kept in an open directory");
    let out = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(out.matches("the credpush module was not kept on the host").count(), 1, "{out}");
    assert!(out.contains("/.cache/credpush/bin (owner "), "{out}");
}
