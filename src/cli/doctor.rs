//! `credpush doctor`: the checks of [`crate::host::doctor`], the clock against STS, and the report.

use crate::aws::clock;
use crate::cli::DoctorCmd;
use crate::error::Result;
use crate::host::doctor;
use crate::term;

/// Runs `credpush doctor`; returns the exit code of the worst finding.
pub async fn run(cmd: DoctorCmd) -> Result<i32> {
    if let Some(region) = &cmd.region {
        crate::aws::inputs::check_region(region)?;
    }
    let inputs = doctor::Inputs::from_env(cmd.profile.clone(), cmd.config.clone());
    let skew =
        if cmd.no_clock { Err("skipped (--no-clock)".to_owned()) } else { clock::skew(cmd.region.as_deref()).await };
    let findings = doctor::diagnose(&inputs, time::OffsetDateTime::now_utc(), skew);
    let text = if cmd.json {
        let code = doctor::exit_code(&findings);
        format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({"findings": findings, "exit_code": code}))
                .unwrap_or_default()
        )
    } else {
        doctor::human(&findings)
    };
    term::print(&text)?;
    Ok(doctor::exit_code(&findings))
}
