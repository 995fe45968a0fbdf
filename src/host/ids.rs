//! Users and groups on the host, read from `/etc/passwd` and `/etc/group` directly: the module is a static
//! binary, and a static glibc cannot load the NSS modules that `getpwnam` would need.

use std::path::PathBuf;

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

fn read_small(path: &str) -> String {
    // These files are small on any host; the bound keeps a hostile or broken one from exhausting memory.
    use std::io::Read;
    let mut text = String::new();
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.take(16 << 20).read_to_string(&mut text);
    }
    text
}

fn parse_passwd(text: &str) -> Vec<User> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 7).then_some(())?;
            Some(User { name: f[0].into(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].into() })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<(String, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3).then_some(())?;
            Some((f[0].to_owned(), f[2].parse().ok()?))
        })
        .collect()
}

/// The passwd entry of `uid`.
pub fn user_by_uid(uid: u32) -> Option<User> {
    parse_passwd(&read_small("/etc/passwd")).into_iter().find(|u| u.uid == uid)
}

/// The passwd entry named `name`.
pub fn user_by_name(name: &str) -> Option<User> {
    parse_passwd(&read_small("/etc/passwd")).into_iter().find(|u| u.name == name)
}

/// A user id from a name or a number.
pub fn resolve_user(spec: &str) -> Result<u32, String> {
    if let Ok(id) = spec.parse::<u32>() {
        return not_unchanged("owner", spec, id);
    }
    parse_passwd(&read_small("/etc/passwd")).into_iter().find(|u| u.name == spec).map(|u| u.uid).ok_or_else(|| {
        format!("owner {spec:?} is not a user on this host (fix: create the user first, or give a numeric uid)")
    })
}

/// A group id from a name or a number.
pub fn resolve_group(spec: &str) -> Result<u32, String> {
    if let Ok(id) = spec.parse::<u32>() {
        return not_unchanged("group", spec, id);
    }
    parse_group(&read_small("/etc/group")).into_iter().find(|(n, _)| n == spec).map(|(_, g)| g).ok_or_else(|| {
        format!("group {spec:?} is not a group on this host (fix: create the group first, or give a numeric gid)")
    })
}

/// An id of 4294967295 is chown's "leave unchanged", not an owner: the file would keep its owner while the
/// module reported a change on every run.
fn not_unchanged(what: &str, spec: &str, id: u32) -> Result<u32, String> {
    if id == u32::MAX {
        return Err(format!(
            "{what} {spec} is not an id (to chown it means \"unchanged\"; fix: give a real user or group)"
        ));
    }
    Ok(id)
}

/// The effective user id of this process (the become user under `become`), from `/proc/self/status`, since the
/// crate forbids the `unsafe` a libc call would take.
pub fn effective_uid() -> Option<u32> {
    effective("Uid:")
}

/// The effective group id of this process.
pub fn effective_gid() -> Option<u32> {
    effective("Gid:")
}

fn effective(key: &str) -> Option<u32> {
    let status = read_small("/proc/self/status");
    // "Uid:\treal\teffective\tsaved\tfs"
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The home that `~/` means: `$HOME` when it is absolute (sudo sets it to the become user's home, and sshd to the
/// login user's), else the passwd home of the effective user. The SSH writer of `credpush rotate` resolves `~` the
/// same way, so both paths write the same file.
pub fn home() -> Result<PathBuf, String> {
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from).filter(|h| h.is_absolute()) {
        return Ok(h);
    }
    effective_uid().and_then(user_by_uid).map(|u| PathBuf::from(u.home)).filter(|h| h.is_absolute()).ok_or_else(|| {
        "cannot resolve ~: HOME is not set and the user has no home in /etc/passwd (fix: give an absolute path)".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd_and_group_lines() {
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbroken\nsvc:x:1001:1002::/srv/svc:/bin/sh\n");
        assert_eq!(users.len(), 2);
        assert_eq!(users[1], User { name: "svc".into(), uid: 1001, gid: 1002, home: "/srv/svc".into() });
        assert_eq!(parse_group("root:x:0:\nsvc:x:1002:a,b\n:x\n"), [("root".to_owned(), 0), ("svc".to_owned(), 1002)]);
    }

    #[test]
    fn resolves_names_and_ids() {
        assert_eq!(resolve_user("root"), Ok(0));
        assert_eq!(resolve_user("4242"), Ok(4242));
        assert!(resolve_user("no-such-user-x").unwrap_err().contains("is not a user on this host"));
        assert_eq!(resolve_group("root"), Ok(0));
        assert!(effective_uid().is_some());
    }
}
