//! The .deb: its control fields, then `dpkg -i` and `dpkg -r` into a private root with its own dpkg database, so
//! the test never changes this machine: the files land with their modes, the installed binary runs, and removal
//! leaves nothing but dpkg's own database.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{VERSION, artifact, check_version};
use crate::harness::{Env, files_under, run};

/// What the package installs, and each file's mode.
const FILES: [(&str, u32); 8] = [
    ("usr/bin/credpush", 0o755),
    ("usr/lib/credpush/credpush-helper", 0o755),
    ("usr/share/man/man1/credpush.1.gz", 0o644),
    ("usr/share/man/man1/credpush-rotate.1.gz", 0o644),
    ("usr/share/bash-completion/completions/credpush", 0o644),
    ("usr/share/zsh/vendor-completions/_credpush", 0o644),
    ("usr/share/fish/vendor_completions.d/credpush.fish", 0o644),
    ("usr/lib/systemd/system/credpush-serve@.service", 0o644),
];

/// `dpkg` acting on `root` only: its database under root/var/lib/dpkg, its log in the root too.
fn dpkg(env: &Env, root: &Path) -> std::process::Command {
    let mut cmd = env.cmd("dpkg");
    cmd.arg(format!("--root={}", root.display())).arg(format!("--log={}", root.join("dpkg.log").display()));
    cmd
}

#[test]
fn the_deb_installs_into_a_private_root_runs_and_removes_cleanly() {
    let env = Env::new();
    let deb = artifact(&format!("credpush_{VERSION}-1_amd64.deb"));
    let field = |name: &str| run(env.cmd("dpkg-deb").args(["--field"]).arg(&deb).arg(name)).expect_code(0).stdout;
    assert_eq!(field("Package"), "credpush\n");
    assert_eq!(field("Version"), format!("{VERSION}-1\n"));
    assert_eq!(field("Architecture"), "amd64\n");
    assert_eq!(field("Maintainer"), "credpush developers <credpush@users.noreply.github.com>\n");
    assert_eq!(field("Depends").trim(), "", "a static binary depends on nothing");

    // An empty dpkg database: the status file, and the info, updates and triggers directories.
    let root = env.path("root");
    let admin = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        std::fs::create_dir_all(admin.join(d)).expect("mkdir");
    }
    std::fs::write(admin.join("status"), "").expect("status");
    let before = files_under(&root);

    let r = run(dpkg(&env, &root).arg("--install").arg(&deb)).expect_code(0);
    for (rel, mode) in FILES {
        let meta = std::fs::metadata(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}\n{}", r.stdout));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{rel}");
    }
    let copyright = std::fs::read_to_string(root.join("usr/share/doc/credpush/copyright")).expect("copyright");
    assert!(copyright.contains("Apache License") && copyright.contains("Version 2.0, January 2004"), "{copyright}");
    check_version(&run(env.cmd(root.join("usr/bin/credpush")).arg("--version")).expect_code(0).stdout);
    let listed = run(dpkg(&env, &root).args(["--status", "credpush"])).expect_code(0).stdout;
    assert!(listed.contains("Status: install ok installed"), "{listed}");

    run(dpkg(&env, &root).args(["--remove", "credpush"])).expect_code(0);
    // Nothing is left outside dpkg's own database and log, not even an empty directory of the package's.
    let left: Vec<_> = files_under(&root)
        .into_iter()
        .filter(|p| !p.starts_with(&admin) && !before.contains(p) && p != &root.join("dpkg.log"))
        .collect();
    assert!(left.is_empty(), "left after dpkg -r: {left:?}");
    assert!(!root.join("usr").exists(), "dpkg -r left {}", root.join("usr").display());
    let after = run(dpkg(&env, &root).args(["--status", "credpush"]));
    assert!(!after.stdout.contains("install ok installed"), "{}", after.stdout);
}
