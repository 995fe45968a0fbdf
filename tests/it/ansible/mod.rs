//! The Ansible side with real ansible-core 2.19: `ansible/rotate.yml` (the credpush.credpush collection's playbook)
//! and the credpush module against loopback sshd hosts and moto's STS. `playbook` covers the shipped playbook and
//! the example inventories, `module` the module's contract through Ansible (idempotence, check and diff modes,
//! secrets, bad input), `collection` the collection itself: ansible-doc, the built tarball installed and run.

mod collection;
mod formats;
mod kept;
mod module;
mod playbook;
mod signals;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::harness::{Env, Moto, Run, run, tool};
use crate::sshd::Fleet;

/// The credpush.credpush collection in the repository.
pub(crate) const COLLECTION: &str = "ansible/collections/ansible_collections/credpush/credpush";

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the module once per test binary (scripts/build-module is idempotent and quick when nothing changed).
pub(crate) fn module_binary() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let path = repo().join(COLLECTION).join("plugins/modules/credpush");
    if !*built {
        let out = Command::new(repo().join("scripts/build-module")).current_dir(repo()).output().expect("build-module");
        assert!(out.status.success(), "scripts/build-module failed: {}", String::from_utf8_lossy(&out.stderr));
        *built = true;
    }
    path
}

/// ansible-playbook for one test: the repo's ansible.cfg, Ansible's own state under the test's HOME, the CI
/// user's AWS keys for moto, and the fleet's ssh settings through the inventory.
pub(crate) struct Ansible<'a> {
    pub env: &'a Env,
    pub moto: &'a Moto,
    pub fleet: &'a Fleet,
}

impl Ansible<'_> {
    /// `ansible-playbook PLAYBOOK -i INVENTORY` with the credpush CLI and the default role as extra vars.
    pub fn playbook(&self, playbook: &Path, inventory: &Path, extra: &[&str]) -> Command {
        module_binary();
        self.playbook_with(&repo().join("ansible/ansible.cfg"), playbook.as_os_str(), inventory, extra)
    }

    /// `ansible-playbook PLAYBOOK` (a path or a collection's playbook name) with `config` as its ansible.cfg.
    pub fn playbook_with(&self, config: &Path, playbook: &OsStr, inventory: &Path, extra: &[&str]) -> Command {
        let mut cmd = ansible_cmd(self.env, "ansible-playbook", config);
        self.moto.as_user(&mut cmd, &self.moto.user("ci"));
        // Not `~/.ansible/tmp`: Ansible expands `~` as `~USER`, the passwd home, which is this machine's root
        // home on the controller and the shared home of the test user on the hosts. $HOME is expanded by the
        // remote shell: the test's home on the controller, each sshd host's own home on the hosts.
        cmd.env("ANSIBLE_REMOTE_TEMP", "$HOME/.ansible/tmp")
            .arg(playbook)
            .arg("-i")
            .arg(inventory)
            .args(["-e", &format!("credpush_bin={}", env!("CARGO_BIN_EXE_credpush"))])
            .args(["-e", &format!("credpush_default_role_arn={}", self.moto.role("deploy"))])
            .args(extra);
        cmd
    }

    /// The fleet's INI inventory, with the ssh config every host is reached through (Ansible and credpush both
    /// read `-F` from `ansible_ssh_common_args`), and `vars` added to `[onprem:vars]`.
    pub fn inventory(&self, hosts: &str, vars: &str) -> PathBuf {
        self.fleet.inventory(&format!(
            "{hosts}\n[onprem:vars]\nansible_ssh_common_args='-F {}'\n{vars}",
            self.fleet.ssh_config().display()
        ))
    }
}

/// An Ansible command (`ansible-playbook`, `ansible-doc`, `ansible-galaxy`) for one test: `config` as its
/// ansible.cfg, and Ansible's own state and temp files under the test's HOME, never this machine's ~/.ansible.
pub(crate) fn ansible_cmd(env: &Env, name: &str, config: &Path) -> Command {
    let mut cmd = env.cmd(tool(name));
    let home = env.path(".ansible");
    cmd.env("ANSIBLE_CONFIG", config)
        .env("ANSIBLE_HOME", &home)
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_NOCOLOR", "1");
    cmd
}

/// A play's recap: `host : ok=N changed=N unreachable=N failed=N …` for `host`, as (changed, unreachable, failed).
pub(super) fn recap(r: &Run, host: &str) -> (u32, u32, u32) {
    let line = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("PLAY RECAP"))
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("{host} is not in the recap:\n{}\n{}", r.stdout, r.stderr));
    let count = |key: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {line}"))
    };
    (count("changed"), count("unreachable"), count("failed"))
}

/// Runs `cmd`, expecting `code`, and returns it.
pub(super) fn play(cmd: &mut Command, code: i32) -> Run {
    run(cmd).expect_code(code)
}
