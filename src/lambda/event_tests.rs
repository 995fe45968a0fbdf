use serde_json::json;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |name| owned.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

const ROLE: &str = "arn:aws:iam::123456789012:role/onprem";

fn options(event: serde_json::Value, env: &[(&str, &str)]) -> Result<RotateOptions, EventError> {
    Request::merge(&event, env_of(env))?.options()
}

#[test]
fn the_event_overrides_the_environment_key_by_key() {
    let env = [
        ("CREDPUSH_ROLE_ARN", ROLE),
        ("CREDPUSH_SSM_TARGETS", r#"["Key=tag:credpush,Values=a,b", "Key=InstanceIds,Values=mi-00000000000000001"]"#),
        ("CREDPUSH_PARAMETER", "/credpush/from-env"),
        ("CREDPUSH_DURATION", "45m"),
    ];
    let o = options(json!({"parameter": "/credpush/from-event", "timeout": 60, "max_errors": 0}), &env).unwrap();
    assert_eq!(o.role_arn.as_deref(), Some(ROLE));
    assert_eq!(o.ssm.targets.len(), 2);
    assert_eq!(o.ssm.parameter.as_deref(), Some("/credpush/from-event"));
    assert_eq!(o.sts.duration.as_deref(), Some("45m"));
    assert_eq!((o.fleet.timeout.as_str(), o.ssm.max_errors.as_str()), ("60", "0"));
    assert_eq!(o.ssm.document, crate::ssm::DEFAULT_DOCUMENT);
    assert!(!o.dry_run && o.inv.inventory.is_empty());
    // One target in the environment needs no list; null in the event means "not given".
    let env = [("CREDPUSH_SSM_TARGETS", "Key=tag:credpush,Values=a,b")];
    let o = options(json!({"role_arn": ROLE, "owner": null}), &env).unwrap();
    assert_eq!((o.ssm.targets.len(), o.ssm.owner), (1, None));
}

#[test]
fn bad_events_are_refused_by_key() {
    let targets = json!(["Key=tag:credpush,Values=g1"]);
    let cases = [
        (json!({"role_arn": ROLE, "ssm_targets": targets, "rolearn": "x"}), "event key \"rolearn\" is unknown"),
        (json!({"role_arn": "arn:aws:iam::123:user/x", "ssm_targets": targets}), "event key role_arn \""),
        (
            json!({"role_arn": ROLE, "ssm_targets": targets, "duration": "2h"}),
            "event key duration \"2h\" is over the 1-hour",
        ),
        (json!({"role_arn": ROLE, "ssm_targets": targets, "duration": 3601}), "event key duration \"3601\" is over"),
        (json!({"role_arn": ROLE, "ssm_targets": targets, "duration": "5m"}), "event key duration \"5m\" is invalid"),
        (json!({"role_arn": ROLE, "ssm_targets": ["Values=x"]}), "event key ssm_targets \"Values=x\" is invalid"),
        (json!({"role_arn": ROLE, "ssm_targets": [1]}), "event key ssm_targets is a list with an item"),
        (json!({"role_arn": ROLE, "ssm_targets": targets, "owner": 5}), "event key owner is a JSON number"),
        (json!({"role_arn": ROLE, "ssm_targets": targets, "timeout": -1}), "event key timeout is a JSON number"),
        (json!({"ssm_targets": targets}), "event key role_arn is required"),
        (json!({"role_arn": ROLE}), "event key ssm_targets is required"),
        (json!(["role_arn"]), "the event is a JSON array, not an object"),
    ];
    for (event, want) in cases {
        let err = options(event.clone(), &[]).unwrap_err().0;
        assert!(err.starts_with(want), "{event}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    // Keys that are not the first unknown one, and hostile ones, are escaped in the one line.
    let err = options(json!({"\u{1b}[2Jx": 1}), &[]).unwrap_err().0;
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn a_bad_default_names_its_environment_variable() {
    let env = [("CREDPUSH_ROLE_ARN", "deploy"), ("CREDPUSH_SSM_TARGETS", "Key=tag:a,Values=b")];
    let err = options(json!({}), &env).unwrap_err().0;
    assert!(err.starts_with("environment variable CREDPUSH_ROLE_ARN \"deploy\" is invalid"), "{err}");
    let env =
        [("CREDPUSH_ROLE_ARN", ROLE), ("CREDPUSH_SSM_TARGETS", "Key=tag:a,Values=b"), ("CREDPUSH_DURATION", "2h")];
    let err = options(json!({}), &env).unwrap_err().0;
    assert!(err.starts_with("environment variable CREDPUSH_DURATION \"2h\" is over"), "{err}");
    // The event's own value wins over a bad default.
    assert!(options(json!({"duration": "1h"}), &env).is_ok());
}

#[test]
fn the_rotations_own_flag_errors_are_renamed_to_keys() {
    let request = Request::merge(&json!({"max_errors": "x"}), |_| None).unwrap();
    let e = crate::error::Error::invalid("--max-errors", "x", "expected a number");
    assert_eq!(request.rename(&e).0, "event key max_errors \"x\" is invalid: expected a number");
    let e = crate::error::Error::invalid("--forks", "0", "no");
    assert_eq!(request.rename(&e).0, "--forks \"0\" is invalid: no");
}
