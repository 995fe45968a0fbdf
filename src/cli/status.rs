//! `credpush status`: the flags, turned into [`StatusOptions`] for the fleet's probe.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::{FleetArgs, InventoryArgs};
use crate::error::Result;
use crate::fleet::status::StatusOptions;

pub(crate) const STATUS_EXIT_CODES: &str = "\
Exit codes:
  0  every host is ok (hosts that status cannot probe, SSM ones, are listed as unsupported)
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

/// Runs `credpush status`.
pub async fn run(cmd: StatusCmd) -> Result<i32> {
    let options = StatusOptions {
        inv: cmd.inv.into(),
        path: cmd.path,
        profile: cmd.profile,
        warn: cmd.warn,
        fleet: cmd.fleet.into(),
        prometheus: cmd.prometheus,
        json: cmd.json,
    };
    crate::fleet::status::run(options).await
}
