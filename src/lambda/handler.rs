//! One invocation: event → checked options → the SSM rotation → the report, or an invocation error whose
//! `errorType` says which kind of failure it was, so that an alarm or a retry policy can tell them apart.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Context, Diagnostic};
use serde_json::{Value, json};

use super::event::{EventError, Request};
use crate::delivery::Status;
use crate::error::{EXIT_AWS, EXIT_INPUT};
use crate::fleet::report::{self, Finished, Ran};

/// `errorType` of an event credpush refused before any AWS call (fix the event or the environment).
pub const INVALID_EVENT: &str = "credpush.InvalidEvent";
/// `errorType` of a run in which at least one instance is not ok (the others were delivered).
pub const HOSTS_FAILED: &str = "credpush.HostsFailed";
/// `errorType` of a failed AWS call for the run as a whole (STS, the caller's credentials, SSM).
pub const AWS_ERROR: &str = "credpush.AwsError";
/// `errorType` of a local failure (a temporary file, the runtime).
pub const LOCAL_ERROR: &str = "credpush.LocalError";

/// Time kept back from the invocation's deadline for the calls around the polling (STS, PutParameter,
/// SendCommand) and the response.
const DEADLINE_MARGIN: Duration = Duration::from_secs(10);

/// The most failing instances the error message names; the log has them all.
const NAMED_IN_ERROR: usize = 5;

/// Runs one invocation. `env` reads the function's environment (`CREDPUSH_<KEY>` defaults).
pub async fn handle(payload: &Value, ctx: &Context, env: impl Fn(&str) -> Option<String>) -> Result<Value, Diagnostic> {
    let request_id = ctx.request_id.as_str();
    let refused = |e: EventError| fail(request_id, INVALID_EVENT, e.0);
    let request = Request::merge(payload, &env).map_err(refused)?;
    let options = request.options().map_err(refused)?;
    check_deadline(&options.fleet.timeout, ctx.deadline(), &request).map_err(refused)?;
    let done = match crate::fleet::rotate::run(&options).await {
        Ok(Ran::Done(done)) => done,
        // A dry run is never built from an event.
        Ok(Ran::Text(_)) => return Err(fail(request_id, LOCAL_ERROR, "internal error: a dry run".into())),
        Err(e) => {
            let kind = match e.exit_code() {
                EXIT_INPUT => INVALID_EVENT,
                EXIT_AWS => AWS_ERROR,
                _ => LOCAL_ERROR,
            };
            return Err(fail(request_id, kind, request.rename(&e).0));
        }
    };
    log_outcomes(request_id, &done);
    if done.exit_code() != crate::error::EXIT_OK {
        // An STS or SSM call that failed for the run (AssumeRole, PutParameter) is the account's problem, not
        // the instances'; the alarm's reader looks at the role or the key first.
        let kind = if done.aws_failed { AWS_ERROR } else { HOSTS_FAILED };
        return Err(fail(request_id, kind, failed_message(&done)));
    }
    serde_json::from_str(&done.render(true)).map_err(|e| fail(request_id, LOCAL_ERROR, e.to_string()))
}

/// Refuses a `timeout` that would let the polling run past the invocation's deadline: Lambda would stop the
/// function mid-run, with no report and no error type.
fn check_deadline(timeout: &str, deadline: SystemTime, request: &Request) -> Result<(), EventError> {
    let secs = crate::duration::parse_span("--timeout", timeout, "expected seconds or a span like 30s, 2m")
        .map_err(|e| request.rename(&e))?;
    let left = deadline.duration_since(SystemTime::now()).unwrap_or_default();
    if Duration::from_secs(secs) + DEADLINE_MARGIN > left {
        return Err(EventError(format!(
            "timeout {timeout:?} does not fit in the invocation: {}s are left before its deadline, and credpush keeps \
             {}s for the calls around the polling (fix: raise the function's Timeout, or lower timeout)",
            left.as_secs(),
            DEADLINE_MARGIN.as_secs()
        )));
    }
    Ok(())
}

/// One JSON line per instance, then a summary line: CloudWatch Logs Insights reads the fields as they are.
fn log_outcomes(request_id: &str, done: &Finished) {
    for o in &done.outcomes {
        let level = if matches!(o.status, Status::Ok | Status::Superseded) { "INFO" } else { "ERROR" };
        let line = json!({
            "level": level,
            "requestId": request_id,
            "message": "instance",
            "host": o.host,
            "status": o.status.as_str(),
            "seconds": (o.seconds * 1000.0).round() / 1000.0,
            "path": o.path,
            "expiration": o.expiration,
            "error": o.error,
        });
        eprintln!("{line}");
    }
    let summary = report::Summary::of(&done.outcomes);
    let level = if summary.all_ok() && !done.aws_failed { "INFO" } else { "ERROR" };
    let seconds = (done.seconds * 1000.0).round() / 1000.0;
    eprintln!(
        "{}",
        json!({"level": level, "requestId": request_id, "message": "summary", "summary": summary, "seconds": seconds})
    );
}

/// `3 of 5 instances not ok: mi-1 (failed: …), …`, on one line.
fn failed_message(done: &Finished) -> String {
    let bad: Vec<_> = done.outcomes.iter().filter(|o| !matches!(o.status, Status::Ok | Status::Superseded)).collect();
    if bad.is_empty() {
        return "an AWS call failed for the run (see the log)".into();
    }
    let mut named: Vec<String> = bad
        .iter()
        .take(NAMED_IN_ERROR)
        .map(|o| {
            let why: String = o.error.as_deref().unwrap_or("no detail").chars().take(200).collect();
            format!("{} ({}: {why})", o.host, o.status.as_str())
        })
        .collect();
    if bad.len() > NAMED_IN_ERROR {
        named.push(format!("and {} more", bad.len() - NAMED_IN_ERROR));
    }
    format!(
        "{} of {} instances not ok: {}; the others were delivered, and the log has one line per instance",
        bad.len(),
        done.outcomes.len(),
        named.join(", ")
    )
}

/// The invocation error: logged once, returned as `errorType` and a one-line `errorMessage`.
fn fail(request_id: &str, kind: &'static str, message: String) -> Diagnostic {
    let message = crate::term::escape(&message).into_owned();
    eprintln!("{}", json!({"level": "ERROR", "requestId": request_id, "errorType": kind, "errorMessage": message}));
    Diagnostic { error_type: kind.to_owned(), error_message: message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_past_the_deadline_is_refused_by_name() {
        let request = Request::merge(&json!({}), |_| None).unwrap();
        let soon = SystemTime::now() + Duration::from_secs(30);
        let err = check_deadline("30s", soon, &request).unwrap_err().0;
        assert!(err.starts_with("timeout \"30s\" does not fit in the invocation"), "{err}");
        assert!(check_deadline("10s", soon, &request).is_ok());
        let err = check_deadline("soon", soon, &request).unwrap_err().0;
        assert!(err.starts_with("event key timeout \"soon\" is invalid"), "{err}");
    }
}
