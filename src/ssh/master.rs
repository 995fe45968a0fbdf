//! The ssh master connections of one run: their control directory, how each master is started, and what is left
//! of them on every way a run can end.
//!
//! credpush starts each master itself (`ssh -f -N` with a control socket, see [`crate::ssh::args`]) rather than
//! through the `openssh` crate's builder, then drives it with the crate's native mux client. That gives it the
//! whole lifecycle:
//! - ssh runs with a minimal environment ([`crate::ssh::args::ssh_env`]), never the caller's AWS keys;
//! - the launcher leads its own process group: when a host times out while connecting, the launcher and any
//!   `ProxyCommand` it started are killed together;
//! - a master that authenticated forks away (`-f`) and stays up only `ControlPersist` seconds (the run's
//!   `--timeout`) after its last session, so even after a SIGKILL of credpush no master outlives the run by more
//!   than that;
//! - the control directory holds a lock for as long as its run lives, and the next run removes the directories
//!   whose lock nobody holds.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::ssh::args::{self, HostArgs, Pinned};

/// Control directory names: `credpush-<pid>-<random>`.
const DIR_PREFIX: &str = "credpush-";

/// Unix socket paths are limited to 108 bytes; leave room for the socket's own name.
const MAX_DIR_LEN: usize = 90;

/// A lock file in each control directory, held (flock) for as long as its run lives.
const LOCK: &str = "lock";

/// The run's control directory, removed when dropped.
#[derive(Debug)]
pub struct ControlDir {
    path: PathBuf,
    // Dropped after `drop` has removed the directory: it is removed while its lock is still held.
    _lock: std::fs::File,
    next: AtomicU64,
}

/// Where a directory is made before it is renamed to its `credpush-<pid>-…` name: [`remove_stale`] never looks
/// at it, so no other run can see it before its lock is held.
const NEW_PREFIX: &str = ".credpush-new-";

impl ControlDir {
    /// Creates the run's directory in the temp dir (or `/tmp` when that path is too long for sockets), after
    /// removing the directories of earlier runs whose process is gone.
    ///
    /// The directory appears under its scanned name only once its lock is held: it is made under a name the
    /// sweep ignores, locked, then renamed (without replacing anything). Made and locked in place, another run
    /// starting at the same moment could take the free lock between the two steps and remove the directory
    /// under this run's masters.
    pub fn create() -> std::io::Result<Self> {
        let mut base = std::env::temp_dir();
        if base.as_os_str().len() > MAX_DIR_LEN - 30 {
            base = PathBuf::from("/tmp");
        }
        Self::create_in(&base)
    }

    fn create_in(base: &Path) -> std::io::Result<Self> {
        remove_stale(base);
        let pid = std::process::id();
        let fresh = tempfile::Builder::new().prefix(&format!("{NEW_PREFIX}{pid}-")).tempdir_in(base)?;
        let lock = std::fs::File::create(fresh.path().join(LOCK))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
        let name = fresh.path().file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let path = base.join(name.replacen(NEW_PREFIX, DIR_PREFIX, 1));
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            fresh.path(),
            rustix::fs::CWD,
            &path,
            rustix::fs::RenameFlags::NOREPLACE,
        )?;
        // Renamed: the TempDir's own path is gone, and this value removes the directory from now on.
        let _ = fresh.keep();
        Ok(Self { path, _lock: lock, next: AtomicU64::new(0) })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A fresh socket and log path pair for one master.
    pub fn slot(&self) -> (PathBuf, PathBuf) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (self.path.join(format!("{n}.s")), self.path.join(format!("{n}.log")))
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Removes `credpush-<pid>-*` directories in `base` whose run is gone: nobody holds their lock (a run holds it
/// until it exits, however it exits, since the kernel drops a dead process's locks). A directory without a lock file
/// is removed only when it is over a minute old, so a run that is just creating one keeps it. Masters of a gone
/// run, if any are still up, exit on their own when their ControlPersist time runs out.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    let me = rustix::process::getuid().as_raw();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // A directory still under its making name is a run's only for a moment; one over a minute old was left
        // by a run killed between making and renaming it.
        let (rest, making) = match (name.strip_prefix(DIR_PREFIX), name.strip_prefix(NEW_PREFIX)) {
            (Some(rest), _) => (rest, false),
            (_, Some(rest)) => (rest, true),
            _ => continue,
        };
        if !rest.split('-').next().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else { continue };
        if !meta.is_dir() || std::os::unix::fs::MetadataExt::uid(&meta) != me {
            continue;
        }
        let old = || meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age.as_secs() > 60);
        let stale = if making {
            old()
        } else {
            match std::fs::File::open(entry.path().join(LOCK)) {
                Ok(f) => rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok(),
                Err(_) => old(),
            }
        };
        if stale {
            tracing::debug!(dir = %entry.path().display(), "removing the control directory of a finished run");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Kills an ssh's process group (ssh and a `ProxyCommand` it started) when dropped, unless disarmed, or at
/// [`GroupGuard::kill`]: a master's launcher whose connect attempt is abandoned (timeout, Ctrl-C) or failed, and
/// each plain ssh of [`crate::ssh::direct`] however its exec ends.
pub(crate) struct GroupGuard(Option<Pid>);

impl GroupGuard {
    /// Guards the group that `child` (started with `process_group(0)`) leads.
    pub(crate) fn of(child: &tokio::process::Child) -> Self {
        Self(child.id().and_then(|id| Pid::from_raw(id as i32)))
    }

    /// Kills the group now (once).
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why a master did not start.
#[derive(Debug)]
pub enum LaunchError {
    /// ssh could not be started at all.
    Spawn(std::io::Error),
    /// ssh exited with a failure; its log.
    Failed(String),
}

/// Starts a master for one host and waits until it is authenticated and in the background. Cancelling the
/// returned future kills the launcher's process group.
pub async fn launch(pinned: &Pinned, host: &HostArgs<'_>, socket: &Path, log: &Path) -> Result<(), LaunchError> {
    let mut cmd = tokio::process::Command::new("ssh");
    cmd.args(args::master_args(pinned, host, socket, log))
        .env_clear()
        .envs(args::ssh_env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(LaunchError::Spawn)?;
    let mut guard = GroupGuard::of(&child);
    let status = child.wait().await.map_err(LaunchError::Spawn)?;
    if status.success() {
        // The master forked away into its own session; its ProxyCommand, if any, stays in this group and is
        // still in use, so the group must live.
        guard.0 = None;
        return Ok(());
    }
    // Lossy: a log that is not UTF-8 (a banner in another encoding) still says why.
    let text = std::fs::read(log).map(|b| String::from_utf8_lossy(&b).into_owned());
    Err(LaunchError::Failed(match text {
        Ok(text) if !text.trim().is_empty() => text,
        Ok(_) => format!("ssh exited with {status} and logged nothing"),
        // ssh could not even open its log: the control directory is gone or unwritable.
        Err(e) => format!("ssh exited with {status}; its log {} could not be read: {e}", log.display()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_directories_whose_lock_is_free_are_removed() {
        let base = tempfile::tempdir().unwrap();
        let live = base.path().join("credpush-1-live");
        let dead = base.path().join("credpush-2-dead");
        let fresh = base.path().join("credpush-3-nolock");
        let other = base.path().join("credpush-x-other");
        for d in [&live, &dead, &fresh, &other] {
            std::fs::create_dir(d).unwrap();
        }
        let held = std::fs::File::create(live.join(LOCK)).unwrap();
        rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        std::fs::File::create(dead.join(LOCK)).unwrap();
        remove_stale(base.path());
        assert!(live.exists(), "a live run's directory was removed");
        assert!(!dead.exists(), "a finished run's directory was kept");
        assert!(fresh.exists(), "a directory without a lock is kept while it is young");
        assert!(other.exists(), "not a control directory");
    }

    #[test]
    fn a_directory_being_made_is_never_swept() {
        let base = tempfile::tempdir().unwrap();
        let making = base.path().join(format!("{NEW_PREFIX}7-abc"));
        std::fs::create_dir(&making).unwrap();
        std::fs::File::create(making.join(LOCK)).unwrap();
        remove_stale(base.path());
        assert!(making.exists(), "a run's directory was removed before it was locked");
    }

    /// Runs that start together: each one's sweep must leave the others' directories alone, so every directory
    /// exists, with its lock held, for as long as its run lives.
    #[test]
    fn runs_that_start_together_keep_their_directories() {
        let base = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let base = base.path().to_owned();
                std::thread::spawn(move || {
                    for _ in 0..150 {
                        let dir = ControlDir::create_in(&base).expect("create");
                        std::thread::yield_now();
                        assert!(dir.path().join(LOCK).exists(), "{} was swept by another run", dir.path().display());
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a run lost its directory");
        }
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0, "a dropped run left its directory");
    }
}
