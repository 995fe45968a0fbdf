//! credpush gives on-prem servers what an EC2 instance profile gives EC2 instances: short-lived credentials for
//! a least-privilege IAM role, in a `credential_process` document that every AWS SDK and the AWS CLI re-read
//! before it expires.
//!
//! # The layers
//! Arrows point down the list; nothing imports a layer above it (see `docs/ARCHITECTURE.md`).
//!
//! - [`cli`]: the clap types and one thin file per subcommand. The only layer that sees clap: it turns flags into
//!   the plain options of the layers below ([`fleet::rotate::RotateOptions`], [`aws::params::StsFlags`], …).
//! - [`lambda`]: the other front end. With `AWS_LAMBDA_RUNTIME_API` set, the binary serves the Lambda Runtime
//!   API; each event (keys = `rotate`'s flags in snake_case) becomes the same options and the same SSM rotation.
//! - [`fleet`]: many hosts. [`fleet::target`] reads each host's inventory variables into a
//!   [`fleet::target::HostTarget`] with a [`fleet::target::Route`] (ssh, local or ssm);
//!   [`fleet::rotate::rotate`] assumes once per role and hands every host to [`fleet::fanout::run`], which
//!   passes it to the transport its route names (SSM hosts, batch-shaped, go through [`fleet::ssm`]);
//!   [`fleet::status`] (each host's probe through [`fleet::target::Route::probe`]), [`fleet::plan`],
//!   [`fleet::shard`].
//! - Transports: [`ssh`], the system ssh through the `openssh` crate: the command line and its trust rules, the
//!   master's lifecycle, one host's push ([`ssh::deliver::deliver`]) and probe ([`ssh::probe::probe`]); [`ssm`],
//!   a SecureString parameter and Run Command ([`ssm::deliver::deliver`]), read on the instance by `fetch`.
//! - [`delivery`]: the seam between the fleet and its transports: [`delivery::Delivery`] in,
//!   [`delivery::HostOutcome`] out ([`delivery::Probed`] for status), and the run's stop state.
//! - [`aws`]: one STS session per run ([`aws::sts::Sts::connect`], through the standard AWS chain), the validated
//!   request ([`aws::params::AssumeParams`]), one-line STS failures, the clock check.
//! - [`host`]: what runs on or writes for a host, shared with the Ansible module: the document
//!   ([`host::document::CredentialDocument`]) with its secret in [`host::secret::Secret`], whose `Debug` and
//!   `Display` print `(redacted)`; the atomic writer [`host::fsutil::write_atomic`] (temp file, fsync, rename, mode
//!   0600); [`host::input`], the one reader of file inputs (regular files only, capped, never blocking on a FIFO);
//!   the profile `credential_process = cat /ABSOLUTE/path` ([`host::profile::ProfileSpec`]), because
//!   botocore runs the process without a shell; `read`, `doctor`, and [`host::serve`], a loopback container
//!   credentials endpoint for containers and consumers that cannot run `credential_process`.
//! - [`inventory`]: Ansible's INI and YAML inventories, parsed as Ansible parses them. [`ansible`]: the module's
//!   contract (the `credpush-ansible` binary), built without the default `cli` feature so that it links none of
//!   the AWS SDK, tokio or ssh code and stays small and static.
//! - At the bottom, importing nothing above: [`error::Error`] (messages name the input and the fix; documented
//!   exit codes; errors of upper layers carried as [`error::Carried`]), [`term`]
//!   (escaping for terminals, a stdout that ends quietly on a closed pipe) and [`duration`] (one span parser).
//!
//! ```no_run
//! # async fn demo() -> credpush::error::Result<()> {
//! use credpush::aws::{params::{AssumeParams, StsFlags, StsLimits}, sts::Sts};
//! let params = AssumeParams::from_flags("arn:aws:iam::123456789012:role/deploy", &StsFlags::default())?;
//! let sts = Sts::connect(None, StsLimits::default()).await?;
//! let caller = sts.caller_identity().await?;
//! let doc = sts.assume_role(&caller, &params).await?;
//! credpush::host::fsutil::write_atomic("/srv/ci/.aws/temp.json".as_ref(), doc.to_json().expose().as_bytes(), 0o600)?;
//! # Ok(()) }
//! ```

// Without the default `cli` feature only the layers the Ansible module needs are built (see Cargo.toml): the
// module's contract, `host`, and the whole bottom layer (error, term, duration; plain std, no optional crate).
pub mod ansible;
pub mod duration;
pub mod error;
pub mod host;
pub mod term;

#[cfg(feature = "cli")]
pub mod aws;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod delivery;
#[cfg(feature = "cli")]
pub mod fleet;
#[cfg(feature = "cli")]
pub mod inventory;
#[cfg(feature = "cli")]
pub mod lambda;
#[cfg(feature = "cli")]
pub mod ssh;
#[cfg(feature = "cli")]
pub mod ssm;
