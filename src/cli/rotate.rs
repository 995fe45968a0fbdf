//! `credpush rotate`: the flags, turned into [`RotateOptions`] for the fleet's run.

use clap::Args;

use crate::cli::args::{FleetArgs, InventoryArgs, StsArgs};
use crate::error::Result;
use crate::fleet::rotate::RotateOptions;
use crate::fleet::shard::Shard;

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
    #[arg(long, value_name = "I/N", value_parser = Shard::parse, allow_hyphen_values = true)]
    pub shard: Option<Shard>,

    /// The schedule this rotation runs on (e.g. 30m): warns on stderr when it is too slow for --duration.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true)]
    pub every: Option<String>,
}

/// Runs `credpush rotate`.
pub async fn run(cmd: RotateCmd) -> Result<i32> {
    let options = RotateOptions {
        inv: cmd.inv.into(),
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
    };
    crate::fleet::rotate::rotate(options).await
}
