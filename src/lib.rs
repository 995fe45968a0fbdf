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
//! - **The Ansible module** ([`ansible`], the `credpush-ansible` binary) writes the same document with the same
//!   contract on a host that Ansible reached, sharing [`document`], [`fsutil`] and [`profile`]. Built without the
//!   default `cli` feature, it links none of the AWS SDK, tokio or ssh code, so it stays small and static.
//! - **Schedules** ([`plan::check`]): whether a rotation period keeps every host ahead of botocore's 15-minute
//!   refresh window, and how [`shard::Shard`] splits a fleet over parallel builds (see `buildspec.yml`).
//! - **Errors** ([`error::Error`]) name the input and the fix, and map to documented exit codes.
//!
//! ```no_run
//! # async fn demo() -> credpush::error::Result<()> {
//! use credpush::{cli::StsArgs, params::{AssumeParams, StsLimits}, sts::Sts};
//! let params = AssumeParams::from_args("arn:aws:iam::123456789012:role/deploy", &StsArgs::default())?;
//! let sts = Sts::connect(None, StsLimits::default()).await?;
//! let caller = sts.caller_identity().await?;
//! let doc = sts.assume_role(&caller, &params).await?;
//! credpush::fsutil::write_atomic("/srv/ci/.aws/temp.json".as_ref(), doc.to_json().expose().as_bytes(), 0o600)?;
//! # Ok(()) }
//! ```

// Without the default `cli` feature only the modules the Ansible module needs are built (see Cargo.toml).
pub mod ansible;
pub mod document;
pub mod error;
pub mod fsutil;
pub mod profile;
pub mod secret;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod clock;
#[cfg(feature = "cli")]
pub mod doctor;
#[cfg(feature = "cli")]
pub mod fanout;
#[cfg(feature = "cli")]
pub mod inventory;
#[cfg(feature = "cli")]
pub mod limits;
#[cfg(feature = "cli")]
pub mod master;
#[cfg(feature = "cli")]
pub mod params;
#[cfg(feature = "cli")]
pub mod plan;
#[cfg(feature = "cli")]
pub mod push;
#[cfg(feature = "cli")]
pub mod read;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "cli")]
pub mod rotate;
#[cfg(feature = "cli")]
pub mod shard;
#[cfg(feature = "cli")]
pub mod signals;
#[cfg(feature = "cli")]
pub mod sshargs;
#[cfg(feature = "cli")]
pub mod status;
#[cfg(feature = "cli")]
pub mod stdout;
#[cfg(feature = "cli")]
pub mod sts;
#[cfg(feature = "cli")]
pub mod target;
#[cfg(feature = "cli")]
pub mod term;

#[cfg(feature = "cli")]
use cli::{AssumeCmd, Cli, Command, ProfileCmd};
#[cfg(feature = "cli")]
use error::{EXIT_OK, Error, Result};

#[cfg(feature = "cli")]
/// Runs one parsed command line and returns the process exit code for a run that did not fail outright.
pub async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Assume(cmd) => assume(*cmd).await,
        Command::Profile(cmd) => profile(cmd),
        Command::Rotate(cmd) => rotate::rotate(*cmd).await,
        // Handled in main before the runtime starts, so that it costs what `cat` costs.
        Command::Read(cmd) => Ok(read::run(&cmd.path)),
        Command::Status(cmd) => status::run(*cmd).await,
        Command::Doctor(cmd) => {
            let inputs = doctor::Inputs::from_env(cmd.profile.clone(), cmd.config.clone());
            let skew = if cmd.no_clock {
                Err("skipped (--no-clock)".to_owned())
            } else {
                clock::skew(cmd.region.as_deref()).await
            };
            let findings = doctor::diagnose(&inputs, time::OffsetDateTime::now_utc(), skew);
            let text = if cmd.json {
                let code = doctor::exit_code(&findings);
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&serde_json::json!({"findings": findings, "exit_code": code}))
                        .unwrap_or_default()
                )
            } else {
                doctor::human(&findings)
            };
            stdout::print(&text)?;
            Ok(doctor::exit_code(&findings))
        }
        Command::Inventory(cmd) => {
            let inv = inventory::Inventory::load(&cmd.inv.inventory)?;
            let list = inv.list(cmd.inv.limit.as_deref())?;
            // Streamed one host at a time; a reader that stops early ends it quietly, as with `stdout::print`.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match list.write_json(&mut out).and_then(|()| std::io::Write::flush(&mut out)) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(|e| Error::io("write", "stdout", e))?,
            }
            Ok(EXIT_OK)
        }
        Command::Plan(cmd) => {
            let schedule =
                plan::parse(cmd.duration.as_deref(), &cmd.every, cmd.build_time.as_deref(), cmd.role_chaining)?;
            let verdict = plan::check(&schedule);
            stdout::print(&plan::render(&schedule, &verdict))?;
            Ok(match verdict.refusal {
                None => EXIT_OK,
                Some(reason) => {
                    eprintln!("credpush: unsafe schedule: {reason}");
                    plan::EXIT_UNSAFE
                }
            })
        }
    }
}

#[cfg(feature = "cli")]
async fn assume(cmd: AssumeCmd) -> Result<i32> {
    let params = params::AssumeParams::from_args(&cmd.role_arn, &cmd.sts)?;
    let limits = params::StsLimits::from_args(&cmd.sts)?;
    if let Some(path) = &cmd.output {
        fsutil::check_writable("--output", path)?;
    }
    let sts = sts::Sts::connect(cmd.sts.region.as_deref(), limits).await?;
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
        None => stdout::print(json.expose())?,
    }
    Ok(EXIT_OK)
}

#[cfg(feature = "cli")]
fn profile(cmd: ProfileCmd) -> Result<i32> {
    let mut spec = profile::ProfileSpec::new(&cmd.name, &cmd.path, cmd.region.as_deref())?;
    if cmd.reader == cli::Reader::Credpush {
        let bin = match &cmd.reader_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()
                .map_err(|e| Error::io("find the path of", "credpush", e))?
                .to_string_lossy()
                .into_owned(),
        };
        spec = spec.with_reader(&bin)?;
    }
    match &cmd.install {
        None => stdout::print(&spec.render())?,
        Some(file) => {
            let outcome = spec.install(file)?;
            stdout::print(&format!("profile {:?} in {}: {}\n", cmd.name, file.display(), outcome.as_str()))?;
        }
    }
    Ok(EXIT_OK)
}
