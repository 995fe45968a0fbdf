//! How a rotation reaches its hosts: a `--format json` write is one plain ssh per host (one authentication in
//! each host's sshd log), which an operator's `ControlMaster auto` cannot turn into a master; a master is still
//! started where a host gets several execs (`--format credentials`).

use super::{host_status, json_of, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::Fleet;

/// The authentications each host's sshd logged.
fn logins(fleet: &Fleet, host: &str) -> usize {
    let log = std::fs::read_to_string(fleet.host(host).dir.join("sshd.log")).expect("sshd.log");
    log.lines().filter(|l| l.contains("Accepted publickey")).count()
}

#[test]
fn a_write_is_one_plain_ssh_per_host_whatever_the_operator_config_says_of_masters() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let inv = fleet.inventory("");
    // The operator's config asks every connection to share a master that outlives it.
    let sockets = env.path("sockets");
    std::fs::create_dir(&sockets).expect("mkdir");
    let config = env.path("ssh_config");
    let base = std::fs::read_to_string(fleet.ssh_config()).expect("ssh_config");
    std::fs::write(
        &config,
        format!("{base}ControlMaster auto\nControlPath {}/%C\nControlPersist 60\n", sockets.display()),
    )
    .expect("config");
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci"))
        .args(["rotate", "--json", "--helper", "none", "--role-arn", &moto.role("deploy"), "-i"])
        .arg(&inv)
        .arg("--ssh-config")
        .arg(&config);
    let report = json_of(&run(&mut cmd).expect_code(0));
    for h in ["host1", "host2"] {
        assert_eq!(host_status(&report, h).0, "ok", "{report}");
        assert_eq!(logins(&fleet, h), 1, "{h}: one connection for one write");
    }
    let left: Vec<_> = std::fs::read_dir(&sockets).expect("read").flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "a control socket was made: {left:?}");
    assert!(crate::procs::naming(&sockets).is_empty(), "a master outlived the run");

    // --format credentials reads, then writes: two execs over one master, one authentication.
    let creds = run(&mut rotate(
        &env,
        &moto,
        &fleet,
        &inv,
        &["--json", "--helper", "none", "--format", "credentials", "--install-profile", "app"],
    ))
    .expect_code(0);
    let report = json_of(&creds);
    for h in ["host1", "host2"] {
        assert_eq!(host_status(&report, h).0, "ok", "{report}");
        assert_eq!(logins(&fleet, h), 2, "{h}: one more connection for the read and the write");
    }
}
