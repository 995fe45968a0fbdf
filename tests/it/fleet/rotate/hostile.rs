//! Inventories and hosts that try something: ssh options that would weaken host key checks, flags hidden in
//! names, an ssh that would inherit the caller's AWS keys, a directory where the document goes, names that
//! would rewrite the terminal. Real sshd hosts and moto throughout.

use std::path::PathBuf;

use super::{host_status, json_of, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::{Fleet, TEST_USER};

/// An INI inventory with one line per `(name, vars)`, each host pointed at a fleet host's port.
fn inventory(fleet: &Fleet, lines: &[(&str, &str, String)]) -> PathBuf {
    let mut text = String::from("[onprem]\n");
    for (name, host, vars) in lines {
        text.push_str(&format!(
            "{name} ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER} {vars}\n",
            fleet.host(host).port
        ));
    }
    let path = fleet.root.path().join(format!("hostile-{}.ini", lines.len()));
    std::fs::write(&path, text).expect("inventory");
    path
}

#[test]
fn ssh_options_that_would_trust_an_unknown_key_are_refused_before_sts() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    // host1's key is forgotten: anything that makes ssh accept it anyway is the attack.
    std::fs::write(fleet.known_hosts(), "").expect("forget keys");
    let key = fleet.hosts[0].host_key.clone();
    let evil_known = fleet.root.path().join("evil_known_hosts");
    std::fs::write(&evil_known, format!("[127.0.0.1]:{} {key}\n", fleet.hosts[0].port)).expect("write");
    let evil_config = fleet.root.path().join("evil_config");
    std::fs::write(
        &evil_config,
        format!(
            "Host *\n  UserKnownHostsFile {}\n  IdentityFile {}/client_key\n",
            evil_known.display(),
            fleet.root.path().display()
        ),
    )
    .expect("write");
    let printer = fleet.root.path().join("print_key.sh");
    std::fs::write(&printer, format!("#!/bin/sh\necho '[127.0.0.1]:{} {key}'\n", fleet.hosts[0].port)).expect("write");
    for (args, option) in [
        (format!("-o KnownHostsCommand={}", printer.display()), "KnownHostsCommand is not accepted from an inventory"),
        (format!("-oUserKnownHostsFile={}", evil_known.display()), "UserKnownHostsFile is not accepted"),
        ("-o GlobalKnownHostsFile=/dev/null".to_owned(), "GlobalKnownHostsFile is not accepted"),
        ("-o HostKeyAlias=host2".to_owned(), "HostKeyAlias is not accepted"),
        ("-o VerifyHostKeyDNS=yes".to_owned(), "VerifyHostKeyDNS is not accepted"),
        (format!("-F {}", evil_config.display()), "its ssh args change host key trust: userknownhostsfile is"),
    ] {
        let inv = inventory(&fleet, &[("host1", "host1", format!("ansible_ssh_common_args='{args}'"))]);
        let r = run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(2);
        assert!(r.stderr.starts_with("credpush: error: host host1: ansible_ssh_"), "{args}: {}", r.stderr);
        assert!(r.stderr.contains(option), "{args}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    }
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 0, "a refused inventory must not reach STS");
    assert!(!fleet.hosts[0].document().exists());
    // status reads what a host says about its document; it refuses the same -F before it probes anything.
    let inv =
        inventory(&fleet, &[("host1", "host1", format!("ansible_ssh_common_args='-F {}'", evil_config.display()))]);
    let mut status = env.credpush();
    status.args(["status", "--json", "--ssh-config"]).arg(fleet.ssh_config()).arg("-i").arg(&inv);
    let r = run(&mut status).expect_code(2);
    assert!(r.stderr.starts_with("credpush: error: host host1: ansible_ssh_"), "{}", r.stderr);
    assert!(r.stderr.contains("its ssh args change host key trust: userknownhostsfile is"), "{}", r.stderr);
    assert!(!fleet.logs().contains("Accepted publickey"), "status connected: {}", fleet.logs());
}

/// The `-F` check runs `ssh -G`. When this machine cannot start it (no ssh on PATH here; out of descriptors or
/// processes elsewhere), the run says so and exits 4. Before: exit 2, "host host1: ansible_ssh_*_args … cannot
/// start ssh", blaming an inventory that was fine.
#[test]
fn a_dash_f_check_that_cannot_start_ssh_blames_this_machine_not_the_inventory() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let config = fleet.root.path().join("plain_config");
    std::fs::write(&config, "Host *\n  ServerAliveInterval 5\n").expect("config");
    let inv = inventory(&fleet, &[("host1", "host1", format!("ansible_ssh_common_args='-F {}'", config.display()))]);
    let no_ssh = fleet.root.path().join("empty-bin");
    std::fs::create_dir_all(&no_ssh).expect("mkdir");
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json"]);
    let r = run(cmd.env("PATH", &no_ssh)).expect_code(4);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.starts_with("credpush: error: could not start ssh -G: "), "{}", r.stderr);
    assert!(r.stderr.contains("(fix: install the OpenSSH client, or put ssh on PATH)"), "{}", r.stderr);
    assert!(!r.stderr.contains("host1"), "the inventory is not blamed: {}", r.stderr);
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 0);
}

#[test]
fn every_accepted_ssh_flag_works_as_under_ansible() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let root = fleet.root.path().display().to_string();
    let p1 = fleet.host("host1").port;
    // A config file that keeps the operator's trust settings and adds its own.
    let same_trust = fleet.root.path().join("same_trust_config");
    std::fs::write(
        &same_trust,
        format!(
            "UserKnownHostsFile {root}/known_hosts\nGlobalKnownHostsFile /dev/null\nIdentityFile {root}/client_key\nUser {TEST_USER}\nServerAliveCountMax 4\n"
        ),
    )
    .expect("config");
    let key = format!("{root}/client_key");
    let cases: Vec<(&str, &str, String)> = vec![
        ("a-o", "host1", "ansible_ssh_common_args='-o ServerAliveInterval=5 -oConnectionAttempts=2'".into()),
        ("b-p", "host2", String::new()),
        ("c-l", "host3", String::new()),
        ("d-i", "host1", format!("ansible_ssh_private_key_file={key} ansible_ssh_extra_args='-i {key}'")),
        ("e-F", "host2", format!("ansible_ssh_common_args='-F {}'", same_trust.display())),
        ("f-J", "host3", format!("ansible_ssh_common_args='-J {TEST_USER}@127.0.0.1:{p1}'")),
        ("g-4CA", "host1", "ansible_ssh_extra_args='-4 -C -A -q -vvv -T -n'".into()),
        ("h-6", "host2", "ansible_ssh_extra_args='-6'".into()),
    ];
    let mut inv = inventory(&fleet, &cases);
    // -p and -l in the args instead of ansible_port and ansible_user.
    let text = std::fs::read_to_string(&inv).expect("read").replace(
        &format!("b-p ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER} ", fleet.host("host2").port),
        &format!("b-p ansible_host=127.0.0.1 ansible_ssh_common_args='-p {}' ", fleet.host("host2").port),
    );
    let text = text.replace(
        &format!("c-l ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER} ", fleet.host("host3").port),
        &format!(
            "c-l ansible_host=127.0.0.1 ansible_port={} ansible_ssh_common_args='-l{TEST_USER}' ",
            fleet.host("host3").port
        ),
    );
    inv = fleet.root.path().join("flags.ini");
    std::fs::write(&inv, text).expect("write");
    let report = json_of(
        &run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--path", "~/.aws/flags.json"])).expect_code(1),
    );
    for name in ["a-o", "b-p", "c-l", "d-i", "e-F", "f-J", "g-4CA"] {
        assert_eq!(host_status(&report, name), ("ok".to_owned(), String::new()), "{name}: {report}");
    }
    // -6 with an IPv4 address fails under ssh itself, as it does under Ansible.
    let (status, error) = host_status(&report, "h-6");
    assert_ne!(status, "ok", "{report}");
    assert!(error.contains("Address family"), "{error}");
}

#[test]
fn dash_f_dev_null_means_no_ssh_config_as_under_ansible() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    // No --ssh-config and `-F /dev/null`: ssh reads no config at all and falls back to the user's own ~/.ssh,
    // which ssh finds from the password database, not $HOME. So this run is made as the test user, whose ~/.ssh
    // holds the fleet's key and known_hosts, as a CI agent's would.
    let pw = String::from_utf8(
        std::process::Command::new("getent").args(["passwd", TEST_USER]).output().expect("getent").stdout,
    )
    .expect("utf8");
    let home = PathBuf::from(pw.trim().split(':').nth(5).expect("home"));
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir).expect("mkdir");
    std::fs::copy(fleet.root.path().join("client_key"), ssh_dir.join("id_ed25519")).expect("key");
    std::fs::copy(fleet.known_hosts(), ssh_dir.join("known_hosts")).expect("known_hosts");
    let tmp = fleet.root.path().join("user-tmp");
    std::fs::create_dir_all(&tmp).expect("mkdir");
    for p in [&ssh_dir, &ssh_dir.join("id_ed25519"), &ssh_dir.join("known_hosts"), &tmp] {
        crate::sshd::give_to_test_user(p);
    }
    let inv = inventory(&fleet, &[("host1", "host1", "ansible_ssh_common_args='-F /dev/null'".into())]);
    let mut cmd = env.cmd("setpriv");
    cmd.args([
        &format!("--reuid={TEST_USER}"),
        &format!("--regid={TEST_USER}"),
        "--init-groups",
        env!("CARGO_BIN_EXE_credpush"),
    ]);
    moto.as_user(&mut cmd, &moto.user("ci"))
        .env("HOME", &home)
        .env("TMPDIR", &tmp)
        .args(["rotate", "-i"])
        .arg(&inv)
        .args(["--role-arn", &moto.role("deploy"), "--json", "--path", "~/.aws/devnull.json"]);
    let r = run(&mut cmd);
    // Only what this test put there: ~/.ssh/rc belongs to the noise tests (trust::noise), which may run meanwhile.
    for f in ["id_ed25519", "known_hosts"] {
        let _ = std::fs::remove_file(ssh_dir.join(f));
    }
    let report = json_of(&r.expect_code(0));
    assert_eq!(host_status(&report, "host1").0, "ok");
    assert!(fleet.hosts[0].home.join(".aws/devnull.json").exists());
}

#[test]
fn names_that_look_like_flags_and_unreadable_configs_fail_before_sts() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let port = fleet.hosts[0].port;
    for (line, want) in [
        (
            format!("-oProxyCommand=x ansible_host=127.0.0.1 ansible_port={port}"),
            "host -oProxyCommand=x: inventory_hostname \"-oProxyCommand=x\" is invalid: may not start with '-'",
        ),
        (
            format!("h ansible_host=-oProxyCommand=x ansible_port={port}"),
            "host h: ansible_host \"-oProxyCommand=x\" is invalid: may not start with '-'",
        ),
        (
            format!("h ansible_host=127.0.0.1 ansible_user=-oProxyCommand=x ansible_port={port}"),
            "host h: ansible_user \"-oProxyCommand=x\" is invalid",
        ),
        (
            "h ansible_host=127.0.0.1 credpush_path=/srv/../etc/temp.json".to_owned(),
            "credpush_path \"/srv/../etc/temp.json\" is invalid: expected a path without .. components",
        ),
        ("h ansible_ssh_common_args='-F /nonexistent/config'".to_owned(), "-F /nonexistent/config: cannot read it"),
    ] {
        let inv = fleet.root.path().join("flag.ini");
        std::fs::write(&inv, format!("[onprem]\n{line}\n")).expect("write");
        let r = run(&mut rotate(&env, &moto, &fleet, &inv, &[])).expect_code(2);
        assert!(r.stderr.starts_with("credpush: error: ") && r.stderr.contains(want), "{line}: {}", r.stderr);
    }
    let inv = fleet.inventory("");
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci")).args(["rotate", "-i"]).arg(&inv).args([
        "--role-arn",
        &moto.role("deploy"),
        "--ssh-config",
        "/nonexistent/ssh_config",
    ]);
    let r = run(&mut cmd).expect_code(2);
    assert!(
        r.stderr.starts_with("credpush: error: --ssh-config \"/nonexistent/ssh_config\" is invalid: cannot read it"),
        "{}",
        r.stderr
    );
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 0);
    assert_eq!(moto.recorded_actions("GetCallerIdentity").len(), 0);
}

#[test]
fn ssh_and_its_proxy_command_never_see_the_callers_aws_keys() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let seen = fleet.root.path().join("proxy_env.txt");
    // A ProxyCommand that records its environment, then relays to the host.
    let proxy = format!("bash -c \"env > {}; exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3\"", seen.display());
    let yaml = format!(
        "all:\n  hosts:\n    host1:\n      ansible_host: 127.0.0.1\n      ansible_port: {}\n      ansible_user: {TEST_USER}\n      ansible_ssh_common_args: {}\n",
        fleet.hosts[0].port,
        serde_json::to_string(&format!("-o 'ProxyCommand={proxy}'")).expect("json")
    );
    let inv = fleet.root.path().join("proxy.yml");
    std::fs::write(&inv, yaml).expect("write");
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json"]);
    cmd.env("AWS_SESSION_TOKEN_EXTRA", "x").env("SSH_AUTH_SOCK", "/nonexistent/agent.sock");
    let report = json_of(&run(&mut cmd).expect_code(0));
    assert_eq!(host_status(&report, "host1").0, "ok");
    let text = std::fs::read_to_string(&seen).expect("the ProxyCommand ran");
    let names: Vec<&str> = text.lines().filter_map(|l| l.split_once('=').map(|(k, _)| k)).collect();
    assert!(names.contains(&"HOME") && names.contains(&"SSH_AUTH_SOCK"), "{names:?}");
    let secret = moto.user("ci").secret_access_key;
    assert!(!text.contains(&secret), "the caller's secret reached ssh's children");
    let leaked: Vec<&&str> = names.iter().filter(|n| n.starts_with("AWS_")).collect();
    assert!(leaked.is_empty(), "AWS variables reached ssh's children: {leaked:?}");
}

#[test]
fn a_directory_at_the_target_fails_alone_and_leaves_nothing_in_it() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let h1 = &fleet.hosts[0];
    let real = h1.home.join("real");
    std::fs::create_dir_all(&real).expect("mkdir");
    std::os::unix::fs::symlink(&real, h1.home.join("link")).expect("symlink");
    crate::sshd::give_to_test_user(&real);
    let inv =
        inventory(&fleet, &[("host1", "host1", "credpush_path=~/link".into()), ("host2", "host2", String::new())]);
    let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(1));
    let (status, error) = host_status(&report, "host1");
    assert_eq!(status, "failed");
    assert!(error.contains("is a directory (or a link to one)"), "{error}");
    assert_eq!(std::fs::read_dir(&real).expect("read").count(), 0, "a temp file was left in the directory");
    assert_eq!(host_status(&report, "host2").0, "ok");
}

#[test]
fn long_names_and_control_characters_render_escaped() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let long = format!("h{}", "x".repeat(40_000));
    let evil = "evil\u{1b}]0;owned\u{7}";
    let port = fleet.hosts[0].port;
    // YAML (an explicit `?` key: an implicit one is limited to 1024 characters), whose double-quoted escapes carry an ESC, a BEL and a U+2028 (which would end a line in INI).
    let inv = fleet.root.path().join("names.yml");
    std::fs::write(
        &inv,
        format!(
            "all:\n  hosts:\n    ? {long}\n    : {{ansible_host: 127.0.0.1, ansible_port: {port}, ansible_user: {TEST_USER}}}\n    \"evil\\e]0;owned\\a\": {{ansible_host: 127.0.0.1, ansible_port: 1, credpush_path: \"/tmp/a\\u2028b\"}}\n"
        ),
    )
    .expect("write");
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &["--retries", "0"])).expect_code(1);
    assert!(r.stdout.contains(&long), "the long name renders in full");
    for c in ['\u{1b}', '\u{7}', '\u{2028}'] {
        assert!(!r.stdout.contains(c) && !r.stderr.contains(c), "{c:?} printed raw");
    }
    let tail = &r.stdout[r.stdout.len().saturating_sub(400)..];
    assert!(r.stdout.contains("evil\\u{1b}]0;owned\\u{7}") && r.stdout.contains("/tmp/a\\u{2028}b"), "{tail}");
    // JSON stays exact JSON: the name round-trips.
    let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--retries", "0"])).expect_code(1));
    assert_eq!(host_status(&report, evil).0, "unreachable");
    // Error lines are escaped too.
    let r =
        run(env.credpush().args(["assume", "--role-arn", "arn:aws:iam::123456789012:role/\u{1b}[2J"])).expect_code(2);
    assert!(r.stderr.contains("role/\\u{1b}[2J") && !r.stderr.contains('\u{1b}'), "{}", r.stderr);
}
