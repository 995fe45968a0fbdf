//! `rotate --shard I/N`: split the selected hosts over N builds by a stable hash of the inventory hostname.
//!
//! The hash is 64-bit FNV-1a of the hostname's UTF-8 bytes (offset basis `0xcbf29ce484222325`, prime
//! `0x100000001b3`), and a host belongs to shard `hash % N + 1`. It depends on the name alone, so shards are
//! disjoint, cover every host, and a host stays in its shard across runs, releases and edits to other hosts of
//! the inventory. Rust's `DefaultHasher` is not used: its output may change between Rust releases.

use std::fmt;

use crate::error::{Error, Result};
use crate::inventory::Inventory;

/// One shard of N, numbered from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

/// The most shards a rotation can be split into (CodeBuild batch builds allow far fewer).
pub const MAX_SHARDS: u32 = 10_000;

impl Shard {
    /// Parses `I/N` with 1 <= I <= N <= [`MAX_SHARDS`]. Used as clap's value parser, so a bad value is a usage
    /// error (exit 2) before anything else runs.
    pub fn parse(value: &str) -> Result<Self, String> {
        let expected = "expected I/N with 1 <= I <= N, e.g. 2/3";
        let (i, n) = value.split_once('/').ok_or_else(|| format!("not a shard ({expected})"))?;
        let num = |s: &str| s.parse::<u32>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
        let (Some(index), Some(count)) = (num(i), num(n)) else {
            return Err(format!("not a shard ({expected})"));
        };
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("the shard count must be 1 to {MAX_SHARDS} ({expected})"));
        }
        if index == 0 || index > count {
            return Err(format!("shard {index} does not exist in {count} shard(s) ({expected}; shards count from 1)"));
        }
        Ok(Self { index, count })
    }

    /// Whether `host` (an inventory hostname) belongs to this shard.
    pub fn contains(&self, host: &str) -> bool {
        shard_of(host, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The hosts `limit` selects in `inv` that belong to `shard` (all of them without one), one name a line in
/// Ansible's order: an `ansible-playbook --limit @FILE` file that selects the same hosts `rotate --shard` does.
/// Ansible reads each line of such a file as a pattern, so a name that would select more than its own host (it
/// names a group too, or holds pattern syntax) is refused, naming the host, rather than widening the shard.
pub fn limit_file(inv: &Inventory, limit: Option<&str>, shard: Option<Shard>) -> Result<String> {
    let mut out = String::new();
    for name in inv.select(limit)? {
        if shard.is_some_and(|s| !s.contains(&name)) {
            continue;
        }
        if let Some(reason) = limit_line_problem(&name, inv.is_group(&name)) {
            return Err(Error::HostVar {
                host: name.clone(),
                var: "inventory_hostname",
                value: name,
                reason: format!(
                    "{reason}, so an ansible-playbook --limit @FILE line cannot select this host alone (rename it, \
                     or shard with credpush rotate --shard)"
                ),
            });
        }
        out.push_str(&name);
        out.push('\n');
    }
    Ok(out)
}

/// Why a host name would not stand for itself alone as a line of a `--limit @FILE` file: Ansible strips each
/// line, reads a leading `!`, `&` or `~` as exclude, intersect or regex, `*`, `?` and `[` as a glob or a
/// subscript, and a group's name as the group.
fn limit_line_problem(name: &str, is_group: bool) -> Option<&'static str> {
    if is_group {
        Some("it also names a group")
    } else if name.starts_with(['!', '&', '~']) || name.contains(['*', '?', '[']) {
        Some("it holds host pattern syntax (a leading !, & or ~, or *, ? or [)")
    } else if name.trim() != name || name.contains(|c: char| c.is_control()) {
        Some("it starts or ends with blanks or holds a control character")
    } else {
        None
    }
}

/// 64-bit FNV-1a.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard (1..=count) a hostname belongs to.
pub fn shard_of(host: &str, count: u32) -> u32 {
    (fnv1a64(host.as_bytes()) % u64::from(count.max(1))) as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_published_vectors() {
        // Test vectors from the FNV reference (draft-eastlake-fnv): "", "a", "foobar".
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn three_shards_of_thirty_hosts_cover_each_host_once_and_stay_put() {
        let hosts: Vec<String> = (1..=30).map(|i| format!("host{i:02}.dc1.example")).collect();
        let shards: Vec<Shard> = (1..=3).map(|i| Shard { index: i, count: 3 }).collect();
        for h in &hosts {
            assert_eq!(shards.iter().filter(|s| s.contains(h)).count(), 1, "{h}");
        }
        // Pinned assignment: a change here moves hosts between builds, which the docs promise never happens.
        let sizes: Vec<usize> = shards.iter().map(|s| hosts.iter().filter(|h| s.contains(h)).count()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 30);
        assert!(sizes.iter().all(|&n| n > 0), "{sizes:?}");
        assert_eq!(sizes, [11, 7, 12]);
        let pinned: Vec<u32> = ["host01.dc1.example", "web1", "db-7"].iter().map(|h| shard_of(h, 3)).collect();
        assert_eq!(pinned, [2, 2, 3]);
        assert_eq!(shard_of("a", 3), (0xaf63dc4c8601ec8c_u64 % 3) as u32 + 1);
    }

    #[test]
    fn names_that_are_patterns_or_groups_cannot_be_limit_lines() {
        for name in ["web01", "db-7.dc1.example", "10.0.0.1", "host:22", "a,b", "@x"] {
            assert_eq!(limit_line_problem(name, false), None, "{name}");
        }
        assert_eq!(limit_line_problem("web", true), Some("it also names a group"));
        for name in ["!web", "&web", "~w.*", "web*", "web?", "web[0]", " web", "web\r"] {
            assert!(limit_line_problem(name, false).is_some(), "{name:?}");
        }
    }

    #[test]
    fn parse_accepts_i_of_n_and_refuses_the_rest() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("1/1"), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "1/0", "junk", "", "/", "1/", "/3", "+1/3", "1/3/5", " 1/3", "-1/3", "1/99999"] {
            assert!(Shard::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Shard::parse("4/3").unwrap_err().contains("shard 4 does not exist in 3"));
    }
}
