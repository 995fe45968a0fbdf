//! `credpush assume`: one AssumeRole, printed or written atomically.

use crate::cli::AssumeCmd;
use crate::error::{EXIT_OK, Result};
use crate::{fsutil, params, stdout, sts};

/// Runs `credpush assume`.
pub async fn run(cmd: AssumeCmd) -> Result<i32> {
    let params = params::AssumeParams::from_args(&cmd.role_arn, &cmd.sts)?;
    let limits = params::StsLimits::from_args(&cmd.sts)?;
    if let Some(path) = &cmd.output {
        fsutil::check_writable("--output", path)?;
    }
    let sts = sts::Sts::connect(cmd.sts.region.as_deref(), limits).await?;
    let caller = sts.caller_identity().await?;
    let doc = sts.assume_role(&caller, &params).await?;
    let json = doc.to_json();
    match &cmd.output {
        Some(path) => {
            fsutil::write_atomic(path, json.expose().as_bytes(), 0o600)?;
            eprintln!(
                "credpush: wrote credentials for {} (session {}, expires {}) to {}",
                params.role_arn,
                params.session_name,
                doc.expiration_rfc3339(),
                path.display()
            );
        }
        None => stdout::print(json.expose())?,
    }
    Ok(EXIT_OK)
}
