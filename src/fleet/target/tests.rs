//! Unit tests of the parent module.

use super::*;
use serde_json::json;

fn vars(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

#[test]
fn reads_ansible_connection_vars() {
    let role = RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap();
    let t = HostTarget::from_vars(
        "web01",
        &vars(json!({"ansible_host": "10.0.0.5", "ansible_port": 2222, "ansible_user": "deploy",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -J bastion", "ansible_ssh_extra_args": "-oServerAliveInterval=5 -C",
            "credpush_path": "/srv/ci/.aws/temp.json"})),
        None,
        Some(&role),
    )
    .unwrap();
    assert_eq!(t.destination(), "deploy@10.0.0.5:2222");
    assert_eq!(
        t.ssh().unwrap().ssh_args,
        ["-o", "StrictHostKeyChecking=no", "-J", "bastion", "-o", "ServerAliveInterval=5", "-C"]
    );
    assert_eq!(t.path, "/srv/ci/.aws/temp.json");
    assert_eq!(t.role_arn, role);
    let d = HostTarget::from_vars("db", &Map::new(), None, Some(&role)).unwrap();
    assert_eq!((d.destination().as_str(), d.path.as_str()), ("db", DEFAULT_PATH));
}

#[test]
fn become_local_and_unsupported_connections() {
    let role = RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap();
    let t = |v: Value| HostTarget::from_vars("h", &vars(v), None, Some(&role)).unwrap();
    let b = t(json!({"ansible_become": "yes", "ansible_become_flags": "-H -S -n -E"}));
    assert_eq!(
        b.become_user().cloned(),
        Some(Become { user: "root".into(), flags: vec!["-H".into(), "-n".into(), "-E".into()] })
    );
    let b = t(json!({"ansible_become": true, "ansible_become_user": "svc", "ansible_become_method": "sudo"}));
    assert_eq!((b.become_user().unwrap().user.as_str(), b.unsupported.as_deref()), ("svc", None));
    assert_eq!(t(json!({"ansible_become": false, "ansible_become_user": "svc"})).become_user(), None);
    let p = t(json!({"credpush_profile": "onprem", "credpush_region": "eu-west-1"}));
    assert_eq!((p.profile.as_deref(), p.profile_region.as_deref()), (Some("onprem"), Some("eu-west-1")));
    for flags in ["sh -c 'id'", "--stdin", "-nS", "-HSn", "-s", "-i", "-u root", "-b", "-- sh", "-E --", "-"] {
        let v = vars(json!({"ansible_become": true, "ansible_become_flags": flags}));
        let msg = HostTarget::from_vars("h", &v, None, Some(&role)).expect_err(flags).to_string();
        assert!(msg.contains("ansible_become_flags") && msg.contains("is not accepted"), "{flags}: {msg}");
    }
    let b = t(json!({"ansible_become": true, "ansible_become_flags": "-Hn --preserve-env -S"}));
    assert_eq!(b.become_user().unwrap().flags, ["-Hn", "--preserve-env"]);
    let bad = HostTarget::from_vars("h", &vars(json!({"credpush_profile": "a b"})), None, Some(&role));
    assert!(bad.unwrap_err().to_string().starts_with("host h: credpush_profile \"a b\" is invalid"));
    let l = t(json!({"ansible_connection": "local"}));
    assert!(matches!(l.route, Route::Local(_)) && l.unsupported.is_none());
    assert_eq!(l.destination(), "local");
    for (v, why) in [
        (json!({"ansible_connection": "winrm"}), "ansible_connection \"winrm\" is not supported"),
        (json!({"ansible_ssh_pass": "x"}), "ansible_ssh_pass is set"),
        (json!({"ansible_become": 1, "ansible_become_method": "su"}), "ansible_become_method \"su\" is not supported"),
        (json!({"ansible_become": true, "ansible_become_password": "x"}), "ansible_become_password is set"),
    ] {
        let u = t(v).unsupported.unwrap();
        assert!(u.starts_with(why), "{u}");
    }
    let bad = HostTarget::from_vars(
        "h",
        &vars(json!({"ansible_become": true, "ansible_become_user": "-x"})),
        None,
        Some(&role),
    );
    assert!(bad.unwrap_err().to_string().contains("ansible_become_user \"-x\" is invalid"));
}

#[test]
fn bad_vars_name_the_host_and_variable() {
    let role = RoleArn::parse("arn:aws:iam::123456789012:role/deploy").unwrap();
    let err = |v: Value| HostTarget::from_vars("web01", &vars(v), None, Some(&role)).unwrap_err().to_string();
    assert_eq!(
        err(json!({"ansible_port": "ssh"})),
        "host web01: ansible_port \"ssh\" is invalid: expected a port number from 1 to 65535 (fix: correct it in the inventory or its group_vars/host_vars)"
    );
    assert!(
        err(json!({"credpush_path": "aws/temp.json"}))
            .contains("credpush_path \"aws/temp.json\" is invalid: expected an absolute path")
    );
    assert!(err(json!({"ansible_ssh_common_args": "-o 'Proxy"})).contains("unbalanced quotes"));
    assert!(err(json!({"ansible_ssh_common_args": "-X"})).contains("unsupported ssh flag \"-X\""));
    assert!(err(json!({"credpush_role_arn": "nope"})).contains("credpush_role_arn \"nope\" is invalid: not an ARN"));
    let none = HostTarget::from_vars("web01", &Map::new(), None, None).unwrap_err().to_string();
    assert_eq!(
        none,
        "host web01 has no role to assume (fix: pass --role-arn, or set credpush_role_arn for the host or its group in the inventory)"
    );
}
