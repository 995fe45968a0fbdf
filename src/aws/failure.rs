//! How an STS call failed, for messages that say what failed, where, the likely cause and the fix: what the call
//! saw on the wire ([`CallTrace`]), and the failures that are the endpoint's rather than the request's.

use std::sync::{Arc, Mutex};

use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::aws::params::StsLimits;

/// What one call saw on the wire: where its last attempt went, and the HTTP status of an answer whose headers
/// arrived but whose body was not read (this attempt's, or an earlier one's that stalled and was retried). Added to each call on its own, because calls run concurrently with --session-per-host.
#[derive(Debug, Default, Clone)]
pub(super) struct CallTrace(Arc<Mutex<Trace>>);

#[derive(Debug, Default, Clone)]
pub(super) struct Trace {
    pub(super) endpoint: Option<String>,
    pub(super) status: Option<u16>,
    /// Attempts sent so far (the SDK retries throttling, timeouts and some 5xx; not a 501, say).
    pub(super) attempts: u32,
}

impl CallTrace {
    pub(super) fn get(&self) -> Trace {
        self.0.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Intercept for CallTrace {
    fn name(&self) -> &'static str {
        "credpush-call-trace"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), aws_sdk_sts::error::BoxError> {
        let uri = context.request().uri();
        // Keep scheme, host and port only: the endpoint, never a query.
        let endpoint = uri.split('?').next().unwrap_or(uri).trim_end_matches('/').to_owned();
        if let Ok(mut t) = self.0.lock() {
            // `status` stays: an earlier attempt that got headers but no body (retried after its timeout) is what
            // the call saw, even when this attempt, cut by the deadline, sees nothing.
            t.endpoint = Some(endpoint);
            t.attempts += 1;
        }
        Ok(())
    }

    /// Runs once the response's headers are in, before its body is read: a timeout after this is a stalled body.
    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), aws_sdk_sts::error::BoxError> {
        if let Ok(mut t) = self.0.lock() {
            t.status = Some(context.response().status().as_u16());
        }
        Ok(())
    }

    /// Runs once the body is read and parsed: that attempt did not stall, so no status is left pending.
    fn read_after_deserialization(
        &self,
        _context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), aws_sdk_sts::error::BoxError> {
        if let Ok(mut t) = self.0.lock() {
            t.status = None;
        }
        Ok(())
    }
}

/// Why an endpoint failed, in the words of [`Error::StsEndpoint`].
#[derive(Debug, Clone)]
pub(super) struct EndpointFailure {
    pub(super) endpoint: String,
    pub(super) what: String,
    pub(super) cause: &'static str,
    /// For a connection that failed outright: the transport's reason, reported as [`Error::EndpointUnreachable`].
    pub(super) unreachable: Option<String>,
}

/// The fix for an STS answer that makes no sense.
pub(super) const FIX_ENDPOINT: &str = "check AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL and any HTTPS proxy";

/// `GetCallerIdentity`, or `AssumeRole for ROLE`: the call, as messages name it.
pub(super) fn call_name(operation: &str, role: Option<&str>) -> String {
    match role {
        Some(r) => format!("{operation} for {r}"),
        None => operation.to_owned(),
    }
}

/// Classifies failures that are the endpoint's rather than the request's: no connection, no answer in time, a stalled body, an answer that is
/// not HTTP or not STS, a server error. `None` for an STS error response, which names its own code.
pub(super) fn classify<E>(
    err: &SdkError<E, HttpResponse>,
    seen: &Trace,
    endpoint: &str,
    limits: StsLimits,
) -> Option<EndpointFailure>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (attempt, deadline) = (limits.attempt_timeout.as_secs(), limits.deadline.as_secs());
    let failure = |what: String, cause: &'static str| EndpointFailure {
        endpoint: endpoint.to_owned(),
        what,
        cause,
        unreachable: None,
    };
    let timed_out = match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_timeout(),
        _ => false,
    };
    if timed_out {
        return Some(match seen.status {
            Some(status) => failure(
                format!(
                    "it answered HTTP {status} but the response body stalled (incomplete after --sts-timeout {attempt}s \
                     per attempt, --sts-deadline {deadline}s in all)"
                ),
                "a proxy or load balancer on the way that holds or truncates responses",
            ),
            None => failure(
                format!("no answer within --sts-deadline {deadline}s (--sts-timeout {attempt}s per attempt)"),
                "the endpoint, or a proxy or firewall on the way, accepts connections but never responds",
            ),
        });
    }
    if let SdkError::DispatchFailure(d) = err {
        let root = d.as_connector_error().map(|c| root_cause(c)).unwrap_or_else(|| "connection failed".into());
        // hyper's parse errors: bytes came back, but not an HTTP response.
        if seen.endpoint.is_some() && looks_like_parse_error(&root) {
            return Some(failure(
                format!("its answer is not HTTP ({root})"),
                "the endpoint URL names a service that is not STS, or a TLS port with http://",
            ));
        }
        return Some(EndpointFailure {
            unreachable: Some(root.clone()),
            ..failure(
                format!("no connection ({root})"),
                "nothing listens at that address, or a firewall, proxy or DNS name is in the way",
            )
        });
    }
    let raw = err.raw_response()?;
    let status = raw.status().as_u16();
    let code = err.code().map(str::to_owned).or_else(|| error_from_body(err).map(|(c, _)| c));
    if status >= 500 {
        let reason = code.map(|c| format!(", {}", one_line(&c, 80))).unwrap_or_default();
        let retried = match seen.attempts {
            0 | 1 => String::new(),
            n => format!(", also when retried ({n} attempts)"),
        };
        return Some(failure(
            format!("it answered HTTP {status}{reason}{retried}"),
            "an STS outage, or an error page from a proxy on the way",
        ));
    }
    let len = raw.body().bytes().map(<[u8]>::len).unwrap_or_default();
    let declared = raw.headers().get("content-length").and_then(|v| v.trim().parse::<usize>().ok());
    if code.is_none()
        && let Some(declared) = declared.filter(|&d| d > len)
    {
        // The connection closed before the body it announced: no service is wrong, the answer was cut.
        return Some(failure(
            format!(
                "its answer was cut short (HTTP {status}: the connection closed before the {declared} bytes it announced)"
            ),
            "a proxy or load balancer on the way that truncates responses, or an endpoint that closed mid-answer",
        ));
    }
    if code.is_none() {
        let kind = raw.headers().get("content-type").map(|t| format!(" of {}", one_line(t, 60))).unwrap_or_default();
        return Some(failure(
            format!("its answer is not an STS response (HTTP {status}, {len} bytes{kind})"),
            "the endpoint URL names a service that is not STS, or a proxy answers in its place",
        ));
    }
    None
}

/// The innermost error of a chain: the OS or protocol reason, without the layers' own wording.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    one_line(&e.to_string(), 200)
}

fn looks_like_parse_error(text: &str) -> bool {
    [
        "invalid HTTP",
        "message head",
        "parse",
        "invalid header",
        "invalid status",
        "unexpected EOF",
        "connection closed before message completed",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// Text from a remote peer made safe for one line of a message: control characters escaped, length capped.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        if out.chars().count() >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The fix for an STS error code that credpush does not handle by a variant of its own.
pub(super) fn fix_for_code(code: &str) -> &'static str {
    match code {
        "RegionDisabledException" => {
            "activate STS in this region (IAM console, account settings), or use --region with an active region"
        }
        "MalformedPolicyDocument" | "PackedPolicyTooLarge" => {
            "shorten or correct --policy-file, --policy-arn and --tag (their packed size is limited)"
        }
        "ValidationError" | "InvalidParameterValue" => "correct the flag STS names in its message",
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
            "run again later; with --session-per-host, spread large fleets over several runs"
        }
        "InvalidIdentityToken" | "IDPRejectedClaim" | "ExpiredTokenException" => {
            "check the caller's web identity token and its provider"
        }
        _ => "look the code up in the STS API reference for this operation",
    }
}

/// Reads `<Code>` and `<Message>` from an error body the SDK could not classify. Some STS-compatible endpoints
/// (moto's auth layer among them) nest the error one level deeper than STS's own `ErrorResponse/Error`.
pub(super) fn error_from_body<E>(err: &SdkError<E, HttpResponse>) -> Option<(String, String)> {
    let body = std::str::from_utf8(err.raw_response()?.body().bytes()?).ok()?;
    let tag = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].trim().to_owned())
    };
    Some((tag("Code")?, tag("Message").unwrap_or_default()))
}
