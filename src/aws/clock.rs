//! The local clock against STS's: one GetCallerIdentity signed with a made-up key (the SDK will not send an
//! unsigned one), whose answer, an error, still has an HTTP `Date` header. SigV4 refuses requests more than 5
//! minutes off. No real credential is read or sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sts::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use time::{OffsetDateTime, PrimitiveDateTime};

/// Keeps the `Date` of the last response.
#[derive(Debug, Default, Clone)]
struct DateRecorder(Arc<Mutex<Option<String>>>);

impl Intercept for DateRecorder {
    fn name(&self) -> &'static str {
        "credpush-date-recorder"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_sts::error::BoxError> {
        if let Some(date) = context.response().headers().get("date")
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(date.to_owned());
        }
        Ok(())
    }
}

/// Parses an HTTP date (`Sat, 28 Nov 2026 06:55:00 GMT`).
pub fn parse_http_date(text: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    PrimitiveDateTime::parse(text.trim(), &fmt).ok().map(PrimitiveDateTime::assume_utc)
}

/// How far the local clock is ahead of STS's (negative: behind). Uses the standard region and endpoint settings;
/// sends no real credentials.
pub async fn skew(region: Option<&str>) -> Result<time::Duration, String> {
    // The SDK's loader reads the shared config for the region: a FIFO there would hang it.
    crate::aws::caller::check_shared_files().map_err(|e| format!("not checked: {e}"))?;
    let probe =
        aws_credential_types::Credentials::new("AKIDCREDPUSHCLOCKPROBE", "not-a-secret", None, None, "credpush-clock");
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).credentials_provider(probe).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_timeout(Duration::from_secs(8))
            .build(),
    );
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        sdk = sdk.into_builder().region(Region::new(crate::aws::sts::FALLBACK_REGION)).build();
    }
    let recorder = DateRecorder::default();
    let config = aws_sdk_sts::config::Builder::from(&sdk)
        .interceptor(recorder.clone())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let sent = OffsetDateTime::now_utc();
    // The call fails (no credentials); only the Date of its answer matters.
    let result = aws_sdk_sts::Client::from_conf(config).get_caller_identity().send().await;
    let received = OffsetDateTime::now_utc();
    let date = recorder.0.lock().ok().and_then(|d| d.clone());
    match date.as_deref().and_then(parse_http_date) {
        // The server's second falls somewhere between sending and receiving: compare with the midpoint.
        Some(server) => Ok(sent + (received - sent) / 2 - server),
        None => Err(match result {
            Err(e) => format!("STS did not answer: {}", aws_sdk_sts::error::DisplayErrorContext(&e)),
            Ok(_) => "STS's answer had no Date header".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_http_date;
    use time::macros::datetime;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sat, 28 Nov 2026 06:55:00 GMT"), Some(datetime!(2026-11-28 06:55:00 UTC)));
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
