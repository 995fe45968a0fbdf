//! The SSM transport, for hosts that SSH cannot reach: the document is written to a SecureString parameter (a
//! customer-managed KMS key), and Run Command tells each managed instance to run `credpush fetch`, which reads it
//! with the agent's own credentials (see `host::fetch`). No secret is ever in a command's parameters or comment:
//! SSM keeps those for 30 days and returns them from ListCommands.
//!
//! - [`targets`]: `--ssm-targets` in the AWS CLI's words, and SendCommand's limits.
//! - [`host`]: inventory hosts with `ansible_connection: community.aws.aws_ssm`.
//! - [`client`]: the SSM calls, each failure one line with the fix.
//! - [`deliver`]: PutParameter once per parameter, SendCommand per 50 instances, polling to a per-instance report.

pub mod client;
pub mod deliver;
pub mod host;
pub mod targets;

/// The step of deploy/credpush-fetch.yml that runs `credpush fetch` (GetCommandInvocation's PluginName).
pub const FETCH_STEP: &str = "fetch";
/// The document's default name (deploy/credpush-ssm.yml's DocumentName).
pub const DEFAULT_DOCUMENT: &str = "credpush-fetch";
/// The default key: the alias the stack creates.
pub const DEFAULT_KMS_KEY: &str = "alias/credpush";
/// Where the document expects credpush on the instances.
pub const DEFAULT_CREDPUSH_PATH: &str = "/usr/local/bin/credpush";
