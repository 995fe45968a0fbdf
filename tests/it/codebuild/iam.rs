//! The IAM part of deploy/credpush.yml, in moto with auth enforced: the service role's policy and the target
//! role's trust policy are read from the template (tests/support/codebuild_world.py resolves them), and a build
//! session holding exactly that policy can rotate to loopback hosts but not assume another role or call IAM.

use serde_json::Value;

use super::{as_build, codebuild_world};
use crate::harness::{Env, Moto, run, tool};
use crate::sshd::Fleet;

/// Statements of the service role's policies, as created in moto.
fn statements(world: &Value) -> Vec<Value> {
    world["service_role_policies"]
        .as_array()
        .expect("policies")
        .iter()
        .flat_map(|p| p["document"]["Statement"].as_array().expect("statements").clone())
        .collect()
}

fn as_list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().expect("string").to_owned()).collect(),
        other => panic!("not a string or list: {other}"),
    }
}

#[test]
fn template_policies_are_least_privilege() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let target = world["target_role_arn"].as_str().expect("arn");
    let st = statements(&world);
    let sids: Vec<&str> = st.iter().map(|s| s["Sid"].as_str().expect("every statement has a Sid")).collect();
    // Without a VPC, a binary in S3 or batch builds, the conditional statements are absent.
    assert_eq!(sids, ["Logs", "SshSecrets", "AssumeTargetRole", "Reports", "ReportBucket"], "{st:?}");
    for s in &st {
        assert_eq!(s["Effect"], "Allow");
        assert!(as_list(&s["Action"]).iter().all(|a| !a.contains('*')), "wildcard action: {s}");
        assert!(as_list(&s["Resource"]).iter().all(|r| r != "*"), "wildcard resource: {s}");
    }
    let by_sid = |sid: &str| st.iter().find(|s| s["Sid"] == sid).expect("statement");
    assert_eq!(as_list(&by_sid("AssumeTargetRole")["Resource"]), [target]);
    // Exactly the two secrets: each pattern (name + Secrets Manager's 6-character suffix) matches one of them.
    let patterns = as_list(&by_sid("SshSecrets")["Resource"]);
    let secrets: Vec<String> =
        world["secrets"].as_object().expect("secrets").values().map(|v| v.as_str().expect("arn").to_owned()).collect();
    assert_eq!(patterns.len(), 2);
    for arn in &secrets {
        let hits = patterns
            .iter()
            .filter(|p| {
                let prefix = p.strip_suffix("??????").expect("suffix wildcard");
                arn.starts_with(prefix) && arn.len() == prefix.len() + 6
            })
            .count();
        assert_eq!(hits, 1, "{arn} vs {patterns:?}");
    }
    for r in as_list(&by_sid("Logs")["Resource"]) {
        assert!(r.contains(":log-group:/aws/codebuild/credpush-rotate"), "{r}");
    }
    // The target role trusts only the service role, with the ExternalId, for at most an hour.
    let trust = &world["target_trust"]["Statement"];
    assert_eq!(trust.as_array().expect("statements").len(), 1);
    assert_eq!(trust[0]["Principal"]["AWS"], world["session"]["arn"]);
    assert_eq!(trust[0]["Condition"]["StringEquals"]["sts:ExternalId"], world["external_id"]);
    assert_eq!(world["target_max_session"], 3600);
}

#[test]
fn a_caller_with_exactly_the_service_policy_rotates_and_is_denied_its_neighbours() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(2));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let target = world["target_role_arn"].as_str().expect("arn");
    let external_id = world["external_id"].as_str().expect("id");
    let inv = fleet.inventory("");
    let rotate = |extra: &[&str]| {
        let mut cmd = env.credpush();
        as_build(&mut cmd, &moto, &world)
            .args(["rotate", "-i"])
            .arg(&inv)
            .args(["--role-arn", target, "--ssh-config"])
            .arg(fleet.ssh_config())
            .args(["--json", "--retries", "0"])
            .args(extra);
        run(&mut cmd)
    };
    let ok = rotate(&["--external-id", external_id]).expect_code(0);
    assert!(ok.stdout.contains("\"ok\": 2"), "{}", ok.stdout);
    for h in &fleet.hosts {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(h.document()).expect("doc")).expect("json");
        assert!(doc["AccessKeyId"].is_string());
    }
    // The trust policy's ExternalId condition holds: with a wrong one STS refuses (exit 3). (A missing one is
    // refused by AWS too, but moto skips a condition whose key the request lacks, so that case is not shown here.)
    let refused = rotate(&["--external-id", "not-the-id"]).expect_code(3);
    assert!(refused.stdout.contains("denied"), "{}\n{}", refused.stdout, refused.stderr);

    // A neighbouring role that would trust the caller ("chained" trusts "*"): the identity policy denies it.
    let mut cmd = env.credpush();
    as_build(&mut cmd, &moto, &world).args(["assume", "--role-arn", &moto.role("chained")]);
    let denied = run(&mut cmd).expect_code(3);
    assert!(denied.stderr.contains("access denied") && denied.stderr.contains("role/chained"), "{}", denied.stderr);
    assert!(!denied.stdout.contains("SecretAccessKey"));

    // An IAM call.
    let mut cmd = env.cmd(tool("aws"));
    as_build(&mut cmd, &moto, &world).args(["iam", "list-roles", "--output", "json"]);
    let iam = run(&mut cmd);
    assert_ne!(iam.code, 0, "{}", iam.stdout);
    assert!(iam.stderr.contains("AccessDenied"), "{}", iam.stderr);
}
