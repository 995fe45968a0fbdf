//! The AWS configuration of `credpush fetch` on a managed instance: the standard chain (there, the SSM agent's
//! shared credentials file), the region given or found, standard retries, and bounded timeouts so that a fetch
//! under Run Command never hangs past the step's own timeout.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

use crate::error::{Error, Result};

/// The longest one fetch waits for its credentials and its GetParameter, retries included.
const DEADLINE: Duration = Duration::from_secs(30);

/// Loads the configuration; fails with one line when no region is known.
pub async fn for_host(region: Option<&str>) -> Result<aws_config::SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(10))
                .operation_timeout(DEADLINE)
                .build(),
        );
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_owned()));
    }
    let config = tokio::time::timeout(DEADLINE, loader.load()).await.map_err(|_| Error::NoCredentials {
        detail: format!("the credential sources did not answer within {}s", DEADLINE.as_secs()),
    })?;
    if config.region().is_none() {
        return Err(Error::invalid("--region", "", "no region is configured (fix: pass --region, or set AWS_REGION)"));
    }
    Ok(config)
}
