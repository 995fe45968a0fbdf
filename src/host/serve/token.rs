//! The bearer token a consumer sends in `Authorization`: 32 random bytes as 64 hex digits, no trailing newline,
//! in a file of mode 0600 owned by the consumer user. The SDKs read the file named by
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` before every fetch, and `serve` re-reads it for every request, so
//! replacing the file rotates the token and deleting it revokes every client, with no restart.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::host::secret::Secret;

/// Random bytes in a new token: 256 bits, past any guessing over loopback.
pub const TOKEN_BYTES: usize = 32;
/// A token file larger than this is not one of ours (and is not read whole).
pub const MAX_TOKEN_FILE: u64 = 1024;
/// A token shorter than this (a hand-written `secret`) is refused: it could be guessed.
pub const MIN_TOKEN_LEN: usize = 32;

/// Why the token file cannot be used for a request. The text never includes the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Missing, unreadable, or not a regular file.
    #[error("cannot be read ({0})")]
    Unreadable(String),
    /// Group or others may read or write it.
    #[error("has mode {0:04o}, so other users may read or replace it (fix: chmod 600 it)")]
    Loose(u32),
    /// Too short, too long, or not one line of printable ASCII.
    #[error("does not hold a usable token ({0}) (fix: delete it and restart credpush serve, which creates a new one)")]
    Invalid(&'static str),
}

/// Reads the token from `path`: a regular file (a symlink, FIFO or device is refused, and opening never
/// blocks), mode without group or other bits, at most [`MAX_TOKEN_FILE`] bytes, printable ASCII, at least
/// [`MIN_TOKEN_LEN`] long.
pub fn read(path: &Path) -> std::result::Result<Secret, TokenError> {
    let fd =
        rustix::fs::open(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| TokenError::Unreadable(std::io::Error::from(e).to_string()))?;
    let file = File::from(fd);
    let meta = file.metadata().map_err(|e| TokenError::Unreadable(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(TokenError::Unreadable("not a regular file".into()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(TokenError::Loose(meta.mode() & 0o7777));
    }
    let mut bytes = Vec::with_capacity(128);
    file.take(MAX_TOKEN_FILE + 1).read_to_end(&mut bytes).map_err(|e| TokenError::Unreadable(e.to_string()))?;
    if bytes.len() as u64 > MAX_TOKEN_FILE {
        return Err(TokenError::Invalid("larger than 1024 bytes"));
    }
    // The SDKs send the file's bytes as the header value, so a header-illegal byte would fail every client anyway.
    if !bytes.iter().all(|b| b.is_ascii_graphic()) {
        return Err(TokenError::Invalid("not printable ASCII on one line, without a trailing newline"));
    }
    if bytes.len() < MIN_TOKEN_LEN {
        return Err(TokenError::Invalid("shorter than 32 characters"));
    }
    // All bytes are ASCII, so this cannot fail.
    Ok(Secret::new(String::from_utf8(bytes).unwrap_or_default()))
}

/// True when `offered` equals `expected`. The time taken depends on the lengths only, never on where the two
/// first differ, so a client cannot find the token byte by byte (aws-vault once compared with `!=`).
pub fn matches(offered: &[u8], expected: &Secret) -> bool {
    bool::from(offered.ct_eq(expected.expose().as_bytes()))
}

/// A new token: [`TOKEN_BYTES`] from the OS's random source, as lower-case hex.
pub fn generate() -> Result<Secret> {
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut raw)
        .map_err(|e| Error::io("read random bytes for", "the serve token", std::io::Error::other(e.to_string())))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    raw.fill(0);
    Ok(Secret::new(hex))
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The file was there and usable; it is kept, so a token rotated by hand survives a restart.
    Kept,
    /// A new token was written.
    Created,
}

/// Makes sure `path` holds a usable token before serving: creates it when missing (mode 0600, given to `owner`
/// before it appears), and refuses to start on one that [`read`] would refuse, on a symlink, or in a directory
/// that others may write (where it could be swapped for a token of their choosing).
pub fn ensure(path: &Path, owner: Option<(u32, u32)>) -> Result<Ensured> {
    let shown = path.display().to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(meta) = std::fs::metadata(parent) {
        // A sticky, world-writable directory such as /tmp still lets others create a name before we do.
        if meta.mode() & 0o022 != 0 {
            return Err(Error::invalid(
                "--token-file",
                shown,
                format!(
                    "is in {}, which group or others may write (mode {:04o}), so the token could be replaced (fix: use a directory only its owner may write)",
                    parent.display(),
                    meta.mode() & 0o7777
                ),
            ));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(_) => match read(path) {
            Ok(_) => Ok(Ensured::Kept),
            Err(e) => Err(Error::invalid("--token-file", shown, e.to_string())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = generate()?;
            let (uid, gid) = owner.unzip();
            crate::host::fsutil::write_atomic_owned(path, token.expose().as_bytes(), 0o600, uid, gid)?;
            Ok(Ensured::Created)
        }
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (generate().unwrap(), generate().unwrap());
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn ensure_creates_0600_without_newline_then_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        assert_eq!(ensure(&p, None).unwrap(), Ensured::Created);
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.len(), 64, "no trailing newline");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert_eq!(ensure(&p, None).unwrap(), Ensured::Kept);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text, "an existing token is kept");
        assert_eq!(read(&p).unwrap().expose(), text);
        assert!(matches(text.as_bytes(), &read(&p).unwrap()));
        assert!(!matches(&text.as_bytes()[..63], &read(&p).unwrap()));
        assert!(!matches(b"", &read(&p).unwrap()));
    }

    #[test]
    fn refuses_loose_short_odd_and_linked_token_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = "a".repeat(64);
        let p = dir.path().join("t");
        std::fs::write(&p, &good).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(read(&p), Err(TokenError::Loose(0o644)));
        let e = ensure(&p, None).unwrap_err().to_string();
        assert!(e.contains("has mode 0644, so other users may read or replace it (fix: chmod 600 it)"), "{e}");
        assert!(!e.contains(&good), "never quotes the token: {e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        for (content, why) in [
            ("short", "shorter than 32 characters"),
            (&*format!("{good}\n"), "not printable ASCII on one line, without a trailing newline"),
            (&*"b".repeat(2000), "larger than 1024 bytes"),
        ] {
            std::fs::write(&p, content).unwrap();
            assert_eq!(read(&p), Err(TokenError::Invalid(why)));
        }
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(matches!(read(&link), Err(TokenError::Unreadable(_))));
        assert!(matches!(read(&dir.path().join("none")), Err(TokenError::Unreadable(_))));
        assert!(matches!(read(dir.path()), Err(TokenError::Unreadable(_))), "a directory is not a token file");
    }

    #[test]
    fn refuses_a_directory_others_may_write() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = ensure(&dir.path().join("t"), None).unwrap_err();
        assert_eq!(e.exit_code(), crate::error::EXIT_INPUT);
        assert!(e.to_string().contains("which group or others may write (mode 1777)"), "{e}");
    }
}
