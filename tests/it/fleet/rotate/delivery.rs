//! Documents arrive on every reachable host, whole and verified; bad hosts fail alone; running jobs never notice.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{host_status, json_of, read_doc, rotate, test_uid};
use crate::harness::{Env, Moto, Run, free_port, run};
use crate::sshd::{BlackHole, Fleet, TEST_USER};

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

    // sshd (LogLevel DEBUG3) logs every exec: the first rotation wrote the document and the new profile (2 execs
    // per host); with the profile already right, a rotation is one exec per host.
    let execs = |h: &crate::sshd::SshHost| {
        std::fs::read_to_string(h.dir.join("sshd.log")).unwrap_or_default().matches("entering command sh -c").count()
    };
    let before: Vec<usize> = fleet.hosts.iter().map(execs).collect();
    assert!(before.iter().all(|&n| n == 2), "execs after the first rotation: {before:?}");
    let second = rotate_json();
    assert_eq!(second["summary"]["ok"], 5);
    let after: Vec<usize> = fleet.hosts.iter().map(execs).collect();
    assert!(after.iter().all(|&n| n == 3), "a steady-state rotation is one exec per host: {after:?}");
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
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start_cuttable(3));
    let inv = fleet.inventory("");
    run(&mut rotate(&env, &moto, &fleet, &inv, &["--json"])).expect_code(0);
    let before: Vec<String> = fleet.hosts.iter().map(|h| std::fs::read_to_string(h.document()).expect("doc")).collect();

    // host1: the connection is killed after 100 bytes of the transfer. host2: the directory is read-only.
    // host3: the transfer stalls after 100 bytes until --timeout.
    std::fs::write(fleet.host("host1").dir.join("cut"), "").expect("cut");
    let aws_dir = fleet.host("host2").home.join(".aws");
    std::fs::set_permissions(&aws_dir, std::os::unix::fs::PermissionsExt::from_mode(0o500)).expect("chmod");
    std::fs::write(fleet.host("host3").dir.join("stall"), "").expect("stall");
    let report = json_of(
        &run(&mut rotate(&env, &moto, &fleet, &inv, &["--json", "--retries", "0", "--timeout", "4s"])).expect_code(1),
    );
    let (s1, e1) = host_status(&report, "host1");
    assert_eq!(s1, "failed", "{e1}");
    let (s2, e2) = host_status(&report, "host2");
    assert_eq!(s2, "failed");
    assert!(
        e2.contains("remote write to ~/.aws/temp.json failed, previous file kept") && e2.contains("Permission denied"),
        "{e2}"
    );
    let (status, error) = host_status(&report, "host3");
    assert_eq!(status, "failed");
    assert!(
        error.starts_with("timed out after 4s after connecting (the host stopped answering during the push;"),
        "{error}"
    );
    // host3's writer is still blocked on its stalled stdin; when the stream ends (here after 6 s) the checksum
    // fails and the writer removes its temp file. Until then the old document is what readers get.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (h, old) in fleet.hosts.iter().zip(&before) {
        let now = std::fs::read_to_string(h.document()).expect("doc");
        assert_eq!(&now, old, "{} changed after a failed push", h.name);
        loop {
            // The document and its stamp stay; no writer's temp file may.
            let leftovers: Vec<_> = std::fs::read_dir(h.home.join(".aws"))
                .expect("dir")
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().starts_with(".credpush."))
                .collect();
            if leftovers.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{}: temp file left behind: {leftovers:?}", h.name);
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(&std::fs::read_to_string(h.document()).expect("doc"), old, "{} changed later", h.name);
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
                match std::fs::read(&path).map(|b| credpush::host::document::CredentialDocument::parse(&b)) {
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
    // Once host1's document is there, hole0 is next (--forks 1) and in flight for its 5 s timeout.
    let doc = fleet.host("host1").document();
    while !doc.exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "host1 was never written");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    assert!(start.elapsed() < Duration::from_secs(12), "took {:?}", start.elapsed());
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
