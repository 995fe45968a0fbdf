//! The one atomic writer in Rust (the local writer, the Ansible module, and `fetch`), inside a directory that
//! passed the rule ([`super::dirs`]): a temp file created `O_EXCL|O_NOFOLLOW` 0600 relative to the directory's
//! descriptor, mode and owner set, fsync, then (for a rotation's document, under the file's `flock`, and unless a
//! later rotation's stamp is kept) the stamp, the rename and an fsync of the directory; the renamed file is opened
//! again and compared. On failure the old file is untouched and the temp file removed.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};

use super::dirs::{DirError, TrustedDir, io, open_dir, split, stamp_name};

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

impl TrustedDir {
    /// Writes `contents` to `name` atomically: a temp file created `O_EXCL|O_NOFOLLOW` 0600 in this directory,
    /// mode and owner set, fsync, then (under the file's lock, and unless a later stamp is kept) the stamp, the
    /// rename and an fsync of the directory; the renamed file is opened again and compared. On failure the old
    /// file is untouched and the temp file removed.
    pub fn write(&self, name: &OsStr, contents: &[u8], opts: &WriteOptions) -> Result<Written, DirError> {
        self.write_gated(name, contents, opts, |_| Ok(()))
    }

    /// [`TrustedDir::write`], with `gate` run last before the stamp and the rename (under the file's lock when
    /// there is one): an error from it leaves the file as it was and the temp file removed. The remote writer
    /// checks its deadline there, that the file is still what an earlier read saw, and that its caller still
    /// listens (see [`crate::host::helper`]).
    pub fn write_gated(
        &self,
        name: &OsStr,
        contents: &[u8],
        opts: &WriteOptions,
        gate: impl FnOnce(&Self) -> Result<(), DirError>,
    ) -> Result<Written, DirError> {
        let shown = self.path().join(name);
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
        // Only a rotation's document has a stamp and a lock; other files (a config) are written as they come.
        let lock = match opts.stamp {
            Some(stamp) => {
                let lock = self.lock(name, opts)?;
                let mut text = String::new();
                let _ = (&lock).take(64).read_to_string(&mut text);
                let kept: u64 = text.trim().parse().unwrap_or(0);
                if kept > stamp {
                    return Ok(Written::Newer(kept));
                }
                Some((lock, stamp))
            }
            None => None,
        };
        gate(self)?;
        if let Some((lock, stamp)) = &lock {
            // The stamp goes first: a writer killed between the two steps leaves the older file under a newer
            // stamp, which a later rotation replaces, never the other way round.
            let mut lock = lock;
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
        let shown = self.path().join(&stamp);
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
                    return Err(DirError::Busy { path: self.path().join(name), waited: started.elapsed() });
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
        File::from(fd).take(contents.len() as u64 + 1).read_to_end(&mut back).map_err(|e| DirError::Io {
            action: "read back",
            path: shown.to_owned(),
            source: e,
        })?;
        if back != contents {
            return Err(bad("the file does not match what was written".into()));
        }
        Ok(())
    }
}

pub(super) fn chown<Fd: std::os::fd::AsFd>(fd: Fd, owner: Option<u32>, group: Option<u32>) -> rustix::io::Result<()> {
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

/// Writes `path` under the rule: its directory opened (created 0700 where missing) and checked, then
/// [`TrustedDir::write`].
pub fn write_file(path: &Path, contents: &[u8], opts: &WriteOptions) -> Result<Written, DirError> {
    let (dir, name) = split(path).ok_or_else(|| DirError::IsDir(path.to_owned()))?;
    open_dir(dir, true, opts.owner)?.write(name, contents, opts)
}

/// A stamp as reports show it: RFC 3339 UTC to the second, or the number when it is out of range.
pub fn stamp_rfc3339(stamp: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(stamp))
        .map(crate::host::document::format_expiration)
        .unwrap_or_else(|_| stamp.to_string())
}

/// This machine's clock in nanoseconds since the epoch: the stamp of a rotation that assumes its role now.
pub fn now_stamp() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}
