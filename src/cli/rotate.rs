//! `credpush rotate`: the flags, turned into [`RotateOptions`] for the fleet's run.

use clap::Args;

use std::path::PathBuf;

use crate::cli::args::{FleetArgs, StsArgs};
use crate::error::Result;
use crate::fleet::Selection;
use crate::fleet::rotate::RotateOptions;
use crate::fleet::shard::Shard;
use crate::fleet::ssm::SsmOptions;

/// `credpush rotate`.
#[derive(Debug, Args)]
pub struct RotateCmd {
    /// Inventory file (INI or YAML) or directory; repeatable, as with ansible -i (optional with --ssm-targets).
    #[arg(short = 'i', long = "inventory", value_name = "INV", required_unless_present = "ssm_targets")]
    pub inventory: Vec<PathBuf>,

    /// Host pattern as Ansible's --limit: names, globs, groups, a:b, a,b, a:&b, a:!b, ~regex.
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,

    /// Role for hosts without credpush_role_arn: arn:aws:iam::ACCOUNT:role/NAME.
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,

    /// STS parameters.
    #[command(flatten)]
    pub sts: StsArgs,

    /// Target file for hosts without credpush_path: absolute, or under ~/ (resolved on the host) [default: ~/.aws/temp.json].
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Fan-out and ssh settings.
    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Extra connection attempts, with backoff, for hosts that do not answer (not for refused keys or failed writes).
    #[arg(long, default_value_t = 2, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub retries: u32,

    /// Also ensure [profile NAME] in each host's ~/.aws/config, pointing at the document's absolute path (with
    /// --format credentials: the [NAME] section to write).
    #[arg(long, value_name = "NAME")]
    pub install_profile: Option<String>,

    /// What each host gets: the credential_process document, or a managed [NAME] section (NAME from
    /// --install-profile) in its AWS credentials file (--path then names that file) [default: json].
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = FormatArg::Json)]
    pub format: FormatArg,

    /// One AssumeRole per host: session name credpush-<host>, SourceIdentity <host>, so CloudTrail names the machine.
    #[arg(long, conflicts_with_all = ["session_name", "source_identity"])]
    pub session_per_host: bool,

    /// Print what would happen per host; no STS call, no connection, no write.
    #[arg(long)]
    pub dry_run: bool,

    /// SSH hosts: the writer's helper program, installed once per host (~/.cache/credpush/bin, 0700) and run
    /// after a checksum check in place of the shell writer: a path, or none for the shell writer alone
    /// [default: credpush-helper beside credpush, or ../lib/credpush/ from it, when there].
    #[arg(long, value_name = "PATH|none", env = "CREDPUSH_HELPER")]
    pub helper: Option<String>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Only the hosts of shard I of N (stable hash of the inventory hostname), for N parallel builds.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse, allow_hyphen_values = true)]
    pub shard: Option<Shard>,

    /// The schedule this rotation runs on (e.g. 30m): warns on stderr when it is too slow for --duration.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub every: Option<String>,

    /// SSM managed instances to deliver to with --role-arn, as aws ssm send-command --targets:
    /// Key=tag:NAME,Values=V1,V2 or Key=InstanceIds,Values=mi-1,mi-2 (repeatable, at most 5).
    #[arg(long, value_name = "Key=K,Values=V", value_parser = crate::ssm::targets::parse, requires = "role_arn")]
    pub ssm_targets: Vec<crate::ssm::targets::SsmTarget>,

    /// SSM: the SecureString parameter that carries the document [default: /credpush/<role name>].
    #[arg(long, value_name = "NAME")]
    pub parameter: Option<String>,

    /// SSM: the customer-managed KMS key of the parameter (ID, ARN or alias).
    #[arg(long, value_name = "KEY", default_value = crate::ssm::DEFAULT_KMS_KEY)]
    pub kms_key_id: String,

    /// SSM: the Run Command document (deploy/credpush-fetch.yml).
    #[arg(long, value_name = "NAME", default_value = crate::ssm::DEFAULT_DOCUMENT)]
    pub ssm_document: String,

    /// SSM: the path of credpush on the instances.
    #[arg(long, value_name = "PATH", default_value = crate::ssm::DEFAULT_CREDPUSH_PATH)]
    pub ssm_credpush_path: String,

    /// SSM: SendCommand's MaxConcurrency (instances at once: a number or a percentage).
    #[arg(long, value_name = "N|P%", default_value = "50")]
    pub max_concurrency: String,

    /// SSM: SendCommand's MaxErrors (the default lets every instance run, whatever the others do).
    #[arg(long, value_name = "N|P%", default_value = "100%")]
    pub max_errors: String,

    /// SSM: the local user who owns the document on the instances (for --ssm-targets, and inventory hosts
    /// without ansible_become_user) [default: root].
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,
}

/// `--format` for rotate and fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// The credential_process JSON document.
    Json,
    /// A managed [NAME] section of ~/.aws/credentials: aws_access_key_id, aws_secret_access_key, aws_session_token.
    Credentials,
}

impl From<FormatArg> for crate::delivery::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Json => Self::Json,
            FormatArg::Credentials => Self::Credentials,
        }
    }
}

/// Runs `credpush rotate`.
pub async fn run(cmd: RotateCmd) -> Result<i32> {
    let options = RotateOptions {
        inv: Selection { inventory: cmd.inventory, limit: cmd.limit },
        role_arn: cmd.role_arn,
        sts: cmd.sts.into(),
        path: cmd.path,
        fleet: cmd.fleet.into(),
        retries: cmd.retries,
        install_profile: cmd.install_profile,
        session_per_host: cmd.session_per_host,
        dry_run: cmd.dry_run,
        json: cmd.json,
        shard: cmd.shard,
        every: cmd.every,
        ssm: SsmOptions {
            targets: cmd.ssm_targets,
            parameter: cmd.parameter,
            kms_key_id: cmd.kms_key_id,
            document: cmd.ssm_document,
            credpush_path: cmd.ssm_credpush_path,
            max_concurrency: cmd.max_concurrency,
            max_errors: cmd.max_errors,
            owner: cmd.owner,
        },
        format: cmd.format.into(),
        helper: cmd.helper,
    };
    crate::fleet::rotate::rotate(options).await
}
