//! The parts of deploy/credpush.yml around the build, read from the template as resolved by
//! tests/support/codebuild_world.py (cfn-lint checks the same file in scripts/test): the alarm topic's key, the
//! service role's trust, the report bucket's writes and TLS-only policy (enforced in moto's S3), the schedule's
//! dead-letter queue, the RotateVia parameter and how buildspec.yml splits CREDPUSH_ARGS. CloudWatch, SNS,
//! Scheduler and KMS key policies cannot run here; those statements are checked as written.

use std::process::Command;

use serde_json::Value;

use super::{as_build, codebuild_world, repo_file};
use crate::harness::{Env, Moto, http, run, tool};
use crate::sshd::Fleet;

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().expect("string").to_owned()).collect(),
        other => panic!("not a string or list: {other}"),
    }
}

/// The statements of every inline policy of a role resource.
fn role_statements(role: &Value) -> Vec<Value> {
    role["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().expect("statements").clone())
        .collect()
}

#[test]
fn alarms_reach_a_topic_cloudwatch_can_use_and_the_schedule_has_a_dead_letter_queue() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let res = &world["resources"];

    // The topic is encrypted with the template's own key, not alias/aws/sns, whose policy CloudWatch is not in.
    let topic = &res["AlarmTopic"]["Properties"];
    assert_eq!(topic["KmsMasterKeyId"], "<AlarmKey>", "{topic}");
    let key = &res["AlarmKey"]["Properties"];
    assert_eq!(res["AlarmKey"]["Type"], "AWS::KMS::Key");
    assert_eq!(key["EnableKeyRotation"], true);
    let statements = key["KeyPolicy"]["Statement"].as_array().expect("key policy");
    let cw: Vec<&Value> =
        statements.iter().filter(|s| s["Principal"]["Service"] == "cloudwatch.amazonaws.com").collect();
    assert_eq!(cw.len(), 1, "{statements:?}");
    assert_eq!(cw[0]["Effect"], "Allow");
    let actions = list(&cw[0]["Action"]);
    assert!(actions.contains(&"kms:Decrypt".into()) && actions.contains(&"kms:GenerateDataKey*".into()), "{actions:?}");
    // Only this account's alarms, in this region.
    assert_eq!(cw[0]["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
    assert_eq!(cw[0]["Condition"]["ArnLike"]["aws:SourceArn"], "arn:aws:cloudwatch:us-east-1:123456789012:alarm:*");
    // The account keeps administering the key (without this statement a key policy locks everyone out).
    assert!(
        statements.iter().any(|s| s["Principal"]["AWS"] == "arn:aws:iam::123456789012:root" && s["Action"] == "kms:*"),
        "{statements:?}"
    );

    // Every alarm notifies that topic; one of them watches the dead-letter queue.
    let alarms: Vec<(&String, &Value)> =
        res.as_object().expect("resources").iter().filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm").collect();
    assert_eq!(alarms.len(), 2, "{alarms:?}");
    for (name, a) in &alarms {
        assert_eq!(list(&a["Properties"]["AlarmActions"]), ["<AlarmTopic>"], "{name}");
    }
    let dlq_alarm = &res["ScheduleDeadLetterAlarm"]["Properties"];
    assert_eq!((dlq_alarm["Namespace"].as_str(), dlq_alarm["Threshold"].as_u64()), (Some("AWS/SQS"), Some(1)));
    assert_eq!(dlq_alarm["Dimensions"][0]["Value"], "<ScheduleDeadLetterQueue.QueueName>");

    // A tick that cannot start a build goes to the queue, which the scheduler's role may send to (and no more).
    let target = &res["Schedule"]["Properties"]["Target"];
    assert_eq!(target["DeadLetterConfig"]["Arn"], "<ScheduleDeadLetterQueue.Arn>", "{target}");
    assert_eq!(res["ScheduleDeadLetterQueue"]["Type"], "AWS::SQS::Queue");
    assert_eq!(res["ScheduleDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"], true);
    let sched = role_statements(&res["SchedulerRole"]);
    let send: Vec<&Value> = sched.iter().filter(|s| list(&s["Action"]).contains(&"sqs:SendMessage".into())).collect();
    assert_eq!(send.len(), 1, "{sched:?}");
    assert_eq!(list(&send[0]["Resource"]), ["<ScheduleDeadLetterQueue.Arn>"]);
    assert_eq!(list(&send[0]["Action"]), ["sqs:SendMessage"]);
}

#[test]
fn the_service_role_trusts_only_this_project_and_writes_only_reports_over_tls() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let res = &world["resources"];

    // Confused deputy: CodeBuild may assume the role only for this account's project of the stack's name.
    let trust = &res["ServiceRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    assert_eq!(trust.as_array().expect("trust").len(), 1);
    let project = res["Project"]["Properties"]["Name"].as_str().expect("name");
    assert_eq!(trust[0]["Condition"]["StringEquals"]["aws:SourceAccount"], "123456789012");
    assert_eq!(
        trust[0]["Condition"]["ArnLike"]["aws:SourceArn"],
        format!("arn:aws:codebuild:us-east-1:123456789012:project/{project}")
    );

    // PutObject only under the artifacts' path; the cache is LOCAL, so no S3 prefix a build could plant in.
    let bucket = world["bucket"].as_str().expect("bucket");
    let props = &res["Project"]["Properties"];
    assert_eq!(props["Artifacts"]["Path"], "reports");
    assert_eq!(props["Cache"]["Type"], "LOCAL", "{}", props["Cache"]);
    for s in role_statements(&res["ServiceRole"]) {
        if list(&s["Action"]).iter().any(|a| a == "s3:PutObject") {
            assert_eq!(list(&s["Resource"]), [format!("arn:aws:s3:::{bucket}/reports/*")], "{s}");
        }
    }
    let aws_s3 = |args: &[&str]| {
        let mut cmd = env.cmd(tool("aws"));
        as_build(&mut cmd, &moto, &world).args(["s3api"]).args(args).args(["--bucket", bucket]);
        run(&mut cmd)
    };
    let body = env.path("report.json");
    std::fs::write(&body, "{}").expect("body");
    let body = body.to_str().expect("utf-8");
    // As the build session, with the service role's policy enforced by moto.
    let put = |key: &str| aws_s3(&["put-object", "--key", key, "--body", body]);
    let ok = put("reports/credpush-local/credpush/credpush-report.json");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    for key in ["cache/target/debug/credpush", "credpush-report.json"] {
        let denied = put(key);
        assert!(denied.code != 0 && denied.stderr.contains("AccessDenied"), "{key}: {}", denied.stderr);
    }

    // The bucket policy refuses every request not made over TLS. moto here speaks plain HTTP, so once the policy
    // is in place even the allowed write is refused.
    let policy = &world["bucket_policy"];
    let tls =
        policy["Statement"].as_array().expect("statements").iter().find(|s| s["Sid"] == "TlsOnly").expect("TlsOnly");
    assert_eq!(
        (tls["Effect"].as_str(), tls["Principal"].as_str(), tls["Action"].as_str()),
        (Some("Deny"), Some("*"), Some("s3:*"))
    );
    assert_eq!(list(&tls["Resource"]), [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")]);
    assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(res["ReportBucketPolicy"]["Properties"]["Bucket"], bucket);
    let port: u16 = moto.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    assert!(http(port, "POST", "/moto-api/reset-auth", "1000").expect("reset-auth").contains("\"status\": \"ok\""));
    let mut cmd = env.cmd(tool("aws"));
    cmd.env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "setup")
        .env("AWS_SECRET_ACCESS_KEY", "setup")
        .args(["s3api", "put-bucket-policy", "--bucket", bucket, "--policy", &policy.to_string()]);
    let applied = run(&mut cmd);
    assert!(http(port, "POST", "/moto-api/reset-auth", "0").expect("reset-auth").contains("\"status\": \"ok\""));
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let refused = put("reports/credpush-local/credpush/credpush-report.json");
    assert!(refused.code != 0 && refused.stderr.contains("Forbidden"), "{}", refused.stderr);
}

#[test]
fn rotate_via_reaches_the_build_and_the_buildspec_quotes_credpush_args_and_refuses_inventory_commands() {
    let (env, moto, fleet) = (Env::new(), Moto::start(), Fleet::start(1));
    let world = codebuild_world(&moto, &fleet, env.home.path());
    let res = &world["resources"];
    let vars = res["Project"]["Properties"]["Environment"]["EnvironmentVariables"].as_array().expect("vars");
    let via = vars.iter().find(|v| v["Name"] == "CREDPUSH_VIA").expect("CREDPUSH_VIA");
    assert_eq!((via["Type"].as_str(), via["Value"].as_str()), (Some("PLAINTEXT"), Some("rotate")));

    let template: Value = {
        let out = Command::new(tool("python"))
            .arg("-c")
            .arg("import json,sys; sys.path.insert(0, sys.argv[1]); import codebuild_world as w; print(json.dumps(w.load_template(sys.argv[2])))")
            .arg(repo_file("tests/support"))
            .arg(repo_file("deploy/credpush.yml"))
            .output()
            .expect("python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("template json")
    };
    let param = &template["Parameters"]["RotateVia"];
    assert_eq!(
        (param["Default"].as_str(), list(&param["AllowedValues"])),
        (Some("rotate"), vec!["rotate".into(), "playbook".into()])
    );

    // Every use of CREDPUSH_ARGS in buildspec.yml is quoted: an unquoted one would also be globbed.
    let spec = std::fs::read_to_string(repo_file("buildspec.yml")).expect("buildspec");
    let commands: String = spec.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    // The shipped rotate path refuses inventory commands.
    let rotate = commands.find("set -- rotate ").expect("the rotate command");
    assert!(commands[rotate..rotate + 200].contains("--no-inventory-commands"), "{}", &commands[rotate..rotate + 200]);
    let uses: Vec<usize> = commands.match_indices("$CREDPUSH_ARGS").map(|(i, _)| i).collect();
    assert!(!uses.is_empty());
    for i in uses {
        assert_eq!(&commands[i - 1..i], "\"", "unquoted at: {}", &commands[i.saturating_sub(40)..i + 20]);
    }
}
