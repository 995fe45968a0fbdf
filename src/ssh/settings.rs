//! The SSH settings every host of a run shares: the host key policy, timeouts, the control directory and the
//! operator's ssh config.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::ssh::args::Pinned;
use crate::ssh::master::ControlDir;

/// How strictly host keys are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only hosts whose key is already in known_hosts (the default).
    Strict,
    /// Trust and record the key of a host never seen before; a changed key still fails.
    AcceptNew,
}

/// SSH settings shared by every host of a run.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// Host key policy.
    pub host_keys: HostKeyPolicy,
    /// Connect timeout (TCP and SSH handshake).
    pub connect_timeout: Duration,
    /// How long an idle master stays up after its last session (bounds what a killed run leaves behind).
    pub persist: Duration,
    /// Where control sockets and master logs live.
    pub control: Arc<ControlDir>,
    /// `--ssh-config`: used instead of the user's default ssh config.
    pub config_file: Option<PathBuf>,
    /// `--helper`: the writer's helper program to install and run on each host (none: the shell writer only).
    pub helper: Option<Arc<crate::ssh::helper::Helper>>,
}

impl SshSettings {
    /// The settings of one run: `--known-hosts`, `--timeout` in seconds (the connect timeout is at most 10 s of
    /// it; an idle master outlives its last session by at most all of it), and `--ssh-config`, which must be
    /// readable. Creates the run's control directory.
    pub fn for_run(
        host_keys: HostKeyPolicy,
        timeout_secs: u64,
        config_file: Option<PathBuf>,
    ) -> crate::error::Result<Self> {
        use crate::error::Error;
        if let Some(file) = config_file.as_ref().filter(|f| f.as_path() != std::path::Path::new("/dev/null")) {
            use crate::host::input::{InputError, MAX_CONFIG_BYTES, check_regular};
            check_regular(file, MAX_CONFIG_BYTES).map_err(|e| {
                let reason = match e {
                    InputError::Io(e) => format!("cannot read it ({e}); name a readable ssh config file"),
                    other => other.to_string(),
                };
                Error::invalid("--ssh-config", file.display().to_string(), reason)
            })?;
        }
        let control =
            ControlDir::create().map_err(|e| Error::io("create a control directory in", std::env::temp_dir(), e))?;
        Ok(Self {
            host_keys,
            connect_timeout: Duration::from_secs(timeout_secs.clamp(1, 10)),
            persist: Duration::from_secs(timeout_secs.max(1)),
            control: Arc::new(control),
            config_file,
            helper: None,
        })
    }

    /// The options credpush pins on every ssh command line of this run.
    pub fn pinned(&self) -> Pinned {
        Pinned {
            strict: match self.host_keys {
                HostKeyPolicy::Strict => "yes",
                HostKeyPolicy::AcceptNew => "accept-new",
            },
            connect_timeout_secs: self.connect_timeout.as_secs().max(1),
            persist_secs: self.persist.as_secs().max(1),
            operator_config: self.config_file.clone(),
        }
    }
}
