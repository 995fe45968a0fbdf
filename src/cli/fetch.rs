//! `credpush fetch`: on an SSM managed instance, read the document from its SecureString parameter and write it
//! for the owner (see `host::fetch`). deploy/credpush-fetch.yml runs it as root under the agent.

use clap::Args;

use crate::error::{EXIT_OK, Result};
use crate::host::fetch::{FetchOptions, Fetched, apply};
use crate::term;

/// Exit codes of `credpush fetch` (its help and the README).
pub const FETCH_EXIT_CODES: &str = "\
Exit codes:
  0  the document is in place (written, or this version was already there), or a later rotation's
     document was there and was kept
  2  bad input: flags, an unknown owner, an unsafe directory; or the document was refused
     (invalid, expired, or, for a value put by hand, older than the version written): the old file is kept
  3  AWS: no credentials, or GetParameter failed (access denied, not found, the key)
  4  a local file could not be read or written";

/// `credpush fetch`.
#[derive(Debug, Args)]
pub struct FetchCmd {
    /// The SecureString parameter that holds the document, e.g. /credpush/deploy.
    #[arg(long, value_name = "NAME")]
    pub parameter: String,

    /// The document's path: absolute, or under the owner's ~/.
    #[arg(long, value_name = "PATH")]
    pub path: String,

    /// The local user who owns the document (and whose ~/.aws/config gets the profile) [default: root].
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,

    /// Also ensure [profile NAME] in the owner's ~/.aws/config, pointing at the document.
    #[arg(long, value_name = "NAME")]
    pub install_profile: Option<String>,

    /// What is written: the document at --path, or a managed [NAME] section (NAME from --install-profile) of the
    /// AWS credentials file at --path (e.g. ~/.aws/credentials) [default: json].
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = crate::cli::rotate::FormatArg::Json)]
    pub format: crate::cli::rotate::FormatArg,

    /// Region of the parameter (also written into the profile) [default: the agent's, else the standard chain].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
}

/// Runs `credpush fetch`.
pub async fn run(cmd: FetchCmd) -> Result<i32> {
    let region = cmd.region.or_else(|| std::env::var("AWS_SSM_REGION_NAME").ok().filter(|r| !r.is_empty()));
    let opts = FetchOptions::new(
        &cmd.parameter,
        &cmd.path,
        cmd.owner.as_deref(),
        cmd.install_profile.as_deref(),
        region.as_deref(),
        cmd.format == crate::cli::rotate::FormatArg::Credentials,
    )?;
    let config = crate::aws::config::for_host(region.as_deref()).await?;
    let (value, version) = crate::ssm::client::Ssm::new(&config).get_document(&opts.parameter).await?;
    let outcome = apply(&opts, &Fetched { value, version }, time::OffsetDateTime::now_utc())?;
    term::print(&format!("{}\n", outcome.summary(&opts.path)))?;
    Ok(EXIT_OK)
}
