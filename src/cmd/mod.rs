//! One thin file per subcommand: each turns parsed arguments into a domain call and a report. `rotate`, `status`
//! and `read` are their own domain modules ([`crate::rotate`], [`crate::status`], [`crate::read`]).

mod assume;
mod doctor;
mod inventory;
mod plan;
mod profile;

use crate::cli::{Cli, Command};
use crate::error::Result;

/// Runs one parsed command line and returns the process exit code for a run that did not fail outright.
pub async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Assume(cmd) => assume::run(*cmd).await,
        Command::Profile(cmd) => profile::run(cmd),
        Command::Rotate(cmd) => crate::rotate::rotate(*cmd).await,
        // Handled in main before the runtime starts, so that it costs what `cat` costs.
        Command::Read(cmd) => Ok(crate::read::run(&cmd.path)),
        Command::Status(cmd) => crate::status::run(*cmd).await,
        Command::Doctor(cmd) => doctor::run(cmd).await,
        Command::Inventory(cmd) => inventory::run(cmd),
        Command::Plan(cmd) => plan::run(cmd),
    }
}
