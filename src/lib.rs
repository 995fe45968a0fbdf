//! credpush gives on-prem servers what an EC2 instance profile gives EC2 instances: short-lived credentials for
//! a least-privilege IAM role, in a `credential_process` document that every AWS SDK and the AWS CLI re-read
//! before it expires.
//!
//! - **Authentication.** The caller (a CodeBuild service role, a CI user, an operator) is found through the
//!   standard AWS chain; see [`sts::Sts::connect`]. credpush then calls `GetCallerIdentity` and `AssumeRole`.
//! - **The document** ([`document::CredentialDocument`]) holds the secret in [`secret::Secret`], whose `Debug` and
//!   `Display` print `(redacted)`. It is written only through [`fsutil::write_atomic`]: temp file, fsync, rename,
//!   mode 0600.
//! - **The profile** ([`profile::ProfileSpec`]) is `credential_process = cat /ABSOLUTE/path`, because botocore
//!   runs the process without a shell.
//! - **Rotation** ([`rotate::rotate`]) reads an Ansible inventory ([`inventory::Inventory`]), turns each host's
//!   variables into a [`target::HostTarget`], assumes once per role, and pushes to every host through
//!   [`fanout::run`] and [`push::Connection::write_file`]: one ssh exec, the document on stdin, a temp file, a
//!   checksum, fsync and rename on the host. Each host ends as a [`fanout::HostOutcome`] in the [`report`].
//! - **Errors** ([`error::Error`]) name the input and the fix, and map to documented exit codes.
//!
//! ```no_run
//! # async fn demo() -> credpush::error::Result<()> {
//! use credpush::{cli::StsArgs, params::AssumeParams, sts::Sts};
//! let params = AssumeParams::from_args("arn:aws:iam::123456789012:role/deploy", &StsArgs::default())?;
//! let sts = Sts::connect(None).await?;
//! let caller = sts.caller_identity().await?;
//! let doc = sts.assume_role(&caller, &params).await?;
//! credpush::fsutil::write_atomic("/srv/ci/.aws/temp.json".as_ref(), doc.to_json().expose().as_bytes(), 0o600)?;
//! # Ok(()) }
//! ```

pub mod cli;
pub mod document;
pub mod error;
pub mod fanout;
pub mod fsutil;
pub mod inventory;
pub mod params;
pub mod profile;
pub mod push;
pub mod report;
pub mod rotate;
pub mod secret;
pub mod sts;
pub mod target;

use std::io::Write;

use cli::{AssumeCmd, Cli, Command, ProfileCmd};
use error::{EXIT_OK, Error, Result};

/// Runs one parsed command line and returns the process exit code for a run that did not fail outright.
pub async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Assume(cmd) => assume(cmd).await,
        Command::Profile(cmd) => profile(cmd),
        Command::Rotate(cmd) => rotate::rotate(*cmd).await,
        Command::Inventory(cmd) => {
            let inv = inventory::Inventory::load(&cmd.inv.inventory)?;
            let list = inv.list(cmd.inv.limit.as_deref())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            list.write_json(&mut out).and_then(|()| out.flush()).map_err(|e| Error::io("write", "stdout", e))?;
            Ok(EXIT_OK)
        }
    }
}

async fn assume(cmd: AssumeCmd) -> Result<i32> {
    let params = params::AssumeParams::from_args(&cmd.role_arn, &cmd.sts)?;
    let sts = sts::Sts::connect(cmd.sts.region.as_deref()).await?;
    let caller = sts.caller_identity().await?;
    let doc = sts.assume_role(&caller, &params).await?;
    let json = doc.to_json();
    match &cmd.output {
        Some(path) => {
            fsutil::write_atomic(path, json.expose().as_bytes(), 0o600)?;
            eprintln!(
                "credpush: wrote credentials for {} (session {}, expires {}) to {}",
                params.role_arn,
                params.session_name,
                doc.expiration_rfc3339(),
                path.display()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(json.expose().as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| Error::io("write", "stdout", e))?;
        }
    }
    Ok(EXIT_OK)
}

fn profile(cmd: ProfileCmd) -> Result<i32> {
    let spec = profile::ProfileSpec::new(&cmd.name, &cmd.path, cmd.region.as_deref())?;
    match &cmd.install {
        None => print!("{}", spec.render()),
        Some(file) => {
            let outcome = spec.install(file)?;
            println!("profile {:?} in {}: {}", cmd.name, file.display(), outcome.as_str());
        }
    }
    Ok(EXIT_OK)
}
