//! What must never happen: secrets in logs or reports, unverified host keys, bad input reaching STS or a host.

use super::{host_status, json_of, read_doc, rotate};
use crate::harness::{Env, Moto, run};
use crate::sshd::{Fleet, TEST_USER};

#[test]
fn the_secret_never_shows_in_sshd_logs_output_or_the_report() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let inv = fleet.inventory("");
    let json =
        run(&mut rotate(&env, &moto, &fleet, &inv, &["-vvv", "--json", "--install-profile", "onprem"])).expect_code(0);
    let human = run(&mut rotate(&env, &moto, &fleet, &inv, &["-vvv"])).expect_code(0);
    let logs = fleet.logs();
    assert!(
        logs.contains("entering command sh -c '# credpush remote prelude"),
        "sshd logs the executed command at DEBUG3"
    );
    assert!(json.stderr.contains("verified"), "-vvv logs per host: {}", json.stderr);
    let mut secrets = Vec::new();
    for h in &fleet.hosts {
        let doc = read_doc(&h.document());
        secrets.push(doc["SecretAccessKey"].as_str().expect("secret").to_owned());
        secrets.push(doc["SessionToken"].as_str().expect("token").to_owned());
    }
    secrets.push(moto.user("ci").secret_access_key);
    for s in &secrets {
        for (what, text) in [
            ("sshd logs", &logs),
            ("--json stdout", &json.stdout),
            ("-vvv stderr", &json.stderr),
            ("human stdout", &human.stdout),
            ("-vvv stderr", &human.stderr),
        ] {
            assert!(!text.contains(s.as_str()), "a secret appears in {what}");
        }
    }
}

#[test]
fn host_keys_are_strict_by_default_and_accept_new_is_explicit() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    // The inventory asks ssh to skip host key checks, as many do for Ansible; credpush's policy still wins. The
    // ssh args also route every connection through credpush's generated ssh config.
    let inv = fleet
        .inventory("\n[onprem:vars]\nansible_ssh_common_args='-o StrictHostKeyChecking=no -o ServerAliveCountMax=2'\n");
    let port2 = fleet.host("host2").port;
    // Forget host2's key.
    let known: String = std::fs::read_to_string(fleet.known_hosts())
        .expect("known")
        .lines()
        .filter(|l| !l.starts_with(&format!("[127.0.0.1]:{port2} ")))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(fleet.known_hosts(), &known).expect("write");
    let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(1));
    assert_eq!(host_status(&report, "host1").0, "ok");
    let (status, error) = host_status(&report, "host2");
    assert_eq!(status, "failed");
    assert_eq!(
        error,
        format!(
            "host key verification failed for {TEST_USER}@127.0.0.1:{port2} (fix: verify the key, e.g. with ssh-keyscan -p {port2} 127.0.0.1, and add it to known_hosts; or trust a new host once with --known-hosts accept-new)"
        )
    );
    assert!(!fleet.host("host2").document().exists(), "nothing may be written to an unverified host");

    let report = json_of(
        &run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--known-hosts", "accept-new"])).expect_code(0),
    );
    assert_eq!(report["summary"]["ok"], 2);
    let learned = std::fs::read_to_string(fleet.known_hosts()).expect("known");
    assert!(learned.lines().count() == 2, "accept-new records the new key: {learned}");

    // A changed key is refused even with accept-new.
    let other = fleet.host("host1").host_key.clone();
    let swapped: String = learned
        .lines()
        .map(|l| {
            if l.starts_with(&format!("[127.0.0.1]:{port2} ")) {
                format!("[127.0.0.1]:{port2} {other}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(fleet.known_hosts(), swapped).expect("write");
    let report = json_of(
        &run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--known-hosts", "accept-new"])).expect_code(1),
    );
    assert!(host_status(&report, "host2").1.starts_with("host key verification failed"), "{report}");
}

#[test]
fn dry_run_and_session_per_host() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let inv = fleet.inventory("");
    let dry = run(&mut rotate(&env, &moto, &fleet, &inv, &["--dry-run", "--limit", "host1:host2"])).expect_code(0);
    assert!(
        dry.stdout.starts_with("dry run: 1 AssumeRole call(s), 2 host(s); nothing is called or written\n"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(&format!(
            "host1: would push to {TEST_USER}@127.0.0.1:{}:~/.aws/temp.json credentials for {}",
            fleet.host("host1").port,
            moto.role("deploy")
        )),
        "{}",
        dry.stdout
    );
    assert!(
        moto.recorded_actions("GetCallerIdentity").is_empty() && moto.recorded_actions("AssumeRole").is_empty(),
        "dry run called STS"
    );
    assert!(fleet.hosts.iter().all(|h| !h.document().exists()), "dry run wrote a file");

    let report =
        json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--session-per-host"])).expect_code(0));
    assert_eq!(report["summary"]["ok"], 3);
    let calls = moto.recorded_actions("AssumeRole");
    assert_eq!(calls.len(), 3);
    let mut seen: Vec<(String, String)> = calls
        .iter()
        .map(|c| {
            let get = |k: &str| c.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
            (get("RoleSessionName"), get("SourceIdentity"))
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("credpush-host1".into(), "host1".into()),
            ("credpush-host2".into(), "host2".into()),
            ("credpush-host3".into(), "host3".into())
        ]
    );
}

#[test]
fn per_host_roles_share_one_assume_role_each_and_a_denied_role_fails_only_its_hosts() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let inv = fleet.inventory(&format!(
        // A host var beats the group var, as in Ansible.
        "\n[onprem:vars]\ncredpush_role_arn={}\n\n[locked]\nhost3 credpush_role_arn={}\n",
        moto.role("chained"),
        moto.role("locked")
    ));
    // host3's role denies the caller: exit 3, host3 failed with the STS message, the others written.
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(3);
    let report = json_of(&r);
    assert_eq!(host_status(&report, "host1").0, "ok");
    assert_eq!(host_status(&report, "host2").0, "ok");
    let (status, error) = host_status(&report, "host3");
    assert_eq!(status, "failed");
    assert!(
        error.starts_with(&format!(
            "access denied: the caller {} may not assume {}",
            moto.user("ci").arn,
            moto.role("locked")
        )),
        "{error}"
    );
    assert!(!fleet.host("host3").document().exists());
    let mut roles: Vec<String> = moto
        .recorded_actions("AssumeRole")
        .iter()
        .filter_map(|c| c.iter().find(|(k, _)| k == "RoleArn").map(|(_, v)| v.clone()))
        .collect();
    roles.sort();
    assert_eq!(roles, [moto.role("chained"), moto.role("locked")], "one AssumeRole per distinct role");
    let a = read_doc(&fleet.host("host1").document());
    let b = read_doc(&fleet.host("host2").document());
    assert_eq!(a["AccessKeyId"], b["AccessKeyId"]);
}

#[test]
fn bad_inventory_and_flags_exit_2_before_any_network_call() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let bad = fleet.root.path().join("bad.ini");
    std::fs::write(&bad, "[web]\nweb[01:x].example.com\n").expect("write");
    let r = run(&mut rotate(&env, &moto, &fleet, &bad, &[])).expect_code(2);
    assert!(r.stderr.starts_with(&format!("credpush: error: {}:2:", bad.display())), "{}", r.stderr);
    let inv = fleet.inventory("host1 ansible_port=notaport\n");
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &[])).expect_code(2);
    assert!(
        r.stderr.contains("ansible_port \"notaport\" is invalid: expected a port number from 1 to 65535"),
        "{}",
        r.stderr
    );
    let inv = fleet.inventory("");
    for (flag, value, message) in [
        ("--timeout", "soon", "--timeout \"soon\" is invalid: not a duration"),
        (
            "--path",
            "relative/temp.json",
            "--path \"relative/temp.json\" is invalid: expected an absolute path or one under ~/",
        ),
        ("--install-profile", "bad name", "--name \"bad name\" is invalid"),
    ] {
        let r = run(&mut rotate(&env, &moto, &fleet, &inv, &[flag, value])).expect_code(2);
        assert!(r.stderr.starts_with(&format!("credpush: error: {message}")), "{}", r.stderr);
    }
    assert!(moto.recorded_actions("GetCallerIdentity").is_empty(), "bad input reached STS");
    assert!(!fleet.host("host1").document().exists());
}
