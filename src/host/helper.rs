//! The remote writer as one program: what `templates/remote_write.sh` does, in one process instead of eleven.
//!
//! `credpush rotate` installs this program (the Ansible module's static binary, which carries it as a second
//! mode) once per host, as `~/.cache/credpush/bin/credpush-helper-SHA256` under the directory rule, and the
//! shell writer's prelude runs it after checking that directory and the file's checksum (see
//! [`crate::host::helper::FLAG`] and `templates/remote_write.sh`). It takes the shell writer's arguments
//! (`TARGET MODE STAMP SECONDS NONCE [SHOW [EXPECT]]`), its input (`credpush-write SHA256 LENGTH`, the content,
//! `credpush-end`) and answers with its framed replies, exit codes and messages, so credpush reads both the same
//! way. The write itself is [`crate::host::atomic`]'s, inside a directory [`crate::host::dirs`] opened and
//! checked, with the shell writer's order: the deadline and the caller's stdout checked, and the answer begun,
//! before the stamp and the rename.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::host::atomic::{WriteOptions, Written};
use crate::host::dirs::{DirError, open_dir, split};
use crate::host::fsutil::sha256_hex;

mod input;

/// The first argument that selects this mode of the module's binary (Ansible runs the module with one path).
pub const FLAG: &str = "--credpush-write";

/// The largest content the helper takes: documents and the profile files credpush merges are far smaller.
pub const MAX_CONTENT: u64 = 4 << 20;

/// How much of a shown file is sent back, as the shell writer's `show_file`.
const MAX_SHOWN: u64 = 65536;

/// Runs the writer with `args` (after [`FLAG`]) on this process's stdin and stdout; returns the exit code.
pub fn run(args: &[OsString]) -> i32 {
    let Some(nonce) = args.get(4).and_then(|n| n.to_str()).filter(|n| is_hex(n)).map(str::to_owned) else {
        eprintln!("credpush: bad nonce");
        return 64;
    };
    let mut out = Reply { nonce, begun: false };
    match write(args, &mut out) {
        Ok(code) => code,
        Err(Fail::Quiet(code)) => code,
        Err(Fail::Said(code, message)) => {
            let said = out.begin().and_then(|()| out.line(&format!("error {code} {message}"))).and_then(|()| out.end());
            if said.is_ok() {
                eprintln!("credpush: {message}");
            }
            code
        }
    }
}

/// Why the writer stopped: a refusal or failure to answer (code, one line), or a caller that stopped listening.
pub(super) enum Fail {
    Said(i32, String),
    Quiet(i32),
}

pub(super) fn said(code: i32, message: impl Into<String>) -> Fail {
    Fail::Said(code, message.into())
}

/// The framed answer (the prelude's `begin` and `end`).
struct Reply {
    nonce: String,
    begun: bool,
}

impl Reply {
    fn begin(&mut self) -> std::io::Result<()> {
        if !self.begun {
            self.begun = true;
            self.raw(format!("\ncredpush-reply {}\n", self.nonce).as_bytes())?;
        }
        Ok(())
    }

    fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.raw(format!("{text}\n").as_bytes())
    }

    fn end(&mut self) -> std::io::Result<()> {
        self.line(&format!("credpush-end {}", self.nonce))
    }

    fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes).and_then(|()| stdout.flush())
    }
}

pub(super) fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn arg(args: &[OsString], i: usize) -> &OsStr {
    args.get(i).map_or(OsStr::new(""), OsString::as_os_str)
}

/// `~` and `~/…` against `$HOME`, as the shell prelude's `absolute` does.
fn absolute(path: &OsStr) -> PathBuf {
    let home = || std::env::var_os("HOME").unwrap_or_default();
    let bytes = path.as_bytes();
    if bytes == b"~" {
        PathBuf::from(home())
    } else if let Some(rest) = bytes.strip_prefix(b"~/") {
        let mut p = home().into_vec();
        p.push(b'/');
        p.extend_from_slice(rest);
        PathBuf::from(OsString::from_vec(p))
    } else {
        PathBuf::from(path)
    }
}

fn write(args: &[OsString], out: &mut Reply) -> Result<i32, Fail> {
    let text = |i| arg(args, i).to_string_lossy().into_owned();
    let mode = text(1);
    let mode = match mode.len() {
        3 | 4 if mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) && (mode.len() == 3 || mode.starts_with('0')) => {
            u32::from_str_radix(&mode, 8).unwrap_or(0)
        }
        _ => return Err(said(64, format!("mode {mode} is not an octal mode"))),
    };
    let stamp = match text(2).as_str() {
        "-" => None,
        s => Some(digits(s).ok_or_else(|| said(64, format!("stamp {s} is not a number")))?),
    };
    let secs = digits(&text(3)).ok_or_else(|| said(64, format!("deadline {} is not a number of seconds", text(3))))?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let show = args.get(5).filter(|s| !s.is_empty());
    let expect = args.get(6).map(|e| e.to_string_lossy().into_owned()).filter(|e| !e.is_empty());

    let target = absolute(arg(args, 0));
    let shown = target.display().to_string();
    if !target.is_absolute() {
        return Err(said(64, format!("target path {shown} is not absolute")));
    }
    if target.as_os_str().as_bytes().contains(&b'\n') {
        return Err(said(64, "target path has a newline"));
    }
    let Some((dir, name)) = split(&target).filter(|_| !target.as_os_str().as_bytes().ends_with(b"/")) else {
        return Err(said(64, format!("target path {shown} names no file")));
    };
    if target.is_dir() {
        return Err(said(
            66,
            format!(
                "target path {shown} is a directory (or a link to one); name the file to write, e.g. {shown}/temp.json"
            ),
        ));
    }
    if blocked(dir) {
        // As the shell's `mkdir -p` fails: something that is not a directory is on the way.
        return Err(said(73, format!("cannot create the directory {}", dir.display())));
    }
    let dir = open_dir(dir, true, None).map_err(refused)?;

    let (content, want) = input::read(deadline, secs, &shown)?;
    let left = |what: &str| {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(said(75, format!("the deadline of {secs}s passed; {shown} was left as it was{what}")))
        } else {
            Ok(left)
        }
    };
    let lock_wait = left("")?;
    let opts = WriteOptions { mode, owner: None, group: None, stamp, lock_wait };
    let mut stopped: Option<Fail> = None;
    let gate = |d: &crate::host::dirs::TrustedDir| {
        let why = (|| {
            if let Some(expect) = &expect {
                let cur = match d.existing(name, MAX_SHOWN + 1) {
                    Ok(None) => "absent".to_owned(),
                    Ok(Some(e)) => e.bytes.map_or_else(|| "unreadable".to_owned(), |b| sha256_hex(&b)),
                    Err(_) => return Err(said(73, format!("cannot read {shown} to check it is unchanged"))),
                };
                if &cur != expect {
                    return Err(said(
                        75,
                        format!("{shown} changed since credpush read it to merge; it was left as it was (run again)"),
                    ));
                }
            }
            left("")?;
            // The answer starts before the stamp and the rename: a caller that gave up on this host has closed
            // its end, this fails, and a late writer changes nothing.
            out.begin().map_err(|_| Fail::Quiet(141))
        })();
        why.map_err(|fail| {
            stopped = Some(fail);
            DirError::Verify { path: PathBuf::new(), why: String::new() }
        })
    };
    let written = dir.write_gated(name, &content, &opts, gate);
    if let Some(fail) = stopped {
        return Err(fail);
    }
    let answered = |r: std::io::Result<()>| r.map_err(|_| Fail::Quiet(141));
    match written {
        Ok(Written::Newer(kept)) => {
            answered(out.begin().and_then(|()| out.line(&format!("newer {kept}"))).and_then(|()| out.end()))?;
            Ok(0)
        }
        Ok(Written::Replaced) => {
            answered(out.line(&format!("ok {want} {shown}")))?;
            if let Some(show) = show {
                answered(show_file(out, show))?;
            }
            answered(out.end())?;
            Ok(0)
        }
        Err(DirError::Busy { waited, .. }) => {
            Err(said(75, format!("another writer held {shown} for {}s; it was left as it was", waited.as_secs())))
        }
        Err(e) => Err(refused(e)),
    }
}

/// True when `dir` is missing and a name on the way to it is something other than a directory.
fn blocked(dir: &std::path::Path) -> bool {
    !dir.is_dir() && dir.ancestors().any(|a| a.exists() && !a.is_dir())
}

/// A [`DirError`] as the shell writer says it: its code, and the directory rule's refusals in its words (with
/// the owner's name, as `stat %U` gives it).
fn refused(e: DirError) -> Fail {
    let mode4 = |m: u32| format!("{m:04o}");
    match e {
        DirError::Owner { dir, owner, mode, me } => {
            let (p, user) = (dir.display(), user_name(owner));
            said(
                77,
                format!(
                    "directory {p} is owned by {user} (uid {owner}, mode {}), not by root or the writing user (uid {me}), so that user could redirect what credpush writes (fix: chown root or {me} {p}, or choose a path whose directories only root and uid {me} control)",
                    mode4(mode)
                ),
            )
        }
        DirError::Writable { dir, owner, mode } => {
            let (p, user) = (dir.display(), user_name(owner));
            said(
                77,
                format!(
                    "directory {p} (owner {user}, mode {}) is writable by group or others, so another user could swap what credpush writes (fix: chmod go-w {p})",
                    mode4(mode)
                ),
            )
        }
        DirError::NotWriters { dir, owner, mode, me } => {
            let (p, user) = (dir.display(), user_name(owner));
            said(
                77,
                format!(
                    "directory {p} is owned by {user} (uid {owner}, mode {}), not by the writing user (uid {me}), so that owner could swap what credpush writes (fix: chown {me} {p}, or write as its owner, e.g. with ansible_become_user)",
                    mode4(mode)
                ),
            )
        }
        DirError::NotDir(p) => said(66, format!("{} is not a directory", p.display())),
        e @ DirError::IsDir(_) => said(66, e.to_string()),
        DirError::Changed(p) => said(77, format!("the directory {} changed while it was checked", p.display())),
        e @ DirError::Verify { .. } => said(70, e.to_string()),
        e => said(73, e.to_string()),
    }
}

/// The login name of `uid` from `/etc/passwd`, or `UNKNOWN` as stat says for a uid it has none for.
fn user_name(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_owned())
        })
        .unwrap_or_else(|| "UNKNOWN".to_owned())
}

/// `show PATH`, then `absent`, `toolarge SIZE` (over 64 KiB, or -1 when not a regular file), or `present MODE
/// SIZE`, that many bytes and a newline: the shell prelude's `show_file`.
fn show_file(out: &mut Reply, show: &OsStr) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = absolute(show);
    out.line(&format!("show {}", path.display()))?;
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out.line("absent"),
        Err(_) => return out.line("toolarge -1"),
    };
    if !meta.is_file() {
        return out.line("toolarge -1");
    }
    if meta.len() > MAX_SHOWN {
        return out.line(&format!("toolarge {}", meta.len()));
    }
    let mut bytes = Vec::new();
    if let Ok(f) = std::fs::File::open(&path) {
        let _ = f.take(meta.len()).read_to_end(&mut bytes);
    }
    out.line(&format!("present {:o} {}", meta.permissions().mode() & 0o7777, meta.len()))?;
    out.raw(&bytes)?;
    out.raw(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn paths_resolve_as_the_shell_prelude_resolves_them() {
        let home = std::env::var_os("HOME").unwrap_or_default();
        assert_eq!(absolute(OsStr::new("~")), PathBuf::from(&home));
        assert_eq!(absolute(OsStr::new("~/.aws/x")), Path::new(&home).join(".aws/x"));
        assert_eq!(absolute(OsStr::new("/a/~/b")), PathBuf::from("/a/~/b"));
        assert_eq!(absolute(OsStr::new("~other/x")), PathBuf::from("~other/x"));
    }

    #[test]
    fn refusals_keep_the_shell_writers_words_and_codes() {
        let Fail::Said(code, text) = refused(DirError::Writable { dir: "/srv/x".into(), owner: 0, mode: 0o777 }) else {
            panic!("quiet")
        };
        assert_eq!(code, 77);
        assert_eq!(
            text,
            "directory /srv/x (owner root, mode 0777) is writable by group or others, so another user could swap what credpush writes (fix: chmod go-w /srv/x)"
        );
        assert!(matches!(refused(DirError::NotDir("/f".into())), Fail::Said(66, _)));
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000_000), "UNKNOWN");
    }
}
