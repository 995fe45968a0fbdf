//! `credpush profile`: render the on-prem profile block, or merge it into a config file.

use crate::cli::{self, ProfileCmd};
use crate::error::{EXIT_OK, Error, Result};
use crate::host::profile;
use crate::term;

/// Runs `credpush profile`.
pub fn run(cmd: ProfileCmd) -> Result<i32> {
    if cmd.container.container {
        term::print(&cmd.container.variables()?)?;
        return Ok(EXIT_OK);
    }
    // clap requires both unless --container.
    let (name, path) = (cmd.name.unwrap_or_default(), cmd.path.unwrap_or_default());
    let mut spec = profile::ProfileSpec::new(&name, &path, cmd.region.as_deref())?;
    if cmd.reader == cli::Reader::Credpush {
        let bin = match &cmd.reader_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()
                .map_err(|e| Error::io("find the path of", "credpush", e))?
                .to_string_lossy()
                .into_owned(),
        };
        spec = spec.with_reader(&bin)?;
    }
    match &cmd.install {
        None => term::print(&spec.render())?,
        Some(file) => {
            let outcome = spec.install(file)?;
            term::print(&format!("profile {:?} in {}: {}\n", name, file.display(), outcome.as_str()))?;
        }
    }
    Ok(EXIT_OK)
}
