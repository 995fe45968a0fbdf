//! The open file limit (RLIMIT_NOFILE) and how many hosts fit in it.
//!
//! Every host in flight holds file descriptors in credpush's own process, and a host that cannot get one fails
//! with "Too many open files", a message that says nothing about `--forks`. So at start the soft limit is raised
//! toward the hard limit (allowed without privileges), and `--forks` is capped by what the limit then allows.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::error::{Error, Result};

/// Descriptors one host in flight holds at most in credpush's process: while its master is launched, the
/// runtime's handle on the `ssh` launcher; then, per remote command, the connection to the control socket and the
/// local ends of the pipes whose other ends are passed to the master; plus the generated ssh config of a host with
/// inventory ssh options. Measured by sampling `/proc/PID/fd` every 5 ms during rotations of 100 loopback hosts:
/// 18 at peak with `--forks 1` (about 12 of them the runtime's and STS's), 37 with `--forks 10`, 100 with
/// `--forks 50`, so 2 to 6 per host. 10 leaves room for what a launcher or ProxyCommand may add.
pub const FDS_PER_HOST: u64 = 10;

/// Descriptors kept free for everything but hosts: the standard streams, the runtime (epoll, its wakers, the
/// signal pipe), STS's connection pool, the log, inventory files being read.
pub const RESERVED_FDS: u64 = 48;

/// The limit as found and as left, and the forks it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// Soft limit at start.
    pub soft_before: u64,
    /// Soft limit now (raised toward `hard` when it could be).
    pub soft: u64,
    /// Hard limit (`None`: unlimited).
    pub hard: Option<u64>,
    /// Hosts in flight at once: `--forks`, capped by `soft`.
    pub forks: usize,
}

/// The most the soft limit is raised to, even when the hard limit is higher or unlimited: far above any sane
/// `--forks` (1000 hosts need about 10 000), and below Linux's default `fs.nr_open` (1 048 576).
const RAISE_CAP: u64 = 65_536;

/// Raises the soft open file limit toward the hard limit and caps `forks` by what the result allows. Refuses a
/// limit that leaves no room for even one host (`ulimit -n 16`): such a run would only retry "Too many open files"
/// host after host.
pub fn prepare(forks: usize) -> Result<FdBudget> {
    let budget = raise(forks);
    let in_use = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    let need = in_use.max(RESERVED_FDS) + FDS_PER_HOST;
    if budget.soft < need {
        return Err(Error::FdLimit { soft: budget.soft, hard: budget.hard, need });
    }
    Ok(budget)
}

fn raise(forks: usize) -> FdBudget {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let soft_before = current.unwrap_or(u64::MAX);
    let want = maximum.unwrap_or(u64::MAX).min(RAISE_CAP);
    let mut soft = soft_before;
    if want > soft_before {
        match setrlimit(Resource::Nofile, Rlimit { current: Some(want), maximum }) {
            Ok(()) => soft = want,
            Err(e) => tracing::debug!(error = %e, want, "could not raise the open file limit"),
        }
    }
    let in_use = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    FdBudget { soft_before, soft, hard: maximum, forks: forks_within(forks, soft, in_use) }
}

/// `asked` forks, or fewer when `soft` open files leave room for fewer hosts; never below one.
pub fn forks_within(asked: usize, soft: u64, in_use: u64) -> usize {
    let room = soft.saturating_sub(in_use.max(RESERVED_FDS)) / FDS_PER_HOST;
    asked.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forks_are_capped_by_the_limit() {
        assert_eq!(forks_within(200, 65_536, 20), 200);
        // ulimit -n 256: (256 - 48) / 10 = 20 hosts at once.
        assert_eq!(forks_within(200, 256, 12), 20);
        assert_eq!(forks_within(200, 256, 100), 15);
        assert_eq!(forks_within(5, 256, 12), 5);
        assert_eq!(forks_within(50, 16, 12), 1, "one host always runs");
    }

    #[test]
    fn the_soft_limit_is_raised_toward_the_hard_one() {
        let b = prepare(50).expect("this machine's limit fits a host");
        assert!(b.soft >= b.soft_before);
        assert_eq!(getrlimit(Resource::Nofile).current, Some(b.soft));
        assert!(b.forks >= 1 && b.forks <= 50);
    }
}
