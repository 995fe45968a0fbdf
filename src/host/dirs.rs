//! The directory rule, for every writer in Rust (the local writer, the Ansible module, and `fetch`: call
//! [`open_dir`], then write through [`crate::host::atomic`]). The shell writer applies the same rule in
//! `templates/remote_dirs.sh` (a link to the Ansible collection's copy, which the action reads).
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
//! the kept one leaves the file alone ([`Written::Newer`](crate::host::atomic::Written::Newer)).

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

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
        waited: std::time::Duration,
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

/// The bottom layer carries the directory rule's errors without importing this layer (see
/// [`crate::error::Carried`]); a refusal stays exit 2, a failed operation exit 4.
impl From<DirError> for crate::error::Error {
    fn from(e: DirError) -> Self {
        let refusal = e.is_refusal();
        crate::error::Error::Dir(crate::error::Carried::new(e).refusal(refusal))
    }
}

impl DirError {
    /// True when the directory rule refused the path (who owns or may write a directory, what is there), as
    /// opposed to an operation that failed on the way: the first is the input's to fix (exit 2), the second this
    /// machine's (exit 4).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            DirError::Owner { .. }
                | DirError::Writable { .. }
                | DirError::NotWriters { .. }
                | DirError::NotDir(_)
                | DirError::IsDir(_)
        )
    }
}

pub(super) fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(rustix::io::Errno) -> DirError + 'a {
    move |e| DirError::Io { action, path: path.to_owned(), source: e.into() }
}

/// A directory that passed the rule, held open: everything done through it is relative to this descriptor.
#[derive(Debug)]
pub struct TrustedDir {
    pub(super) fd: OwnedFd,
    path: PathBuf,
    pub(super) me: u32,
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
    let real = std::fs::canonicalize(existing).map_err(|e| DirError::Io {
        action: "resolve",
        path: existing.to_owned(),
        source: e,
    })?;
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
                    return Err(DirError::Io { action: "create directory", path: shown, source: e.into() });
                }
            }
        }
        fd = open_below(&fd, name, &shown)?;
        if create && i >= resolved && file_owner.is_some_and(|o| o != me) {
            // A directory made for the user a root writer hands the file to is that user's, as before.
            super::atomic::chown(&fd, file_owner, None).map_err(io("change the owner of", &shown))?;
        }
        // Directories of the user a root writer hands the file to may be on the way too (their own home): every
        // step below is by descriptor with O_NOFOLLOW, so that user can move nothing but their own file.
        last = check(&fd, &shown, me, file_owner)?;
    }
    let (owner, mode) = last;
    if owner != me && Some(owner) != file_owner {
        return Err(DirError::NotWriters { dir: shown, owner, mode, me });
    }
    Ok(TrustedDir { fd, path: dir, me })
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
            File::from(fd).take(max).read_to_end(&mut buf).map_err(|e| DirError::Io {
                action: "read",
                path: shown.clone(),
                source: e,
            })?;
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
        super::atomic::chown(&fd, owner, group).map_err(io("change the owner of", &shown))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io("set the mode of", &shown))
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

#[cfg(test)]
#[path = "dirs_tests.rs"]
mod tests;
