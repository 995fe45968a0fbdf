//! `credpush assume`: one AssumeRole, printed or written atomically.

use crate::aws::{params, sts};
use crate::cli::AssumeCmd;
use crate::error::{EXIT_OK, Result};
use crate::host::fsutil;
use crate::term;

/// Runs `credpush assume`.
pub async fn run(cmd: AssumeCmd) -> Result<i32> {
    let flags: params::StsFlags = cmd.sts.into();
    let params = params::AssumeParams::from_flags(&cmd.role_arn, &flags)?;
    let limits = params::StsLimits::from_flags(&flags)?;
    // `--output -` is standard output, as for most tools: the same as no `--output`, never a file named `-`.
    let output = cmd.output.filter(|p| p.as_os_str() != "-");
    if let Some(path) = &output {
        fsutil::check_writable("--output", path)?;
    }
    let sts = sts::Sts::connect(flags.region.as_deref(), limits).await?;
    let caller = sts.caller_identity().await?;
    let doc = sts.assume_role(&caller, &params).await?;
    let json = doc.to_json();
    match &output {
        Some(path) => {
            fsutil::write_atomic(path, json.expose().as_bytes(), 0o600)?;
            eprintln!(
                "credpush: wrote credentials for {} (session {}, expires {}) to {}",
                params.role_arn,
                params.session_name,
                doc.expiration_rfc3339(),
                term::escape(&path.to_string_lossy())
            );
        }
        None => term::print(json.expose())?,
    }
    Ok(EXIT_OK)
}
