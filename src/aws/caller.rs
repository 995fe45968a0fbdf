//! What resolving the caller's credentials may touch outside credpush, made safe before the SDK sees it: the shared
//! config and credentials files (regular files only), a `credential_process` that is credpush itself (refused, or
//! each level would start the next until every one times out), and the processes a `credential_process` leaves
//! running (ended before [`crate::aws::sts::Sts::connect`] returns).
//!
//! The SDK runs `credential_process` as `sh -c COMMAND` and, when the resolution is cancelled by credpush's
//! deadline, drops the child without killing it, so a hanging command would outlive the run. credpush therefore
//! becomes a child subreaper while it resolves (orphans of the command are re-parented to credpush instead of
//! init), and afterwards kills every child that appeared meanwhile, and the children of those, until none is left.

use std::collections::HashSet;
use std::path::PathBuf;

use rustix::process::{Pid, Signal, getpid, kill_process, set_child_subreaper};

use crate::error::{Error, Result};
use crate::host::input::{self, InputError, MAX_CONFIG_BYTES};

/// Checks the shared config and credentials files the SDK reads (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`,
/// else `~/.aws/config` and `~/.aws/credentials`): when one exists it must be a regular file of at most
/// [`MAX_CONFIG_BYTES`]. A FIFO there would hang the SDK's read; `/dev/zero` would fill memory.
pub fn check_shared_files() -> Result<()> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    for (var, default) in [("AWS_CONFIG_FILE", ".aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials")] {
        let path = match std::env::var_os(var) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => match &home {
                Some(h) => h.join(default),
                None => continue,
            },
        };
        match input::check_regular(&path, MAX_CONFIG_BYTES) {
            Ok(()) => {}
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {}
            Err(InputError::Io(e)) => return Err(Error::io("read", path, e)),
            Err(e) => {
                return Err(Error::ConfigFile {
                    path,
                    reason: format!("{e} (it is the file {var} names, or its default, which the AWS SDK reads)"),
                });
            }
        }
    }
    Ok(())
}

/// Refuses to resolve credentials when this process is itself the `credential_process` of a credpush that is
/// resolving its caller's credentials: the same executable as the parent or the grandparent (`sh -c` in between).
/// `credpush read` as a caller's `credential_process` never gets here, so it stays allowed.
pub fn check_not_nested() -> Result<()> {
    let Ok(me) = std::fs::read_link("/proc/self/exe") else { return Ok(()) };
    let mut pid = rustix::process::getppid();
    for _ in 0..2 {
        let Some(p) = pid else { break };
        let raw = p.as_raw_nonzero().get();
        if std::fs::read_link(format!("/proc/{raw}/exe")).is_ok_and(|exe| exe == me) {
            return Err(Error::NestedCaller { pid: raw });
        }
        pid = parent_of(raw);
    }
    Ok(())
}

/// The parent of `pid`, from `/proc/PID/stat` (the field after the parenthesised command name).
fn parent_of(pid: i32) -> Option<Pid> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let ppid: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
    Pid::from_raw(ppid)
}

/// The live (not zombie) direct children of this process.
fn children() -> HashSet<i32> {
    let me = getpid().as_raw_nonzero().get();
    let Ok(dir) = std::fs::read_dir("/proc") else { return HashSet::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
            let Some(close) = stat.rfind(')') else { return false };
            let mut fields = stat[close + 1..].split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let ppid = fields.next().and_then(|p| p.parse::<i32>().ok());
            state != "Z" && ppid == Some(me)
        })
        .collect()
}

/// Ends, when dropped, every child process that appeared after [`ChildGuard::start`] (see the module docs).
#[derive(Debug)]
pub struct ChildGuard {
    before: HashSet<i32>,
}

impl ChildGuard {
    /// Notes the children that exist now and makes this process a child subreaper.
    pub fn start() -> Self {
        let before = children();
        if let Err(e) = set_child_subreaper(Some(getpid())) {
            tracing::debug!(error = %e, "could not become a child subreaper");
        }
        Self { before }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // Each round kills the new children; their own children are then re-parented here and found by the
        // next. A process tree deeper than the rounds is cut at its top, which ends it in practice.
        for _ in 0..16 {
            let new: Vec<i32> = children().difference(&self.before).copied().collect();
            if new.is_empty() {
                break;
            }
            for pid in new {
                if let Some(p) = Pid::from_raw(pid) {
                    tracing::debug!(pid, "ending a process the caller's credential_process left running");
                    let _ = kill_process(p, Signal::KILL);
                }
            }
            // Let the kernel re-parent the orphans before the next look.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = set_child_subreaper(None);
    }
}
