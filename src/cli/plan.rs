//! `credpush plan`: whether a schedule keeps every host ahead of botocore's refresh window.

use crate::cli::PlanCmd;
use crate::error::{EXIT_OK, Result};
use crate::fleet::plan;
use crate::term;

/// Runs `credpush plan`; exit 1 when the schedule is unsafe.
pub fn run(cmd: PlanCmd) -> Result<i32> {
    let schedule = plan::parse(cmd.duration.as_deref(), &cmd.every, cmd.build_time.as_deref(), cmd.role_chaining)?;
    let verdict = plan::check(&schedule);
    term::print(&plan::render(&schedule, &verdict))?;
    Ok(match verdict.refusal {
        None => EXIT_OK,
        Some(reason) => {
            eprintln!("credpush: unsafe schedule: {reason}");
            plan::EXIT_UNSAFE
        }
    })
}
