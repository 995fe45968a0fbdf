//! Invocations: a scheduler event rotates three instances and answers with the report; bad events are
//! invocation errors naming the key, with no STS call; an instance that never answers makes the invocation an
//! error naming it; and no part of any secret is in the function's output or its answers.

use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use super::{function, scheduler_event, sts_calls};
use crate::harness::Env;
use crate::ssm::{Spec, SsmWorld, status_of, uid_of};

/// Every window of 12 characters of `secret`.
fn pieces(secret: &str) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars.windows(12).map(|w| w.iter().collect()).collect()
}

#[test]
fn a_scheduler_event_rotates_three_instances_and_the_response_is_the_report() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 3, offline: 0 }));
    w.make_dirs();
    let shared = &w.instances[2];
    let path = shared.document();
    let out = function(&env, &w, &[scheduler_event(&w, &path, shared.user)], &[]);
    let inv = out.invocation(0);
    assert_eq!(inv["outcome"], "response", "{}", out.result);
    let report = &inv["body"];
    assert_eq!(report["summary"], json!({"hosts": 3, "ok": 3, "failed": 0, "unreachable": 0, "skipped": 0}));
    for i in &w.instances {
        assert_eq!(status_of(report, &i.id).0, "ok", "{report}");
    }
    let meta = std::fs::metadata(&path).expect("written");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (uid_of(shared.user), 0o600));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("doc")).expect("json");
    // The log: one line per instance, then the summary.
    let lines = out.log_lines();
    let instances: Vec<&Value> = lines.iter().filter(|l| l["message"] == "instance").collect();
    assert_eq!(instances.len(), 3, "{}", out.text("stderr"));
    assert!(instances.iter().all(|l| l["status"] == "ok" && l["requestId"] == inv["request_id"]));
    let summary = lines.iter().find(|l| l["message"] == "summary").expect("summary line");
    assert_eq!(summary["summary"]["ok"], 3);
    // No piece of the pushed secret, nor of the execution role's own, in what the function printed or answered.
    let mut needles = Vec::new();
    for secret in [&doc["SecretAccessKey"], &doc["SessionToken"], &w.world["rotator"]["secret_access_key"]] {
        needles.extend(pieces(secret.as_str().expect("secret")));
    }
    let answer = inv["body"].to_string();
    for (name, text) in [("stdout", out.text("stdout")), ("stderr", out.text("stderr")), ("response", &answer)] {
        for n in &needles {
            assert!(!text.contains(n.as_str()), "a piece of a secret is in the function's {name}");
        }
    }
}

#[test]
fn bad_events_are_invocation_errors_naming_the_key_with_no_sts_call() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 1, offline: 0 }));
    let before = sts_calls(&w);
    let path = w.instances[0].document();
    let mut events = Vec::new();
    let mut wants = Vec::new();
    for (key, value, want) in [
        ("ssm_target", json!(["Key=tag:credpush,Values=g1"]), "event key \"ssm_target\" is unknown"),
        (
            "role_arn",
            json!("arn:aws:iam::123456789012:user/onprem"),
            "event key role_arn \"arn:aws:iam::123456789012:user/onprem\" is invalid",
        ),
        ("duration", json!("2h"), "event key duration \"2h\" is over the 1-hour limit STS applies to role chaining"),
        ("max_errors", json!("lots"), "event key max_errors \"lots\" is invalid"),
    ] {
        let mut event = super::scheduler_event(&w, &path, "root");
        event[key] = value;
        events.push(event);
        wants.push(want);
    }
    // A default from the environment that the event does not override is named as the variable.
    events.push(json!({"role_arn": w.target_role()}));
    wants.push("environment variable CREDPUSH_SSM_TARGETS \"Key=tag\" is invalid");
    let out = function(&env, &w, &events, &[("CREDPUSH_SSM_TARGETS", "Key=tag")]);
    for (n, want) in wants.iter().enumerate() {
        let inv = out.invocation(n);
        assert_eq!(
            (inv["outcome"].as_str(), inv["body"]["errorType"].as_str()),
            (Some("error"), Some("credpush.InvalidEvent")),
            "{inv}"
        );
        let message = inv["body"]["errorMessage"].as_str().expect("message");
        assert!(message.starts_with(want) && !message.contains('\n'), "{message}");
    }
    // One environment served them all: a refused event does not end the function.
    assert_eq!(out.result["invocations"].as_array().map(Vec::len), Some(events.len()));
    assert_eq!(sts_calls(&w), before, "an STS call was made for a bad event");
}

#[test]
fn an_instance_that_fails_makes_the_invocation_an_error_naming_it() {
    let (env, w) = (Env::new(), SsmWorld::start(Spec { online: 2, offline: 1 }));
    w.make_dirs();
    let (first, silent) = (&w.instances[0], &w.instances[2]);
    let mut event = scheduler_event(&w, &first.document(), first.user);
    event["timeout"] = json!("6s");
    let out = function(&env, &w, &[event], &[]);
    let inv = out.invocation(0);
    assert_eq!(
        (inv["outcome"].as_str(), inv["body"]["errorType"].as_str()),
        (Some("error"), Some("credpush.HostsFailed")),
        "{inv}"
    );
    let message = inv["body"]["errorMessage"].as_str().expect("message");
    assert!(message.starts_with(&format!("1 of 3 instances not ok: {} (unreachable: ", silent.id)), "{message}");
    assert!(!message.contains(&w.instances[1].id) && !message.contains('\n'), "{message}");
    // The others were delivered, and the log says so instance by instance.
    let lines = out.log_lines();
    for i in &w.instances[..2] {
        assert!(lines.iter().any(|l| l["host"] == i.id.as_str() && l["status"] == "ok"), "{}", out.text("stderr"));
    }
    assert!(lines.iter().any(|l| l["host"] == silent.id.as_str() && l["level"] == "ERROR"));
    assert!(std::fs::metadata(first.document()).is_ok());
}
