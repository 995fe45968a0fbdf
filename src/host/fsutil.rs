//! Local atomic writes: a reader sees the old file or the new one, never a partial one.

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::host::atomic::{self, WriteOptions};

/// The sha256 of `bytes`, in lowercase hex: how every writer names and checks content.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `contents` to `path` atomically with permission `mode`, under the directory rule
/// ([`crate::host::dirs`]): a temp file in the same directory (created 0600 so the content is never readable by
/// others, even briefly), fsync, rename over the target, fsync the directory, read back. A missing parent
/// directory is created 0700. On failure the old file is untouched and the temp file is removed.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    write_atomic_owned(path, contents, mode, None, None)
}

/// [`write_atomic`], with the file given to `owner`/`group` before the rename, so the file never appears under
/// the wrong owner. Changing the owner needs root.
pub fn write_atomic_owned(
    path: &Path,
    contents: &[u8],
    mode: u32,
    owner: Option<u32>,
    group: Option<u32>,
) -> Result<()> {
    let opts = WriteOptions { mode, owner, group, stamp: None, lock_wait: Duration::from_secs(10) };
    atomic::write_file(path, contents, &opts).map(|_| ()).map_err(Error::from)
}

/// Checks, before anything is fetched, that [`write_atomic`] could write `path`: it is not a directory, and its
/// parent (or, when that is missing, the nearest existing ancestor, where the parent would be created) is a
/// directory this process may write. `flag` names the input in the error.
pub fn check_writable(flag: &'static str, path: &Path) -> Result<()> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(Error::invalid(flag, shown, "is a directory (fix: name the file to write, e.g. DIR/temp.json)"));
    }
    let mut dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    while !dir.exists() {
        dir = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !dir.is_dir() {
        return Err(Error::invalid(flag, shown, format!("{} is not a directory", dir.display())));
    }
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK).map_err(|e| {
        Error::invalid(flag, shown, format!("cannot write in {} ({e}); choose a writable location", dir.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn creates_parent_0700_and_file_0600() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a/b/temp.json");
        write_atomic(&target, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"one");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(dir.path().join("a/b")).unwrap().mode() & 0o777, 0o700);
        write_atomic(&target, b"two", 0o640).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o777, 0o640);
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("a/b")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temp files left behind");
    }

    #[test]
    fn writable_paths_are_checked_first() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_writable("--output", &dir.path().join("new/deeper/temp.json")).is_ok());
        let msg = check_writable("--output", dir.path()).unwrap_err().to_string();
        assert!(msg.contains("is a directory"), "{msg}");
        fs::write(dir.path().join("file"), b"").unwrap();
        let msg = check_writable("--output", &dir.path().join("file/temp.json")).unwrap_err().to_string();
        assert!(msg.contains("is not a directory"), "{msg}");
    }

    #[test]
    fn failure_leaves_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("temp.json");
        fs::write(&target, b"old").unwrap();
        // A directory where the file should be makes the rename fail after the temp file was written.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("x"), b"").unwrap();
        let err = write_atomic(&blocked, b"new", 0o600).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 2, "temp file left behind: {names:?}");
    }
}
