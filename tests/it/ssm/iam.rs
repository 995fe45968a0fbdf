//! The IAM of deploy/credpush-ssm.yml, from the template into moto (tests/support/ssm_iam.py): moto accepts every
//! resolved policy and key policy as written, and the policy text decides as intended. moto itself authorizes SSM
//! and KMS against Resource "*" without condition keys, so the decisions per parameter, per key encryption
//! context and per instance tag are made by the evaluator in ssm_iam.py (what it models is stated there).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::repo;
use crate::harness::{Moto, http, tool};

const ACCOUNT: &str = "123456789012";

fn param(name: &str) -> String {
    format!("arn:aws:ssm:us-east-1:{ACCOUNT}:parameter{name}")
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn evaluate(moto: &Moto, cases: &Value) -> Value {
    let template = repo().join("deploy/credpush-ssm.yml");
    evaluate_with(moto, "ssm_iam.py", &[moto.endpoint.as_ref(), template.as_os_str()], cases)
}

/// Runs the policy evaluator `tests/support/SCRIPT ARGS` with `cases` on stdin, moto's auth off while it loads
/// the policies (it acts as the account's admin), and returns its JSON verdicts.
pub(crate) fn evaluate_with(moto: &Moto, script: &str, args: &[&std::ffi::OsStr], cases: &Value) -> Value {
    let port: u16 = moto.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    assert!(http(port, "POST", "/moto-api/reset-auth", "inf").is_some());
    let mut child = Command::new(tool("python"))
        .arg(repo().join("tests/support").join(script))
        .args(args)
        .env_clear()
        .env("HOME", "/nonexistent")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(script);
    child.stdin.take().expect("stdin").write_all(cases.to_string().as_bytes()).expect("cases");
    let out = child.wait_with_output().expect(script);
    assert!(http(port, "POST", "/moto-api/reset-auth", "0").is_some());
    assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn the_templates_policies_scope_each_group_to_its_own_parameter_key_context_and_instances() {
    let moto = Moto::start();
    let ssm_via = json!({"kms:ViaService": "ssm.us-east-1.amazonaws.com"});
    let context_for = |p: &str| {
        let mut c = ssm_via.clone();
        c["kms:EncryptionContext:PARAMETER_ARN"] = json!(param(p));
        c
    };
    let host_a = role("credpush-host-a");
    let rotator = role("credpush-rotator");
    // (case, expected decision)
    let table = [
        // The host role reads its own parameter, and no other, even with AmazonSSMManagedInstanceCore's
        // ssm:GetParameter(s) on "*" beside it.
        (
            json!({"policy": "host-a", "principal": host_a, "action": "ssm:GetParameter", "resource": param("/credpush/credpush-a")}),
            "allow",
        ),
        (
            json!({"policy": "host-a", "principal": host_a, "action": "ssm:GetParameter", "resource": param("/credpush/credpush-b"),
                "extra_allow": ["ssm:GetParameter", "ssm:GetParameters"]}),
            "deny",
        ),
        (
            json!({"policy": "host-a", "principal": host_a, "action": "ssm:GetParametersByPath", "resource": param("/credpush"),
                "extra_allow": ["ssm:GetParametersByPath"]}),
            "deny",
        ),
        (
            json!({"policy": "host-a", "principal": host_a, "action": "ssm:GetParameter", "resource": param("/credpush/credpush-a"),
                "extra_allow": ["ssm:GetParameter"]}),
            "allow",
        ),
        // The key decrypts for the host role only with its own parameter's encryption context, through SSM.
        (
            json!({"policy": "key-a", "principal": host_a, "action": "kms:Decrypt", "resource": "*", "context": context_for("/credpush/credpush-a")}),
            "allow",
        ),
        (
            json!({"policy": "key-a", "principal": host_a, "action": "kms:Decrypt", "resource": "*", "context": context_for("/credpush/credpush-b")}),
            "implicit",
        ),
        (
            json!({"policy": "key-a", "principal": host_a, "action": "kms:Decrypt", "resource": "*",
                "context": {"kms:EncryptionContext:PARAMETER_ARN": param("/credpush/credpush-a")}}),
            "implicit",
        ),
        (
            json!({"policy": "key-a", "principal": host_a, "action": "kms:Encrypt", "resource": "*", "context": context_for("/credpush/credpush-a")}),
            "implicit",
        ),
        (
            json!({"policy": "key-a", "principal": rotator, "action": "kms:Encrypt", "resource": "*", "context": context_for("/credpush/credpush-a")}),
            "allow",
        ),
        (
            json!({"policy": "key-a", "principal": rotator, "action": "kms:Decrypt", "resource": "*", "context": context_for("/credpush/credpush-a")}),
            "implicit",
        ),
        // The rotator: assume the target role, write the prefix, encrypt with the key, send the document to
        // tagged instances only, and read invocations.
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "sts:AssumeRole", "resource": role("credpush-a")}),
            "allow",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "sts:AssumeRole", "resource": role("credpush-b")}),
            "implicit",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:PutParameter", "resource": param("/credpush/credpush-a")}),
            "allow",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:PutParameter", "resource": param("/app/db-password")}),
            "implicit",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "kms:Encrypt", "resource": format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/key-a")}),
            "allow",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:SendCommand", "resource": format!("arn:aws:ssm:us-east-1:{ACCOUNT}:document/credpush-fetch")}),
            "allow",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:SendCommand", "resource": format!("arn:aws:ssm:us-east-1:{ACCOUNT}:document/AWS-RunShellScript")}),
            "implicit",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:SendCommand", "resource": format!("arn:aws:ssm:us-east-1:{ACCOUNT}:managed-instance/mi-00000000000000001"),
                "context": {"ssm:resourceTag/credpush": "a"}}),
            "allow",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:SendCommand", "resource": format!("arn:aws:ssm:us-east-1:{ACCOUNT}:managed-instance/mi-00000000000000002"),
                "context": {"ssm:resourceTag/credpush": "b"}}),
            "implicit",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:SendCommand", "resource": format!("arn:aws:ssm:us-east-1:{ACCOUNT}:managed-instance/mi-00000000000000003")}),
            "implicit",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:ListCommandInvocations", "resource": "*"}),
            "allow",
        ),
        (
            json!({"policy": "rotator-a", "principal": rotator, "action": "ssm:GetParameter", "resource": param("/credpush/credpush-a")}),
            "implicit",
        ),
    ];
    let cases: Vec<Value> = table.iter().map(|(c, _)| c.clone()).collect();
    let out = evaluate(&moto, &Value::Array(cases));
    let decisions = out["decisions"].as_array().expect("decisions");
    for ((case, want), got) in table.iter().zip(decisions) {
        assert_eq!(got, want, "{case}");
    }
    assert_eq!(
        out["same_document"], true,
        "deploy/credpush-ssm.yml's FetchDocument differs from deploy/credpush-fetch.yml"
    );
    // moto stored every resolved document as written.
    for p in out["moto"]["role_policies"]
        .as_array()
        .expect("policies")
        .iter()
        .chain(out["moto"]["keys"].as_array().expect("keys"))
    {
        assert_eq!(p["same"], true, "{p}");
    }
    // No wildcard resource in the rotator's policy beyond the two invocation reads, which allow no other.
    for st in out["policies"]["rotator-a"].as_array().expect("statements") {
        let wild = st["Resource"] == "*";
        assert_eq!(wild, st["Sid"] == "ReadInvocations", "{st}");
    }
}
