//! The Lambda mode: when `AWS_LAMBDA_RUNTIME_API` is set, `credpush` serves the Lambda Runtime API (through the
//! `lambda_runtime` crate) instead of reading a command line. Each invocation is one SSM rotation:
//!
//! 1. [`event::Request::merge`] reads the event (keys = `rotate`'s flags in snake_case) over the function's
//!    `CREDPUSH_<KEY>` environment defaults; [`event::Request::options`] checks it and builds
//!    [`crate::fleet::rotate::RotateOptions`]. A bad event ends the invocation before any AWS call.
//! 2. [`crate::fleet::rotate::run`] rotates, with the execution role as the caller (an assumed role, so STS caps
//!    the pushed sessions at 1 hour, which step 1 already enforces).
//! 3. The response is the `rotate --json` report. Any instance that is not ok makes the invocation an error
//!    (`errorType` `credpush.HostsFailed`, one-line `errorMessage` naming the instances), so the function's
//!    `Errors` metric alarms; the report is then in the log (one JSON line per instance and a summary).
//!
//! Nothing here logs or returns a secret: the report and the log lines carry what `rotate --json` carries.

pub mod event;
mod handler;

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// The variables the Lambda service sets and the runtime client reads at start; the crate panics without them,
/// so their absence is reported here as one line instead.
const REQUIRED_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Serves invocations until the Runtime API goes away; returns the process exit code.
pub fn serve() -> i32 {
    let missing: Vec<&str> = REQUIRED_ENV.into_iter().filter(|v| std::env::var_os(v).is_none()).collect();
    if !missing.is_empty() {
        eprintln!(
            "credpush: error: AWS_LAMBDA_RUNTIME_API is set, so credpush runs as a Lambda function, but {} {} not \
             set (the Lambda service sets them; unset AWS_LAMBDA_RUNTIME_API to use the command line)",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        );
        return crate::error::EXIT_INPUT;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("credpush: error: could not start the async runtime: {err}");
            return crate::error::EXIT_IO;
        }
    };
    let served = rt.block_on(lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        let (payload, context) = event.into_parts();
        handler::handle(&payload, &context, |name| std::env::var(name).ok()).await
    })));
    match served {
        Ok(()) => crate::error::EXIT_OK,
        Err(err) => {
            // The runtime client's errors are about the Runtime API connection, never about an event's content.
            eprintln!("credpush: error: the Lambda Runtime API failed: {}", crate::term::escape(&err.to_string()));
            crate::error::EXIT_AWS
        }
    }
}
