//! `credpush plan`: whether a schedule keeps every host ahead of each SDK's mandatory refresh window.

use crate::cli::PlanCmd;
use crate::error::{EXIT_OK, Result};
use crate::fleet::plan;
use crate::term;

/// Runs `credpush plan`; exit 1 when the schedule is unsafe.
pub fn run(cmd: PlanCmd) -> Result<i32> {
    let schedule = plan::parse(cmd.duration.as_deref(), &cmd.every, cmd.build_time.as_deref(), cmd.role_chaining)?;
    let sdks = plan::models::Sdk::parse_all(&cmd.sdk)?;
    let verdict = plan::check_sdks(&schedule, &sdks);
    term::print(&plan::render(&schedule, &verdict))?;
    Ok(match verdict.refusal {
        None => EXIT_OK,
        Some(reason) => {
            eprintln!("credpush: unsafe schedule: {reason}");
            plan::EXIT_UNSAFE
        }
    })
}
