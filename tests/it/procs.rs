//! Process bookkeeping for the harness: find the live processes that belong to a test (by owner, or by a path in
//! their command line or environment) and end them. Zombies are not counted: PID 1 on these machines does not
//! reap orphans, so a killed orphan lingers in state `Z` without holding any resource but its PID.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One live process.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Its PID.
    pub pid: u32,
    /// Its command line, NULs as spaces.
    pub cmdline: String,
    /// Its environment, NULs as newlines (empty when unreadable).
    pub environ: String,
}

/// Every live (not zombie) process on the machine, except this one.
pub fn live() -> Vec<Proc> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter_map(|pid| {
            let base = Path::new("/proc").join(pid.to_string());
            let stat = std::fs::read_to_string(base.join("stat")).ok()?;
            // The state follows the parenthesised command name, which may itself contain spaces or ')'.
            let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
            if state == "Z" || state == "X" {
                return None;
            }
            let text = |name: &str, sep: char| {
                std::fs::read(base.join(name))
                    .map(|b| String::from_utf8_lossy(&b).replace('\0', &sep.to_string()))
                    .unwrap_or_default()
            };
            Some(Proc { pid, cmdline: text("cmdline", ' '), environ: text("environ", '\n') })
        })
        .collect()
}

/// The live processes that name `root` in their command line or environment (a fleet's, or moto's, directory).
pub fn naming(root: &Path) -> Vec<Proc> {
    let root = root.to_string_lossy();
    live().into_iter().filter(|p| p.cmdline.contains(&*root) || p.environ.contains(&*root)).collect()
}

/// Every live process's (pid, parent pid).
fn parents() -> Vec<(u32, u32)> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let mut rest = stat.rsplit_once(')')?.1.split_whitespace();
            let state = rest.next()?;
            (state != "Z").then_some(())?;
            Some((pid, rest.next()?.parse().ok()?))
        })
        .collect()
}

/// `root` and all its live descendants.
fn tree(root: u32) -> Vec<u32> {
    let all = parents();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(all.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found
}

/// Kills a daemon and everything it forked, even processes that left its process group: sshd's connection
/// processes call setsid() and rename themselves, so neither the group nor the command line finds them, but their
/// parent does. The tree is frozen first, so nothing forks between the look and the kill.
pub fn kill_tree(root: u32) {
    let signal = |sig: &str, pids: &[u32]| {
        if !pids.is_empty() {
            let _ = Command::new("kill").arg(sig).args(pids.iter().map(u32::to_string)).status();
        }
    };
    let mut stopped: Vec<u32> = Vec::new();
    for _ in 0..3 {
        let pids: Vec<u32> = tree(root).into_iter().filter(|p| !stopped.contains(p)).collect();
        if pids.is_empty() {
            break;
        }
        signal("-STOP", &pids);
        stopped.extend(pids);
    }
    signal("-KILL", &stopped);
}

/// Sends SIGKILL to a process group.
pub fn kill_group(pgid: u32) {
    let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).status();
}

/// Kills every live process that names `root`, until none is left or `within` has passed (a process may be
/// forking while we look). Returns what was still alive at the end.
pub fn kill_naming(root: &Path, within: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + within;
    loop {
        let left = naming(root);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        for p in &left {
            let _ = Command::new("kill").args(["-KILL", &p.pid.to_string()]).status();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
