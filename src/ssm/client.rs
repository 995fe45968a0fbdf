//! The SSM calls the transport and `fetch` make, each wrapped so that a failure is one line naming the call, its
//! object, SSM's code and message, and a fix. No request or answer that carries the document is ever logged.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{CommandInvocationStatus, ParameterTier, ParameterType, Target};

use crate::error::Error;
use crate::host::secret::Secret;

/// Standard-tier parameters hold at most 4 KB; a credential document is about 1.5 KB with a long session token.
pub const STANDARD_TIER_MAX: usize = 4096;

/// An SSM client bound to one configuration.
#[derive(Debug, Clone)]
pub struct Ssm {
    client: aws_sdk_ssm::Client,
}

/// What one instance's invocation looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationState {
    /// The instance ID.
    pub instance_id: String,
    /// SSM's status: Pending, InProgress, Delayed, Success, Cancelled, TimedOut, Failed, Cancelling.
    pub status: String,
    /// SSM's details, e.g. DeliveryTimedOut, Undeliverable.
    pub details: String,
    /// The `fetch` step's output (the first 2,500 characters SSM keeps), when it ran.
    pub fetch_output: Option<String>,
}

impl InvocationState {
    /// True once SSM will not change it any more.
    pub fn is_final(&self) -> bool {
        matches!(self.status.as_str(), "Success" | "Cancelled" | "TimedOut" | "Failed")
    }
}

/// What SendCommand carries besides the targets. Every value here is visible in ListCommands for 30 days, so none
/// may be a secret: the type holds only names and paths.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The document name.
    pub document: String,
    /// The document's parameters (parameterName, path, owner, ...).
    pub parameters: Vec<(&'static str, String)>,
    /// `Comment` (100 characters at most; names the role).
    pub comment: String,
    /// `TimeoutSeconds`: how long the instances have to pick the command up.
    pub timeout: Duration,
    /// `MaxConcurrency`.
    pub max_concurrency: String,
    /// `MaxErrors`.
    pub max_errors: String,
}

/// Who the command goes to: up to 50 instance IDs, or up to 5 targets SSM resolves.
#[derive(Debug, Clone)]
pub enum Recipients {
    /// InstanceIds.
    Ids(Vec<String>),
    /// Targets (`tag:…`, `tag-key`, `resource-groups:Name`), as key and values.
    Targets(Vec<(String, Vec<String>)>),
}

impl Ssm {
    /// A client for `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_ssm::Client::new(config) }
    }

    /// PutParameter: the document as a standard-tier SecureString under `key_id`, overwriting. Returns the new
    /// version.
    pub async fn put_document(&self, name: &str, value: &Secret, key_id: &str) -> Result<i64, Error> {
        if value.expose().len() > STANDARD_TIER_MAX {
            return Err(Error::invalid(
                "--parameter",
                name,
                format!("the document is {} bytes, over the 4 KB of a standard-tier parameter", value.expose().len()),
            ));
        }
        let out = self
            .client
            .put_parameter()
            .name(name)
            .value(value.expose())
            .r#type(ParameterType::SecureString)
            .key_id(key_id)
            .tier(ParameterTier::Standard)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| fail("PutParameter", name, e, Some(key_id)))?;
        Ok(out.version())
    }

    /// GetParameter WithDecryption: the value and its version.
    pub async fn get_document(&self, name: &str) -> Result<(Secret, i64), Error> {
        let out = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| fail("GetParameter", name, e, None))?;
        let p = out.parameter.ok_or_else(|| Error::Ssm {
            operation: "GetParameter",
            object: name.to_owned(),
            message: "the answer held no parameter".into(),
            fix: "check the endpoint",
        })?;
        Ok((Secret::new(p.value.unwrap_or_default()), p.version))
    }

    /// SendCommand; returns the command ID.
    pub async fn send(&self, spec: &CommandSpec, to: &Recipients) -> Result<String, Error> {
        let mut req = self
            .client
            .send_command()
            .document_name(&spec.document)
            .comment(spec.comment.chars().take(100).collect::<String>())
            .timeout_seconds(spec.timeout.as_secs().clamp(30, 2_592_000) as i32)
            .max_concurrency(&spec.max_concurrency)
            .max_errors(&spec.max_errors);
        for (k, v) in &spec.parameters {
            req = req.parameters(*k, vec![v.clone()]);
        }
        let object = match to {
            Recipients::Ids(ids) => {
                req = req.set_instance_ids(Some(ids.clone()));
                format!("{} instance(s)", ids.len())
            }
            Recipients::Targets(targets) => {
                for (key, values) in targets {
                    req = req.targets(Target::builder().key(key).set_values(Some(values.clone())).build());
                }
                targets.iter().map(|(k, v)| format!("{k}={}", v.join(","))).collect::<Vec<_>>().join(" ")
            }
        };
        let out = req.send().await.map_err(|e| fail("SendCommand", &object, e, None))?;
        out.command.and_then(|c| c.command_id).ok_or_else(|| Error::Ssm {
            operation: "SendCommand",
            object,
            message: "the answer held no command ID".into(),
            fix: "check the endpoint",
        })
    }

    /// ListCommandInvocations with details, every page: the state of each instance the command reached.
    pub async fn invocations(&self, command_id: &str) -> Result<HashMap<String, InvocationState>, Error> {
        let mut out = HashMap::new();
        let mut token: Option<String> = None;
        // Bounded: 50 per page, and a command reaches at most SSM's own target limit.
        for _ in 0..1000 {
            let page = self
                .client
                .list_command_invocations()
                .command_id(command_id)
                .details(true)
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| fail("ListCommandInvocations", command_id, e, None))?;
            for inv in page.command_invocations() {
                let Some(id) = inv.instance_id() else { continue };
                let fetch_output = inv
                    .command_plugins()
                    .iter()
                    .find(|p| p.name() == Some(super::FETCH_STEP))
                    .and_then(|p| p.output().map(str::to_owned));
                out.insert(
                    id.to_owned(),
                    InvocationState {
                        instance_id: id.to_owned(),
                        status: inv.status().map(CommandInvocationStatus::as_str).unwrap_or("Pending").to_owned(),
                        details: inv.status_details().unwrap_or_default().to_owned(),
                        fetch_output,
                    },
                );
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// GetCommandInvocation for the fetch step: its standard error, where fetch writes its one-line reason.
    pub async fn fetch_stderr(&self, command_id: &str, instance_id: &str) -> Result<String, Error> {
        let out = self
            .client
            .get_command_invocation()
            .command_id(command_id)
            .instance_id(instance_id)
            .plugin_name(super::FETCH_STEP)
            .send()
            .await
            .map_err(|e| fail("GetCommandInvocation", instance_id, e, None))?;
        Ok(out.standard_error_content.unwrap_or_default())
    }
}

/// One line for a failed call: which call, on what, SSM's code and message, and the fix for that code.
fn fail<E, R>(operation: &'static str, object: &str, err: SdkError<E, R>, key_id: Option<&str>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = match &err {
        SdkError::ServiceError(s) => {
            (s.err().code().unwrap_or("Unknown").to_owned(), s.err().message().unwrap_or_default().to_owned())
        }
        SdkError::TimeoutError(_) => ("Timeout".to_owned(), "no answer in time".to_owned()),
        SdkError::DispatchFailure(d) => (
            "DispatchFailure".to_owned(),
            if d.is_timeout() { "connect timed out".into() } else { "could not connect".into() },
        ),
        other => ("Unknown".to_owned(), aws_sdk_ssm::error::DisplayErrorContext(other).to_string()),
    };
    let fix = match code.as_str() {
        "AccessDeniedException" | "AccessDenied" => match (operation, key_id) {
            ("PutParameter", Some(_)) => {
                "the caller needs ssm:PutParameter on the parameter and kms:Encrypt on the key (deploy/credpush-ssm.yml's rotator policy)"
            }
            ("GetParameter", _) => {
                "the instance role needs ssm:GetParameter on this parameter and kms:Decrypt with its encryption context (deploy/credpush-ssm.yml's host policy)"
            }
            ("SendCommand", _) => {
                "the caller needs ssm:SendCommand on the document and on instances carrying the credpush tag"
            }
            _ => "the caller needs ssm:GetCommandInvocation and ssm:ListCommandInvocations",
        },
        "ParameterNotFound" => "run credpush rotate for this parameter first, or check --parameter",
        "InvalidKeyId" | "KMSNotFoundException" | "KMSInvalidStateException" => {
            "check --kms-key-id: the key or alias must exist in this region and be enabled"
        }
        "InvalidDocument" => "create the document from deploy/credpush-fetch.yml, or pass --ssm-document",
        "InvalidInstanceId" => "check the instance IDs: each must be a managed instance that is online in this region",
        "InvalidParameters" => "check --path, --owner and --install-profile against the document's allowed patterns",
        "DispatchFailure" | "Timeout" => "check AWS_ENDPOINT_URL_SSM, AWS_ENDPOINT_URL, the region and the network",
        "UnrecognizedClientException" | "ExpiredTokenException" | "InvalidSignatureException" => {
            "check the caller's credentials: they are unknown, expired or do not match"
        }
        _ => "see SSM's message",
    };
    let message = crate::term::escape(&message.chars().take(300).collect::<String>()).into_owned();
    Error::Ssm { operation, object: object.to_owned(), message: format!("{code}: {message}"), fix }
}
