//! Failures: an instance whose fetch fails is `failed` alone with fetch's one-line reason (one a later rotation
//! reached is `superseded`); an instance that never polls is `unreachable` within --timeout; a denied
//! PutParameter, or a KMS key SSM cannot encrypt with, exits 3 before any SendCommand; and `credpush fetch` itself
//! refuses an expired document and keeps the old file.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Spec, SsmWorld, status_of};
use crate::harness::{Env, run};

#[test]
fn a_failing_fetch_fails_alone_and_a_silent_instance_is_unreachable() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 3, offline: 1 }));
    w.make_dirs();
    let [good, rollback, no_owner, silent] = [&w.instances[0], &w.instances[1], &w.instances[2], &w.instances[3]];
    // A later rotation already reached this instance: its stamp (when it assumed its role) is kept beside the
    // document, and its version sidecar names a higher version than this parameter has (versions are not what
    // orders stamped values). The instance is superseded, not failed, and keeps its document.
    std::fs::write(rollback.dir.join(".temp.json.credpush-stamp"), "4102444800000000000\n").expect("stamp");
    std::fs::write(rollback.dir.join("temp.json.ssm-version"), "/credpush/credpush-onprem 999\n").expect("sidecar");
    std::fs::write(rollback.document(), "newer\n").expect("document");
    let mut inv = String::from("[onprem]\n");
    for (name, i, owner) in [
        ("good", good, good.user),
        ("rollback", rollback, rollback.user),
        ("noowner", no_owner, "no-such-user-x"),
        ("silent", silent, silent.user),
    ] {
        inv.push_str(&format!(
            "{name} ansible_connection=aws_ssm ansible_host={} ansible_become_user={owner} credpush_path={}\n",
            i.id,
            i.document().display()
        ));
    }
    let inv_path = env.path("inventory.ini");
    std::fs::write(&inv_path, inv).expect("inventory");
    let started = Instant::now();
    let r = run(&mut w.rotate(&env, &["-i", inv_path.to_str().expect("utf-8"), "--timeout", "6s"])).expect_code(1);
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(status_of(&report, "good").0, "ok", "{report}");
    let (s, e) = status_of(&report, "rollback");
    assert_eq!(s, "superseded", "{report}");
    assert!(e.contains("kept, a later rotation wrote it (assumed at 2100-01-01T00:00:00Z)"), "{e}");
    assert_eq!(std::fs::read_to_string(rollback.document()).expect("kept"), "newer\n");
    let (s, e) = status_of(&report, "noowner");
    assert_eq!(s, "failed", "{report}");
    assert!(e.contains("--owner \"no-such-user-x\" is invalid"), "{e}");
    let (s, e) = status_of(&report, "silent");
    assert_eq!(s, "unreachable", "{report}");
    assert!(e.contains("did not pick up the command") && e.contains("Pending"), "{e}");
}

#[test]
fn a_denied_put_parameter_exits_3_before_any_send_command() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    w.make_dirs();
    let i = &w.instances[0];
    let mut cmd = env.credpush();
    w.as_user(&mut cmd, &w.user("rotator_noput"))
        .args(["rotate", "--role-arn", &w.target_role(), "--ssm-targets"])
        .arg(format!("Key=InstanceIds,Values={}", i.id))
        .args(["--path", i.document().to_str().expect("utf-8"), "--owner", i.user]);
    let r = run(&mut cmd).expect_code(3);
    assert!(r.stderr.contains("PutParameter") || r.stdout.contains("PutParameter"), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("AccessDenied"), "{}", r.stdout);
    let commands = w.aws_json(&env, &["ssm", "list-commands"]);
    assert_eq!(commands["Commands"].as_array().expect("commands").len(), 0, "{commands}");
    assert!(!i.document().exists());
}

/// A KMS key SSM cannot encrypt with. moto's PutParameter takes any KeyId and never calls KMS, so the denial here
/// is the agent emulator's model of SSM's own KMS use (tests/support/ssm_agent.py, PutParameter): a key moto's KMS
/// does not know fails with `InvalidKeyId`, as SSM documents. A key that exists but that the caller may not use
/// (its key policy, or kms:Encrypt denied) cannot be shown: neither moto nor the emulator evaluates KMS
/// permissions for SSM's call.
#[test]
fn a_kms_key_ssm_cannot_use_exits_3_before_any_send_command() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    w.make_dirs();
    let i = &w.instances[0];
    let ids = format!("Key=InstanceIds,Values={}", i.id);
    let doc = i.document();
    let args = ["--ssm-targets", &ids, "--path", doc.to_str().expect("utf-8"), "--owner", i.user];
    let r = run(w.rotate(&env, &args).args(["--kms-key-id", "alias/no-such-key"])).expect_code(3);
    let report: Value = serde_json::from_str(&r.stdout).expect("json");
    let (s, e) = status_of(&report, &i.id);
    assert_eq!(s, "failed", "{report}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("PutParameter") && e.contains("InvalidKeyId") && e.contains("--kms-key-id"), "{e}");
    // The reason is the report's one line; nothing else is said.
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert_eq!(super::recorded_ssm(&w.moto, "SendCommand").len(), 0);
    let commands = w.aws_json(&env, &["ssm", "list-commands"]);
    assert_eq!(commands["Commands"].as_array().expect("commands").len(), 0, "{commands}");
    assert!(!i.document().exists());
}

#[test]
fn fetch_refuses_an_expired_document_and_keeps_the_old_file() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    // A real document in the parameter first, through a rotation; then its Expiration moved into the past.
    let i = w.rotate_first(&env);
    let before = std::fs::read(i.document()).expect("written");
    let stale = env.path("stale.json");
    std::fs::copy(i.document(), &stale).expect("copy");
    crate::harness::set_expiration(&stale, time::OffsetDateTime::now_utc() - time::Duration::minutes(5));
    w.put_value_from(&env, &stale);

    // fetch as the agent runs it, with the agent's credentials of the instance.
    let mut fetch = env.credpush();
    let creds = agent_credentials(&w, &i.id);
    fetch
        .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .env("AWS_CONFIG_FILE", w.state.path().join("instances").join(&i.id).join("config"))
        .env("AWS_ENDPOINT_URL", &w.endpoint)
        .env("AWS_REGION", "us-east-1")
        .args(["fetch", "--parameter", "/credpush/credpush-onprem", "--path"])
        .arg(i.document())
        .args(["--owner", i.user]);
    let r = run(&mut fetch).expect_code(2);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].contains("expired at") && lines[0].contains("/credpush/credpush-onprem"), "{}", r.stderr);
    assert_eq!(std::fs::read(i.document()).expect("kept"), before);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

/// An instance refuses the document it fetches (here: expired), and its rotation row is `failed` with fetch's
/// reason while the old file stays. The refused value is put by hand (as `fetch_refuses_…` above does) between
/// the rotation's PutParameter and the instance's pickup, which the emulator delays by 6 s for this: an
/// overlapping writer, as SSM would let one in.
#[test]
fn an_instance_that_refuses_what_it_fetches_is_a_failed_row_and_keeps_its_file() {
    let (env, w) = (Env::new(), SsmWorld::start_with_pickup(Spec { online: 1, offline: 0 }, 6.0));
    w.make_dirs();
    let i = &w.instances[0];
    let ids = format!("Key=InstanceIds,Values={}", i.id);
    let doc = i.document();
    let args = ["--ssm-targets", &ids, "--path", doc.to_str().expect("utf-8"), "--owner", i.user, "--timeout", "40s"];
    run(&mut w.rotate(&env, &args)).expect_code(0);
    let before = std::fs::read(i.document()).expect("written");
    let stale = env.path("stale.json");
    std::fs::copy(i.document(), &stale).expect("copy");
    crate::harness::set_expiration(&stale, time::OffsetDateTime::now_utc() - time::Duration::minutes(5));

    let mut rotation = w.rotate(&env, &args);
    rotation.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = rotation.spawn().expect("rotate");
    // The rotation's own value is version 2; the stale one goes in on top of it before the instance picks up.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = w.aws_json(&env, &["ssm", "get-parameter", "--name", "/credpush/credpush-onprem"]);
        if p["Parameter"]["Version"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the rotation did not put its value: {p}");
        std::thread::sleep(Duration::from_millis(100));
    }
    w.put_value_from(&env, &stale);

    let out = child.wait_with_output().expect("rotate");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    let (s, e) = status_of(&report, &i.id);
    assert_eq!(s, "failed", "{report}");
    assert!(e.contains("version 3 expired at") && e.contains("the old file was kept"), "{e}");
    assert_eq!(std::fs::read(i.document()).expect("kept"), before);
}

/// The shared credentials file the emulator wrote for instance `id` (after its first command).
fn agent_credentials(w: &SsmWorld, id: &str) -> std::path::PathBuf {
    let p = w.state.path().join("instances").join(id).join("credentials");
    assert!(p.exists(), "the emulator has not run a command on {id} yet");
    p
}

#[test]
fn ctrl_c_while_ssm_runs_the_command_still_reports_every_instance() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 1 }));
    w.make_dirs();
    let [on, off] = [&w.instances[0], &w.instances[1]];
    let ids = format!("Key=InstanceIds,Values={},{}", on.id, off.id);
    let mut cmd =
        w.rotate(&env, &["--ssm-targets", &ids, "--path", on.document().to_str().expect("utf-8"), "--owner", on.user]);
    cmd.args(["--timeout", "60s"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().expect("rotate");
    // Long enough for the online instance to finish, while the other is still Pending.
    std::thread::sleep(Duration::from_secs(4));
    let st = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(st.success());
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(status_of(&report, &on.id).0, "ok", "{report}");
    let (s, e) = status_of(&report, &off.id);
    assert_eq!(s, "skipped", "{report}");
    assert!(e.contains("interrupted"), "{e}");
}
