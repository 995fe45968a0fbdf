//! `credpush doctor`: the checks of [`crate::host::doctor`], the clock against STS, the container endpoint, and the
//! report.

use crate::aws::clock;
use crate::cli::DoctorCmd;
use crate::error::Result;
use crate::host::{doctor, serve};
use crate::term;

/// Runs `credpush doctor`; returns the exit code of the worst finding.
pub async fn run(cmd: DoctorCmd) -> Result<i32> {
    if let Some(region) = &cmd.region {
        crate::aws::inputs::check_region(region)?;
    }
    let mut inputs = doctor::Inputs::from_env(cmd.profile.clone(), cmd.config.clone());
    // Only a plain-http address an SDK would use is asked, the way the SDKs ask it.
    if let Some(uri) =
        inputs.container.full_uri.clone().filter(|u| u.starts_with("http://") && serve::check::sdk_accepts(u))
    {
        inputs.container_probe = Some(serve::probe::probe(&uri, inputs.container.token_file.as_deref()).await);
    }
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
