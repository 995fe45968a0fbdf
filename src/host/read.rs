//! `credpush read --path FILE`: a validating alternative to `cat` as the `credential_process` command. It prints
//! the document only when it is whole, valid and unexpired; otherwise one line on stderr that names the file, the
//! expiry and the likely cause, so that the SDK's error says what to fix instead of botocore's "the refreshed
//! credentials are still expired".
//!
//! It runs before the async runtime and logging are set up, and reads one small file: its whole-process time stays
//! near `cat`'s (see docs/BENCHMARKS.md).

use std::path::Path;

use time::OffsetDateTime;

use crate::host::document::CredentialDocument;
use crate::host::input::{self, InputError};

pub use crate::host::document::MAX_DOCUMENT_BYTES;

/// Why `read` printed nothing. The message names the file and never quotes its content.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error(
        "cannot read {path}: {source} (fix: check that the rotation has written it and that this user may read it; run `credpush doctor`)"
    )]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is there but does not hold a usable document.
    #[error("{path} {reason}")]
    Unusable {
        /// The file.
        path: String,
        /// What is wrong, the likely cause and the fix.
        reason: String,
    },
}

impl ReadError {
    /// Exit code: 4 when the file could not be read, 1 when it holds no usable document.
    pub fn exit_code(&self) -> i32 {
        match self {
            ReadError::Io { .. } => crate::error::EXIT_IO,
            ReadError::Unusable { .. } => crate::error::EXIT_HOSTS_FAILED,
        }
    }
}

/// Reads and checks the document at `path` as of `now`; returns its bytes, to be printed as they are.
pub fn read_document(path: &Path, now: OffsetDateTime) -> Result<Vec<u8>, ReadError> {
    read_checked(path, now).map(|(bytes, _)| bytes)
}

/// [`read_document`], parsed: what `credpush serve` answers from, with the same checks and messages.
pub fn load_document(path: &Path, now: OffsetDateTime) -> Result<CredentialDocument, ReadError> {
    read_checked(path, now).map(|(_, doc)| doc)
}

fn read_checked(path: &Path, now: OffsetDateTime) -> Result<(Vec<u8>, CredentialDocument), ReadError> {
    let shown = path.display().to_string();
    let io = |source| ReadError::Io { path: shown.clone(), source };
    let unusable = |reason: String| ReadError::Unusable { path: shown.clone(), reason };
    // A FIFO or a device would hang the SDK that runs credential_process, or feed it without end.
    let bytes = match input::read_regular(path, MAX_DOCUMENT_BYTES) {
        Ok(b) => b,
        Err(InputError::Io(e)) => return Err(io(e)),
        Err(InputError::TooLarge { .. }) => {
            return Err(unusable(format!(
                "is larger than {MAX_DOCUMENT_BYTES} bytes, so it is not a credential document (fix: point credential_process at the file credpush writes)"
            )));
        }
        Err(InputError::NotRegular(_)) => {
            return Err(unusable(
                "is not a regular file, so it is not a credential document (fix: point credential_process at the file credpush writes)".into(),
            ));
        }
    };
    let doc = CredentialDocument::parse(&bytes).map_err(|e| {
        unusable(format!(
            "is not a valid credential document ({e}); a rotation writes it atomically, so something else wrote this file (fix: rotate again, and check what else writes to it)"
        ))
    })?;
    let left = doc.time_left(now);
    if left <= time::Duration::ZERO {
        return Err(unusable(format!(
            "expired at {} ({} ago): no rotation has reached this host since (fix: check the rotation job, or run `credpush status` for this host)",
            doc.expiration_rfc3339(),
            span(-left)
        )));
    }
    Ok((bytes, doc))
}

/// `2h 5m`, `14m`, `40s`.
fn span(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match (s / 3600, (s % 3600) / 60) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// Runs `credpush read`: prints the document or one error line; returns the exit code.
pub fn run(path: &Path) -> i32 {
    match read_document(path, OffsetDateTime::now_utc()) {
        // A reader that is gone (EPIPE) is not an error, as for every command; see `crate::term`.
        Ok(bytes) => match crate::term::write(&bytes) {
            Ok(()) => crate::error::EXIT_OK,
            Err(e) => {
                eprintln!("credpush: error: cannot write the document to stdout: {e}");
                crate::error::EXIT_IO
            }
        },
        Err(e) => {
            eprintln!("credpush: error: {}", crate::term::escape(&e.to_string()));
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-28 06:00 UTC);

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn prints_only_valid_unexpired_documents() {
        let dir = tempfile::tempdir().unwrap();
        let good = r#"{"Version":1,"AccessKeyId":"ASIAX","SecretAccessKey":"s","SessionToken":"t","Expiration":"2026-11-28T07:00:00Z"}"#;
        let p = write(dir.path(), "good.json", good);
        assert_eq!(read_document(&p, NOW).unwrap(), good.as_bytes());
        let expired = good.replace("07:00:00", "03:55:00");
        let p = write(dir.path(), "old.json", &expired);
        let msg = read_document(&p, NOW).unwrap_err().to_string();
        assert_eq!(
            msg,
            format!(
                "{} expired at 2026-11-28T03:55:00Z (2h 5m ago): no rotation has reached this host since (fix: check the rotation job, or run `credpush status` for this host)",
                p.display()
            )
        );
        let torn = write(dir.path(), "torn.json", &good[..40]);
        let e = read_document(&torn, NOW).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(
            e.to_string().contains("is not a valid credential document (not a credential_process document: Eof"),
            "{e}"
        );
        assert!(!e.to_string().contains("ASIAX"), "never quotes the file");
        let missing = read_document(&dir.path().join("none.json"), NOW).unwrap_err();
        assert_eq!(missing.exit_code(), 4);
        let big = write(dir.path(), "big.json", &"x".repeat(70_000));
        assert!(read_document(&big, NOW).unwrap_err().to_string().contains("is larger than 65536 bytes"));
        assert!(read_document(dir.path(), NOW).is_err(), "a directory is not a document");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let e = read_document(&fifo, NOW).unwrap_err();
        assert!(e.to_string().ends_with("fifo is not a regular file, so it is not a credential document (fix: point credential_process at the file credpush writes)"), "{e}");
        assert_eq!(load_document(&p, NOW).unwrap_err().to_string(), read_document(&p, NOW).unwrap_err().to_string());
    }
}
