//! `credpush rotate` against real loopback sshd hosts and moto's STS.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Env, Moto, Run, free_port, run};
use crate::sshd::{BlackHole, Fleet, TEST_USER};

/// `credpush rotate` as the CI user, with the fleet's ssh config.
fn rotate(env: &Env, moto: &Moto, fleet: &Fleet, inventory: &Path, extra: &[&str]) -> Command {
    let mut cmd = env.credpush();
    moto.as_user(&mut cmd, &moto.user("ci"))
        .args(["rotate", "-i"])
        .arg(inventory)
        .args(["--role-arn", &moto.role("deploy"), "--ssh-config"])
        .arg(fleet.ssh_config())
        .args(extra);
    cmd
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}):\n{}\n{}", r.stdout, r.stderr))
}

fn host_status(report: &Value, host: &str) -> (String, String) {
    let h = report["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("{host} missing from {report}"));
    (h["status"].as_str().unwrap_or_default().to_owned(), h["error"].as_str().unwrap_or_default().to_owned())
}

fn read_doc(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("document")).expect("document JSON")
}

fn test_uid() -> u32 {
    let out = Command::new("id").args(["-u", TEST_USER]).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("uid")
}

#[test]
fn rotation_to_five_hosts_writes_verified_0600_files_and_replaces_them() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(5));
    let inv = fleet.inventory("");
    let rotate_json = || {
        json_of(
            &run(&mut rotate(
                &env,
                &moto,
                &fleet,
                &inv,
                &["--json", "--install-profile", "onprem", "--region", "us-east-1"],
            ))
            .expect_code(0),
        )
    };
    let first = rotate_json();
    assert_eq!(first["summary"]["ok"], 5, "{first}");
    let uid = test_uid();
    let mut key_ids = Vec::new();
    for h in &fleet.hosts {
        let doc_path = h.document();
        let meta = std::fs::metadata(&doc_path).expect("document");
        assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, uid), "{}", h.name);
        let dir = std::fs::metadata(doc_path.parent().expect("dir")).expect("dir");
        assert_eq!((dir.mode() & 0o777, dir.uid()), (0o700, uid), "{}", h.name);
        let reported = first["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .find(|x| x["host"] == h.name.as_str())
            .expect("row")
            .clone();
        assert_eq!(reported["path"], doc_path.to_string_lossy().as_ref());
        assert_eq!(reported["profile"], "created");
        key_ids.push(read_doc(&doc_path)["AccessKeyId"].as_str().expect("key").to_owned());
        let config = std::fs::read_to_string(h.home.join(".aws/config")).expect("config");
        assert!(
            config.contains(&format!(
                "[profile onprem]\ncredential_process = cat {}\nregion = us-east-1\n",
                doc_path.display()
            )),
            "{config}"
        );
    }
    key_ids.dedup();
    assert_eq!(key_ids.len(), 1, "one AssumeRole is shared by the hosts of one role");
    assert_eq!(moto.recorded_actions("AssumeRole").len(), 1);

    // The AWS CLI on a host, as the host's user, through the installed profile.
    let who = fleet.ssh("host3", &format!("env AWS_ENDPOINT_URL_STS={} /opt/credpush/venv/bin/aws sts get-caller-identity --profile onprem --output text --query Arn", moto.endpoint), b"");
    assert!(who.status.success(), "{}", String::from_utf8_lossy(&who.stderr));
    assert!(
        String::from_utf8_lossy(&who.stdout).starts_with("arn:aws:sts::123456789012:assumed-role/deploy/credpush-")
    );

    let second = rotate_json();
    assert_eq!(second["summary"]["ok"], 5);
    for h in &fleet.hosts {
        assert_ne!(
            read_doc(&h.document())["AccessKeyId"].as_str(),
            Some(key_ids[0].as_str()),
            "{} was not replaced",
            h.name
        );
        assert_eq!(host_status(&second, &h.name).0, "ok");
    }
    assert!(second["hosts"].as_array().expect("hosts").iter().all(|h| h["profile"] == "unchanged"), "{second}");
}

#[test]
fn bad_hosts_fail_alone_within_the_timeout() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(3));
    let hole = BlackHole::start();
    let closed = free_port();
    let inv = fleet.inventory(&format!(
        "closed ansible_host=127.0.0.1 ansible_port={closed} ansible_user={TEST_USER}\nblackhole ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER}\n",
        hole.port
    ));
    let start = Instant::now();
    let r = run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--timeout", "4s"])).expect_code(1);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4 + 4), "the run took {took:?} with --timeout 4s");
    let report = json_of(&r);
    assert_eq!(
        report["summary"],
        serde_json::json!({"hosts": 5, "ok": 3, "failed": 0, "unreachable": 2, "skipped": 0})
    );
    let (status, error) = host_status(&report, "closed");
    assert_eq!(status, "unreachable");
    assert!(error.contains("Connection refused"), "{error}");
    let (status, error) = host_status(&report, "blackhole");
    assert_eq!(status, "unreachable");
    assert!(error.contains("timed out") || error.contains("Connection timed out"), "{error}");
    for h in &fleet.hosts {
        assert!(h.document().exists(), "{}", h.name);
    }
    // The human report names them too.
    let human = run(&mut rotate(&env, &moto, &fleet, &inv, &["--timeout", "3s", "--retries", "0"])).expect_code(1);
    assert!(human.stdout.lines().any(|l| l.starts_with("closed ") && l.contains("unreachable")), "{}", human.stdout);
    assert!(human.stdout.lines().any(|l| l.starts_with("blackhole ") && l.contains("unreachable")), "{}", human.stdout);
    assert!(human.stdout.ends_with(&format!(
        "3 ok, 0 failed, 2 unreachable, 0 skipped of 5 hosts in {}",
        human.stdout.rsplit(" in ").next().unwrap_or_default()
    )));
}

#[test]
fn a_failed_push_leaves_the_previous_file_intact() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(2));
    let inv = fleet.inventory("");
    run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(0);
    let before: Vec<String> = fleet.hosts.iter().map(|h| std::fs::read_to_string(h.document()).expect("doc")).collect();

    // host1: the connection is killed after 100 bytes of the transfer. host2: the directory is read-only.
    std::fs::write(fleet.host("host1").dir.join("cut"), "").expect("cut");
    let aws_dir = fleet.host("host2").home.join(".aws");
    std::fs::set_permissions(&aws_dir, std::os::unix::fs::PermissionsExt::from_mode(0o500)).expect("chmod");
    let report = json_of(&run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--retries", "0"])).expect_code(1));
    let (s1, e1) = host_status(&report, "host1");
    assert_eq!(s1, "failed", "{e1}");
    let (s2, e2) = host_status(&report, "host2");
    assert_eq!(s2, "failed");
    assert!(
        e2.contains("remote write to ~/.aws/temp.json failed, previous file kept") && e2.contains("Permission denied"),
        "{e2}"
    );
    for (h, old) in fleet.hosts.iter().zip(&before) {
        let now = std::fs::read_to_string(h.document()).expect("doc");
        assert_eq!(&now, old, "{} changed after a failed push", h.name);
        let leftovers: Vec<_> =
            std::fs::read_dir(h.home.join(".aws")).expect("dir").flatten().map(|e| e.file_name()).collect();
        assert_eq!(leftovers.len(), 1, "{}: {leftovers:?}", h.name);
    }
}

#[test]
fn a_reader_never_sees_a_torn_document_across_100_rotations() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let inv = fleet.inventory("");
    run(&mut rotate(&env, &moto, &fleet, &inv, &[])).expect_code(0);
    let path = fleet.host("host1").document();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                match std::fs::read(&path).map(|b| credpush::document::CredentialDocument::parse(&b)) {
                    Ok(Ok(_)) => {}
                    _ => bad += 1,
                }
                reads += 1;
            }
            (reads, bad)
        })
    };
    let mut keys = std::collections::HashSet::new();
    for _ in 0..100 {
        run(&mut rotate(&env, &moto, &fleet, &inv, &["--retries", "0"])).expect_code(0);
        keys.insert(read_doc(&path)["AccessKeyId"].as_str().expect("key").to_owned());
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let (reads, bad) = reader.join().expect("reader");
    assert_eq!(keys.len(), 100, "every rotation wrote a new document");
    assert!(reads > 1000, "only {reads} reads");
    assert_eq!(bad, 0, "{bad} of {reads} reads saw a missing, partial or invalid document");
}

#[test]
fn a_running_boto3_job_keeps_working_across_rotations() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let inv = fleet.inventory("");
    let args = ["--duration", "15m", "--install-profile", "onprem", "--region", "us-east-1"];
    run(&mut rotate(&env, &moto, &fleet, &inv, &args)).expect_code(0);
    // The job: a boto3 client made once, calling STS every 0.5 s until told to stop. With 15-minute credentials
    // botocore is always inside its refresh window, so every call re-reads the document through credential_process.
    // It drops a `started` file after its first call and stops when a `stop` file appears (or after 120 s).
    let job = r#"
import json, os, time, boto3
home = os.environ["HOME"]
session = boto3.Session(profile_name="onprem")
sts = session.client("sts")
ok, failed, keys = 0, [], []
end = time.time() + 120
while time.time() < end and not os.path.exists(os.path.join(home, "stop")):
    try:
        sts.get_caller_identity()
        ok += 1
        key = session.get_credentials().get_frozen_credentials().access_key
        if not keys or keys[-1] != key:
            keys.append(key)
        open(os.path.join(home, "started"), "w").close()
    except Exception as e:
        failed.append(repr(e))
    time.sleep(0.5)
print(json.dumps({"ok": ok, "failed": failed, "keys": len(keys)}))
"#;
    let endpoint = moto.endpoint.clone();
    let (fleet_ref, home) = (&fleet, fleet.host("host1").home.clone());
    let result = std::thread::scope(|s| {
        let handle = s.spawn(move || {
            fleet_ref.ssh(
                "host1",
                &format!("env AWS_ENDPOINT_URL_STS={endpoint} /opt/credpush/venv/bin/python -"),
                job.as_bytes(),
            )
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while !home.join("started").exists() {
            assert!(Instant::now() < deadline, "the job never made its first call");
            std::thread::sleep(Duration::from_millis(100));
        }
        for _ in 0..3 {
            std::thread::sleep(Duration::from_secs(2));
            run(&mut rotate(&env, &moto, &fleet, &inv, &args)).expect_code(0);
        }
        std::thread::sleep(Duration::from_secs(2));
        std::fs::write(home.join("stop"), "").expect("stop");
        handle.join().expect("job")
    });
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let summary: Value = serde_json::from_slice(&result.stdout).expect("job output");
    assert_eq!(summary["failed"], serde_json::json!([]), "{summary}");
    assert!(summary["ok"].as_u64().unwrap_or(0) >= 12, "{summary}");
    assert_eq!(summary["keys"], 4, "the job should have used the first document and each of 3 rotations: {summary}");
}

#[test]
fn the_secret_never_shows_in_sshd_logs_output_or_the_report() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let inv = fleet.inventory("");
    let json =
        run(&mut rotate(&env, &moto, &fleet, &inv, &["-vvv", "--json", "--install-profile", "onprem"])).expect_code(0);
    let human = run(&mut rotate(&env, &moto, &fleet, &inv, &["-vvv"])).expect_code(0);
    let logs = fleet.logs();
    assert!(
        logs.contains("entering command sh -c '# credpush remote writer."),
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
    let inv = fleet.inventory("");
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
fn ctrl_c_lets_hosts_in_flight_finish_skips_the_rest_and_still_reports() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let holes: Vec<BlackHole> = (0..3).map(|_| BlackHole::start()).collect();
    let extra: String = holes
        .iter()
        .enumerate()
        .map(|(i, h)| format!("hole{i} ansible_host=127.0.0.1 ansible_port={} ansible_user={TEST_USER}\n", h.port))
        .collect();
    let inv = fleet.inventory(&extra);
    let mut cmd = rotate(&env, &moto, &fleet, &inv, &["--json", "--forks", "1", "--timeout", "5s", "--retries", "0"]);
    let child = cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn");
    let start = Instant::now();
    // host1 is done within a second; hole0 is then in flight for its 5 s timeout.
    std::thread::sleep(Duration::from_secs(2));
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    assert!(start.elapsed() < Duration::from_secs(9), "took {:?}", start.elapsed());
    let r = r.expect_code(1);
    assert!(
        r.stderr.contains("credpush: interrupted: finishing hosts in flight, starting no new ones"),
        "{}",
        r.stderr
    );
    let report = json_of(&r);
    assert_eq!(host_status(&report, "host1").0, "ok");
    assert_eq!(host_status(&report, "hole0").0, "unreachable", "the host in flight runs to its own end");
    for skipped in ["hole1", "hole2"] {
        assert_eq!(host_status(&report, skipped), ("skipped".into(), "interrupted before this host started".into()));
    }
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
