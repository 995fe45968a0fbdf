//! STS: one `SdkConfig` for the caller, caller identity, and AssumeRole into a [`CredentialDocument`].
//!
//! The caller authenticates through the standard chain (environment, shared profile, web identity, the container
//! credentials CodeBuild and ECS provide, EC2 instance metadata) and the standard endpoint settings
//! (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, region).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use time::OffsetDateTime;

use crate::document::{CredentialDocument, format_expiration};
use crate::error::{Error, Result};
use crate::params::{AssumeParams, ROLE_CHAINING_MAX_SECS};
use crate::secret::Secret;

/// Region used when neither `--region` nor the environment or profile names one. STS is served in every region.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Who is calling STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `arn:aws:iam::…:user/x` or `arn:aws:sts::…:assumed-role/ROLE/SESSION`.
    pub arn: String,
    /// The caller's account.
    pub account: String,
}

impl CallerIdentity {
    /// True when the caller is itself an assumed-role session, so AssumeRole is role chaining (1-hour cap).
    pub fn is_assumed_role(&self) -> bool {
        self.arn.contains(":assumed-role/")
    }
}

/// Refuses a request that STS would refuse anyway, before it is sent: role chaining past 1 hour.
pub fn check_role_chaining(caller: &CallerIdentity, params: &AssumeParams) -> Result<()> {
    if caller.is_assumed_role() && params.duration_secs > ROLE_CHAINING_MAX_SECS {
        return Err(Error::RoleChaining { caller_arn: caller.arn.clone(), duration_secs: params.duration_secs });
    }
    Ok(())
}

/// Remembers where the last request went, so an unreachable endpoint can be named exactly.
#[derive(Debug, Default, Clone)]
struct EndpointRecorder(Arc<Mutex<Option<String>>>);

impl Intercept for EndpointRecorder {
    fn name(&self) -> &'static str {
        "credpush-endpoint-recorder"
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
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(endpoint);
        }
        Ok(())
    }
}

/// An STS client bound to the caller's resolved credentials.
#[derive(Debug, Clone)]
pub struct Sts {
    client: aws_sdk_sts::Client,
    endpoint: EndpointRecorder,
}

impl Sts {
    /// Builds the one AWS config: region (flag, then the standard chain, then [`FALLBACK_REGION`]), standard
    /// retries, timeouts, and the caller's credentials, resolved once and checked for expiry here because some
    /// endpoints (moto) accept expired credentials.
    pub async fn connect(region: Option<&str>) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(20))
                    .build(),
            );
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_owned()));
        }
        let mut sdk_config = loader.load().await;
        if sdk_config.region().is_none() {
            tracing::debug!(region = FALLBACK_REGION, "no region configured; using the fallback");
            sdk_config = sdk_config.into_builder().region(Region::new(FALLBACK_REGION)).build();
        }
        let provider = sdk_config
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials { detail: "no credential provider is configured".into() })?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            let detail = match &e {
                CredentialsError::CredentialsNotLoaded(_) => "none of the sources had credentials".to_owned(),
                _ => DisplayErrorContext(&e).to_string(),
            };
            Error::NoCredentials { detail }
        })?;
        if let Some(expiry) = creds.expiry()
            && expiry <= SystemTime::now()
        {
            return Err(Error::CallerCredentialsExpired {
                expired_at: format_expiration(OffsetDateTime::from(expiry)),
            });
        }
        tracing::debug!(access_key_id = creds.access_key_id(), "resolved caller credentials");
        let endpoint = EndpointRecorder::default();
        let config = aws_sdk_sts::config::Builder::from(&sdk_config)
            .credentials_provider(creds)
            .interceptor(endpoint.clone())
            .build();
        Ok(Self { client: aws_sdk_sts::Client::from_conf(config), endpoint })
    }

    /// GetCallerIdentity.
    pub async fn caller_identity(&self) -> Result<CallerIdentity> {
        let out = self
            .client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| self.map_error(e, "GetCallerIdentity", None, None))?;
        let identity = CallerIdentity {
            arn: out.arn().unwrap_or_default().to_owned(),
            account: out.account().unwrap_or_default().to_owned(),
        };
        tracing::info!(caller = %identity.arn, "caller identity");
        Ok(identity)
    }

    /// AssumeRole with every parameter in `params`, converted straight into our document type.
    pub async fn assume_role(&self, caller: &CallerIdentity, params: &AssumeParams) -> Result<CredentialDocument> {
        check_role_chaining(caller, params)?;
        let role = params.role_arn.as_str();
        let mut req = self
            .client
            .assume_role()
            .role_arn(role)
            .role_session_name(&params.session_name)
            .duration_seconds(params.duration_secs as i32)
            .set_external_id(params.external_id.clone())
            .set_policy(params.policy.clone())
            .set_source_identity(params.source_identity.clone());
        for arn in &params.policy_arns {
            req = req.policy_arns(PolicyDescriptorType::builder().arn(arn).build());
        }
        for (key, value) in &params.tags {
            let tag = Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| Error::invalid("--tag", key.clone(), e.to_string()))?;
            req = req.tags(tag);
        }
        for key in &params.transitive_tag_keys {
            req = req.transitive_tag_keys(key);
        }
        tracing::info!(role_arn = role, session = %params.session_name, duration_secs = params.duration_secs, "AssumeRole");
        let out = req.send().await.map_err(|e| self.map_error(e, "AssumeRole", Some(role), Some(caller)))?;
        let creds = out.credentials().ok_or_else(|| Error::Sts {
            operation: "AssumeRole",
            role_arn: Some(role.to_owned()),
            message: "the response has no Credentials".into(),
        })?;
        let expiration = OffsetDateTime::from_unix_timestamp(creds.expiration().secs()).map_err(|e| Error::Sts {
            operation: "AssumeRole",
            role_arn: Some(role.to_owned()),
            message: format!("the response's Expiration is out of range: {e}"),
        })?;
        let document = CredentialDocument {
            access_key_id: creds.access_key_id().to_owned(),
            secret_access_key: Secret::new(creds.secret_access_key()),
            session_token: Secret::new(creds.session_token()),
            expiration,
        };
        if document.is_expired(OffsetDateTime::now_utc()) {
            return Err(Error::Sts {
                operation: "AssumeRole",
                role_arn: Some(role.to_owned()),
                message: format!(
                    "STS returned credentials that expired at {} (check this machine's clock)",
                    document.expiration_rfc3339()
                ),
            });
        }
        tracing::info!(
            role_arn = role,
            assumed = out.assumed_role_user().map(|u| u.arn()).unwrap_or_default(),
            expiration = %document.expiration_rfc3339(),
            "assumed role"
        );
        Ok(document)
    }

    fn map_error<E>(
        &self,
        err: SdkError<E, HttpResponse>,
        operation: &'static str,
        role: Option<&str>,
        caller: Option<&CallerIdentity>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let endpoint =
            || self.endpoint.0.lock().ok().and_then(|e| e.clone()).unwrap_or_else(|| "(not resolved)".into());
        match &err {
            SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => {
                let detail = d
                    .as_connector_error()
                    .map(|c| DisplayErrorContext(c).to_string())
                    .unwrap_or_else(|| "connection failed".into());
                return Error::EndpointUnreachable { endpoint: endpoint(), detail };
            }
            SdkError::TimeoutError(_) => {
                return Error::EndpointUnreachable { endpoint: endpoint(), detail: "timed out".into() };
            }
            _ => {}
        }
        let (code, message) = match (err.code(), err.message()) {
            (Some(code), message) => (code.to_owned(), message.unwrap_or_default().to_owned()),
            _ => error_from_body(&err).unwrap_or_default(),
        };
        // Branch on STS's documented error codes: each points at a different fix.
        match code.as_str() {
            "AccessDenied" => Error::AccessDenied {
                caller_arn: caller.map(|c| c.arn.clone()).unwrap_or_else(|| "(unknown)".into()),
                role_arn: role.unwrap_or_default().to_owned(),
                message,
            },
            // The caller's own keys are wrong, revoked or expired: nothing about the role can help.
            "InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken" | "UnrecognizedClientException" => {
                Error::CallerRejected { operation, code, message }
            }
            "" => Error::Sts {
                operation,
                role_arn: role.map(str::to_owned),
                message: DisplayErrorContext(&err).to_string(),
            },
            _ => Error::Sts { operation, role_arn: role.map(str::to_owned), message: format!("{code}: {message}") },
        }
    }
}

/// Reads `<Code>` and `<Message>` from an error body the SDK could not classify. Some STS-compatible endpoints
/// (moto's auth layer among them) nest the error one level deeper than STS's own `ErrorResponse/Error`.
fn error_from_body<E>(err: &SdkError<E, HttpResponse>) -> Option<(String, String)> {
    let body = std::str::from_utf8(err.raw_response()?.body().bytes()?).ok()?;
    let tag = |name: &str| {
        let start = body.find(&format!("<{name}>"))? + name.len() + 2;
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].trim().to_owned())
    };
    Some((tag("Code")?, tag("Message").unwrap_or_default()))
}
