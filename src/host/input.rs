//! Reading a file an operator or a host names: regular files only, with a size cap, and never a hang.
//!
//! A FIFO blocks `open` until a writer appears and `read` until it writes; `/dev/zero` never ends; a terminal or a
//! socket is no configuration either. So every file input (inventory sources and their vars files, the policy file,
//! the AWS config and credentials files, the profile `--install` target, the document `read` prints, the module's
//! arguments) is opened with `O_NONBLOCK` (which makes opening a FIFO return at once), checked with `fstat` on the
//! descriptor that was opened (so a swap between the check and the read cannot slip a FIFO in), and then read
//! through a reader that stops one byte past the cap.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Configuration files (inventory sources, vars files, AWS config and credentials, ssh config): far above any real
/// one, low enough that reading one costs little memory.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Why a file input was refused. The message names no content, only what the path is.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening or reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A FIFO, device, socket or directory where a regular file belongs.
    #[error("is {0}, not a regular file (fix: name a regular file)")]
    NotRegular(&'static str),
    /// Larger than the cap for this input.
    #[error("is larger than {max} bytes, the most accepted for this input (fix: name the intended file)")]
    TooLarge {
        /// The cap, in bytes.
        max: u64,
    },
}

impl InputError {
    /// The underlying OS error kind, when there is one (`NotFound` lets callers treat a missing file as empty).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            InputError::Io(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// What a file type is, in words, for an error message.
fn kind_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading without blocking and returns it only when it is a regular file of at most `max` bytes.
pub fn open_regular(path: &Path, max: u64) -> Result<File, InputError> {
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty())
            .map_err(std::io::Error::from)?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(InputError::NotRegular(kind_name(meta.file_type())));
    }
    if meta.len() > max {
        return Err(InputError::TooLarge { max });
    }
    Ok(file)
}

/// Checks that `path` is a regular file of at most `max` bytes, for a file another program reads (ssh, the SDK).
pub fn check_regular(path: &Path, max: u64) -> Result<(), InputError> {
    open_regular(path, max).map(drop)
}

/// Reads a regular file of at most `max` bytes whole. A file that grows past `max` while it is read is refused.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    let file = open_regular(path, max)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge { max });
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text; bytes that are not UTF-8 are an `InvalidData` error.
pub fn read_regular_text(path: &Path, max: u64) -> Result<String, InputError> {
    let bytes = read_regular(path, max)?;
    String::from_utf8(bytes)
        .map_err(|_| InputError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, "not valid UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn regular_files_are_read_and_capped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_regular(&p, 5).unwrap(), b"hello");
        assert!(matches!(read_regular(&p, 4), Err(InputError::TooLarge { max: 4 })));
        let missing = read_regular(&dir.path().join("none"), 5).unwrap_err();
        assert_eq!(missing.io_kind(), Some(std::io::ErrorKind::NotFound));
    }

    #[test]
    fn fifos_devices_and_directories_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, Mode::from_raw_mode(0o600)).unwrap();
        let start = Instant::now();
        for (path, want) in [
            (fifo.as_path(), "is a FIFO (named pipe), not a regular file"),
            (Path::new("/dev/zero"), "is a character device, not a regular file"),
            (Path::new("/dev/null"), "is a character device, not a regular file"),
            (dir.path(), "is a directory, not a regular file"),
        ] {
            let msg = read_regular(path, MAX_CONFIG_BYTES).unwrap_err().to_string();
            assert!(msg.starts_with(want), "{}: {msg}", path.display());
        }
        assert!(start.elapsed() < Duration::from_secs(2), "a FIFO must not block");
    }
}
