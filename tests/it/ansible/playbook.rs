//! `ansible/rotate.yml` as shipped, and the example inventories that both it and `credpush rotate` accept.

use std::os::unix::fs::MetadataExt;

use super::{Ansible, play, recap, repo};
use crate::fleet::rotate::{read_doc, test_uid};
use crate::harness::{Env, Moto, files_under, free_port, run, tool};
use crate::sshd::{Fleet, TEST_USER};

#[test]
fn rotate_yml_writes_every_host_and_the_aws_cli_reads_it() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let inv = ansible.inventory("", "credpush_profile=onprem\ncredpush_region=us-east-1\n");
    let rotate = repo().join("ansible/rotate.yml");
    // Check mode assumes (the document is needed to compare) but writes nothing on any host.
    // -v shows each host's result, as it does for any module.
    let check = play(&mut ansible.playbook(&rotate, &inv, &["--check", "--diff", "-v"]), 0);
    for h in &fleet.hosts {
        assert_eq!(recap(&check, &h.name), (1, 0, 0), "{}", check.stdout);
        assert!(!h.home.join(".aws").exists(), "check mode wrote on {}", h.name);
    }
    assert!(check.stdout.contains("would be written (expires "), "{}", check.stdout);
    let first = play(&mut ansible.playbook(&rotate, &inv, &["-vvv"]), 0);
    let uid = test_uid();
    let mut secrets = vec![moto.user("ci").secret_access_key];
    let mut keys = Vec::new();
    for h in &fleet.hosts {
        assert_eq!(recap(&first, &h.name), (1, 0, 0), "the write is the one change");
        let meta = std::fs::metadata(h.document()).expect("document");
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid), "{}", h.name);
        let dir = std::fs::metadata(h.home.join(".aws")).expect("dir");
        assert_eq!(dir.mode() & 0o777, 0o700, "{}", h.name);
        let doc = read_doc(&h.document());
        keys.push(doc["AccessKeyId"].as_str().expect("key").to_owned());
        for k in ["SecretAccessKey", "SessionToken"] {
            secrets.push(doc[k].as_str().expect("secret").to_owned());
        }
        let config = std::fs::read_to_string(h.home.join(".aws/config")).expect("config");
        assert!(config.contains(&format!("credential_process = cat {}\nregion = us-east-1\n", h.document().display())));
    }
    keys.dedup();
    assert_eq!(keys.len(), 1, "one AssumeRole for the one role");
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 2, "one for the check run, one for the real one");
    for s in &secrets {
        assert!(!first.stdout.contains(s.as_str()) && !first.stderr.contains(s.as_str()), "a secret is in -vvv output");
    }
    assert!(first.stdout.contains("written and verified (expires "), "{}", first.stdout);
    // One task per host, one ssh round trip per host: the module and its arguments travel on one command's stdin.
    assert_eq!(first.stdout.matches("SSH: EXEC ssh ").count(), 3, "{}", first.stdout);
    assert!(!first.stdout.contains("SSH: EXEC sftp"), "{}", first.stdout);
    // The controller's documents lived in Ansible's per-run temp directory, which is gone once the play ends;
    // nothing is left on the hosts either.
    let leftovers = files_under(&env.path(".ansible/tmp"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
    for h in &fleet.hosts {
        let left = files_under(&h.home.join(".ansible/tmp"));
        assert!(left.is_empty(), "{}: {left:?}", h.name);
    }

    let who = fleet.ssh(
        "host2",
        &format!(
            "env AWS_ENDPOINT_URL_STS={} /opt/credpush/venv/bin/aws sts get-caller-identity --profile onprem --output text --query Arn",
            moto.endpoint
        ),
        b"",
    );
    assert!(who.status.success(), "{}", String::from_utf8_lossy(&who.stderr));
    assert!(String::from_utf8_lossy(&who.stdout).starts_with("arn:aws:sts::123456789012:assumed-role/deploy/"));

    // A second run replaces every document; the profile is already right.
    let second = play(&mut ansible.playbook(&rotate, &inv, &["-v"]), 0);
    assert_eq!(second.stdout.matches("\"profile\": \"unchanged\"").count(), 3, "{}", second.stdout);
    for h in &fleet.hosts {
        assert_ne!(read_doc(&h.document())["AccessKeyId"].as_str(), Some(keys[0].as_str()), "{}", h.name);
    }

    // The CLI with the same inventory (credpush_profile and credpush_region included) finds the same profile
    // and writes the same file with the same mode and owner.
    let r = run(&mut crate::fleet::rotate::rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(0);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    for h in report["hosts"].as_array().expect("hosts") {
        assert_eq!((h["status"].as_str(), h["profile"].as_str()), (Some("ok"), Some("unchanged")), "{report}");
    }
    for h in &fleet.hosts {
        let meta = std::fs::metadata(h.document()).expect("document");
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid), "{}", h.name);
    }
}

#[test]
fn a_bad_host_fails_alone() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let closed = free_port();
    let inv = ansible
        .inventory(&format!("closed ansible_host=127.0.0.1 ansible_port={closed} ansible_user={TEST_USER}\n"), "");
    // host2's role may not be assumed: it fails alone, with credpush's STS message.
    with_host_vars(&inv, "host2", &format!("credpush_role_arn={}", moto.role("locked")));
    // host3 cannot write its directory: it fails alone, with the module's message.
    let inv_text = std::fs::read_to_string(&inv).expect("inv").replace(
        &format!("host3 ansible_host=127.0.0.1 ansible_port={}", fleet.host("host3").port),
        &format!(
            "host3 credpush_path=/proc/credpush/temp.json ansible_host=127.0.0.1 ansible_port={}",
            fleet.host("host3").port
        ),
    );
    std::fs::write(&inv, inv_text).expect("inv");
    let r = run(&mut ansible.playbook(&repo().join("ansible/rotate.yml"), &inv, &["--timeout", "5"]));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(recap(&r, "closed").1, 1, "closed is unreachable");
    assert_eq!(recap(&r, "host3").2, 1, "host3 failed");
    assert!(r.stdout.contains("could not create directory /proc/credpush"), "{}", r.stdout);
    assert_eq!(recap(&r, "host2").2, 1, "host2 failed");
    assert!(
        r.stdout.contains(&format!(
            "access denied: the caller {} may not assume {}",
            moto.user("ci").arn,
            moto.role("locked")
        )),
        "{}",
        r.stdout
    );
    assert!(!fleet.host("host2").document().exists());
    assert_eq!(recap(&r, "host1"), (1, 0, 0));
    assert!(fleet.host("host1").document().exists());
}

#[test]
fn the_example_inventories_work_with_both_paths() {
    let env = Env::new();
    for inv in ["inventory/hosts.yml", "inventory/hosts.ini"] {
        let inv = repo().join(inv);
        let r = run(env.credpush().args(["rotate", "--dry-run", "--json", "-i"]).arg(&inv)).expect_code(0);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
        let mut cli: Vec<String> = report["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h["host"].as_str().unwrap_or("").into())
            .collect();
        cli.sort();
        let listed = run(env
            .cmd(tool("ansible-playbook"))
            .env("ANSIBLE_CONFIG", repo().join("ansible/ansible.cfg"))
            .env("ANSIBLE_HOME", env.path(".ansible"))
            .arg(repo().join("ansible/rotate.yml"))
            .arg("-i")
            .arg(&inv)
            .arg("--list-hosts"))
        .expect_code(0);
        let mut ansible: Vec<String> = listed
            .stdout
            .lines()
            .skip_while(|l| !l.contains("hosts ("))
            .skip(1)
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        ansible.sort();
        assert_eq!(cli, ansible, "{}", inv.display());
        assert!(cli.len() >= 3, "{cli:?}");
    }
}

/// Adds `vars` to `host`'s line in an inventory written by `Fleet::inventory`.
fn with_host_vars(inventory: &std::path::Path, host: &str, vars: &str) {
    let text = std::fs::read_to_string(inventory).expect("inventory");
    let text = text
        .lines()
        .map(|l| if l.split_whitespace().next() == Some(host) { format!("{l} {vars}\n") } else { format!("{l}\n") })
        .collect::<String>();
    std::fs::write(inventory, text).expect("inventory");
}

/// The second test user, that the login user becomes through sudo (scripts/setup installs the sudoers rule).
const BECOME_USER: &str = "credpush-it2";

#[test]
fn one_inventory_one_result_on_both_paths_become_local_and_unsupported() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let ansible = Ansible { env: &env, moto: &moto, fleet: &fleet };
    let inv = ansible.inventory("", "");
    // host1 writes as the second user, into that user's home (`~` is the become user's). The file name is this
    // test's own, since that home is shared by every run.
    let unique = fleet.root.path().file_name().expect("name").to_string_lossy().into_owned();
    let file = format!(".aws/{unique}.json");
    with_host_vars(
        &inv,
        "host1",
        &format!("ansible_become=true ansible_become_user={BECOME_USER} credpush_path=~/{file}"),
    );
    // host2's login user may not become root without a password: it fails alone, on both paths.
    with_host_vars(&inv, "host2", "ansible_become=yes ansible_become_user=root");
    let passwd = std::fs::read_to_string("/etc/passwd").expect("passwd");
    let entry: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{BECOME_USER}:")))
        .expect("run ./scripts/setup")
        .split(':')
        .collect();
    let (uid, home) = (entry[2].parse::<u32>().expect("uid"), std::path::PathBuf::from(entry[5]));
    let written = home.join(&file);
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = Cleanup(written.clone());

    let r = run(&mut ansible.playbook(&repo().join("ansible/rotate.yml"), &inv, &[]));
    assert_eq!(recap(&r, "host1"), (1, 0, 0), "{}", r.stdout);
    assert_eq!(recap(&r, "host2").2, 1, "{}", r.stdout);
    let meta = std::fs::metadata(&written).expect("written as the become user");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid, 0o600));
    let by_playbook = read_doc(&written);
    std::fs::remove_file(&written).expect("remove");

    // The same inventory through the CLI, plus a local host and one it cannot write.
    let local = env.path("local/temp.json");
    let text = std::fs::read_to_string(&inv).expect("inv");
    std::fs::write(
        &inv,
        format!(
            "{text}\n[onprem]\nlocalhost ansible_connection=local credpush_path={}\nwin01 ansible_connection=winrm\npw01 ansible_host=127.0.0.1 ansible_password=hunter2\n",
            local.display()
        ),
    )
    .expect("inv");
    let mut cmd = crate::fleet::rotate::rotate(&env, &moto, &fleet, &inv, &["--json"]);
    let r = run(&mut cmd).expect_code(1);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let status = |h: &str| crate::fleet::rotate::host_status(&report, h);
    assert_eq!(status("host1").0, "ok", "{report}");
    assert_eq!(status("localhost").0, "ok", "{report}");
    let (s2, e2) = status("host2");
    assert_eq!(s2, "failed");
    assert!(
        e2.contains("a password is required") && e2.contains("(fix: let the login user run commands as root"),
        "{e2}"
    );
    let (sw, ew) = status("win01");
    assert!(sw == "failed" && ew.starts_with("ansible_connection \"winrm\" is not supported"), "{ew}");
    let (sp, ep) = status("pw01");
    assert!(sp == "failed" && ep.starts_with("ansible_password is set"), "{ep}");
    assert!(!r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"));
    let meta = std::fs::metadata(&written).expect("written by the CLI as the become user");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid, 0o600));
    let by_cli = read_doc(&written);
    assert_eq!(by_cli.as_object().map(|o| o.len()), by_playbook.as_object().map(|o| o.len()));
    assert_eq!(std::fs::metadata(&local).expect("local write").mode() & 0o777, 0o600);
}
