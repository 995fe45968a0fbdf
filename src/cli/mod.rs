//! The command line: the clap types, and one thin file per subcommand that turns parsed flags into domain options
//! and a domain call. This is the only module that sees clap types; the layers below take plain values.
//!
//! The doc comments on clap's fields are `--help` text, written for a terminal: `[NAME]`, `<host>` and
//! `[default: …]` there are what the user reads, not Markdown links or HTML, so rustdoc is told not to parse them.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

pub mod args;
mod assume;
pub mod docs;
mod doctor;
mod fetch;
mod inventory;
mod plan;
mod profile;
pub mod rotate;
pub mod serve;
pub mod status;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use args::{FleetArgs, InventoryArgs, KnownHosts, StsArgs};
pub use rotate::RotateCmd;
use status::STATUS_EXIT_CODES;
pub use status::StatusCmd;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (rotate: every host ok)
  1  rotate: at least one host failed, was unreachable, or was skipped (SIGINT, SIGTERM or SIGHUP);
     plan: the schedule is unsafe
  2  bad input (flags, ARN, duration, tag, policy file, profile path, inventory) or a refused request
  3  AWS: no caller credentials, STS unreachable or silent past --sts-deadline, access denied, other STS errors
  4  a local file could not be read or written, or a program (ssh -G) could not be started";

const READ_EXIT_CODES: &str = "\
Exit codes:
  0  the document was printed
  1  the document is expired or not valid (one line on stderr says which, and why)
  4  the file could not be read";

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

/// `credpush --version`: the crate's version and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CREDPUSH_COMMIT"), ")");

/// Short-lived AWS credentials for on-prem hosts: assume a least-privilege role, write the credential_process
/// document, and point an AWS profile at it.
#[derive(Debug, Parser)]
#[command(name = "credpush", version = VERSION, after_help = EXIT_CODES, max_term_width = 110)]
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
    /// Assume the role(s) and push the document to every inventory host over SSH, atomically and verified, or
    /// deliver it through SSM Run Command (--ssm-targets, and hosts with ansible_connection aws_ssm).
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
    /// On an SSM managed instance: read the document from its SecureString parameter and write it atomically.
    #[command(after_help = fetch::FETCH_EXIT_CODES)]
    Fetch(fetch::FetchCmd),
    /// Check a rotation schedule: will every host hold fresh credentials before each SDK's mandatory refresh window?
    #[command(after_help = PLAN_HELP)]
    Plan(PlanCmd),
    /// Serve the document on loopback as a container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI),
    /// for containers and consumers that cannot run credential_process.
    #[command(after_help = serve::SERVE_EXIT_CODES)]
    Serve(serve::ServeCmd),
    /// Print the shell completion script for bash, zsh or fish (e.g. credpush completions bash >
    /// ~/.local/share/bash-completion/completions/credpush).
    Completions(docs::CompletionsCmd),
    /// Write the man pages (credpush.1, credpush-COMMAND.1) into a directory: how scripts/release makes them.
    #[command(hide = true)]
    Man(docs::ManCmd),
}

/// `credpush inventory`.
#[derive(Debug, Args)]
pub struct InventoryCmd {
    /// Inventory and selection.
    #[command(flatten)]
    pub inv: InventoryArgs,

    /// Print the whole inventory as JSON (groups, hosts, children, _meta.hostvars).
    #[arg(long, required_unless_present = "hosts", conflicts_with = "hosts")]
    pub list: bool,

    /// Print the selected hosts' names, one a line, as a file for ansible-playbook --limit @FILE; a name Ansible
    /// would read as more than that host (a group's name, pattern syntax) is refused (exit 2).
    #[arg(long)]
    pub hosts: bool,

    /// With --hosts: only the hosts of shard I of N, exactly as rotate --shard selects them.
    #[arg(long, value_name = "I/N", requires = "hosts", value_parser = crate::fleet::shard::Shard::parse, allow_hyphen_values = true)]
    pub shard: Option<crate::fleet::shard::Shard>,
}

const PLAN_HELP: &str = "\
The model: each SDK has a mandatory window before expiry (botocore 10m, JavaScript v3 5m, botocore's new path and
Java v2 1m, Rust 10s, Go v2 0) in which every call waits on a re-read of credential_process and fails when nothing
fresh arrives. A document lands at most EVERY + BUILD after the previous one was minted, so the schedule is safe iff
DURATION - WINDOW >= EVERY + BUILD for every SDK checked (--sdk, default all); an advisory window only costs re-reads.
With role chaining (CodeBuild's service role), STS caps DURATION at 1h: every 30m is safe, every 60m is not. --every
and --build-time are at most 7 days (168h).

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
    /// Check only these SDKs' refresh models (repeatable): botocore, botocore-new, java-v2, go-v2, js-v3, rust
    /// [default: all].
    #[arg(long = "sdk", value_name = "NAME")]
    pub sdk: Vec<String>,
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

    /// Write the document to FILE atomically (0600, parent created 0700) instead of printing it; `-` prints it.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `credpush profile`.
#[derive(Debug, Args)]
pub struct ProfileCmd {
    /// Profile name; `default` renders [default].
    #[arg(long, required_unless_present = "container")]
    pub name: Option<String>,

    /// Absolute path of the credential document on the host (no ~ or $VARIABLES).
    #[arg(long, value_name = "ABS_PATH", required_unless_present = "container")]
    pub path: Option<String>,

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

    /// --container and its flags.
    #[command(flatten)]
    pub container: serve::ContainerArgs,
}

/// The command a profile's credential_process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reader {
    /// `cat /path/temp.json`: needs nothing on the host.
    Cat,
    /// `credpush read --path /path/temp.json`: refuses expired or broken documents with a message.
    Credpush,
}

/// One line for a clap error: its message, its tips, and where to look (clap's text has usage and blank lines).
pub fn usage_line(err: &clap::Error) -> String {
    if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "a subcommand is required (see credpush --help)".to_owned();
    }
    let text = err.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    // The message's own continuation lines (the missing flags, the possible values) join it; the usage and
    // "for more information" lines give way to one pointer at --help.
    for l in lines.take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information")) {
        match l.strip_prefix("tip: ") {
            Some(tip) => line.push_str(&format!("; {tip}")),
            None => line.push_str(&format!(" {l}")),
        }
    }
    line.push_str(" (see credpush --help, or credpush COMMAND --help)");
    line
}

/// Runs one parsed command line and returns the process exit code for a run that did not fail outright.
pub async fn run(cli: Cli) -> crate::error::Result<i32> {
    match cli.command {
        Command::Assume(cmd) => assume::run(*cmd).await,
        Command::Profile(cmd) => profile::run(cmd),
        Command::Rotate(cmd) => rotate::run(*cmd).await,
        // Handled in main before the runtime starts, so that it costs what `cat` costs.
        Command::Read(cmd) => Ok(crate::host::read::run(&cmd.path)),
        Command::Status(cmd) => status::run(*cmd).await,
        Command::Doctor(cmd) => doctor::run(cmd).await,
        Command::Inventory(cmd) => inventory::run(cmd),
        Command::Plan(cmd) => plan::run(cmd),
        Command::Fetch(cmd) => fetch::run(cmd).await,
        Command::Serve(cmd) => serve::run(cmd).await,
        Command::Completions(cmd) => docs::completions(&cmd),
        Command::Man(cmd) => docs::man(&cmd),
    }
}
