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
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use time::OffsetDateTime;

use crate::aws::params::{AssumeParams, ROLE_CHAINING_MAX_SECS, StsLimits};
use crate::error::{Error, Result};
use crate::host::document::{CredentialDocument, format_expiration};
use crate::host::secret::Secret;

use super::failure::{
    self, CallTrace, EndpointFailure, FIX_ENDPOINT, call_name, error_from_body, fix_for_code, one_line,
};

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

/// Refuses credentials with bytes outside printable ASCII or with whitespace. Access keys, secrets and session
/// tokens are base64-like text; a `\r` or `\n` in one (a file saved on Windows, `$(cat FILE)`) makes an invalid
/// HTTP header value, on which the SDK's signer panics. Names the field, never its value.
pub fn check_credential_shape(creds: &aws_credential_types::Credentials) -> Result<()> {
    let fields = [
        ("access key id (AWS_ACCESS_KEY_ID, aws_access_key_id)", Some(creds.access_key_id())),
        ("secret access key (AWS_SECRET_ACCESS_KEY, aws_secret_access_key)", Some(creds.secret_access_key())),
        ("session token (AWS_SESSION_TOKEN, aws_session_token)", creds.session_token()),
    ];
    for (field, value) in fields {
        let Some(value) = value else { continue };
        let bad = |b: &u8| !b.is_ascii_graphic();
        if let Some(at) = value.as_bytes().iter().position(bad) {
            let trailing = value.as_bytes()[at..].iter().all(bad);
            let where_ = if trailing { " at its end" } else { "" };
            return Err(Error::CallerCredentialsMalformed { field, where_ });
        }
    }
    Ok(())
}

/// An STS client bound to the caller's resolved credentials.
#[derive(Debug, Clone)]
pub struct Sts {
    client: aws_sdk_sts::Client,
    /// The same configuration with the resolved caller credentials, for the run's other clients (SSM).
    sdk_config: aws_config::SdkConfig,
    limits: StsLimits,
    /// Set by the first call that finds the endpoint down (no answer, not HTTP, a server error), so that no
    /// further call waits for it: the failure, to repeat for the calls not made.
    down: Arc<Mutex<Option<EndpointFailure>>>,
}

impl Sts {
    /// Builds the one AWS config: region (flag, then the standard chain, then [`FALLBACK_REGION`]), standard
    /// retries, timeouts, and the caller's credentials, resolved once and checked for expiry here because some
    /// endpoints (moto) accept expired credentials.
    ///
    /// `limits` bounds each attempt and each call (retries included); resolving the caller's credentials, which
    /// may itself be a network call (container credentials, web identity), gets the call deadline too.
    pub async fn connect(region: Option<&str>, limits: StsLimits) -> Result<Self> {
        super::caller::check_shared_files()?;
        super::caller::check_not_nested()?;
        // Whatever a credential_process starts ends before this returns, on every path (see `caller`).
        let _children = super::caller::ChildGuard::start();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(limits.attempt_timeout.min(Duration::from_secs(5)))
                    .operation_attempt_timeout(limits.attempt_timeout)
                    .operation_timeout(limits.deadline)
                    .build(),
            );
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_owned()));
        }
        let deadline_passed = || Error::NoCredentials {
            detail: format!(
                "the credential sources did not answer within --sts-deadline {}s",
                limits.deadline.as_secs()
            ),
        };
        let mut sdk_config =
            tokio::time::timeout(limits.deadline, loader.load()).await.map_err(|_| deadline_passed())?;
        if sdk_config.region().is_none() {
            tracing::debug!(region = FALLBACK_REGION, "no region configured; using the fallback");
            sdk_config = sdk_config.into_builder().region(Region::new(FALLBACK_REGION)).build();
        }
        let provider = sdk_config
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials { detail: "no credential provider is configured".into() })?;
        let resolved = tokio::time::timeout(limits.deadline, provider.provide_credentials()).await;
        let creds = resolved.map_err(|_| deadline_passed())?.map_err(|e| {
            let detail = match &e {
                CredentialsError::CredentialsNotLoaded(_) => "none of the sources had credentials".to_owned(),
                _ => DisplayErrorContext(&e).to_string(),
            };
            Error::NoCredentials { detail }
        })?;
        check_credential_shape(&creds)?;
        if let Some(expiry) = creds.expiry()
            && expiry <= SystemTime::now()
        {
            return Err(Error::CallerCredentialsExpired {
                expired_at: format_expiration(OffsetDateTime::from(expiry)),
            });
        }
        tracing::debug!(access_key_id = creds.access_key_id(), "resolved caller credentials");
        let config = aws_sdk_sts::config::Builder::from(&sdk_config).credentials_provider(creds.clone()).build();
        let sdk_config = sdk_config
            .into_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
            .build();
        Ok(Self { client: aws_sdk_sts::Client::from_conf(config), sdk_config, limits, down: Arc::default() })
    }

    /// The run's AWS configuration, with the caller's credentials as resolved and checked here.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk_config
    }

    /// GetCallerIdentity.
    pub async fn caller_identity(&self) -> Result<CallerIdentity> {
        self.check_up("GetCallerIdentity", None)?;
        let trace = CallTrace::default();
        let out = self
            .client
            .get_caller_identity()
            .customize()
            .interceptor(trace.clone())
            .send()
            .await
            .map_err(|e| self.map_error(e, &trace, "GetCallerIdentity", None, None))?;
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
        self.check_up("AssumeRole", Some(role))?;
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
        let trace = CallTrace::default();
        let out = req
            .customize()
            .interceptor(trace.clone())
            .send()
            .await
            .map_err(|e| self.map_error(e, &trace, "AssumeRole", Some(role), Some(caller)))?;
        let endpoint = trace.get().endpoint.unwrap_or_default();
        let creds = out.credentials().ok_or_else(|| Error::Sts {
            operation: "AssumeRole",
            role_arn: Some(role.to_owned()),
            endpoint: endpoint.clone(),
            message: "the response has no Credentials".into(),
            fix: FIX_ENDPOINT,
        })?;
        let expiration = OffsetDateTime::from_unix_timestamp(creds.expiration().secs()).map_err(|e| Error::Sts {
            operation: "AssumeRole",
            role_arn: Some(role.to_owned()),
            endpoint: endpoint.clone(),
            message: format!("the response's Expiration is out of range: {e}"),
            fix: FIX_ENDPOINT,
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
                endpoint,
                message: format!("STS returned credentials that expired at {}", document.expiration_rfc3339()),
                fix: "check this machine's clock (timedatectl, NTP)",
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

    /// Fails fast when an earlier call found the endpoint down: waiting for it again would only stall the run.
    fn check_up(&self, operation: &'static str, role: Option<&str>) -> Result<()> {
        let Some(down) = self.down.lock().ok().and_then(|d| d.clone()) else { return Ok(()) };
        Err(Error::StsEndpoint {
            call: call_name(operation, role),
            endpoint: down.endpoint,
            what: format!("not attempted, because an earlier call there failed: {}", down.what),
            cause: down.cause,
        })
    }

    fn map_error<E>(
        &self,
        err: SdkError<E, HttpResponse>,
        trace: &CallTrace,
        operation: &'static str,
        role: Option<&str>,
        caller: Option<&CallerIdentity>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let seen = trace.get();
        let endpoint = seen.endpoint.clone().unwrap_or_else(|| "(not resolved)".into());
        if let Some(failure) = failure::classify(&err, &seen, &endpoint, self.limits) {
            if let Ok(mut down) = self.down.lock() {
                down.get_or_insert_with(|| failure.clone());
            }
            if let Some(detail) = failure.unreachable {
                // No answer at all: the connection itself failed (refused, no route, DNS, TLS).
                return Error::EndpointUnreachable { endpoint, detail };
            }
            return Error::StsEndpoint {
                call: call_name(operation, role),
                endpoint,
                what: failure.what,
                cause: failure.cause,
            };
        }
        let (code, message) = match (err.code(), err.message()) {
            (Some(code), message) => (code.to_owned(), message.unwrap_or_default().to_owned()),
            _ => error_from_body(&err).unwrap_or_default(),
        };
        let (code, message) = (one_line(&code, 80), one_line(&message, 300));
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
            _ => Error::Sts {
                operation,
                role_arn: role.map(str::to_owned),
                endpoint,
                message: format!("{code}: {message}"),
                fix: fix_for_code(&code),
            },
        }
    }
}
