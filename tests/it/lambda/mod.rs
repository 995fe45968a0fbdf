//! The built binary as a Lambda function: run under the Runtime API emulator (tests/support/lambda_runtime.py),
//! with the rotator's credentials (see `as_function`), against moto (auth enforced) and
//! the SSM agent emulator of `ssm`. The emulator's limits are stated in its file; what matters here is that it
//! serves the documented `next` / `response` / `error` exchange and hands the function Lambda's variables.

mod iam;
mod invoke;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Env, run, tool};
use crate::ssm::{SsmWorld, repo};

/// What one run of the emulator reported (see its docstring).
pub struct Environment {
    /// The emulator's JSON.
    pub result: Value,
}

impl Environment {
    /// The `n`th invocation.
    pub fn invocation(&self, n: usize) -> &Value {
        &self.result["invocations"][n]
    }

    /// What the function printed on stderr (its log), as lines.
    pub fn log_lines(&self) -> Vec<Value> {
        self.text("stderr").lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// One of the captured streams.
    pub fn text(&self, stream: &str) -> &str {
        self.result[stream].as_str().unwrap_or_default()
    }
}

/// Runs the function for `events`, one environment, with `vars` as its configuration (CREDPUSH_*), the world's
/// endpoints and the execution role's session.
pub fn function(env: &Env, w: &SsmWorld, events: &[Value], vars: &[(&str, &str)]) -> Environment {
    let file = env.path("events.json");
    std::fs::write(&file, Value::from(events.to_vec()).to_string()).expect("events");
    let mut cmd = env.cmd(tool("python"));
    cmd.arg(repo().join("tests/support/lambda_runtime.py"))
        .arg("--events")
        .arg(&file)
        // deploy/credpush-lambda.yml's Timeout.
        .args(["--timeout", "120", "--"])
        .arg(crate::harness::credpush_bin());
    as_function(&mut cmd, w);
    // The instances run `credpush fetch` with this build, wherever the tests built it.
    cmd.env("CREDPUSH_SSM_CREDPUSH_PATH", env!("CARGO_BIN_EXE_credpush"));
    cmd.envs(vars.iter().copied());
    let r = run(&mut cmd).expect_code(0);
    Environment { result: serde_json::from_str(&r.stdout).expect("emulator json") }
}

/// The environment Lambda gives the function: credentials, the region; here also the endpoints (moto for STS,
/// the agent emulator for SSM). In Lambda the credentials are the execution role's session; here they are the
/// world's rotator user's (the same actions), because moto refuses sts:AssumeRole to any assumed-role caller,
/// whatever its policies allow. The 1-hour cap on chained sessions is the event check's, made before any call.
fn as_function<'a>(cmd: &'a mut Command, w: &SsmWorld) -> &'a mut Command {
    w.as_user(cmd, &w.user("rotator"))
}

/// The event EventBridge Scheduler delivers: deploy/credpush-lambda.yml's schedule Input, resolved for the
/// world's group (`g1`) and the stack's defaults (which name the world's role, key, parameter and document).
pub fn scheduler_event(w: &SsmWorld, path: &Path, owner: &str) -> Value {
    let params = json!({"InstanceGroup": "g1", "DocumentPath": path.to_str().expect("utf-8"), "DocumentOwner": owner});
    let mut cmd = Command::new(tool("python"));
    cmd.arg(repo().join("tests/support/lambda_stack.py")).arg("input").arg(params.to_string()).env_clear();
    let event: Value = serde_json::from_str(&run(&mut cmd).expect_code(0).stdout).expect("input json");
    assert_eq!(event["role_arn"], w.target_role(), "the stack's defaults no longer match the SSM world");
    event
}

/// STS calls moto has recorded so far.
pub fn sts_calls(w: &SsmWorld) -> usize {
    ["GetCallerIdentity", "AssumeRole"].iter().map(|a| w.moto.recorded_actions(a).len()).sum()
}

#[test]
fn without_the_runtime_variable_the_same_binary_is_the_cli() {
    let env = Env::new();
    // The schedule the stack uses, checked by the CLI of the very binary the function runs.
    let r = run(env.credpush().args(["plan", "--every", "30m", "--role-chaining"])).expect_code(0);
    assert!(r.stdout.contains("safe"), "{}", r.stdout);
    // With the variable but outside Lambda (no function variables): one line, exit 2, no panic.
    let r = run(env.credpush().env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9").arg("plan")).expect_code(2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("AWS_LAMBDA_FUNCTION_NAME") && r.stderr.contains("unset AWS_LAMBDA_RUNTIME_API"));
}
