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
//! - **Commands** ([`cmd`]): one thin file per subcommand turns parsed arguments ([`cli`]) into these calls.
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
pub mod cmd;
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
pub use cmd::run;
