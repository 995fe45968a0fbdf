//! The directory rule, and the one atomic writer in Rust built on it (the local writer, the Ansible module, and
//! `fetch`). The shell writer applies the same rule in `templates/remote_dirs.sh`.
//!
//! Before anything is written, every directory from `/` to the file's parent must be owned by root or the
//! writing user and not writable by group or others, unless it is sticky and root's (as `/tmp` is); the parent
//! itself must be the writing user's (or, for a root writer handing the file to `owner`, that owner's). Otherwise
//! another local user could swap a directory or plant a symlink and receive the secret. The walk opens each
//! directory with `O_NOFOLLOW` below the previous one and checks the open descriptor, so what is checked is what
//! is written into; files are then created with `O_EXCL|O_NOFOLLOW` relative to that descriptor, and the result
//! of the rename is opened again and compared.
//!
//! No roll-back: a write may carry a stamp (nanoseconds since the epoch at which its rotation assumed the role),
//! kept in `.NAME.credpush-stamp` beside the file under an exclusive `flock`; a write whose stamp is older than
//! the kept one leaves the file alone ([`Written::Newer`]).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};

/// Why a directory or a write was refused. Names the directory, its owner and mode, and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// A directory on the way belongs to someone other than root or the writer.
    #[error(
        "directory {} is owned by uid {owner} (mode {mode:04o}), not by root or the writing user (uid {me}), so that user could redirect what credpush writes (fix: chown root or {me} {}, or choose a path whose directories only root and uid {me} control)",
        dir.display(), dir.display()
    )]
    Owner {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its mode.
        mode: u32,
        /// The writing user.
        me: u32,
    },
    /// A directory on the way is writable by group or others (and is not a sticky root directory).
    #[error(
        "directory {} (owner uid {owner}, mode {mode:04o}) is writable by group or others, so another user could swap what credpush writes (fix: chmod go-w {})",
        dir.display(), dir.display()
    )]
    Writable {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its mode.
        mode: u32,
    },
    /// The file's own directory is not the writer's.
    #[error(
        "directory {} is owned by uid {owner} (mode {mode:04o}), not by the writing user (uid {me}), so that owner could swap what credpush writes (fix: chown {me} {}, or write as its owner)",
        dir.display(), dir.display()
    )]
    NotWriters {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its mode.
        mode: u32,
        /// The writing user.
        me: u32,
    },
    /// Something on the way is not a directory, or the target is one.
    #[error("{} is not a directory", .0.display())]
    NotDir(PathBuf),
    /// The target is a directory.
    #[error("{} is a directory (fix: name the file to write, e.g. {}/temp.json)", .0.display(), .0.display())]
    IsDir(PathBuf),
    /// A symlink or rename appeared on the way while it was walked.
    #[error("the directory {} changed while it was checked (a symlink or a rename appeared); nothing was written", .0.display())]
    Changed(PathBuf),
    /// What the rename put in place is not what was written.
    #[error("verification failed for {}: {why}", path.display())]
    Verify {
        /// The file.
        path: PathBuf,
        /// What differs.
        why: String,
    },
    /// Another writer held the file's lock for longer than allowed.
    #[error("another writer held {} for {waited:?}; it was left as it was", path.display())]
    Busy {
        /// The file.
        path: PathBuf,
        /// How long this writer waited.
        waited: Duration,
    },
    /// An operating system error.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(rustix::io::Errno) -> DirError + 'a {
    move |e| DirError::Io { action, path: path.to_owned(), source: e.into() }
}

/// A directory that passed the rule, held open: everything done through it is relative to this descriptor.
#[derive(Debug)]
pub struct TrustedDir {
    fd: OwnedFd,
    path: PathBuf,
    me: u32,
}

/// The writing user: the effective uid.
pub fn writer_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Checks one open directory against the rule.
fn check(fd: &OwnedFd, shown: &Path, me: u32, also: Option<u32>) -> Result<(u32, u32), DirError> {
    let st = rustix::fs::fstat(fd).map_err(io("inspect", shown))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(DirError::NotDir(shown.to_owned()));
    }
    let (owner, mode) = (st.st_uid, st.st_mode & 0o7777);
    if owner != 0 && owner != me && Some(owner) != also {
        return Err(DirError::Owner { dir: shown.to_owned(), owner, mode, me });
    }
    if mode & 0o022 != 0 && !(mode & 0o1000 != 0 && owner == 0) {
        return Err(DirError::Writable { dir: shown.to_owned(), owner, mode });
    }
    Ok((owner, mode))
}

fn open_below(parent: &OwnedFd, name: &OsStr, shown: &Path) -> Result<OwnedFd, DirError> {
    let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
    rustix::fs::openat(parent, name, flags, Mode::empty()).map_err(|e| match e {
        // A symlink (ELOOP) or a non-directory where the walk expected the resolved path: it changed under us.
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => DirError::Changed(shown.to_owned()),
        e => DirError::Io { action: "open the directory", path: shown.to_owned(), source: e.into() },
    })
}

/// Opens `dir` after checking every directory from `/` to it against the rule, creating what is missing (0700)
/// when `create` is set, below directories that already passed. `file_owner` is the uid a root writer hands the
/// file to: that user may own the last directory too.
pub fn open_dir(dir: &Path, create: bool, file_owner: Option<u32>) -> Result<TrustedDir, DirError> {
    let me = writer_uid();
    let dir = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir().map_err(|e| DirError::Io { action: "find", path: dir.to_owned(), source: e })?.join(dir)
    };
    let mut existing = dir.as_path();
    while !existing.is_dir() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    // Symlinks are resolved once, here; the walk below then refuses any that appear.
    let real = std::fs::canonicalize(existing)
        .map_err(|e| DirError::Io { action: "resolve", path: existing.to_owned(), source: e })?;
    let rest = dir.strip_prefix(existing).unwrap_or(Path::new("")).to_owned();
    let root = Path::new("/");
    let mut fd = rustix::fs::open(root, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(io("open the directory", root))?;
    let mut shown = PathBuf::from("/");
    let mut last = check(&fd, &shown, me, None)?;
    let resolved = real.components().count();
    let parts: Vec<Component<'_>> = real.components().chain(rest.components()).collect();
    for (i, part) in parts.iter().enumerate() {
        let name = match part {
            Component::Normal(n) => *n,
            Component::RootDir | Component::CurDir => continue,
            _ => return Err(DirError::Changed(shown)),
        };
        shown.push(name);
        if create && i >= resolved {
            match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => {
                    return Err(DirError::Io { action: "create the directory", path: shown, source: e.into() });
                }
            }
        }
        fd = open_below(&fd, name, &shown)?;
        // The file's own directory may also be the user's that a root writer hands the file to.
        let also = if i + 1 == parts.len() { file_owner } else { None };
        last = check(&fd, &shown, me, also)?;
    }
    let (owner, mode) = last;
    if owner != me && Some(owner) != file_owner {
        return Err(DirError::NotWriters { dir: shown, owner, mode, me });
    }
    Ok(TrustedDir { fd, path: dir, me })
}

/// How to write one file.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Its permission bits.
    pub mode: u32,
    /// Its owner (root only), else the writer.
    pub owner: Option<u32>,
    /// Its group (root, or a group of the writer's).
    pub group: Option<u32>,
    /// When its rotation assumed the role (nanoseconds since the epoch); `None` for a file that is not a
    /// rotation's document.
    pub stamp: Option<u64>,
    /// How long to wait for another writer of the same file.
    pub lock_wait: Duration,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The file now holds the new content.
    Replaced,
    /// A later rotation (this stamp) already wrote the file; it was left alone.
    Newer(u64),
}

/// What is at a name now.
#[derive(Debug)]
pub struct Existing {
    /// Its bytes, when it is a regular file of at most the size asked for.
    pub bytes: Option<Vec<u8>>,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// True for a directory.
    pub is_dir: bool,
}

/// The stamp file kept beside `name` (the shell writer uses the same name).
pub fn stamp_name(name: &OsStr) -> std::ffi::OsString {
    let mut s = std::ffi::OsString::from(".");
    s.push(name);
    s.push(".credpush-stamp");
    s
}

impl TrustedDir {
    /// The directory's path as asked for.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is at `name` (never following a symlink), reading at most `max` bytes of a regular file.
    pub fn existing(&self, name: &OsStr, max: u64) -> Result<Option<Existing>, DirError> {
        let shown = self.path.join(name);
        let st = match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(DirError::Io { action: "inspect", path: shown, source: e.into() }),
        };
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut found = Existing {
            bytes: None,
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
            is_dir: kind == FileType::Directory,
        };
        if kind == FileType::RegularFile && (st.st_size as u64) <= max {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
            let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty()).map_err(io("open", &shown))?;
            let mut buf = Vec::new();
            File::from(fd)
                .take(max)
                .read_to_end(&mut buf)
                .map_err(|e| DirError::Io { action: "read", path: shown.clone(), source: e })?;
            found.bytes = Some(buf);
        }
        Ok(Some(found))
    }

    /// Removes `name` (a file or a symlink, never what it points to).
    pub fn remove(&self, name: &OsStr) -> Result<(), DirError> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(io("remove", &self.path.join(name)))
    }

    /// Changes mode and owner of `name` in place (never through a symlink).
    pub fn set_attrs(&self, name: &OsStr, mode: u32, owner: Option<u32>, group: Option<u32>) -> Result<(), DirError> {
        let shown = self.path.join(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty()).map_err(io("open", &shown))?;
        chown(&fd, owner, group).map_err(io("change the owner of", &shown))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io("set the mode of", &shown))
    }

    /// Writes `contents` to `name` atomically: a temp file created `O_EXCL|O_NOFOLLOW` 0600 in this directory,
    /// mode and owner set, fsync, then (under the file's lock, and unless a later stamp is kept) the stamp, the
    /// rename and an fsync of the directory; the renamed file is opened again and compared. On failure the old
    /// file is untouched and the temp file removed.
    pub fn write(&self, name: &OsStr, contents: &[u8], opts: &WriteOptions) -> Result<Written, DirError> {
        let shown = self.path.join(name);
        if self.existing(name, 0)?.is_some_and(|e| e.is_dir) {
            return Err(DirError::IsDir(shown));
        }
        let (tmp_name, tmp) = self.create_temp(&shown)?;
        let guard = TempGuard { dir: &self.fd, name: Some(tmp_name.clone()) };
        let mut file = File::from(tmp);
        let failed = |e: std::io::Error| DirError::Io { action: "write", path: shown.clone(), source: e };
        file.write_all(contents).map_err(failed)?;
        chown(&file, opts.owner, opts.group).map_err(io("change the owner of", &shown))?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(opts.mode)).map_err(io("set the mode of", &shown))?;
        file.sync_all().map_err(|e| DirError::Io { action: "fsync", path: shown.clone(), source: e })?;
        let mut lock = self.lock(name, opts)?;
        if let Some(stamp) = opts.stamp {
            let mut text = String::new();
            let _ = (&lock).take(64).read_to_string(&mut text);
            let kept: u64 = text.trim().parse().unwrap_or(0);
            if kept > stamp {
                return Ok(Written::Newer(kept));
            }
            // The stamp goes first: a writer killed between the two steps leaves the older file under a newer
            // stamp, which a later rotation replaces, never the other way round.
            let stamped = lock
                .set_len(0)
                .and_then(|()| lock.rewind())
                .and_then(|()| lock.write_all(format!("{stamp}\n").as_bytes()))
                .and_then(|()| lock.sync_all());
            stamped.map_err(|e| DirError::Io { action: "write the stamp beside", path: shown.clone(), source: e })?;
        }
        rustix::fs::renameat(&self.fd, &tmp_name, &self.fd, name).map_err(io("rename into place", &shown))?;
        drop(guard.disarm());
        rustix::fs::fsync(&self.fd).map_err(io("fsync the directory of", &shown))?;
        self.verify(name, contents, opts, &shown)?;
        drop(lock);
        Ok(Written::Replaced)
    }

    fn create_temp(&self, shown: &Path) -> Result<(std::ffi::OsString, OwnedFd), DirError> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let pid = std::process::id();
        let mut attempt = 0u32;
        loop {
            let name = std::ffi::OsString::from(format!(".credpush.{pid}.{attempt}.tmp"));
            match rustix::fs::openat(&self.fd, &name, flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((name, fd)),
                Err(rustix::io::Errno::EXIST) if attempt < 100 => attempt += 1,
                Err(e) => {
                    return Err(DirError::Io {
                        action: "create a temporary file beside",
                        path: shown.to_owned(),
                        source: e.into(),
                    });
                }
            }
        }
    }

    /// Takes the file's lock (the stamp file, which a root writer hands to the file's owner so that owner's own
    /// rotations can take it too).
    fn lock(&self, name: &OsStr, opts: &WriteOptions) -> Result<File, DirError> {
        let stamp = stamp_name(name);
        let shown = self.path.join(&stamp);
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(&self.fd, &stamp, flags, Mode::from_raw_mode(0o600))
            .map_err(io("open the stamp file", &shown))?;
        let st = rustix::fs::fstat(&fd).map_err(io("inspect", &shown))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(DirError::Verify { path: shown, why: "the stamp file is not a regular file".into() });
        }
        if opts.owner.is_some_and(|o| o != st.st_uid) {
            chown(&fd, opts.owner, None).map_err(io("change the owner of", &shown))?;
        }
        let started = Instant::now();
        loop {
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(File::from(fd)),
                Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < opts.lock_wait => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(DirError::Busy { path: self.path.join(name), waited: started.elapsed() });
                }
                Err(e) => return Err(DirError::Io { action: "lock", path: shown, source: e.into() }),
            }
        }
    }

    fn verify(&self, name: &OsStr, contents: &[u8], opts: &WriteOptions, shown: &Path) -> Result<(), DirError> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let bad = |why: String| DirError::Verify { path: shown.to_owned(), why };
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())
            .map_err(|e| bad(format!("cannot open it again ({e})")))?;
        let st = rustix::fs::fstat(&fd).map_err(io("inspect", shown))?;
        let owner = opts.owner.unwrap_or(self.me);
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile
            || st.st_nlink != 1
            || st.st_mode & 0o7777 != opts.mode
            || st.st_uid != owner
        {
            return Err(bad(format!(
                "it is not the file just written (mode {:o}, owner uid {}, {} links)",
                st.st_mode & 0o7777,
                st.st_uid,
                st.st_nlink
            )));
        }
        let mut back = Vec::new();
        File::from(fd)
            .take(contents.len() as u64 + 1)
            .read_to_end(&mut back)
            .map_err(|e| DirError::Io { action: "read back", path: shown.to_owned(), source: e })?;
        if back != contents {
            return Err(bad("the file does not match what was written".into()));
        }
        Ok(())
    }
}

fn chown<Fd: std::os::fd::AsFd>(fd: Fd, owner: Option<u32>, group: Option<u32>) -> rustix::io::Result<()> {
    if owner.is_none() && group.is_none() {
        return Ok(());
    }
    rustix::fs::fchown(fd, owner.map(rustix::fs::Uid::from_raw), group.map(rustix::fs::Gid::from_raw))
}

/// Removes the temp file unless it was renamed.
struct TempGuard<'a> {
    dir: &'a OwnedFd,
    name: Option<std::ffi::OsString>,
}

impl TempGuard<'_> {
    fn disarm(mut self) -> Self {
        self.name = None;
        self
    }
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if let Some(name) = &self.name {
            let _ = rustix::fs::unlinkat(self.dir, name, AtFlags::empty());
        }
    }
}

/// Splits `path` into its directory and file name; `None` when it names no file (`/`, `x/..`).
pub fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    let name = path.file_name()?;
    if name.as_bytes().is_empty() {
        return None;
    }
    Some((path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")), name))
}

/// Writes `path` under the rule: its directory opened (created 0700 where missing) and checked, then
/// [`TrustedDir::write`].
pub fn write_file(path: &Path, contents: &[u8], opts: &WriteOptions) -> Result<Written, DirError> {
    let (dir, name) = split(path).ok_or_else(|| DirError::IsDir(path.to_owned()))?;
    open_dir(dir, true, opts.owner)?.write(name, contents, opts)
}

#[cfg(test)]
#[path = "dirs_tests.rs"]
mod tests;
