//! `rotate --format`: what `--format credentials` needs before anything else runs.

use crate::delivery::Format;
use crate::error::{Error, Result};
use crate::fleet::rotate::RotateOptions;
use crate::fleet::target::{HostTarget, Route};

/// `--format credentials` names its section with `--install-profile` (or each host's credpush_profile) and goes
/// to SSH and local hosts; returns the path for hosts without credpush_path (`~/.aws/credentials` by default).
pub(super) fn check(cmd: &RotateOptions) -> Result<Option<&str>> {
    if cmd.format == Format::Json {
        return Ok(cmd.path.as_deref());
    }
    let refuse = |why: &str| Err(Error::invalid("--format", "credentials", why));
    if cmd.install_profile.is_none() {
        return refuse("needs --install-profile NAME, the [NAME] section to write (e.g. --install-profile onprem)");
    }
    if !cmd.ssm.targets.is_empty() {
        return refuse(
            "reaches SSH and local hosts only (fix: run credpush fetch --format credentials on SSM instances)",
        );
    }
    Ok(Some(cmd.path.as_deref().unwrap_or(crate::host::credentials::CREDENTIALS_FILE)))
}

/// `--format credentials` goes to SSH and local hosts: an SSM host in the selection is refused by name.
pub(super) fn refuse_ssm_hosts(format: Format, targets: &[HostTarget]) -> Result<()> {
    match targets.iter().find(|t| format == Format::Credentials && matches!(t.route, Route::Ssm(_))) {
        Some(t) => Err(Error::invalid(
            "--format",
            "credentials",
            format!(
                "reaches SSH and local hosts only, and {} is an SSM managed instance (fix: run credpush fetch --format credentials there, or --limit it out)",
                t.name
            ),
        )),
        None => Ok(()),
    }
}
