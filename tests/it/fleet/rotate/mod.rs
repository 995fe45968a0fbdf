//! `credpush rotate` against real loopback sshd hosts and moto's STS: `delivery` (documents arrive, whole and
//! verified, and jobs keep running) and `guards` (secrets, host keys, input, STS failures, dry runs), and
//! `commands` (what an inventory's ProxyCommand can read, and `--no-inventory-commands`), and `connections` (one
//! plain ssh per write, a master where a host gets several execs).

mod commands;
mod connections;
mod delivery;
mod formats;
mod guards;
mod hostile;
mod lifecycle;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::harness::{Env, Moto, Run};
use crate::sshd::{Fleet, TEST_USER};

/// `credpush rotate` as the CI user, with the fleet's ssh config.
pub(crate) fn rotate(env: &Env, moto: &Moto, fleet: &Fleet, inventory: &Path, extra: &[&str]) -> Command {
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci"))
        .args(["rotate", "-i"])
        .arg(inventory)
        .args(["--role-arn", &moto.role("deploy"), "--ssh-config"])
        .arg(fleet.ssh_config())
        .args(extra);
    cmd
}

pub(crate) fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

pub(crate) fn host_status(report: &Value, host: &str) -> (String, String) {
    let h = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("{host} missing from {report}"));
    (h["status"].as_str().unwrap_or_default().to_owned(), h["error"].as_str().unwrap_or_default().to_owned())
}

pub(crate) fn read_doc(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("document JSON")
}

pub(crate) fn test_uid() -> u32 {
    let out = Command::new("id").args(["-u", TEST_USER]).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("uid")
}
