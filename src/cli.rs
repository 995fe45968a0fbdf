//! Command-line interface (clap derive). Values are checked right after parsing, in `params` and `profile`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success (rotate: every host ok)
  1  rotate: at least one host failed, was unreachable, or was skipped (SIGINT, SIGTERM or SIGHUP);
     plan: the schedule is unsafe
  2  bad input (flags, ARN, duration, tag, policy file, profile path, inventory) or a refused request
  3  AWS: no caller credentials, STS unreachable or silent past --sts-deadline, access denied, other STS errors
  4  a local file could not be read or written";

const READ_EXIT_CODES: &str = "\
Exit codes:
  0  the document was printed
  1  the document is expired or not valid (one line on stderr says which, and why)
  4  the file could not be read";

const STATUS_EXIT_CODES: &str = "\
Exit codes:
  0  every host is ok
  1  a host is expiring (--warn or less left), expired, broken or unreachable
  2  bad input (flags, inventory)";

/// `credpush status`.
#[derive(Debug, Args)]
pub struct StatusCmd {
    /// Inventory and selection.
    #[command(flatten)]
    pub inv: InventoryArgs,

    /// Document path for hosts without credpush_path [default: ~/.aws/temp.json].
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// The profile that must read the document [default: any credpush profile].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// A host with this much or less left is reported as expiring (exit 1).
    #[arg(long, default_value = "20m", value_name = "DUR", allow_hyphen_values = true)]
    pub warn: String,

    /// Fan-out and ssh settings.
    #[command(flatten)]
    pub fleet: FleetArgs,

    /// Also write a node_exporter textfile-collector file (atomically).
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

const DOCTOR_EXIT_CODES: &str = "\
Exit codes:
  0  every check passed
  1  the worst finding is a warning
  5  the worst finding is an error (jobs fail, or will within minutes)";

/// `credpush doctor`.
#[derive(Debug, Args)]
pub struct DoctorCmd {
    /// The profile to check [default: AWS_PROFILE, else the one profile credpush manages in the config file].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// The AWS config file [default: AWS_CONFIG_FILE, else ~/.aws/config].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Region of the STS endpoint the clock is compared with [default: the standard chain, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Skip the clock check (it sends one unsigned request to STS).
    #[arg(long)]
    pub no_clock: bool,

    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `credpush read`.
#[derive(Debug, Args)]
pub struct ReadCmd {
    /// The document to print (absolute path, as in credential_process).
    #[arg(long, value_name = "FILE")]
    pub path: PathBuf,
}

/// Short-lived AWS credentials for on-prem hosts: assume a least-privilege role, write the credential_process
/// document, and point an AWS profile at it.
#[derive(Debug, Parser)]
#[command(name = "credpush", version, after_help = EXIT_CODES, max_term_width = 110)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Assume a role and print (or atomically write) the credential_process document.
    #[command(after_help = EXIT_CODES)]
    Assume(Box<AssumeCmd>),
    /// Render the on-prem AWS profile block, or merge it into a config file.
    #[command(after_help = EXIT_CODES)]
    Profile(ProfileCmd),
    /// Assume the role(s) and push the document to every inventory host over SSH, atomically and verified.
    #[command(after_help = EXIT_CODES)]
    Rotate(Box<RotateCmd>),
    /// Print a credential document for credential_process, only when it is valid and unexpired (instead of cat).
    #[command(after_help = READ_EXIT_CODES)]
    Read(ReadCmd),
    /// Report what every inventory host holds: document valid, time left, mode, owner, profile. No secret moves.
    #[command(after_help = STATUS_EXIT_CODES)]
    Status(Box<StatusCmd>),
    /// On a host: check the profile, the document, its permissions, the environment and the clock.
    #[command(after_help = DOCTOR_EXIT_CODES)]
    Doctor(DoctorCmd),
    /// Show an inventory as Ansible sees it (`--list` prints what `ansible-inventory --list` prints).
    #[command(after_help = EXIT_CODES)]
    Inventory(InventoryCmd),
    /// Check a rotation schedule: will every host hold fresh credentials before botocore's refresh window?
    #[command(after_help = PLAN_HELP)]
    Plan(PlanCmd),
}

/// Inventory sources and host selection, shared by `rotate` and `inventory`.
#[derive(Debug, Args, Clone)]
pub struct InventoryArgs {
    /// Inventory file (INI or YAML) or directory; repeatable, as with ansible -i.
    #[arg(short = 'i', long = "inventory", value_name = "INV", required = true)]
    pub inventory: Vec<PathBuf>,

    /// Host pattern as Ansible's --limit: names, globs, groups, a:b, a,b, a:&b, a:!b, ~regex.
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,
}

/// `credpush inventory`.
#[derive(Debug, Args)]
pub struct InventoryCmd {
    /// Inventory and selection.
    #[command(flatten)]
    pub inv: InventoryArgs,

    /// Print the whole inventory as JSON (groups, hosts, children, _meta.hostvars).
    #[arg(long, required = true)]
    pub list: bool,
}

/// `credpush rotate`.
#[derive(Debug, Args)]
pub struct RotateCmd {
    /// Inventory and selection.
    #[command(flatten)]
    pub inv: InventoryArgs,

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

    /// Also ensure [profile NAME] in each host's ~/.aws/config, pointing at the document's absolute path.
    #[arg(long, value_name = "NAME")]
    pub install_profile: Option<String>,

    /// One AssumeRole per host: session name credpush-<host>, SourceIdentity <host>, so CloudTrail names the machine.
    #[arg(long, conflicts_with_all = ["session_name", "source_identity"])]
    pub session_per_host: bool,

    /// Print what would happen per host; no STS call, no connection, no write.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Only the hosts of shard I of N (stable hash of the inventory hostname), for N parallel builds.
    #[arg(long, value_name = "I/N", value_parser = crate::shard::Shard::parse, allow_hyphen_values = true)]
    pub shard: Option<crate::shard::Shard>,

    /// The schedule this rotation runs on (e.g. 30m): warns on stderr when it is too slow for --duration.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub every: Option<String>,
}

const PLAN_HELP: &str = "\
The model: botocore re-reads credential_process from 15 minutes before expiry and fails calls from 10 minutes
before expiry when nothing fresh arrives. A document lands at most EVERY + BUILD after the previous one was minted,
so the schedule is safe iff DURATION - 15m >= EVERY + BUILD. With role chaining (CodeBuild's service role), STS caps
DURATION at 1h: every 30m is safe, every 60m is not.

Exit codes:
  0  the schedule is safe
  1  the schedule is unsafe (the reason and the largest safe --every are printed)
  2  bad input";

/// `credpush plan`.
#[derive(Debug, Args)]
pub struct PlanCmd {
    /// Session duration of the pushed credentials (as rotate's --duration) [default: 1h].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub duration: Option<String>,

    /// Rotation period: how often the schedule starts a rotation (e.g. 30m).
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub every: String,

    /// Worst time from a schedule tick to the document landing on the last host [default: 5m].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub build_time: Option<String>,

    /// The caller is an assumed role (CodeBuild's service role): STS caps sessions at 1 hour.
    #[arg(long)]
    pub role_chaining: bool,
}

/// How many hosts at once, how long each may take, and how ssh reaches them: shared by `rotate` and `status`.
#[derive(Debug, Args, Clone)]
pub struct FleetArgs {
    /// Hosts in flight at once.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub forks: u16,

    /// The most one host may take, connect, retries and push included (e.g. 30s, 2m).
    #[arg(long, default_value = "30s", value_name = "DUR", allow_hyphen_values = true)]
    pub timeout: String,

    /// Host key policy: strict (only keys already in known_hosts) or accept-new (record keys of new hosts).
    #[arg(long, value_enum, default_value = "strict", value_name = "POLICY")]
    pub known_hosts: crate::push::HostKeyPolicy,

    /// ssh config file to use instead of ~/.ssh/config (as ssh -F).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

/// `credpush assume`.
#[derive(Debug, Args)]
pub struct AssumeCmd {
    /// The role to assume: arn:aws:iam::ACCOUNT:role/NAME.
    #[arg(long, value_name = "ARN")]
    pub role_arn: String,

    /// STS parameters.
    #[command(flatten)]
    pub sts: StsArgs,

    /// Write the document to FILE atomically (0600, parent created 0700) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// AssumeRole parameters shared by every command that assumes a role.
#[derive(Debug, Args, Clone, Default)]
pub struct StsArgs {
    /// RoleSessionName [default: credpush-<local hostname>].
    #[arg(long, value_name = "NAME")]
    pub session_name: Option<String>,

    /// Session length: seconds, or 45m, 1h, 1h30m, 12h (15m to 12h) [default: 1h].
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub duration: Option<String>,

    /// ExternalId, when the role's trust policy requires one.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,

    /// Inline session policy (a JSON file) that narrows the role's permissions.
    #[arg(long, value_name = "FILE")]
    pub policy_file: Option<PathBuf>,

    /// Managed session policy ARN that narrows the role's permissions (repeatable, up to 10).
    #[arg(long, value_name = "ARN")]
    pub policy_arn: Vec<String>,

    /// Session tag KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,

    /// Session tag key that passes on to chained sessions (repeatable; must be a --tag key).
    #[arg(long, value_name = "KEY")]
    pub transitive_tag_key: Vec<String>,

    /// SourceIdentity, recorded in CloudTrail for this session and every session chained from it.
    #[arg(long, value_name = "ID")]
    pub source_identity: Option<String>,

    /// AWS region for STS [default: AWS_REGION, the profile's region, else us-east-1].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// The most one STS request waits for its answer before it is retried [default: 10s].
    #[arg(long, value_name = "DUR")]
    pub sts_timeout: Option<String>,

    /// The most one STS call may take, retries included; an endpoint that does not answer fails the run by then,
    /// and no further call is made to it [default: 25s].
    #[arg(long, value_name = "DUR")]
    pub sts_deadline: Option<String>,
}

/// `credpush profile`.
#[derive(Debug, Args)]
pub struct ProfileCmd {
    /// Profile name; `default` renders [default].
    #[arg(long)]
    pub name: String,

    /// Absolute path of the credential document on the host (no ~ or $VARIABLES).
    #[arg(long, value_name = "ABS_PATH")]
    pub path: String,

    /// Region to set in the profile.
    #[arg(long)]
    pub region: Option<String>,

    /// Merge the block into this AWS config file between managed markers, instead of printing it.
    #[arg(long, value_name = "CONFIG_FILE")]
    pub install: Option<PathBuf>,

    /// What credential_process runs: cat, or credpush read (prints the document only when valid and unexpired,
    /// else says why).
    #[arg(long, value_enum, default_value = "cat")]
    pub reader: Reader,

    /// With --reader credpush: the absolute path of credpush on the host [default: this credpush].
    #[arg(long, value_name = "ABS_PATH")]
    pub reader_bin: Option<String>,
}

/// The command a profile's credential_process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reader {
    /// `cat /path/temp.json`: needs nothing on the host.
    Cat,
    /// `credpush read --path /path/temp.json`: refuses expired or broken documents with a message.
    Credpush,
}
