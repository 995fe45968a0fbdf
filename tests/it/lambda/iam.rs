//! deploy/credpush-lambda.yml's execution role as the two stacks make it (its own logs policy, plus
//! deploy/credpush-ssm.yml's RotatorPolicy attached through RotatorRoleName), loaded into moto's IAM and
//! evaluated (tests/support/lambda_stack.py): it can rotate, and nothing else. And its schedule passes plan.

use serde_json::{Value, json};

use crate::harness::{Env, Moto, run};

const ACCOUNT: &str = "123456789012";

fn arn(service: &str, rest: &str) -> String {
    format!("arn:aws:{service}:us-east-1:{ACCOUNT}:{rest}")
}

fn stack_iam(moto: &Moto, cases: &Value) -> Value {
    crate::ssm::iam::evaluate_with(moto, "lambda_stack.py", &["iam".as_ref(), moto.endpoint.as_ref()], cases)
}

#[test]
fn the_execution_role_can_rotate_and_nothing_else() {
    let moto = Moto::start();
    let role = "arn:aws:iam::123456789012:role/credpush-lambda-ExecutionRole-EXAMPLE";
    let log_stream = arn("logs", "log-group:/aws/lambda/credpush-credpush-a:log-stream:2026/12/02/[$LATEST]abc");
    let table = [
        // What a rotation calls.
        ("sts:AssumeRole", format!("arn:aws:iam::{ACCOUNT}:role/credpush-a"), json!({}), "allow"),
        ("ssm:PutParameter", arn("ssm", "parameter/credpush/credpush-a"), json!({}), "allow"),
        ("kms:Encrypt", arn("kms", "key/key-a"), json!({}), "allow"),
        ("ssm:SendCommand", arn("ssm", "document/credpush-fetch"), json!({}), "allow"),
        (
            "ssm:SendCommand",
            arn("ssm", "managed-instance/mi-00000000000000001"),
            json!({"ssm:resourceTag/credpush": "a"}),
            "allow",
        ),
        ("ssm:ListCommandInvocations", "*".to_owned(), json!({}), "allow"),
        ("logs:PutLogEvents", log_stream, json!({}), "allow"),
        // What it may not.
        ("sts:AssumeRole", format!("arn:aws:iam::{ACCOUNT}:role/admin"), json!({}), "implicit"),
        ("sts:AssumeRole", format!("arn:aws:iam::{ACCOUNT}:role/credpush-b"), json!({}), "implicit"),
        ("ssm:PutParameter", arn("ssm", "parameter/app/db-password"), json!({}), "implicit"),
        ("ssm:PutParameter", arn("ssm", "parameter/credpushx/credpush-a"), json!({}), "implicit"),
        ("ssm:GetParameter", arn("ssm", "parameter/credpush/credpush-a"), json!({}), "implicit"),
        ("kms:Decrypt", arn("kms", "key/key-a"), json!({}), "implicit"),
        ("ssm:SendCommand", arn("ssm", "document/AWS-RunShellScript"), json!({}), "implicit"),
        (
            "ssm:SendCommand",
            arn("ssm", "managed-instance/mi-00000000000000002"),
            json!({"ssm:resourceTag/credpush": "b"}),
            "implicit",
        ),
        ("logs:PutLogEvents", arn("logs", "log-group:/aws/lambda/other:log-stream:x"), json!({}), "implicit"),
        ("iam:PassRole", format!("arn:aws:iam::{ACCOUNT}:role/admin"), json!({}), "implicit"),
        ("lambda:UpdateFunctionCode", arn("lambda", "function:credpush-credpush-a"), json!({}), "implicit"),
    ];
    let cases: Vec<Value> = table
        .iter()
        .map(|(action, resource, context, _)| {
            json!({"principal": role, "action": action, "resource": resource, "context": context})
        })
        .collect();
    let out = stack_iam(&moto, &Value::Array(cases));
    for ((action, resource, _, want), got) in table.iter().zip(out["decisions"].as_array().expect("decisions")) {
        assert_eq!(got, want, "{action} on {resource}");
    }
    // moto holds each document as written; the role has the two stacks' policies and nothing else.
    let stored = out["moto"].as_array().expect("moto");
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(stored.iter().all(|p| p["same"] == true), "{stored:?}");
    assert_eq!(out["rotator_roles"], json!(["credpush-lambda-ExecutionRole-EXAMPLE"]));
    assert_eq!((out["managed_policies"].clone(), out["attached"].clone()), (json!([]), json!([])));

    // The schedule: the default and the largest RotationMinutes pass plan with a role-chained caller, given a
    // run's worst time (its timeout, a retry, Lambda's retry delay of about a minute); one step more does not.
    let env = Env::new();
    let build =
        out["function_timeout"].as_u64().expect("timeout") * (1 + out["retries"].as_u64().expect("retries")) + 60;
    let build = format!("{build}s");
    for (minutes, code) in [(out["schedule"]["default"].as_u64(), 0), (out["schedule"]["max"].as_u64(), 0)] {
        let every = format!("{}m", minutes.expect("minutes"));
        run(env.credpush().args([
            "plan",
            "--role-chaining",
            "--duration",
            "1h",
            "--every",
            &every,
            "--build-time",
            &build,
        ]))
        .expect_code(code);
    }
    // The template's 40 keeps a margin: plan allows up to 45 minutes (before the 10-minute mandatory window of
    // botocore's legacy model, with a short build); 40 lands the next document before its 15-minute advisory
    // window as well. Well past it, plan refuses.
    let past = format!("{}m", out["schedule"]["max"].as_u64().expect("max") + 10);
    run(env.credpush().args(["plan", "--role-chaining", "--every", &past, "--build-time", &build])).expect_code(1);
}
